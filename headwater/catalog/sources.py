"""What a job's COPY FROM may ask of its connection's kind, checked without a server
(`validate`, `plan`); and a Kafka connection's settings, which the runner turns into the
consumer's at run time.

CONSUMER_PROPERTIES is one ``key=value`` per line (librdkafka's names: ``security.protocol``,
``sasl.mechanism``, ``sasl.username``, ...); blank lines and lines starting with ``#`` are
skipped. ``${VAR}`` is replaced from the environment when the job runs, never before: the
expanded values are neither stored nor shown (messages name a property, never its value).
"""

from __future__ import annotations

from sqlglot import exp

from headwater.dialect.nodes import KAFKA_COLUMNS, CreateConnection, CreateIngestJob
from headwater.errors import UserError

# Set by Headwater, whatever the properties say: what exactly-once relies on.
OWNED = {
    "bootstrap.servers": "HOSTS",
    "isolation.level": "read_committed: only committed transactions are read",
    "enable.auto.commit": "false: offsets are committed with the lake's transaction",
    "enable.auto.offset.store": "false: offsets are committed with the lake's transaction",
    "auto.offset.reset": "error: messages deleted before they were read are never skipped silently "
    "(see the job option ON_RETENTION_GAP)",
}


def properties(text: str, where: str) -> dict[str, str]:
    """``key=value`` lines as a dict (values as written: ``${VAR}`` not expanded)."""
    found: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UserError(
                f"{where}: CONSUMER_PROPERTIES line {n} is not key=value",
                hint="write one librdkafka property per line, e.g. 'security.protocol=SASL_SSL'",
            )
        if key in OWNED:
            raise UserError(
                f"{where}: CONSUMER_PROPERTIES cannot set {key} (Headwater sets it: {OWNED[key]})",
                hint=f"remove {key} from CONSUMER_PROPERTIES",
            )
        found[key] = value.strip()
    return found


def hosts(conn: CreateConnection) -> tuple[str, ...]:
    value = conn.options.get("HOSTS", ())
    return (value,) if isinstance(value, str) else tuple(value)


def check_kafka_job(
    stmt: CreateIngestJob, conn: CreateConnection, columns: list[str]
) -> tuple[str, str] | None:
    """(message, hint) for what a job copying from Kafka cannot do, else None. ``columns``:
    those the target table declares (CSV values have no header: they are its columns)."""
    source = stmt.source
    if source.topic is None or not source.topic:
        return (
            f"job {stmt.name!r} copies from Kafka connection {conn.name} but names no TOPIC",
            f"write COPY FROM {conn.name} TOPIC = '<topic>'",
        )
    if source.pattern is not None:
        return (f"job {stmt.name!r}: PATTERN is for files; a Kafka job reads one TOPIC", "remove PATTERN")
    if stmt.options.content_type == "PARQUET":
        return (
            f"job {stmt.name!r}: CONTENT_TYPE = PARQUET is not available for Kafka values "
            "in this version (JSON and CSV are)",
            "write CONTENT_TYPE = JSON or CSV",
        )
    if stmt.options.content_type == "CSV" and not columns:
        return (
            f"job {stmt.name!r}: CSV values have no header, so the columns of {stmt.target} must be "
            "declared: each value's fields are those columns, in order",
            f"declare them: CREATE TABLE {stmt.target} (a BIGINT, b VARCHAR, ...)",
        )
    bad = [h for h in hosts(conn) if not _host_port(h)]
    if not hosts(conn) or bad:
        return (
            f"connection {conn.name}: HOSTS must list 'host:port' addresses"
            + (f" ({', '.join(repr(b) for b in bad)} is not one)" if bad else ""),
            "write HOSTS = ('broker1:9092', 'broker2:9092')",
        )
    text = conn.options.get("CONSUMER_PROPERTIES")
    if isinstance(text, str):
        try:
            properties(text, f"connection {conn.name}")
        except UserError as e:
            return (e.message, e.hint or "")
    return None


def _host_port(text: str) -> bool:
    """'host:port' (one with ``${VAR}`` in it is checked when it runs)."""
    host, colon, port = text.rpartition(":")
    return "${" in text or bool(colon and host and port.isdigit())


def system_columns_used(stmt: CreateIngestJob) -> set[str]:
    """The source system columns ($kafka_key...) that a job's options and expectations name."""
    opts = stmt.options
    trees: list[exp.Expression] = [t.expression for t in opts.column_transformations]
    trees += [e.predicate for e in stmt.expectations]
    if opts.event_time is not None:
        trees.append(opts.event_time)
    names = {c.name for tree in trees for c in tree.find_all(exp.Column)}
    names |= {t.target.split(".")[0] for t in opts.column_transformations}
    names |= {c.split(".")[0] for c in (opts.deduplicate_with.columns if opts.deduplicate_with else [])}
    return {n for n in names if n in KAFKA_COLUMNS}


def check_source(stmt: CreateIngestJob, conn: CreateConnection, columns: list[str]) -> tuple[str, str] | None:
    """What is wrong with a job's COPY FROM for its connection's kind: (message, hint), or None.
    ``columns``: those its target table declares. Needs no server: `validate` and `plan` run it."""
    source = stmt.source
    if conn.kind == "KAFKA":
        return check_kafka_job(stmt, conn, columns)
    if source.topic is not None:
        return (
            f"job {stmt.name!r}: TOPIC is for Kafka connections; {conn.name} is a {conn.kind} connection",
            "remove TOPIC, or copy from a KAFKA connection",
        )
    if stmt.options.on_retention_gap == "SKIP":
        return (
            f"job {stmt.name!r}: ON_RETENTION_GAP is for Kafka topics, whose retention may delete "
            f"messages before they are read; {conn.name} is a {conn.kind} connection",
            "remove ON_RETENTION_GAP, or copy from a KAFKA connection",
        )
    used = system_columns_used(stmt)
    if used:
        return (
            f"job {stmt.name!r} uses {', '.join(sorted(used))}, which only tables fed from Kafka have",
            "remove it, or copy from a KAFKA connection",
        )
    return None
