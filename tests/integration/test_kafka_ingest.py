"""Kafka ingestion against a real broker: values decoded like file lines, the key, timestamp and
headers as system columns, every partition, START_FROM, read_committed, and exactly once into
the lake (the offsets commit with the rows)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewPartitions

import headwater as hw
from headwater.observe.events import BatchCommitted, CaptureConsole
from tests.conftest import write_jsonl
from tests.services.kafka import KafkaBroker

RUN = "import sys, headwater; sys.exit(0 if headwater.Project(sys.argv[1]).run(once=True).ok else 1)"
_topics = iter(range(1_000_000))


def _topic(name: str) -> str:
    """A topic name no other test of the session uses."""
    return f"{name}-{os.getpid()}-{next(_topics)}"


def _project(make_project: Callable[..., hw.Project], kafka: KafkaBroker, job: str, **kw: str) -> hw.Project:
    sql = f"CREATE KAFKA CONNECTION events HOSTS = ('{kafka.bootstrap}');\n" + job
    return make_project(sql, **kw)


def _send(
    kafka: KafkaBroker,
    topic: str,
    messages: list[dict[str, object]],
    *,
    partition: int | None = None,
    **conf: object,
) -> None:
    """Each message: value (str or dict), and optional key, headers, timestamp (ms)."""
    producer = kafka.producer(**conf)
    for m in messages:
        value = m["value"]
        extra: dict[str, object] = {}
        if partition is not None:
            extra["partition"] = partition
        if "timestamp" in m:
            extra["timestamp"] = m["timestamp"]
        if "headers" in m:
            extra["headers"] = m["headers"]
        producer.produce(
            topic,
            value=value if isinstance(value, str | bytes) else json.dumps(value),
            key=m.get("key"),  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        )
    assert producer.flush(30) == 0


def _runs(project: hw.Project, job: str) -> list[tuple[int, int, int, int, int]]:
    return project.query(
        "SELECT sum(rows_read), sum(rows_written), sum(rows_deduplicated), sum(rows_dropped), "
        f"sum(rows_quarantined) FROM system.runs WHERE job = '{job}'"
    ).fetchall()


def test_json_values_from_every_partition_land_exactly(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("orders")
    kafka.create_topic(topic, partitions=4)
    project = _project(
        make_project,
        kafka,
        f"CREATE JOB load AS COPY FROM events TOPIC = '{topic}' INTO bronze.orders;",
        toml="[run]\nbatch_bytes = 4096\n",
    )
    sent: list[dict[str, object]] = [
        {"key": f"c{i % 13}", "value": {"id": i, "amount": i * 1.5, "tag": f"t{i}"}} for i in range(600)
    ]
    sent.insert(300, {"key": "c5", "value": '{"id": "broken'})  # among records of every partition
    _send(kafka, topic, sent)
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    got = project.query("SELECT id, amount, tag, $kafka_key FROM bronze.orders ORDER BY id").fetchall()
    assert got == [(i, i * 1.5, f"t{i}", f"c{i % 13}") for i in range(600)]
    # $source names topic, partition and offset; every message exactly once.
    sources = project.query(
        "SELECT count(DISTINCT $source), count(DISTINCT split_part($source, '/', 2)) FROM bronze.orders"
    ).fetchall()
    assert sources == [(600, 4)]
    assert _runs(project, "load") == [(601, 600, 0, 0, 1)]
    assert project.query("SELECT count(*) FROM system.runs WHERE job = 'load'").fetchall()[0][0] > 1
    (bad,) = project.query('SELECT "$source", raw FROM system.quarantine').fetchall()
    assert bad[1] == '{"id": "broken' and bad[0].startswith(f"kafka:{topic}/")
    assert project.query(f"SELECT count(*) FROM bronze.orders WHERE $source = '{bad[0]}'").fetchall() == [
        (0,)
    ]
    # The lake's offsets are each partition's end, and the consumer group has them too.
    offsets = dict(
        project.query(
            "SELECT partition, position FROM system.offsets WHERE job = 'load' AND partition <> '__start__'"
        ).fetchall()
    )
    consumer: Consumer = kafka.consumer(**{"group.id": "headwater-load"})
    try:
        ends = {
            f"{topic}/{p}": consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(4)
        }
        group = consumer.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)
    finally:
        consumer.close()
    assert offsets == ends
    assert {f"{topic}/{tp.partition}": tp.offset for tp in group} == ends

    # A second run reads only what is new (and a new key becomes a new column).
    _send(kafka, topic, [{"key": "c0", "value": {"id": 600 + i, "note": f"n{i}"}} for i in range(5)])
    assert project.run(once=True).ok
    assert project.query("SELECT count(*), count(DISTINCT id) FROM bronze.orders").fetchall() == [(605, 605)]
    assert project.query("SELECT count(note) FROM bronze.orders WHERE id >= 600").fetchall() == [(5,)]
    assert project.run(once=True).ok
    assert _runs(project, "load") == [(606, 605, 0, 0, 1)]


def test_system_columns_and_a_malformed_value(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("clicks")
    kafka.create_topic(topic, partitions=1)
    project = _project(
        make_project,
        kafka,
        f"CREATE JOB clicks EVENT_TIME = $kafka_timestamp AS COPY FROM events TOPIC = '{topic}' INTO bronze.clicks "
        "WITH EXPECTATION from_web EXPECT $kafka_headers['origin'] = 'web' ON VIOLATION DROP;\n"
        # Downstream, the Kafka columns are columns like the others.
        "CREATE JOB copy RUN_INTERVAL = 1 HOUR AS INSERT INTO silver.clicks SELECT * FROM bronze.clicks "
        "WHERE $commit_time BETWEEN run_start_time() AND run_end_time();",
    )
    at = int(time.time() * 1000) - 60_000
    _send(
        kafka,
        topic,
        [
            {"key": "u1", "value": {"n": 1}, "timestamp": at, "headers": [("origin", b"web"), ("v", b"2")]},
            {"value": "{not json", "timestamp": at + 1, "headers": [("origin", b"web")]},
            {"key": "u3", "value": {"n": 3}, "timestamp": at + 2, "headers": [("origin", b"app")]},
            {"key": b"\xff", "value": {"n": 4}, "timestamp": at + 3, "headers": [("origin", b"web")]},
        ],
    )
    assert project.run(once=True).ok
    rows = project.query(
        "SELECT n, $kafka_key, epoch_ms($kafka_timestamp), epoch_ms($event_time), $kafka_headers, $source "
        "FROM bronze.clicks ORDER BY n"
    ).fetchall()
    assert [(*r[:4], dict(r[4]), r[5]) for r in rows] == [
        (1, "u1", at, at, {"origin": "web", "v": "2"}, f"kafka:{topic}/0/0"),
        (4, "\\xff", at + 3, at + 3, {"origin": "web"}, f"kafka:{topic}/0/3"),
    ]
    copied = project.query(
        "SELECT n, $kafka_key, $kafka_headers['v'] FROM silver.clicks ORDER BY n"
    ).fetchall()
    assert copied == [(1, "u1", "2"), (4, "\\xff", None)]
    types = dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.clicks)").fetchall())
    assert types["$kafka_key"] == "VARCHAR"
    assert types["$kafka_timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert types["$kafka_headers"] == "MAP(VARCHAR, VARCHAR)"
    quarantined = project.query('SELECT "$source", raw, reason FROM system.quarantine').fetchall()
    assert quarantined == [(f"kafka:{topic}/0/1", "{not json", "malformed JSON")]
    assert _runs(project, "clicks") == [(4, 2, 0, 1, 1)]


def test_csv_values_take_the_declared_columns(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("csv")
    kafka.create_topic(topic, partitions=2)
    project = _project(
        make_project,
        kafka,
        "CREATE TABLE bronze.prices (sku VARCHAR, price DECIMAL(8,2), qty BIGINT);\n"
        f"CREATE JOB prices CONTENT_TYPE = CSV AS COPY FROM events TOPIC = '{topic}' INTO bronze.prices;",
    )
    values = ["a,1.50,3", 'b,"2.25",4', "c,9.99", 'd,"x\ny",1', "e,0.10,notanumber", "f,3.00,5"]
    _send(kafka, topic, [{"value": v} for v in values], partition=0)
    console = CaptureConsole()
    assert hw.Project(project.path, console=console).run(once=True).ok
    (event,) = console.of(BatchCommitted)
    assert (event.files, event.unit) == (1, "partition")  # type: ignore[attr-defined]
    got = project.query("SELECT sku, price::VARCHAR, qty FROM bronze.prices ORDER BY sku").fetchall()
    assert got == [("a", "1.50", 3), ("b", "2.25", 4), ("f", "3.00", 5)]
    quarantined = project.query(
        'SELECT "$source", raw, reason FROM system.quarantine ORDER BY "$source"'
    ).fetchall()
    assert quarantined == [
        (f"kafka:{topic}/0/2", "c,9.99", "expected 3 fields, got 2"),
        (f"kafka:{topic}/0/3", 'd,"x\ny",1', "a CSV value with a line break"),
        (f"kafka:{topic}/0/4", "e,0.10,notanumber", "column qty: expected BIGINT"),
    ]
    assert _runs(project, "prices") == [(6, 3, 0, 0, 3)]


def test_dedupe_on_the_key_a_pii_hash_and_quarantine_replay(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("users")
    kafka.create_topic(topic, partitions=2)
    project = _project(
        make_project,
        kafka,
        f"CREATE JOB users DEDUPLICATE_WITH = (COLUMNS = ($kafka_key), WINDOW = 1 DAY) "
        "COLUMN_TRANSFORMATIONS = (email = HASH(email)) "
        f"AS COPY FROM events TOPIC = '{topic}' INTO bronze.users "
        "WITH EXPECTATION adult EXPECT age >= 18 ON VIOLATION QUARANTINE;",
    )
    sent = [{"key": f"u{i % 5}", "value": {"age": 20 + i, "email": f"u{i}@x.org"}} for i in range(12)]
    sent.append({"key": "u9", "value": {"age": 9, "email": "kid@x.org"}})
    _send(kafka, topic, sent)
    assert project.run(once=True).ok
    rows = project.query("SELECT $kafka_key, age, email FROM bronze.users ORDER BY $kafka_key").fetchall()
    assert [(k, a) for k, a, _ in rows] == [(f"u{i}", 20 + i) for i in range(5)]
    assert all(len(e) == 64 and "@" not in e for _, _, e in rows)  # hashed, never in clear
    assert _runs(project, "users") == [(13, 5, 7, 0, 1)]
    (qid, source, raw) = project.query('SELECT id, "$source", raw FROM system.quarantine').fetchall()[0]
    assert source.startswith(f"kafka:{topic}/") and "kid@x.org" not in raw and '"$kafka_key":"u9"' in raw

    # Replayed after the expectation is dropped: written with its key, exactly once.
    (project.path / "pipeline.sql").write_text(
        (project.path / "pipeline.sql")
        .read_text()
        .replace("WITH EXPECTATION adult EXPECT age >= 18 ON VIOLATION QUARANTINE", "")
    )
    project = hw.Project(project.path)
    assert project.run(once=True).ok
    replayed = project.replay_quarantine("users", ids=[qid])
    assert replayed.replayed == 1 and replayed.written == 1
    assert project.query("SELECT age, $source FROM bronze.users WHERE $kafka_key = 'u9'").fetchall() == [
        (9, source)
    ]


def test_start_from_now_and_from_a_timestamp(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("ticks")
    kafka.create_topic(topic, partitions=2)
    base = int(time.time() * 1000) - 3_600_000
    _send(kafka, topic, [{"value": {"i": i}, "timestamp": base + i * 1000} for i in range(40)])
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((base + 30_000) / 1000)) + "Z"
    project = _project(
        make_project,
        kafka,
        f"CREATE JOB now START_FROM = NOW AS COPY FROM events TOPIC = '{topic}' INTO bronze.now_ticks;\n"
        f"CREATE JOB since START_FROM = '{cutoff}' AS COPY FROM events TOPIC = '{topic}' INTO bronze.since_ticks;",
    )
    assert project.run(once=True).ok
    _send(kafka, topic, [{"value": {"i": 100 + i}} for i in range(3)])
    assert project.run(once=True).ok
    assert project.query("SELECT i FROM bronze.now_ticks ORDER BY i").fetchall() == [(100,), (101,), (102,)]
    since = [r[0] for r in project.query("SELECT i FROM bronze.since_ticks ORDER BY i").fetchall()]
    assert since == [*range(30, 40), 100, 101, 102]


def test_only_committed_transactions_land(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("payments")
    kafka.create_topic(topic, partitions=2)
    producer = kafka.producer(**{"transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    for outcome in ("committed", "aborted", "committed-again"):
        producer.begin_transaction()
        for i in range(20):
            producer.produce(topic, key=f"k{i}", value=json.dumps({"outcome": outcome, "i": i}))
        producer.flush(30)
        if outcome == "aborted":
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)
    project = _project(
        make_project, kafka, f"CREATE JOB pay AS COPY FROM events TOPIC = '{topic}' INTO bronze.payments;"
    )
    assert project.run(once=True).ok
    got = project.query("SELECT outcome, count(*) FROM bronze.payments GROUP BY 1 ORDER BY 1").fetchall()
    assert got == [("committed", 20), ("committed-again", 20)]
    # The positions are past the aborted messages and the transaction markers (the consumer's
    # position, not the last message's offset + 1): the partitions' ends.
    offsets = dict(
        project.query(
            "SELECT partition, position FROM system.offsets WHERE job = 'pay' AND partition <> '__start__'"
        ).fetchall()
    )
    consumer: Consumer = kafka.consumer(**{"group.id": f"check-{topic}"})
    try:
        ends = {
            f"{topic}/{p}": consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(2)
        }
    finally:
        consumer.close()
    assert offsets == ends
    assert project.run(once=True).ok
    assert _runs(project, "pay") == [(40, 40, 0, 0, 0)]


def test_a_topic_with_only_an_aborted_transaction_moves_past_it(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("aborted")
    kafka.create_topic(topic, partitions=1)
    producer = kafka.producer(**{"transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, value=json.dumps({"i": i}))
    producer.flush(30)
    producer.abort_transaction(30)
    project = _project(
        make_project, kafka, f"CREATE JOB gone AS COPY FROM events TOPIC = '{topic}' INTO bronze.gone;"
    )
    assert project.run(once=True).ok
    # No record, but the position is past the aborted messages and the marker (11 offsets).
    assert project.query(
        "SELECT position FROM system.offsets WHERE job = 'gone' AND partition <> '__start__'"
    ).fetchall() == [(11,)]
    assert _runs(project, "gone") == [(0, 0, 0, 0, 0)]


def test_a_crash_before_commit_rereads_without_duplicates(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("crash")
    kafka.create_topic(topic, partitions=3)
    project = _project(
        make_project,
        kafka,
        f"CREATE JOB load AS COPY FROM events TOPIC = '{topic}' INTO bronze.events;",
        toml="[run]\nbatch_bytes = 2048\n",
    )
    _send(kafka, topic, [{"key": str(i), "value": {"id": i}} for i in range(300)])
    for point in ("ingest.before_commit", "ingest.after_commit"):
        crashed = subprocess.run(
            [sys.executable, "-c", RUN, str(project.path)], env={**os.environ, "HEADWATER_FAILPOINT": point}
        )
        assert crashed.returncode == -signal.SIGKILL
    assert project.run(once=True).ok
    got = project.query("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM bronze.events").fetchall()
    assert got == [(300, 300, 0, 299)]
    assert _runs(project, "load") == [(300, 300, 0, 0, 0)]


def test_a_partition_added_later_is_read(make_project: Callable[..., hw.Project], kafka: KafkaBroker) -> None:
    topic = _topic("grow")
    kafka.create_topic(topic, partitions=1)
    project = _project(
        make_project, kafka, f"CREATE JOB load AS COPY FROM events TOPIC = '{topic}' INTO bronze.grow;"
    )
    _send(kafka, topic, [{"value": {"id": i}} for i in range(5)])
    assert project.run(once=True).ok
    kafka.admin().create_partitions([NewPartitions(topic, 3)])[topic].result(30)
    deadline = time.monotonic() + 30
    while len(kafka.admin().list_topics(topic, timeout=5).topics[topic].partitions) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    _send(kafka, topic, [{"value": {"id": 100 + p}} for p in range(3)], partition=None)
    for p in (1, 2):
        _send(kafka, topic, [{"value": {"id": 200 + p}}], partition=p)
    assert project.run(once=True).ok
    got = project.query("SELECT DISTINCT split_part($source, '/', 2) FROM bronze.grow ORDER BY 1").fetchall()
    assert [g[0] for g in got] == ["0", "1", "2"]
    assert project.query("SELECT count(*), count(DISTINCT id) FROM bronze.grow").fetchall() == [(10, 10)]


def test_messages_deleted_before_they_were_read_stop_the_job(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker
) -> None:
    topic = _topic("retention")
    kafka.create_topic(topic, partitions=2)
    project = _project(
        make_project, kafka, f"CREATE JOB load AS COPY FROM events TOPIC = '{topic}' INTO bronze.kept;"
    )
    _send(kafka, topic, [{"value": {"id": i}} for i in range(10)], partition=0)
    assert project.run(once=True).ok
    _send(kafka, topic, [{"value": {"id": 10 + i}} for i in range(10)], partition=0)
    futures = kafka.admin().delete_records([TopicPartition(topic, 0, 15)])
    for future in futures.values():
        future.result(30)
    result = project.run(once=True)
    assert not result.ok
    assert (
        f"messages 10 to 14 of topic {topic} partition 0 were deleted (the topic's retention) before the job "
        "read them; nothing was skipped" in result.failed_jobs["load"]
    )
    # Nothing was written past the gap, and the job's position did not move.
    assert project.query("SELECT count(*) FROM bronze.kept").fetchall() == [(10,)]
    assert project.query(
        f"SELECT position FROM system.offsets WHERE job = 'load' AND \"partition\" = '{topic}/0'"
    ).fetchall() == [(10,)]


def test_an_unreachable_broker_fails_its_job_quickly_and_the_others_commit(
    make_project: Callable[..., hw.Project], tmp_path: Path
) -> None:
    project = make_project(
        "CREATE FILES CONNECTION landing PATH = 'landing';\n"
        "CREATE KAFKA CONNECTION down HOSTS = ('127.0.0.1:1') "
        "CONSUMER_PROPERTIES = 'client.id=hw-test\nsasl.password=${HW_TEST_SECRET}';\n"
        "CREATE JOB files AS COPY FROM landing INTO bronze.files;\n"
        "CREATE JOB stream AS COPY FROM down TOPIC = 'orders' INTO bronze.stream;"
    )
    write_jsonl(project.path / "landing/a.jsonl", [{"id": 1}, {"id": 2}])
    env = {**os.environ, "HW_TEST_SECRET": "s3cr3t-value"}
    for command in ("validate", "plan"):  # neither needs the broker, nor the secret
        assert subprocess.run([sys.executable, "-m", "headwater", command], cwd=project.path).returncode == 0
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "headwater", "run", "--once"],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert time.monotonic() - started < 30
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "Kafka connection down (HOSTS 127.0.0.1:1) did not answer" in text
    assert "check that the broker is running" in text
    assert "Traceback" not in text and "s3cr3t-value" not in text
    assert project.query("SELECT count(*) FROM bronze.files").fetchall() == [(2,)]
    error = project.query("SELECT status, error FROM system.jobs WHERE name = 'stream'").fetchall()
    assert error[0][0] == "failed" and "127.0.0.1:1" in error[0][1]


def test_validate_refuses_what_a_kafka_job_cannot_do(make_project: Callable[..., hw.Project]) -> None:
    cases = {
        "CREATE JOB j AS COPY FROM k INTO b.t;": "names no TOPIC",
        "CREATE JOB j CONTENT_TYPE = PARQUET AS COPY FROM k TOPIC = 't' INTO b.t;": "CONTENT_TYPE = PARQUET",
        "CREATE JOB j CONTENT_TYPE = CSV AS COPY FROM k TOPIC = 't' INTO b.t;": "columns of b.t must be declared",
        "CREATE JOB j AS COPY FROM f TOPIC = 't' INTO b.t;": "TOPIC is for Kafka connections",
        "CREATE JOB j EVENT_TIME = $kafka_timestamp AS COPY FROM f INTO b.t;": "only tables fed from Kafka",
    }
    for job, message in cases.items():
        project = make_project(
            "CREATE KAFKA CONNECTION k HOSTS = ('127.0.0.1:1');\nCREATE FILES CONNECTION f PATH = 'landing';\n"
            + job
        )
        with pytest.raises(hw.UserError, match=message):
            project.validate()
    bad = make_project(
        "CREATE KAFKA CONNECTION k HOSTS = ('127.0.0.1:1') CONSUMER_PROPERTIES = 'isolation.level=read_uncommitted';\n"
        "CREATE JOB j AS COPY FROM k TOPIC = 't' INTO b.t;"
    )
    with pytest.raises(hw.UserError, match=r"cannot set isolation\.level"):
        bad.validate()


def test_run_once_reads_to_the_end_however_long_its_commits_take(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time the runner spends committing what one read gave is not time the topic was
    idle: with small batches (many commits per read), `run --once` still reads everything."""
    import headwater.sources.kafka as kafka_source

    monkeypatch.setattr(kafka_source, "IDLE_S", 0.5)  # (much longer than this in real runs)
    monkeypatch.setattr(kafka_source, "BATCH_MESSAGES", 500)  # several reads, each many commits
    topic = _topic("slowcommits")
    kafka.create_topic(topic, partitions=1)
    project = _project(
        make_project,
        kafka,
        f"CREATE JOB load AS COPY FROM events TOPIC = '{topic}' INTO bronze.rows;",
        toml="[run]\nbatch_bytes = 2048\n",
    )
    _send(kafka, topic, [{"value": {"id": i, "pad": "x" * 40}} for i in range(3000)])
    assert project.run(once=True).ok
    assert project.query("SELECT count(*), count(DISTINCT id) FROM bronze.rows").fetchall() == [(3000, 3000)]
