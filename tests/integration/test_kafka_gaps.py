"""Messages that a topic's retention deleted before the job read them: the job stops, naming
topic, partition and offsets (ON_RETENTION_GAP = FAIL, the default), or goes on past them and
records the gap in system.gaps, in the transaction that moves its position (SKIP). Against a
real broker; the deletion is the AdminClient's delete_records, what retention does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

import headwater as hw
from headwater.sources.errors import SourceError
from headwater.sources.files import FILE_BITS, LINE_COLUMN
from headwater.sources.kafka import KafkaSource
from headwater.state.store import Gap
from tests.conftest import write_jsonl
from tests.services.kafka import KafkaBroker

_count = iter(range(1_000_000))


def _topic(kafka: KafkaBroker, partitions: int) -> str:
    name = f"gaps-{os.getpid()}-{next(_count)}"
    kafka.create_topic(name, partitions=partitions)
    return name


def _send(kafka: KafkaBroker, topic: str, partition: int, ids: range) -> None:
    producer = kafka.producer()
    for i in ids:
        producer.produce(topic, value=json.dumps({"id": i}), partition=partition)
    assert producer.flush(30) == 0


def _delete(kafka: KafkaBroker, topic: str, partition: int, before: int) -> None:
    """Delete the partition's messages before offset ``before``, as retention would."""
    for future in kafka.admin().delete_records([TopicPartition(topic, partition, before)]).values():
        future.result(30)


def _sql(kafka: KafkaBroker, topic: str, option: str = "") -> str:
    return (
        f"CREATE KAFKA CONNECTION events HOSTS = ('{kafka.bootstrap}');\n"
        f"CREATE JOB load {option} AS COPY FROM events TOPIC = '{topic}' INTO bronze.kept;\n"
    )


def test_skip_goes_on_past_the_gap_and_records_it_once(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic(kafka, 2)
    project = make_project(_sql(kafka, topic))
    _send(kafka, topic, 0, range(10))
    _send(kafka, topic, 1, range(100, 103))
    assert project.run(once=True).ok
    _send(kafka, topic, 0, range(10, 20))
    _send(kafka, topic, 1, range(103, 105))
    _delete(kafka, topic, 0, 15)

    # FAIL (the default): stopped, nothing skipped, the position kept.
    failed = project.run(once=True)
    assert not failed.ok
    error = failed.failed_jobs["load"]
    assert (
        f"job load stopped: messages 10 to 14 of topic {topic} partition 0 were deleted (the topic's "
        "retention) before the job read them; nothing was skipped" in error
    )
    assert "set ON_RETENTION_GAP = SKIP on job load" in error
    assert project.query("SELECT count(*) FROM system.gaps").fetchall() == [(0,)]

    # SKIP: the job, changed, goes on from the same positions (nothing read again).
    (project.path / "pipeline.sql").write_text(_sql(kafka, topic, "ON_RETENTION_GAP = SKIP"))
    project = hw.Project(project.path)
    assert project.run(once=True).ok
    ids = [r[0] for r in project.query("SELECT id FROM bronze.kept ORDER BY id").fetchall()]
    assert ids == [*range(10), *range(15, 20), *range(100, 105)]
    gaps = project.query(
        'SELECT job, "partition", first_lost, last_lost, run_id, detected_at IS NOT NULL FROM system.gaps'
    ).fetchall()
    assert [g[:4] for g in gaps] == [("load", f"{topic}/0", 10, 14)] and gaps[0][5]
    # Recorded by the run that moved the position past it: one that read partition 0 on.
    sources = project.query(
        f"SELECT DISTINCT split_part($source, '/', 2) FROM bronze.kept WHERE $run_id = {gaps[0][4]}"
    ).fetchall()
    assert ("0",) in sources
    offsets = dict(
        project.query(
            "SELECT \"partition\", position FROM system.offsets WHERE job = 'load' AND \"partition\" <> '__start__'"
        ).fetchall()
    )
    assert offsets == {f"{topic}/0": 20, f"{topic}/1": 5}
    # Once past it, the gap is behind the job: later runs record nothing more.
    _send(kafka, topic, 0, range(20, 22))
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM system.gaps").fetchall() == [(1,)]
    assert project.query("SELECT count(*), count(DISTINCT id) FROM bronze.kept").fetchall() == [(22, 22)]
    assert project.query(
        "SELECT sum(rows_read), sum(rows_written) FROM system.runs WHERE job = 'load'"
    ).fetchall() == [(22, 22)]


def test_through_the_cli_a_partition_deleted_to_its_end(kafka: KafkaBroker, tmp_path: Path) -> None:
    """Nothing after the gap: the position moves to the partition's end, with the gap."""
    topic = _topic(kafka, 1)
    (tmp_path / "pipeline.sql").write_text(_sql(kafka, topic))

    def headwater(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "headwater", *args], cwd=tmp_path, capture_output=True, text=True
        )

    _send(kafka, topic, 0, range(5))
    assert headwater("run", "--once").returncode == 0
    _send(kafka, topic, 0, range(5, 9))
    _delete(kafka, topic, 0, 9)
    out = headwater("run", "--once")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert f"messages 5 to 8 of topic {topic} partition 0 were deleted" in text
    assert "ON_RETENTION_GAP = SKIP" in text and "Traceback" not in text

    (tmp_path / "pipeline.sql").write_text(_sql(kafka, topic, "ON_RETENTION_GAP = SKIP"))
    out = headwater("run", "--once")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"skipped offsets 5 to 8 of {topic}/0" in out.stdout + out.stderr
    shown = headwater("query", "SELECT first_lost || '..' || last_lost AS lost FROM system.gaps")
    assert shown.returncode == 0 and "5..8" in shown.stdout, shown.stdout + shown.stderr
    project = hw.Project(tmp_path)
    assert project.query(
        "SELECT position FROM system.offsets WHERE job = 'load' AND \"partition\" <> '__start__'"
    ).fetchall() == [(9,)]
    assert project.query("SELECT count(*) FROM bronze.kept").fetchall() == [(5,)]
    assert headwater("run", "--once").returncode == 0
    assert project.query("SELECT count(*) FROM system.gaps").fetchall() == [(1,)]


@pytest.mark.parametrize("on_gap", ["FAIL", "SKIP"])
def test_a_gap_found_while_reading(kafka: KafkaBroker, on_gap: str) -> None:
    """The consumer reaches offsets deleted after the job opened (the broker answers 'offset out
    of range'): never a silent jump to the partition's start or end, the same FAIL or SKIP."""
    topic = _topic(kafka, 1)
    _send(kafka, topic, 0, range(8))
    _delete(kafka, topic, 0, 5)
    source = KafkaSource("load", "events", (kafka.bootstrap,), {}, topic, 1 << 20, on_gap=on_gap)  # type: ignore[arg-type]
    try:
        # Opened at offset 2 before the deletion: the consumer holds a position that no longer exists.
        source.ends, source.positions = {0: 8}, {0: 2}
        source.consumer.assign([TopicPartition(topic, 0, 2)])
        if on_gap == "FAIL":
            with pytest.raises(
                SourceError, match=f"messages 2 to 4 of topic {topic} partition 0 were deleted"
            ):
                list(source.poll(drain=True))
            return
        chunks = list(source.poll(drain=True))
    finally:
        source.close()
    offsets = [line & ((1 << FILE_BITS) - 1) for c in chunks for line in c.table[LINE_COLUMN].to_pylist()]
    assert offsets == [5, 6, 7]
    assert chunks[-1].positions()[-1][1].offset == 8
    assert source.gaps == [Gap(f"{topic}/0", 2, 4)]


def test_an_existing_lake_gets_the_gaps_table(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        "CREATE FILES CONNECTION landing PATH = 'landing';\nCREATE JOB load AS COPY FROM landing INTO bronze.t;"
    )
    write_jsonl(project.path / "landing/a.jsonl", [{"id": 1}])
    assert project.run(once=True).ok
    with project.open_lake() as lake:  # a lake from before system.gaps
        lake.execute("DROP TABLE lake.system.gaps")
    assert project.run(once=True).ok
    assert project.query("SELECT * FROM system.gaps").columns == [
        "job",
        "partition",
        "first_lost",
        "last_lost",
        "run_id",
        "detected_at",
    ]


def test_skip_is_refused_for_files(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        "CREATE FILES CONNECTION landing PATH = 'landing';\n"
        "CREATE JOB load ON_RETENTION_GAP = SKIP AS COPY FROM landing INTO bronze.t;"
    )
    with pytest.raises(
        hw.UserError, match=r"pipeline\.sql:2:1: job 'load': ON_RETENTION_GAP is for Kafka topics"
    ):
        project.validate()


def test_the_reset_policy_is_not_a_property(make_project: Callable[..., hw.Project]) -> None:
    """auto.offset.reset=earliest or latest would jump over deleted messages without a word."""
    project = make_project(
        "CREATE KAFKA CONNECTION k HOSTS = ('127.0.0.1:1') CONSUMER_PROPERTIES = 'auto.offset.reset=earliest';\n"
        "CREATE JOB j AS COPY FROM k TOPIC = 't' INTO b.t;"
    )
    with pytest.raises(hw.UserError, match=r"cannot set auto\.offset\.reset .*ON_RETENTION_GAP"):
        project.validate()
