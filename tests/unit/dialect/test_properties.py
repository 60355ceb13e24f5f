"""Property tests: generated statements round-trip; garbage only ever raises ParseError."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.dialect import (
    AddExpectation,
    AlterJob,
    ColumnDef,
    ColumnTransformation,
    CopySource,
    CreateConnection,
    CreateIngestJob,
    CreateTable,
    CreateTransformJob,
    Dedupe,
    Duration,
    Expectation,
    IngestOptions,
    ParseError,
    Position,
    SetOption,
    StartFrom,
    Statement,
    TableName,
    TransformOptions,
    parse,
    parse_expression,
)
from headwater.dialect.nodes import CONNECTION_OPTIONS

POS = Position(None, 1, 1)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

plain_names = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)
odd_names = st.sampled_from(["Orders", "my table", 'say "hi"', "select", "from", "2fast", "ünï"])
object_names = st.one_of(plain_names, odd_names)
column_names = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True), odd_names)
column_paths = st.lists(column_names, min_size=1, max_size=3).map(".".join)
table_names = st.builds(TableName, object_names, object_names)
strings = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20)
durations = st.builds(Duration, st.integers(min_value=0, max_value=10**7))
positive_durations = st.builds(Duration, st.integers(min_value=1, max_value=10**7))
start_froms = st.one_of(
    st.builds(StartFrom, st.sampled_from(["BEGINNING", "NOW"])),
    st.datetimes().map(lambda d: StartFrom("TIMESTAMP", d.isoformat() + "Z")),
)
expressions = st.sampled_from(
    [
        "ts",
        "CAST(payload.ts AS TIMESTAMP)",
        "$event_time",
        "o.$commit_time + INTERVAL 1 HOUR",
        "COALESCE(a, b, 'x')",
        "CASE WHEN a = 1 THEN 'one' ELSE 'many' END",
        "amount > 0 AND NOT status IS NULL",
        "lower(email) LIKE '%@example.com'",
    ]
).map(parse_expression)
transformations = st.builds(
    ColumnTransformation,
    column_paths,
    st.sampled_from(["HASH(email)", "MASK(card, 4)", "REDACT(note)", "lower(x)", "NULL"]).map(
        parse_expression
    ),
)
expectations = st.lists(
    st.builds(
        Expectation, plain_names, expressions, st.sampled_from(["DROP", "WARN", "QUARANTINE", "ABORT"])
    ),
    max_size=3,
    unique_by=lambda e: e.name,
)
ingest_options = st.builds(
    IngestOptions,
    content_type=st.sampled_from(["AUTO", "JSON", "CSV", "PARQUET"]),
    start_from=st.none() | start_froms,
    event_time=st.none() | expressions,
    deduplicate_with=st.none()
    | st.builds(Dedupe, st.lists(column_paths, min_size=1, max_size=3), positive_durations),
    column_transformations=st.lists(transformations, max_size=3),
    exclude_columns=st.lists(column_paths, max_size=3),
    on_schema_change=st.sampled_from(["EVOLVE", "QUARANTINE", "FAIL"]),
    lateness=durations,
    commit_interval=durations,
    comment=st.none() | strings,
)


@st.composite
def ingest_jobs(draw: st.DrawFn) -> CreateIngestJob:
    cdc = draw(st.booleans())
    source = CopySource(
        draw(object_names),
        pattern=draw(st.none() | strings),
        topic=draw(st.none() | strings),
        table_include_list=draw(st.lists(strings, min_size=1, max_size=3)) if cdc else [],
        cdc_mode=draw(st.sampled_from(["REPLICATE", "SOFT_DELETE", "CHANGELOG", "HISTORY"])) if cdc else None,
    )
    into_schema = cdc and draw(st.booleans())
    return CreateIngestJob(
        POS,
        "",
        draw(object_names),
        draw(st.booleans()),
        draw(ingest_options),
        source,
        None if into_schema else draw(table_names),
        draw(object_names) if into_schema else None,
        draw(expectations),
    )


@st.composite
def transform_jobs(draw: st.DrawFn) -> CreateTransformJob:
    target = draw(table_names)
    body = parse(f"INSERT INTO {target.to_sql()} SELECT a, $event_time FROM s WHERE $commit_time > 1")[0]
    return CreateTransformJob(
        POS,
        "",
        draw(object_names),
        draw(st.booleans()),
        draw(st.builds(TransformOptions, durations, st.none() | start_froms, st.none() | strings)),
        "INSERT",
        body.expression,  # type: ignore[attr-defined]
        target,
        draw(expectations),
    )


@st.composite
def connections(draw: st.DrawFn) -> CreateConnection:
    kind = draw(st.sampled_from(list(CONNECTION_OPTIONS)))
    names = draw(st.lists(st.sampled_from(CONNECTION_OPTIONS[kind]), unique=True))
    required = {"FILES": "PATH", "KAFKA": "HOSTS", "S3": "BUCKET"}.get(kind, "CONNECTION_STRING")
    options: dict[str, str | tuple[str, ...]] = {}
    for name in {*names, required}:
        options[name] = (
            tuple(draw(st.lists(strings, min_size=1, max_size=3))) if name == "HOSTS" else draw(strings)
        )
    return CreateConnection(POS, "", kind, draw(object_names), options)


types = st.sampled_from(
    ["BIGINT", "TEXT", "DECIMAL(12, 2)", "STRUCT(a INT, b TEXT[])", "TIMESTAMP", "DOUBLE"]
)
tables = st.builds(
    CreateTable,
    st.just(POS),
    st.just(""),
    table_names,
    st.lists(st.builds(ColumnDef, column_names, types), max_size=4),
    st.lists(column_names, max_size=2),
    st.lists(column_names, max_size=2),
    st.none() | strings,
)
alters = st.builds(
    AlterJob,
    st.just(POS),
    st.just(""),
    object_names,
    st.one_of(
        st.builds(SetOption, st.just("RUN_INTERVAL"), durations),
        st.builds(SetOption, st.just("START_FROM"), start_froms),
        st.builds(SetOption, st.just("EVENT_TIME"), expressions),
        st.builds(SetOption, st.just("COMMENT"), strings),
        st.builds(SetOption, st.just("EXCLUDE_COLUMNS"), st.lists(column_paths, min_size=1, max_size=3)),
        expectations.filter(bool).map(lambda e: AddExpectation(e[0])),
    ),
)


@FAST
@given(st.one_of(ingest_jobs(), transform_jobs(), connections(), tables, alters))
def test_generated_statements_round_trip(node: Statement) -> None:
    sql = node.to_sql()
    (again,) = parse(sql)
    assert again == node, sql
    assert again.to_sql() == sql


FRAGMENTS = [
    "CREATE",
    "SYNC",
    "JOB",
    "TABLE",
    "FILES",
    "KAFKA",
    "CONNECTION",
    "MATERIALIZED",
    "VIEW",
    "AS",
    "COPY",
    "FROM",
    "INTO",
    "SCHEMA",
    "INSERT",
    "MERGE",
    "SELECT",
    "WITH",
    "EXPECTATION",
    "EXPECT",
    "ON",
    "VIOLATION",
    "DROP",
    "ALTER",
    "SET",
    "ADD",
    "PAUSE",
    "RESUME",
    "PRIMARY KEY",
    "PARTITIONED BY",
    "RUN_INTERVAL",
    "EVENT_TIME",
    "DEDUPLICATE_WITH",
    "COLUMNS",
    "WINDOW",
    "COLUMN_TRANSFORMATIONS",
    "START_FROM",
    "LATENESS",
    "PATTERN",
    "CDC_MODE",
    "TABLE_INCLUDE_LIST",
    "HOSTS",
    "PATH",
    "=",
    "(",
    ")",
    ",",
    ";",
    ".",
    "'x'",
    "'2026-01-01'",
    '"Q"',
    "5",
    "SECONDS",
    "HOURS",
    "$event_time",
    "$foo",
    "$1",
    "$$",
    "a",
    "b.c",
    "HASH(a)",
    "--",
    "/*",
    "*/",
    "'",
    '"',
    "\n",
    "WHEN",
    "MATCHED",
    "THEN",
    "USING",
    "GROUP BY",
    "+",
    "::",
    "[",
    "]",
    "{",
    "}",
    "NULL",
    "BEGINNING",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=25).map(" ".join))
def test_token_garbage_only_raises_parse_error(text: str) -> None:
    try:
        parse(text, file="garbage.sql")
    except ParseError as e:
        assert e.line >= 1 and e.col >= 1
        assert e.excerpt


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_text_garbage_only_raises_parse_error(text: str) -> None:
    try:
        parse(text)
    except ParseError as e:
        assert e.line >= 1 and e.col >= 1


WRITTEN_OPTIONS = {
    "CONTENT_TYPE": ["content_type = json", "CONTENT_TYPE = Parquet", "Content_Type = AUTO"],
    "START_FROM": ["start_from = beginning", "START_FROM = '2026-01-01T00:00:00Z'", "start_from = Now"],
    "EVENT_TIME": ["event_time = ts", "EVENT_TIME = CAST(payload.ts AS TIMESTAMP)", "event_time=$event_time"],
    "DEDUPLICATE_WITH": ["deduplicate_with = (window = 1 hour, columns = (id, b.c))"],
    "COLUMN_TRANSFORMATIONS": ["column_transformations = (email = hash(email), n = mask(n, 2))"],
    "EXCLUDE_COLUMNS": ["exclude_columns = ssn", "EXCLUDE_COLUMNS = (ssn, customer.phone)"],
    "ON_SCHEMA_CHANGE": ["on_schema_change = fail", "ON_SCHEMA_CHANGE = evolve"],
    "LATENESS": ["lateness = 0 seconds", "LATENESS = 2 Minutes", "lateness = 1 day"],
    "COMMIT_INTERVAL": ["commit_interval = 1 second", "COMMIT_INTERVAL = 120 SECONDS"],
    "COMMENT": ["comment = 'x;y'", "COMMENT = 'it''s'"],
}


@FAST
@given(
    st.dictionaries(st.sampled_from(list(WRITTEN_OPTIONS)), st.integers(min_value=0, max_value=2)),
    st.randoms(use_true_random=False),
)
def test_options_in_any_order_and_case_parse_to_the_canonical_form(
    chosen: dict[str, int], rnd: random.Random
) -> None:
    written = [WRITTEN_OPTIONS[k][i % len(WRITTEN_OPTIONS[k])] for k, i in chosen.items()]
    rnd.shuffle(written)
    options = "\n  ".join(written)
    sql = f"create job j\n  {options}\nas copy from c pattern = '*.json' into t"
    (node,) = parse(sql)
    assert isinstance(node, CreateIngestJob)
    assert parse(node.to_sql()) == [node]
