"""System columns written next to punctuation: ``$source,$run_id`` reads like ``$source, $run_id``."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from headwater.dialect import CreateIngestJob, ParseError, parse, parse_expression
from headwater.dialect.sqlglot_dialect import ALL_SYSTEM_COLUMNS

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spellings(name: str) -> st.SearchStrategy[str]:
    """``$source``, ``$SOURCE``, ``$Source``, ``o.$source``: the tokenizer folds the case."""
    word = name[1:]
    cased = st.sampled_from([word, word.upper(), word.capitalize()])
    return st.tuples(st.sampled_from(["", "o."]), cased).map(lambda p: f"{p[0]}${p[1]}")


system_columns = st.sampled_from(ALL_SYSTEM_COLUMNS)
# Separators that make a valid select list: a comma, an operator, none of them spaced.
separators = st.sampled_from([",", ", ", " ,", ",\n", "||", " || ", "+", "=", "<", "<>", ">="])


def _system_columns_in(node: exp.Expr) -> list[str]:
    return [c.name for c in node.find_all(exp.Column) if c.name.startswith("$")]


@FAST
@given(st.data(), system_columns, system_columns, separators)
def test_two_system_columns_with_any_punctuation_between(
    data: st.DataObject, first: str, second: str, sep: str
) -> None:
    a, b = data.draw(spellings(first)), data.draw(spellings(second))
    [stmt] = parse(f"SELECT {a}{sep}{b} FROM bronze.t o")
    assert sorted(_system_columns_in(stmt.expression)) == sorted([first, second])


@FAST
@given(st.data(), st.lists(system_columns, min_size=1, max_size=4))
def test_system_columns_in_brackets_and_calls(data: st.DataObject, names: list[str]) -> None:
    written = [data.draw(spellings(n)) for n in names]
    text = "coalesce(" + ",".join(f"({w})" for w in written) + ")"
    assert sorted(_system_columns_in(parse_expression(text))) == sorted(names)


@FAST
@given(system_columns, st.sampled_from([",", "(", "||", "+"]), st.integers(min_value=0, max_value=5))
def test_unknown_system_column_caret_points_at_its_name(known: str, sep: str, indent: int) -> None:
    before = " " * indent + f"SELECT {known}{sep}"
    text = before + "$nope FROM t" + (")" if sep == "(" else "")
    try:
        parse(text)
    except ParseError as e:
        assert "unknown system column '$nope'" in e.reason
        assert (e.line, e.col) == (1, len(before) + 2)  # under the name, after the $
    else:
        raise AssertionError("an unknown system column must be an error")


def test_in_a_job_file() -> None:
    [job] = parse(
        "CREATE JOB load AS COPY FROM landing INTO bronze.t\n"
        "WITH EXPECTATION traced EXPECT coalesce($source,$run_id) IS NOT NULL ON VIOLATION WARN;\n"
    )
    assert isinstance(job, CreateIngestJob)
    assert sorted(_system_columns_in(job.expectations[0].predicate)) == ["$run_id", "$source"]


def test_dollar_quoted_strings_still_work() -> None:
    [stmt] = parse("SELECT $$a,b$$, $tag$x$y$tag$, $1,$2")
    assert [e.sql() for e in stmt.expression.expressions[:2]] == ["'a,b'", "'x$y'"]


@FAST
@given(st.sampled_from(["SELECT 1, $", "SELECT a FROM t WHERE b = $", "SELECT $source, $"]))
def test_a_lone_dollar_is_a_parse_error_at_the_dollar(text: str) -> None:
    try:
        parse(text)
    except ParseError as e:
        assert (e.line, e.col) == (1, len(text))
        assert "'$'" in e.reason and "could not read" not in e.reason
    else:
        raise AssertionError("a lone $ must be an error")
