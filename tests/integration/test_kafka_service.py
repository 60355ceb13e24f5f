"""The Kafka broker the integration tests use (scripts/services/kafka.sh and tests/services/kafka.py)
does what the Kafka source will rely on: partitions and keys, idempotent and transactional
producers, read_committed, offsets_for_times, and data that survives a restart and a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from tests.services.kafka import SCRIPT, KafkaBroker, run_script


def _deliver(broker: KafkaBroker, topic: str, messages: list[tuple[str, str]], **conf: object) -> None:
    producer = broker.producer(**conf)
    errors: list[KafkaError] = []

    def report(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    for key, value in messages:
        producer.produce(topic, key=key, value=value, on_delivery=report)
    assert producer.flush(30) == 0
    assert errors == []


def _read_all(broker: KafkaBroker, topic: str, partitions: int, isolation: str) -> list[tuple[int, str, str]]:
    """Every message of TOPIC from the start up to its end as of now: (partition, key, value)."""
    consumer: Consumer = broker.consumer(
        **{"group.id": f"check-{time.monotonic_ns()}", "isolation.level": isolation}
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        done = {p for p, end in ends.items() if end == 0}
        found: list[tuple[int, str, str]] = []
        deadline = time.monotonic() + 30
        while len(done) < partitions:
            assert time.monotonic() < deadline, f"{topic}: read to {done} of {ends} only"
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        done.add(msg.partition())
                        continue
                    raise AssertionError(msg.error())
                found.append((msg.partition(), msg.key().decode(), msg.value().decode()))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
            # With read_committed a partition ends at its last stable offset, past the markers.
            for tp in consumer.position([TopicPartition(topic, p) for p in range(partitions)]):
                if tp.offset >= ends[tp.partition]:
                    done.add(tp.partition)
        return found
    finally:
        consumer.close()


def _transactional_batches(broker: KafkaBroker, topic: str) -> None:
    """One transaction committed, then one aborted (its messages reach the log, then a marker)."""
    producer = broker.producer(**{"transactional.id": f"batches-{topic}"})
    producer.init_transactions(30)
    for outcome in ("committed", "aborted"):
        producer.begin_transaction()
        for i in range(50):
            producer.produce(topic, key=f"tx-{i % 5}", value=f"{outcome}-{i}")
        producer.flush(30)
        if outcome == "committed":
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)


def test_keyed_idempotent_and_transactional_messages_read_committed(kafka: KafkaBroker) -> None:
    kafka.create_topic("orders", partitions=4)
    keyed = [(f"customer-{i % 10}", json.dumps({"customer": i % 10, "seq": i})) for i in range(2000)]
    _deliver(kafka, "orders", keyed, **{"enable.idempotence": True, "acks": "all"})
    _transactional_batches(kafka, "orders")

    committed = _read_all(kafka, "orders", 4, "read_committed")
    values = [v for _, _, v in committed]
    assert sorted(v for v in values if not v.startswith("{")) == sorted(f"committed-{i}" for i in range(50))
    assert sorted(v for v in values if v.startswith("{")) == sorted(v for _, v in keyed)

    # A key always lands in one partition, in the order it was produced.
    partitions: dict[str, set[int]] = defaultdict(set)
    seqs: dict[str, list[int]] = defaultdict(list)
    for partition, key, value in committed:
        partitions[key].add(partition)
        if value.startswith("{"):
            seqs[key].append(json.loads(value)["seq"])
    assert all(len(p) == 1 for p in partitions.values())
    assert len({next(iter(p)) for p in partitions.values()}) > 1  # keys spread over partitions
    assert all(s == sorted(s) for s in seqs.values())

    # The aborted messages are in the log: read_uncommitted sees them, read_committed did not.
    everything = [v for _, _, v in _read_all(kafka, "orders", 4, "read_uncommitted")]
    assert sum(v.startswith("aborted-") for v in everything) == 50
    assert not any(v.startswith("aborted-") for v in values)


def test_offsets_for_times(kafka: KafkaBroker) -> None:
    kafka.create_topic("clicks", partitions=1)
    base = int(time.time() * 1000) - 3_600_000  # an hour ago: within the retention
    producer = kafka.producer()
    for i in range(100):
        producer.produce("clicks", key=str(i), value=str(i), timestamp=base + i * 1000)
    assert producer.flush(30) == 0

    consumer: Consumer = kafka.consumer(**{"group.id": "times"})
    try:
        # One time per call: a partition asked twice in one call is answered once.
        found = [
            consumer.offsets_for_times([TopicPartition("clicks", 0, ts)], timeout=10)[0].offset
            for ts in (base - 1, base + 41_500, base + 99_000, base + 200_000)
        ]
        # The first message at or after each time; past the last message: the end (-1).
        assert found == [0, 42, 99, -1]
        consumer.assign([TopicPartition("clicks", 0, 42)])
        msg = consumer.poll(10)
        assert msg is not None and msg.error() is None
        assert (msg.offset(), msg.value(), msg.timestamp()[1]) == (42, b"42", base + 42_000)
    finally:
        consumer.close()


def test_script_status_stop_start_and_a_crash_keep_the_data(kafka: KafkaBroker) -> None:
    kafka.create_topic("kept", partitions=4)
    sent = [(f"k{i % 7}", f"v{i}") for i in range(500)]
    _deliver(kafka, "kept", sent, **{"enable.idempotence": True, "acks": "all"})
    _transactional_batches(kafka, "kept")
    before = sorted(_read_all(kafka, "kept", 4, "read_committed"))
    assert len(before) == 550
    where = ["--dir", str(kafka.dir)]

    status = run_script("status", *where)
    assert (
        status.stdout.strip() == f"kafka: running (pid {kafka.pid}) on {kafka.bootstrap}, data in {kafka.dir}"
    )
    # start when running prints the address and does nothing else.
    assert run_script("start", *where).stdout.strip() == kafka.bootstrap
    other = run_script("start", *where, "--port", str(kafka.port + 1), check=False)
    assert other.returncode == 1
    assert f"is running on {kafka.bootstrap}, not {kafka.port + 1}: stop it first" in other.stderr

    kafka.stop()
    status = run_script("status", *where, check=False)
    assert (status.returncode, status.stdout.strip()) == (3, f"kafka: not running (data in {kafka.dir})")
    assert run_script("stop", *where).returncode == 0  # stopping a stopped broker is fine

    # A broker that cannot start: its log says why.
    meta = kafka.dir / "data" / "meta.properties"
    good = meta.read_text()
    meta.write_text(good.replace("node.id=1", "node.id=7"))
    failed = run_script("start", *where, check=False)
    meta.write_text(good)
    assert (failed.returncode, failed.stdout) == (1, "")
    assert "kafka: the broker exited while starting (its log is above)" in failed.stderr
    assert f"--- last lines of {kafka.dir}/kafka.log:" in failed.stderr
    assert f"--- errors in {kafka.dir}/kafka.log:" in failed.stderr
    assert "Stored node id 7 doesn't match previous node id 1" in failed.stderr

    try:
        kafka.start()
        assert sorted(_read_all(kafka, "kept", 4, "read_committed")) == before
        kafka.kill()
        assert run_script("status", *where, check=False).returncode == 3
    finally:
        kafka.start()  # the same port: clients and later tests find it where it was
    assert sorted(_read_all(kafka, "kept", 4, "read_committed")) == before
    _deliver(kafka, "kept", [("k0", "after")], **{"enable.idempotence": True})
    assert len(_read_all(kafka, "kept", 4, "read_committed")) == 551


def test_a_port_in_use_is_a_clear_error(kafka: KafkaBroker, tmp_path: Path) -> None:
    out = run_script("start", "--dir", str(tmp_path / "second"), "--port", str(kafka.port), check=False)
    assert out.returncode == 1
    assert out.stdout == ""
    assert (
        f"kafka: port {kafka.port} on 127.0.0.1 is in use: stop what uses it, or choose another --port"
        in out.stderr
    )
    assert not (tmp_path / "second" / "kafka.pid").exists()


_FAKE_MVN = """#!/usr/bin/env bash
# Stands in for Maven: writes the jars Maven would, then does what $FAKE_MVN says.
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}" ;; esac
done
mkdir -p "$out"
for i in $(seq 1 43); do echo jar >"$out/dependency-$i.jar"; done
echo jar >"$out/kafka_2.13-4.4.0.jar"
echo jar >"$out/log4j-slf4j-impl-2.25.5.jar"
case "$FAKE_MVN" in
  fail) echo "[ERROR] Could not transfer artifact" >&2; exit 1 ;;
  hang) touch "$out/../written"; sleep 60 ;;
esac
"""


def _resolve_jars(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mvn").write_text(_FAKE_MVN)
    (bin_dir / "mvn").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HEADWATER_KAFKA_JARS": str(tmp_path / "cache" / "jars"),
        "FAKE_MVN": mode,
    }
    return subprocess.Popen(
        ["bash", str(SCRIPT), "jars"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_the_jars_appear_only_once_completely_resolved(tmp_path: Path) -> None:
    jars = tmp_path / "cache" / "jars"
    # Maven fails after writing some jars: nothing is taken for the jars.
    failed = _resolve_jars(tmp_path, "fail")
    _, err = failed.communicate(timeout=30)
    assert failed.returncode == 1
    assert "[ERROR] Could not transfer artifact" in err
    assert "kafka: Maven could not fetch the jars (its output is above)" in err
    assert not jars.exists()
    assert list((tmp_path / "cache").glob(".staging.*")) == []

    # Interrupted (killed) while Maven is writing: still no jars, and the next resolve cleans up.
    hung = _resolve_jars(tmp_path, "hang")
    deadline = time.monotonic() + 30
    while not list((tmp_path / "cache").glob(".staging.*/written")):
        assert time.monotonic() < deadline and hung.poll() is None
        time.sleep(0.05)
    os.killpg(hung.pid, signal.SIGKILL)
    hung.communicate(timeout=30)
    assert not jars.exists()
    assert len(list((tmp_path / "cache").glob(".staging.*"))) == 1

    done = _resolve_jars(tmp_path, "succeed")
    out, err = done.communicate(timeout=30)
    assert done.returncode == 0, err
    assert out.strip() == str(jars)
    assert len(list(jars.glob("*.jar"))) == 45
    assert list((tmp_path / "cache").glob(".staging.*")) == []
    # Resolved: Maven is not run again.
    again = _resolve_jars(tmp_path, "fail")
    assert again.communicate(timeout=30)[0].strip() == str(jars) and again.returncode == 0
