"""One set of value rules for JSON and CSV; plans and status as text."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from headwater.cli.render import (
    cell,
    csv_value,
    json_value,
    plan_text,
    plural,
    result_table,
    status_errors,
    status_table,
    to_csv,
    to_json,
)
from headwater.plan.plan import Change, Plan


def test_scalars_as_json() -> None:
    assert json_value(None) == "null"
    assert json_value(True) == "true"
    assert json_value(12) == "12"
    assert json_value(2**70) == str(2**70)
    assert json_value(0.1) == "0.1"
    # NaN and the infinities are values (a DOUBLE holds them), not NULL: JSON spells them as strings.
    assert json_value(float("nan")) == '"NaN"'
    assert json_value(float("inf")) == '"Infinity"'
    assert json_value(float("-inf")) == '"-Infinity"'
    assert json_value(Decimal("42.50")) == "42.50"
    assert json_value(Decimal("-0.001")) == "-0.001"
    assert json_value(Decimal("1E+3")) == "1000"
    assert json_value('a"b\n') == '"a\\"b\\n"'
    assert json_value(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) == '"2026-01-05T09:00:00+00:00"'
    assert json_value(datetime(2026, 1, 5, 9, 0, 0, 5)) == '"2026-01-05T09:00:00.000005"'
    assert json_value(date(2026, 1, 5)) == '"2026-01-05"'
    assert json_value(time(9, 30)) == '"09:30:00"'
    assert json_value(timedelta(days=1, seconds=2, microseconds=500000)) == "86402.5"
    assert json_value(b"\x00\xff") == '"AP8="'
    assert json_value(uuid.UUID(int=1)) == '"00000000-0000-0000-0000-000000000001"'
    assert json_value({"a": [1, None], "b": {"c": Decimal("1.0")}}) == '{"a": [1, null], "b": {"c": 1.0}}'


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimals_round_trip_exactly(value: Decimal) -> None:
    assert json.loads(json_value(value), parse_float=Decimal, parse_int=Decimal) == value


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.none()
            | st.booleans()
            | st.integers()
            | st.text()
            | st.floats(allow_nan=False, allow_infinity=False),
            max_size=4,
        ),
        max_size=5,
    )
)
def test_to_json_is_one_document(rows: list[dict[str, object]]) -> None:
    assert json.loads(to_json(rows)) == rows


def test_csv_shares_the_json_rules() -> None:
    text = to_csv(
        ["n", "amount", "at", "missing", "nested", "flag"],
        [(1, Decimal("3.10"), datetime(2026, 1, 5, 9, 0), None, {"a": 1}, False)],
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["n", "amount", "at", "missing", "nested", "flag"],
        ["1", "3.10", "2026-01-05T09:00:00", "", '{"a": 1}', "false"],
    ]
    assert csv_value(float("nan")) == "NaN"
    assert csv_value(float("-inf")) == "-Infinity"
    assert csv_value(None) == ""
    assert csv_value("x,y") == "x,y"


def render(renderable: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_plan_text_lists_changes_then_order() -> None:
    plan = Plan(
        [Change("create", "table", "bronze.orders", ""), Change("drop", "ingest_job", "old", "")],
        ["load", "clean"],
    )
    text = plan_text(plan)
    dropped = "- ingest job old (deletes its source positions and windows: needs `run --allow-drop`)"
    assert text.plain == f"+ table bronze.orders\n{dropped}\n\nrun order: load → clean"
    styles = {text.plain[span.start : span.end]: str(span.style) for span in text.spans}
    assert styles["+ table bronze.orders"] == "green"
    assert styles[dropped] == "red"
    assert "nothing to run" in plan_text(Plan()).plain


def test_plan_text_says_how_each_view_refreshes() -> None:
    plan = Plan(
        [], ["v", "w"], [], {"gold.w": "full recompute: the query uses LIMIT", "gold.v": "incremental"}
    )
    assert plan_text(plan).plain == (
        "no changes: the deployed pipeline matches the project\n\n"
        "view gold.v: incremental\nview gold.w: full recompute: the query uses LIMIT\n\nrun order: v → w"
    )


def test_tables() -> None:
    out = render(result_table(["a", "b"], [(1, None), (Decimal("2.50"), "x")], title="answer"))
    assert "answer" in out and "NULL" in out and "2.50" in out
    aligned = render(result_table(["n", "s"], [(1, "a"), (1000, "bbbb"), (None, None)])).splitlines()
    assert "│    1 │ a    │" in aligned
    assert "│ 1000 │ bbbb │" in aligned
    rows = [
        {
            "name": "load",
            "kind": "ingest",
            "target": "bronze.orders",
            "status": "failed",
            "runs": 1234,
            "rows_read": 5,
            "rows_written": 5,
            "last_run": "2026-01-05T09:00:00.123+00:00",
            "lag_seconds": 0.25,
            "error": "boom",
        }
    ]
    out = render(status_table(rows))
    assert "1,234" in out and "2026-01-05 09:00:00" in out and "250ms" in out
    errors = status_errors(rows)
    assert errors is not None and errors.plain == "load: boom"
    assert status_errors([{**rows[0], "error": None}]) is None


def test_plural() -> None:
    assert plural(1, "row") == "1 row"
    assert plural(1200, "row") == "1,200 rows"
    assert plural(2, "pass", "passes") == "2 passes"


def test_a_table_cell_shows_nan_and_infinity_not_null() -> None:
    assert cell(float("nan")).plain == "NaN"
    assert cell(float("inf")).plain == "Infinity"
    assert cell(None).plain == "NULL"
