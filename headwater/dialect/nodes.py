"""Typed statement nodes: what the parser produces and everything downstream consumes.

SQL bodies (SELECT, INSERT, MERGE, predicates, expressions) are kept as sqlglot
expressions parsed with the Headwater dialect (``headwater.dialect.sqlglot_dialect``),
in which ``$event_time`` and friends are ordinary (quoted) column identifiers.
Every node can print itself back as canonical SQL with ``to_sql()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlglot import exp

from headwater.dialect import sqltext

ConnectionKind = Literal["FILES", "KAFKA", "POSTGRES", "MYSQL", "S3"]
ContentType = Literal["AUTO", "JSON", "CSV", "PARQUET"]
SchemaChange = Literal["EVOLVE", "QUARANTINE", "FAIL"]
RetentionGap = Literal["FAIL", "SKIP"]
ViolationAction = Literal["DROP", "WARN", "QUARANTINE", "ABORT"]
CdcMode = Literal["REPLICATE", "SOFT_DELETE", "CHANGELOG", "HISTORY"]
DropKind = Literal["JOB", "TABLE", "CONNECTION", "MATERIALIZED VIEW"]

SYSTEM_COLUMNS = ("$event_time", "$commit_time", "$source", "$run_id")
CDC_COLUMNS = ("$op", "$valid_from", "$valid_to")
# Tables fed from Kafka: each message's key, timestamp and headers.
KAFKA_COLUMNS = ("$kafka_key", "$kafka_timestamp", "$kafka_headers")


@dataclass(frozen=True)
class Position:
    """Where a statement (or part of one) starts: 1-based line and column."""

    file: str | None
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file or '<sql>'}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Duration:
    """``<n> SECOND[S]|MINUTE[S]|HOUR[S]|DAY[S]``, kept in seconds."""

    seconds: int

    UNITS = (("DAY", 86400), ("HOUR", 3600), ("MINUTE", 60), ("SECOND", 1))

    def to_sql(self) -> str:
        for unit, size in self.UNITS:
            if self.seconds and self.seconds % size == 0:
                n = self.seconds // size
                return f"{n} {unit}{'S' if n != 1 else ''}"
        return "0 SECONDS"


@dataclass(frozen=True)
class StartFrom:
    """``BEGINNING``, ``NOW`` or an ISO-8601 timestamp string."""

    kind: Literal["BEGINNING", "NOW", "TIMESTAMP"]
    timestamp: str | None = None

    def to_sql(self) -> str:
        return f"'{self.timestamp}'" if self.kind == "TIMESTAMP" else self.kind


@dataclass(frozen=True)
class TableName:
    """A lake table: ``schema.table`` (schema defaults to ``main``)."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    def to_sql(self) -> str:
        return f"{sqltext.object_name(self.schema)}.{sqltext.object_name(self.name)}"


@dataclass
class Statement:
    """Base class. ``pos`` is where the statement starts; ``text`` its original SQL."""

    pos: Position = field(repr=False, compare=False)
    text: str = field(repr=False, compare=False)

    def to_sql(self) -> str:  # pragma: no cover - every subclass overrides
        raise TypeError(type(self).__name__)

    @property
    def keywords(self) -> str:
        """How a user calls the statement, from its text: ``CREATE JOB``, ``ALTER JOB``."""
        words = [w.upper() for w in self.text.split()[:4]]
        if words[1:2] in (["SYNC"], ["MATERIALIZED"], ["FILES"], ["KAFKA"], ["POSTGRES"], ["MYSQL"], ["S3"]):
            return " ".join(words[:3])
        return " ".join(words[:2])


@dataclass
class CreateConnection(Statement):
    kind: ConnectionKind
    name: str
    # Option names upper-cased: PATH, HOSTS, CONSUMER_PROPERTIES, CONNECTION_STRING,
    # USER_NAME, PASSWORD, ENDPOINT, BUCKET, REGION. Values: str, or tuple[str, ...] for lists.
    # Strings keep ``${ENV}`` references unexpanded; they are resolved at run time.
    options: dict[str, str | tuple[str, ...]]

    def to_sql(self) -> str:
        parts = [f"CREATE {self.kind} CONNECTION {sqltext.object_name(self.name)}"]
        for option in sorted(self.options, key=_connection_option_rank):
            value = self.options[option]
            shown = sqltext.string(value) if isinstance(value, str) else sqltext.string_list(value)
            parts.append(f"{option} = {shown}")
        return " ".join(parts)


@dataclass
class ColumnDef:
    name: str
    type: str  # DuckDB type text, e.g. "DECIMAL(12,2)" or "STRUCT(a INT)"

    def to_sql(self) -> str:
        return f"{sqltext.column_name(self.name)} {self.type}"


@dataclass
class CreateTable(Statement):
    table: TableName
    columns: list[ColumnDef]
    primary_key: list[str]
    partitioned_by: list[str]
    comment: str | None

    def to_sql(self) -> str:
        parts = [f"CREATE TABLE {self.table.to_sql()}"]
        if self.columns:
            parts.append("(" + ", ".join(c.to_sql() for c in self.columns) + ")")
        if self.primary_key:
            parts.append(f"PRIMARY KEY {sqltext.column_list(self.primary_key)}")
        if self.partitioned_by:
            parts.append(f"PARTITIONED BY {sqltext.column_list(self.partitioned_by)}")
        if self.comment is not None:
            parts.append(f"COMMENT = {sqltext.string(self.comment)}")
        return " ".join(parts)


@dataclass
class Expectation:
    name: str
    predicate: exp.Expression
    action: ViolationAction
    pos: Position | None = field(default=None, repr=False, compare=False)

    def to_sql(self) -> str:
        """``EXPECTATION <name> EXPECT <predicate> ON VIOLATION <action>`` (after WITH or ADD)."""
        return (
            f"EXPECTATION {sqltext.object_name(self.name)} EXPECT {sqltext.expression(self.predicate)}"
            f" ON VIOLATION {self.action}"
        )


@dataclass
class Dedupe:
    columns: list[str]
    window: Duration

    def to_sql(self) -> str:
        return f"(COLUMNS = {sqltext.column_list(self.columns)}, WINDOW = {self.window.to_sql()})"


@dataclass
class ColumnTransformation:
    """``target = expression``; target may be a dotted path (``customer.email``).

    ``expression`` is a sqlglot expression in which HASH(col), MASK(col, n) and
    REDACT(col) appear as anonymous functions; the quality package gives them meaning.
    """

    target: str
    expression: exp.Expression

    def to_sql(self) -> str:
        return f"{sqltext.column_path(self.target)} = {sqltext.expression(self.expression)}"


@dataclass
class IngestOptions:
    content_type: ContentType = "AUTO"
    start_from: StartFrom | None = None
    event_time: exp.Expression | None = None
    deduplicate_with: Dedupe | None = None
    column_transformations: list[ColumnTransformation] = field(default_factory=list)
    exclude_columns: list[str] = field(default_factory=list)
    on_schema_change: SchemaChange = "EVOLVE"
    on_retention_gap: RetentionGap = "FAIL"
    lateness: Duration = field(default_factory=lambda: Duration(0))
    commit_interval: Duration = field(default_factory=lambda: Duration(5))
    comment: str | None = None

    def to_sql(self) -> str:
        """The options that differ from their defaults, in canonical order."""
        default = IngestOptions()
        parts = []
        for option, attr in INGEST_OPTION_FIELDS:
            value = getattr(self, attr)
            if value != getattr(default, attr):
                parts.append(f"{option} = {option_value_sql(option, value)}")
        return " ".join(parts)


@dataclass
class CopySource:
    """``COPY FROM <connection> [PATTERN = ..] [TOPIC = ..] [TABLE_INCLUDE_LIST = (..)] [CDC_MODE = ..]``."""

    connection: str
    pattern: str | None = None
    topic: str | None = None
    table_include_list: list[str] = field(default_factory=list)
    cdc_mode: CdcMode | None = None

    def to_sql(self) -> str:
        parts = [f"COPY FROM {sqltext.object_name(self.connection)}"]
        if self.pattern is not None:
            parts.append(f"PATTERN = {sqltext.string(self.pattern)}")
        if self.topic is not None:
            parts.append(f"TOPIC = {sqltext.string(self.topic)}")
        if self.table_include_list:
            parts.append(f"TABLE_INCLUDE_LIST = {sqltext.string_list(self.table_include_list)}")
        if self.cdc_mode is not None:
            parts.append(f"CDC_MODE = {self.cdc_mode}")
        return " ".join(parts)


@dataclass
class CreateIngestJob(Statement):
    name: str
    sync: bool
    options: IngestOptions
    source: CopySource
    target: TableName | None  # INTO schema.table
    target_schema: str | None  # INTO SCHEMA s (CDC only)
    expectations: list[Expectation]

    def to_sql(self) -> str:
        parts = [_job_head(self.sync, self.name), self.options.to_sql(), "AS", self.source.to_sql()]
        if self.target_schema is not None:
            parts.append(f"INTO SCHEMA {sqltext.object_name(self.target_schema)}")
        elif self.target is not None:
            parts.append(f"INTO {self.target.to_sql()}")
        parts.extend(f"WITH {e.to_sql()}" for e in self.expectations)
        return " ".join(p for p in parts if p)


@dataclass
class TransformOptions:
    run_interval: Duration = field(default_factory=lambda: Duration(60))
    start_from: StartFrom | None = None
    comment: str | None = None

    def to_sql(self) -> str:
        """The options that differ from their defaults, in canonical order."""
        default = TransformOptions()
        parts = []
        for option, attr in TRANSFORM_OPTION_FIELDS:
            value = getattr(self, attr)
            if value != getattr(default, attr):
                parts.append(f"{option} = {option_value_sql(option, value)}")
        return " ".join(parts)


@dataclass
class CreateTransformJob(Statement):
    """``AS INSERT INTO ... SELECT`` or ``AS MERGE INTO ...``; ``body`` is the sqlglot node."""

    name: str
    sync: bool
    options: TransformOptions
    kind: Literal["INSERT", "MERGE"]
    body: exp.Insert | exp.Merge
    target: TableName
    expectations: list[Expectation]

    def to_sql(self) -> str:
        parts = [_job_head(self.sync, self.name), self.options.to_sql(), "AS"]
        parts.append(sqltext.expression(self.body))
        parts.extend(f"WITH {e.to_sql()}" for e in self.expectations)
        return " ".join(p for p in parts if p)


@dataclass
class CreateMaterializedView(Statement):
    view: TableName
    query: exp.Query

    def to_sql(self) -> str:
        return f"CREATE MATERIALIZED VIEW {self.view.to_sql()} AS {sqltext.expression(self.query)}"


@dataclass
class SetOption:
    option: str  # upper-cased option name, as in CREATE JOB
    value: object  # parsed the same way as in CREATE JOB (Duration, StartFrom, str, ...)

    def to_sql(self) -> str:
        return f"SET {self.option} = {option_value_sql(self.option, self.value)}"


@dataclass
class AddExpectation:
    expectation: Expectation

    def to_sql(self) -> str:
        return f"ADD {self.expectation.to_sql()}"


@dataclass
class DropExpectation:
    name: str

    def to_sql(self) -> str:
        return f"DROP EXPECTATION {sqltext.object_name(self.name)}"


@dataclass
class AlterJob(Statement):
    name: str
    action: SetOption | AddExpectation | DropExpectation

    def to_sql(self) -> str:
        return f"ALTER JOB {sqltext.object_name(self.name)} {self.action.to_sql()}"


@dataclass
class PauseJob(Statement):
    name: str

    def to_sql(self) -> str:
        return f"PAUSE JOB {sqltext.object_name(self.name)}"


@dataclass
class ResumeJob(Statement):
    name: str

    def to_sql(self) -> str:
        return f"RESUME JOB {sqltext.object_name(self.name)}"


@dataclass
class Drop(Statement):
    kind: DropKind
    name: str  # job/connection name, or "schema.table" for tables and views

    def to_sql(self) -> str:
        name = ".".join(sqltext.object_name(part) for part in self.name.split("."))
        return f"DROP {self.kind} {name}"


@dataclass
class Query(Statement):
    """Any other SQL (usually SELECT): run as-is on DuckDB over the lake."""

    expression: exp.Expression

    def to_sql(self) -> str:
        return sqltext.expression(self.expression)


AnyStatement = (
    CreateConnection
    | CreateTable
    | CreateIngestJob
    | CreateTransformJob
    | CreateMaterializedView
    | AlterJob
    | PauseJob
    | ResumeJob
    | Drop
    | Query
)


# Canonical option order: (option name, field of IngestOptions / TransformOptions).
INGEST_OPTION_FIELDS = (
    ("CONTENT_TYPE", "content_type"),
    ("START_FROM", "start_from"),
    ("EVENT_TIME", "event_time"),
    ("DEDUPLICATE_WITH", "deduplicate_with"),
    ("COLUMN_TRANSFORMATIONS", "column_transformations"),
    ("EXCLUDE_COLUMNS", "exclude_columns"),
    ("ON_SCHEMA_CHANGE", "on_schema_change"),
    ("ON_RETENTION_GAP", "on_retention_gap"),
    ("LATENESS", "lateness"),
    ("COMMIT_INTERVAL", "commit_interval"),
    ("COMMENT", "comment"),
)
TRANSFORM_OPTION_FIELDS = (
    ("RUN_INTERVAL", "run_interval"),
    ("START_FROM", "start_from"),
    ("COMMENT", "comment"),
)
CONNECTION_OPTIONS: dict[ConnectionKind, tuple[str, ...]] = {
    "FILES": ("PATH",),
    "KAFKA": ("HOSTS", "CONSUMER_PROPERTIES"),
    "POSTGRES": ("CONNECTION_STRING", "USER_NAME", "PASSWORD"),
    "MYSQL": ("CONNECTION_STRING", "USER_NAME", "PASSWORD"),
    "S3": ("ENDPOINT", "BUCKET", "REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"),
}
_CONNECTION_OPTION_ORDER = tuple(dict.fromkeys(o for opts in CONNECTION_OPTIONS.values() for o in opts))


def _connection_option_rank(option: str) -> tuple[int, str]:
    order = _CONNECTION_OPTION_ORDER
    return (order.index(option) if option in order else len(order), option)


def _job_head(sync: bool, name: str) -> str:
    return f"CREATE {'SYNC ' if sync else ''}JOB {sqltext.object_name(name)}"


def option_value_sql(option: str, value: object) -> str:
    """Print a job option's value as written after ``<option> =``."""
    if isinstance(value, Duration | StartFrom | Dedupe):
        return value.to_sql()
    if isinstance(value, exp.Expr):
        return sqltext.expression(value)
    if isinstance(value, str):
        return sqltext.string(value) if option == "COMMENT" else value
    if isinstance(value, list):
        if all(isinstance(v, ColumnTransformation) for v in value):
            return "(" + ", ".join(v.to_sql() for v in value) + ")"
        return sqltext.column_list(str(v) for v in value)
    raise TypeError(f"cannot print a value of {option}: {value!r}")
