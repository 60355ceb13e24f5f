"""CREATE [SYNC] JOB (ingestion and transformation), expectations, and ALTER JOB."""

from __future__ import annotations

import typing as t
from collections.abc import Callable

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from headwater.dialect.cursor import Cursor
from headwater.dialect.nodes import (
    INGEST_OPTION_FIELDS,
    TRANSFORM_OPTION_FIELDS,
    AddExpectation,
    AlterJob,
    CopySource,
    CreateIngestJob,
    CreateTransformJob,
    DropExpectation,
    Expectation,
    IngestOptions,
    SetOption,
    TableName,
    TransformOptions,
    ViolationAction,
)
from headwater.dialect.options import (
    COPY_OPTIONS,
    JOB_OPTIONS,
    OptionValue,
    keyword_reader,
    read_options,
    unknown_option,
)

_KIND_NAMES = {"INGEST": "an ingestion job (AS COPY FROM)", "TRANSFORM": "a transformation job"}
_read_action = keyword_reader("DROP", "WARN", "QUARANTINE", "ABORT")


def create_job(c: Cursor, sync: bool) -> CreateIngestJob | CreateTransformJob:
    """After ``CREATE [SYNC] JOB``."""
    name = c.name("a job name")
    options = read_options(
        c, JOB_OPTIONS, "CREATE JOB", stop=("AS",), after_stop=("COPY", "INSERT", "MERGE", "SELECT")
    )
    c.expect("AS", what="AS COPY FROM ..., AS INSERT INTO ... or AS MERGE INTO ...")
    kind = "INGEST" if c.at("COPY") else "TRANSFORM"
    _check_kind(c, options, kind)
    if kind == "INGEST":
        return _ingest_job(c, name, sync, options)
    return _transform_job(c, name, sync, options)


def _check_kind(c: Cursor, options: dict[str, OptionValue], kind: str) -> None:
    for name, found in options.items():
        if kind not in JOB_OPTIONS[name].kinds:
            valid = [n for n, o in JOB_OPTIONS.items() if kind in o.kinds]
            raise c.error(
                f"{name} is not an option of {_KIND_NAMES[kind]}; valid options: {', '.join(valid)}",
                found.token,
            )


def _ingest_job(c: Cursor, name: str, sync: bool, options: dict[str, OptionValue]) -> CreateIngestJob:
    ingest = IngestOptions()
    for option, attr in INGEST_OPTION_FIELDS:
        if option in options:
            setattr(ingest, attr, options[option].value)
    c.expect("COPY")
    c.expect("FROM", what="FROM after COPY")
    source = CopySource(c.name("a connection name"))
    copy = read_options(c, COPY_OPTIONS, "COPY FROM", stop=("INTO",), after_stop=("SCHEMA",))
    for option, found in copy.items():
        setattr(source, option.lower(), found.value)
    c.expect("INTO", what="INTO <schema.table> (or INTO SCHEMA <schema> for CDC)")
    target: TableName | None = None
    target_schema: str | None = None
    if c.at("SCHEMA") and not c.at_type(TokenType.DOT, 1):
        schema_token = c.advance()
        if "CDC_MODE" not in copy and "TABLE_INCLUDE_LIST" not in copy:
            raise c.error(
                "INTO SCHEMA is only for CDC sources (with TABLE_INCLUDE_LIST or CDC_MODE); "
                "write INTO <schema.table> for a single table",
                schema_token,
            )
        target_schema = c.name("a schema name")
    else:
        target = c.table_name()
    expectations = read_expectations(c)
    return CreateIngestJob(c.pos, c.text, name, sync, ingest, source, target, target_schema, expectations)


def _transform_job(c: Cursor, name: str, sync: bool, options: dict[str, OptionValue]) -> CreateTransformJob:
    transform = TransformOptions()
    for option, attr in TRANSFORM_OPTION_FIELDS:
        if option in options:
            setattr(transform, attr, options[option].value)
    first = c.current
    if not (c.at("INSERT") or c.at("MERGE") or c.at("WITH")):
        hint = None
        if c.at("SELECT"):
            hint = "a plain SELECT belongs in CREATE MATERIALIZED VIEW, or after INSERT INTO <table>"
        raise c.expected("COPY FROM, INSERT INTO or MERGE INTO after AS", hint=hint)
    tokens = c.take_until(_at_expectation(c))
    body = c.sql(tokens, exp.Expr, "the job's INSERT INTO or MERGE INTO", parse_as=None)
    if not isinstance(body, exp.Insert | exp.Merge):
        raise c.expected("INSERT INTO or MERGE INTO after AS", first)
    target = _body_target(c, body, first)
    expectations = read_expectations(c)
    kind: t.Literal["INSERT", "MERGE"] = "INSERT" if isinstance(body, exp.Insert) else "MERGE"
    return CreateTransformJob(c.pos, c.text, name, sync, transform, kind, body, target, expectations)


def _at_expectation(c: Cursor) -> Callable[[], bool]:
    def stop() -> bool:
        return c.at("WITH", "EXPECTATION") and not c.at("AS", ahead=2)

    return stop


def _body_target(c: Cursor, body: exp.Insert | exp.Merge, first: Token | None) -> TableName:
    table = body.this
    if isinstance(table, exp.Schema):
        if not all(isinstance(e, exp.Identifier) for e in table.expressions):
            raise c.error("expected a list of column names after the table name", first)
        table = table.this
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        raise c.error("the job must write into a lake table (INSERT INTO schema.table)", first)
    if table.args.get("catalog"):
        raise c.error(f"expected a table name like 'schema.table', got '{table.sql()}'", first)
    db = table.args.get("db")
    schema = _name(db) if isinstance(db, exp.Identifier) else "main"
    return TableName(schema, _name(table.this))


def _name(identifier: exp.Identifier) -> str:
    return identifier.name if identifier.quoted else identifier.name.lower()


def read_expectations(c: Cursor) -> list[Expectation]:
    """``[WITH EXPECTATION <name> EXPECT <predicate> ON VIOLATION <action>] ...`` to the end."""
    expectations: list[Expectation] = []
    seen: set[str] = set()
    while not c.at_end():
        start = c.current
        c.expect("WITH", what="WITH EXPECTATION or the end of the statement")
        c.expect("EXPECTATION", what="EXPECTATION after WITH")
        name_token = c.current
        expectation = read_expectation(c, start)
        if expectation.name in seen:
            raise c.error(f"expectation {expectation.name} is defined twice", name_token)
        seen.add(expectation.name)
        expectations.append(expectation)
    return expectations


def read_expectation(c: Cursor, start: Token | None) -> Expectation:
    """``<name> EXPECT <predicate> ON VIOLATION <action>``, after ``EXPECTATION``."""
    name = c.name("an expectation name")
    c.expect("EXPECT", what=f"EXPECT <predicate> after the expectation name {name}")
    tokens = c.take_until(lambda: c.at("ON", "VIOLATION"))
    predicate = c.sql(tokens, exp.Expression, "a predicate")
    c.expect("ON", "VIOLATION", what="ON VIOLATION DROP | WARN | QUARANTINE | ABORT")
    action = t.cast("ViolationAction", _read_action(c))
    pos = c.source.position(c.offset_of(start))
    return Expectation(name, predicate, action, pos)


def alter_job(c: Cursor) -> AlterJob:
    """After ``ALTER JOB``: ``SET <option> = <value>``, ``ADD EXPECTATION ...``, ``DROP EXPECTATION``."""
    name = c.name("a job name")
    action: SetOption | AddExpectation | DropExpectation
    if c.match("SET"):
        token = c.current
        option = c.word()
        if token is None or option not in JOB_OPTIONS:
            if token is None or option is None:
                raise c.expected("an option name after SET")
            raise unknown_option(c, token, JOB_OPTIONS, "ALTER JOB ... SET")
        c.advance()
        c.expect_type(TokenType.EQ, f"'=' after {option}")
        action = SetOption(option, JOB_OPTIONS[option].read(c))
    elif c.at("ADD"):
        start = c.advance()
        c.expect("EXPECTATION", what="EXPECTATION after ADD")
        action = AddExpectation(read_expectation(c, start))
    elif c.match("DROP"):
        c.expect("EXPECTATION", what="EXPECTATION after DROP")
        action = DropExpectation(c.name("an expectation name"))
    else:
        raise c.expected("SET, ADD EXPECTATION or DROP EXPECTATION")
    c.expect_end("the end of the statement")
    return AlterJob(c.pos, c.text, name, action)
