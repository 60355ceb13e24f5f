"""CONSUMER_PROPERTIES lines, CSV values of Kafka messages, and the Kafka system columns in the
dialect: no broker needed."""

from __future__ import annotations

import io

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from headwater.catalog.sources import OWNED, properties
from headwater.cli.console import TerminalConsole
from headwater.dialect import parse, to_duckdb
from headwater.dialect.nodes import CreateIngestJob
from headwater.errors import UserError
from headwater.observe.events import BatchCommitted
from headwater.sources.errors import SourceError
from headwater.sources.kafka import KafkaSource, csv_values

_keys = st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True).filter(lambda k: k not in OWNED)
_values = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30).map(str.strip)


@given(st.dictionaries(_keys, _values, max_size=8))
def test_properties_read_back_what_was_written(props: dict[str, str]) -> None:
    text = "\n".join(["# a comment", "", *(f"  {k} = {v}" for k, v in props.items())])
    assert properties(text, "connection c") == props


def test_a_bad_line_is_named_by_number_never_by_its_text() -> None:
    with pytest.raises(UserError) as e:
        properties("client.id=a\nhunter2-secret\n", "connection c")
    assert "line 2 is not key=value" in str(e.value) and "hunter2" not in str(e.value)
    with pytest.raises(UserError, match=r"cannot set enable\.auto\.commit"):
        properties("enable.auto.commit=true", "connection c")


def test_csv_values_keep_their_offsets() -> None:
    values = [b"1,a", b'2,"b,c"', b"x", b'3,"d\ne"', b"", b"4,z"]
    table, rejected = csv_values(values, pa.array([10, 11, 12, 13, 14, 15], pa.int64()), ["id", "name"])
    assert table.select(["__hw_line", "id", "name"]).to_pylist() == [
        {"__hw_line": 10, "id": "1", "name": "a"},
        {"__hw_line": 11, "id": "2", "name": "b,c"},
        {"__hw_line": 15, "id": "4", "name": "z"},
    ]
    assert [(r["__hw_line"], r["__hw_reason"]) for r in rejected.to_pylist()] == [
        (12, "expected 2 fields, got 1"),
        (13, "a CSV value with a line break"),
    ]


def test_kafka_system_columns_parse_everywhere_a_column_can() -> None:
    (job,) = parse(
        "CREATE JOB j EVENT_TIME = $kafka_timestamp DEDUPLICATE_WITH = (COLUMNS = ($kafka_key), WINDOW = 1 DAY) "
        "COLUMN_TRANSFORMATIONS = ($kafka_key = HASH($kafka_key)) AS COPY FROM k TOPIC = 't' INTO b.t "
        "WITH EXPECTATION web EXPECT $kafka_headers['origin'] = 'web' ON VIOLATION DROP"
    )
    assert isinstance(job, CreateIngestJob)
    assert job.options.event_time is not None
    assert to_duckdb(job.options.event_time) == '"$kafka_timestamp"'
    assert to_duckdb(job.expectations[0].predicate) == "\"$kafka_headers\"['origin'] = 'web'"
    assert job.options.deduplicate_with is not None and job.options.deduplicate_with.columns == ["$kafka_key"]
    assert parse(job.to_sql())[0].to_sql() == job.to_sql()


def test_the_progress_line_counts_partitions() -> None:
    err = Console(file=io.StringIO(), width=200, force_terminal=False)
    with TerminalConsole(err) as terminal:
        terminal.emit(BatchCommitted("clicks", 1, 10, 10, 3, 2048, 0.5, "partition"))
    assert "clicks: committed 10 rows (3 partitions, 2.0 KB)" in err.file.getvalue()  # type: ignore[attr-defined]


def test_settings_the_client_refuses_are_a_clear_error_without_their_values() -> None:
    with pytest.raises(SourceError) as e:
        KafkaSource("j", "events", ("127.0.0.1:1",), {"session.timeout.ms": "s3cret-x"}, "t", 100)
    message = str(e.value)
    assert "the Kafka client refused the settings of connection events" in message
    assert '"session.timeout.ms"' in message and "s3cret-x" not in message
