"""Node contents for representative statements, positions, splitting, system columns."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from headwater.dialect import (
    AddExpectation,
    AlterJob,
    ColumnDef,
    CreateConnection,
    CreateIngestJob,
    CreateMaterializedView,
    CreateTable,
    CreateTransformJob,
    Dedupe,
    Drop,
    DropExpectation,
    Duration,
    ParseError,
    PauseJob,
    Query,
    ResumeJob,
    SetOption,
    StartFrom,
    TableName,
    parse,
    parse_expression,
    to_duckdb,
)


def one(sql: str) -> object:
    statements = parse(sql)
    assert len(statements) == 1
    return statements[0]


# -- SPEC §2, verbatim -----------------------------------------------------------------------
SPEC_STATEMENTS = [
    "CREATE FILES CONNECTION landing PATH = 'data/landing';",
    "CREATE KAFKA CONNECTION events HOSTS = ('localhost:9092');",
    "CREATE POSTGRES CONNECTION shop CONNECTION_STRING = 'postgresql://host:5432/shop'\n"
    "    USER_NAME = 'cdc' PASSWORD = '${SHOP_PASSWORD}';",
    "CREATE MYSQL CONNECTION crm CONNECTION_STRING = 'mysql://host:3306/crm' USER_NAME = 'x' PASSWORD = '${X}';",
    "CREATE S3 CONNECTION raw ENDPOINT = 'http://127.0.0.1:9000' BUCKET = 'raw';",
    "CREATE TABLE bronze.orders;",
    "CREATE TABLE bronze.orders (order_id BIGINT, amount DECIMAL(12,2))\n    PRIMARY KEY (order_id);",
    """CREATE SYNC JOB load_orders
    CONTENT_TYPE = JSON
    START_FROM = '2026-01-01T00:00:00Z'
    EVENT_TIME = ts
    DEDUPLICATE_WITH = (COLUMNS = (order_id), WINDOW = 4 HOURS)
    COLUMN_TRANSFORMATIONS = (email = HASH(email), card = MASK(card, 4), note = REDACT(note))
    EXCLUDE_COLUMNS = (ssn, customer.phone)
    ON_SCHEMA_CHANGE = EVOLVE
    LATENESS = 0 SECONDS
    COMMIT_INTERVAL = 5 SECONDS
AS COPY FROM landing
    PATTERN = 'orders/**/*.jsonl'
INTO bronze.orders;""",
    """CREATE JOB load_cdc AS COPY FROM shop
    TABLE_INCLUDE_LIST = ('public.orders', 'public.customers') CDC_MODE = REPLICATE
INTO SCHEMA bronze;""",
    """CREATE SYNC JOB orders_silver
    RUN_INTERVAL = 1 MINUTE START_FROM = BEGINNING
AS INSERT INTO silver.orders
SELECT o.order_id, c.name FROM bronze.orders o LEFT JOIN silver.customers c ON o.customer_id = c.id
WHERE o.$commit_time BETWEEN run_start_time() AND run_end_time();""",
    """CREATE SYNC JOB customer_revenue AS
MERGE INTO gold.customer_revenue t
USING (SELECT customer_id, sum(amount) AS revenue, bool_or(deleted) AS deleted FROM silver.orders
       WHERE $event_time BETWEEN run_start_time() AND run_end_time() GROUP BY customer_id) s
ON t.customer_id = s.customer_id
WHEN MATCHED AND s.deleted THEN DELETE
WHEN MATCHED THEN UPDATE SET revenue = t.revenue + s.revenue
WHEN NOT MATCHED THEN INSERT (customer_id, revenue) VALUES (s.customer_id, s.revenue);""",
    "CREATE MATERIALIZED VIEW gold.daily_revenue AS SELECT day, sum(amount) FROM silver.orders GROUP BY day;",
    "ALTER JOB load_orders SET LATENESS = 10 SECONDS;",
    "ALTER JOB load_orders ADD EXPECTATION positive EXPECT amount > 0 ON VIOLATION DROP;",
    "ALTER JOB load_orders DROP EXPECTATION positive;",
    "PAUSE JOB load_orders;  RESUME JOB load_orders;  DROP JOB load_orders;",
    "DROP TABLE bronze.orders; DROP CONNECTION landing; DROP MATERIALIZED VIEW gold.daily_revenue;",
    "SELECT * FROM system.runs;",
]


@pytest.mark.parametrize("sql", SPEC_STATEMENTS)
def test_spec_examples_parse_and_round_trip(sql: str) -> None:
    for statement in parse(sql):
        again = parse(statement.to_sql())
        assert again == [statement]
        assert again[0].to_sql() == statement.to_sql()


# -- node contents ---------------------------------------------------------------------------
def test_connection_options() -> None:
    node = one("create postgres connection Shop connection_string = 'pg://h/db' password = '${PW}'")
    assert isinstance(node, CreateConnection)
    assert node.kind == "POSTGRES"
    assert node.name == "shop"
    assert node.options == {"CONNECTION_STRING": "pg://h/db", "PASSWORD": "${PW}"}
    kafka = one("CREATE KAFKA CONNECTION k HOSTS = ('a:1', 'b:2')")
    assert isinstance(kafka, CreateConnection)
    assert kafka.options["HOSTS"] == ("a:1", "b:2")


def test_create_table() -> None:
    node = one(
        "CREATE TABLE orders (order_id BIGINT, Amount DECIMAL(12,2), c STRUCT(a INT))"
        " PRIMARY KEY (order_id) PARTITIONED BY (c) COMMENT = 'it''s'"
    )
    assert isinstance(node, CreateTable)
    assert node.table == TableName("main", "orders")
    assert node.columns == [
        ColumnDef("order_id", "BIGINT"),
        ColumnDef("Amount", "DECIMAL(12, 2)"),
        ColumnDef("c", "STRUCT(a INT)"),
    ]
    assert node.primary_key == ["order_id"]
    assert node.partitioned_by == ["c"]
    assert node.comment == "it's"


def test_ingest_job_contents() -> None:
    node = parse(SPEC_STATEMENTS[7])[0]
    assert isinstance(node, CreateIngestJob)
    assert node.name == "load_orders"
    assert node.sync
    o = node.options
    assert o.content_type == "JSON"
    assert o.start_from == StartFrom("TIMESTAMP", "2026-01-01T00:00:00Z")
    assert o.event_time == exp.column("ts")
    assert o.deduplicate_with == Dedupe(["order_id"], Duration(4 * 3600))
    assert [(t.target, t.expression.sql()) for t in o.column_transformations] == [
        ("email", "HASH(email)"),
        ("card", "MASK(card, 4)"),
        ("note", "REDACT(note)"),
    ]
    assert all(isinstance(t.expression, exp.Anonymous) for t in o.column_transformations)
    assert o.exclude_columns == ["ssn", "customer.phone"]
    assert o.lateness == Duration(0)
    assert o.commit_interval == Duration(5)
    assert node.source.connection == "landing"
    assert node.source.pattern == "orders/**/*.jsonl"
    assert node.target == TableName("bronze", "orders")
    assert node.target_schema is None
    assert node.expectations == []


def test_cdc_job_into_schema() -> None:
    node = parse(SPEC_STATEMENTS[8])[0]
    assert isinstance(node, CreateIngestJob)
    assert node.source.table_include_list == ["public.orders", "public.customers"]
    assert node.source.cdc_mode == "REPLICATE"
    assert node.target is None
    assert node.target_schema == "bronze"


def test_event_time_expression_and_expectations() -> None:
    node = one(
        "CREATE JOB j EVENT_TIME = CAST(payload.ts AS TIMESTAMP) LATENESS = 1 MINUTE "
        "AS COPY FROM k TOPIC = 'orders' INTO orders "
        "WITH EXPECTATION pos EXPECT amount > 0 AND $source IS NOT NULL ON VIOLATION QUARANTINE "
        "WITH EXPECTATION ok EXPECT true ON VIOLATION ABORT"
    )
    assert isinstance(node, CreateIngestJob)
    assert isinstance(node.options.event_time, exp.Cast)
    assert node.options.lateness == Duration(60)
    assert node.source.topic == "orders"
    assert [(e.name, e.action) for e in node.expectations] == [("pos", "QUARANTINE"), ("ok", "ABORT")]
    assert node.expectations[0].predicate.find(exp.Identifier, bfs=False) is not None
    assert to_duckdb(node.expectations[0].predicate) == 'amount > 0 AND NOT "$source" IS NULL'


def test_transform_jobs() -> None:
    insert = parse(SPEC_STATEMENTS[9])[0]
    assert isinstance(insert, CreateTransformJob)
    assert insert.kind == "INSERT"
    assert isinstance(insert.body, exp.Insert)
    assert insert.target == TableName("silver", "orders")
    assert insert.options.run_interval == Duration(60)
    assert insert.options.start_from == StartFrom("BEGINNING")
    assert '"$commit_time"' in to_duckdb(insert.body)
    merge = parse(SPEC_STATEMENTS[10])[0]
    assert isinstance(merge, CreateTransformJob)
    assert merge.kind == "MERGE"
    assert isinstance(merge.body, exp.Merge)
    assert merge.target == TableName("gold", "customer_revenue")
    assert merge.sync


def test_transform_job_with_cte_and_expectation() -> None:
    node = one(
        "CREATE JOB j RUN_INTERVAL = 5 MINUTES AS INSERT INTO g.t "
        "WITH expectation AS (SELECT 1 AS x) SELECT x FROM expectation "
        "WITH EXPECTATION e EXPECT x = 1 ON VIOLATION WARN"
    )
    assert isinstance(node, CreateTransformJob)
    assert node.options.run_interval == Duration(300)
    assert [e.name for e in node.expectations] == ["e"]
    assert node.body.find(exp.CTE) is not None


def test_materialized_view_alter_pause_resume_drop() -> None:
    mv, alter_set, add, drop_e, pause, resume, *drops = parse("\n".join(SPEC_STATEMENTS[11:17]))
    assert isinstance(mv, CreateMaterializedView)
    assert mv.view == TableName("gold", "daily_revenue")
    assert isinstance(mv.query, exp.Select)
    assert isinstance(alter_set, AlterJob)
    assert alter_set.action == SetOption("LATENESS", Duration(10))
    assert isinstance(add, AlterJob) and isinstance(add.action, AddExpectation)
    assert add.action.expectation.name == "positive"
    assert isinstance(drop_e, AlterJob)
    assert drop_e.action == DropExpectation("positive")
    assert isinstance(pause, PauseJob) and pause.name == "load_orders"
    assert isinstance(resume, ResumeJob) and resume.name == "load_orders"
    assert drops[0] == Drop(pause.pos, "", "JOB", "load_orders")
    assert [d.to_sql() for d in drops] == [
        "DROP JOB load_orders",
        "DROP TABLE bronze.orders",
        "DROP CONNECTION landing",
        "DROP MATERIALIZED VIEW gold.daily_revenue",
    ]


def test_alter_set_values_are_typed_like_create() -> None:
    values = [
        s.action.value
        for s in parse(
            "ALTER JOB j SET START_FROM = NOW; ALTER JOB j SET CONTENT_TYPE = csv;"
            "ALTER JOB j SET EXCLUDE_COLUMNS = (a, b.c); ALTER JOB j SET COMMENT = 'x'"
        )
        if isinstance(s, AlterJob) and isinstance(s.action, SetOption)
    ]
    assert values == [StartFrom("NOW"), "CSV", ["a", "b.c"], "x"]


# -- names and case --------------------------------------------------------------------------
def test_keywords_are_case_insensitive_and_names_fold_like_duckdb() -> None:
    lower = one(
        "create sync job Load_Orders commit_interval = 2 minutes as copy from Landing into Bronze.Orders"
    )
    upper = one('CREATE SYNC JOB "Load_Orders" AS COPY FROM landing INTO bronze."Orders"')
    assert isinstance(lower, CreateIngestJob) and isinstance(upper, CreateIngestJob)
    assert lower.name == "load_orders"
    assert lower.source.connection == "landing"
    assert lower.target == TableName("bronze", "orders")
    assert lower.options.commit_interval == Duration(120)
    assert upper.name == "Load_Orders"
    assert upper.target == TableName("bronze", "Orders")
    assert parse(upper.to_sql()) == [upper]


# -- splitting and positions -----------------------------------------------------------------
def test_semicolons_in_strings_and_comments_do_not_split() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE FILES CONNECTION landing PATH = 'a;b';
    /* block; comment */ SELECT 'x;y' AS v -- trailing; comment
    ;;
    SELECT 2
    """
    statements = parse(sql)
    assert len(statements) == 3
    first, second, third = statements
    assert isinstance(first, CreateConnection) and first.options["PATH"] == "a;b"
    assert isinstance(second, Query) and "'x;y'" in second.to_sql()
    assert isinstance(third, Query)


def test_positions_are_absolute_in_the_file() -> None:
    sql = "\n" * 39 + "SELECT 1;\n  PAUSE JOB a;  RESUME JOB b"
    statements = parse(sql, file="jobs.sql")
    assert [str(s.pos) for s in statements] == ["jobs.sql:40:1", "jobs.sql:41:3", "jobs.sql:41:17"]
    assert [s.text for s in statements] == ["SELECT 1", "PAUSE JOB a", "RESUME JOB b"]


def test_error_positions_are_absolute_in_the_file() -> None:
    sql = "SELECT 1;\n" * 40 + "CREATE JOB j\n  RUN_INTERVAL = fast\nAS INSERT INTO t SELECT 1"
    with pytest.raises(ParseError) as info:
        parse(sql, file="jobs.sql")
    error = info.value
    assert (error.file, error.line, error.col) == ("jobs.sql", 42, 18)
    assert error.reason == "expected a duration like '5 SECONDS', got 'fast'"
    assert error.excerpt.splitlines() == [
        "  41 | CREATE JOB j",
        "  42 |   RUN_INTERVAL = fast",
        "     |                  ^",
    ]
    assert str(error).startswith("jobs.sql:42:18: expected a duration")


def test_sqlglot_errors_are_mapped_to_absolute_positions() -> None:
    sql = "SELECT 1;\n\nCREATE JOB j AS INSERT INTO t\nSELECT a FROM (SELECT 1"
    with pytest.raises(ParseError) as info:
        parse(sql, file="f.sql")
    assert info.value.line == 4


def test_empty_input() -> None:
    assert parse("") == []
    assert parse("  ;; -- nothing\n") == []


# -- system columns --------------------------------------------------------------------------
def test_system_columns_are_quoted_identifiers() -> None:
    e = parse_expression("o.$commit_time")
    assert e == exp.Column(
        this=exp.Identifier(this="$commit_time", quoted=True), table=exp.Identifier(this="o", quoted=False)
    )
    assert to_duckdb(e) == 'o."$commit_time"'
    assert e.sql(dialect="headwater") == "o.$commit_time"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT $event_time, $source, $run_id FROM t WHERE $commit_time > now() GROUP BY ALL",
        "INSERT INTO t ($event_time, a) SELECT $event_time, a FROM s",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET $valid_to = s.$event_time",
        "SELECT o.$op, max(o.$valid_from) FROM t AS o GROUP BY o.$op",
    ],
)
def test_system_columns_anywhere(sql: str) -> None:
    (node,) = parse(sql)
    assert isinstance(node, Query)
    names = {c.name for c in node.expression.find_all(exp.Column)}
    assert any(n.startswith("$") for n in names)
    assert all(not isinstance(p, exp.Placeholder) for p in node.expression.find_all(exp.Placeholder))
    assert "$" not in to_duckdb(node.expression).replace('"$', "")
    assert node.to_sql() == exp.maybe_parse(sql, dialect="headwater").sql(dialect="headwater")


def test_duckdb_runs_queries_with_system_columns() -> None:
    con = duckdb.connect()
    con.execute('CREATE TABLE orders (id INT, "$event_time" TIMESTAMP, "$source" VARCHAR)')
    con.execute("INSERT INTO orders VALUES (1, TIMESTAMP '2026-01-01 10:00:00', 'file:a:1')")
    con.execute("INSERT INTO orders VALUES (2, TIMESTAMP '2026-01-02 10:00:00', 'file:a:2')")
    (query,) = parse(
        "SELECT o.id, o.$source FROM orders o WHERE o.$event_time < TIMESTAMP '2026-01-02' ORDER BY $event_time"
    )
    assert isinstance(query, Query)
    assert con.execute(to_duckdb(query.expression)).fetchall() == [(1, "file:a:1")]


def test_unknown_dollar_name_is_an_error_with_the_list() -> None:
    with pytest.raises(ParseError) as info:
        parse("SELECT 1;\nSELECT $evnt_time FROM t")
    assert (info.value.line, info.value.col) == (2, 9)
    assert "unknown system column '$evnt_time'" in info.value.reason
    assert "$event_time, $commit_time, $source, $run_id" in info.value.reason
    assert "did you mean $event_time?" in info.value.reason


def test_positional_parameters_keep_their_meaning() -> None:
    (node,) = parse("SELECT * FROM t WHERE id = $1")
    assert isinstance(node, Query)
    assert node.expression.find(exp.Placeholder) is not None


def test_parse_expression_errors_are_parse_errors() -> None:
    assert parse_expression("$event_time > 1") == exp.GT(
        this=exp.column(exp.to_identifier("$event_time", quoted=True)), expression=exp.Literal.number(1)
    )
    for bad in ["1 +", "a; b", "", "$nope"]:
        with pytest.raises(ParseError):
            parse_expression(bad)


def test_keyword_values_in_quotes_get_a_hint() -> None:
    with pytest.raises(ParseError) as info:
        parse("CREATE JOB j CONTENT_TYPE = 'json' AS COPY FROM c INTO t")
    assert info.value.hint == "write JSON without quotes"
