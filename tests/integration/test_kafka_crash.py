"""kill -9 of a continuous `headwater run` reading Kafka, at random instants, while producers
write: after a final `run --once`, every committed message is in the lake exactly once, and each
key's messages are there in the order the producer sent them.

Two producers write keyed messages with a per-key sequence number into a topic of several
partitions (a key always goes to the same partition): an idempotent plain producer, which also
sends values that are not JSON (they must be quarantined, once each), and a transactional
producer that aborts some of its transactions (their messages must never land). Each delivery
report gives the message's partition and offset, so the expected content of the lake is known
exactly, message by message, and is compared with the lake read by plain DuckDB.

A failure prints the seed: ``HEADWATER_CRASH_SEED=<seed> pytest tests/integration/test_kafka_crash.py``
replays the same kill instants, keys and transactions (the producers' timing still varies).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from confluent_kafka import KafkaError, Message, Producer, TopicPartition
from duckdb_extensions import import_extension

from tests.services.kafka import KafkaBroker

SEED = int(os.environ.get("HEADWATER_CRASH_SEED", "20261130"))
PARTITIONS = 4
PLAIN_KEYS = [f"plain-{i}" for i in range(10)]
TX_KEYS = [f"tx-{i}" for i in range(6)]
BAD_KEY = "malformed"
ROUNDS = 5  # kills: at least 5
PAD = "x" * 120  # about 200-byte values


@dataclass
class Sent:
    """What the producers had acknowledged: message by ``partition/offset``."""

    rows: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # -> (key, seq, producer)
    malformed: set[str] = field(default_factory=set)
    aborted: set[str] = field(default_factory=set)  # offsets of aborted messages
    errors: list[str] = field(default_factory=list)
    transactions: int = 0
    aborts: int = 0


class Producers(threading.Thread):
    """Writes until stopped: plain messages (and a malformed one now and then) and transactions,
    some aborted. Sequence numbers per key count committed messages only."""

    def __init__(self, kafka: KafkaBroker, topic: str, rng: random.Random, sent: Sent) -> None:
        super().__init__(daemon=True)
        self.kafka, self.topic, self.rng, self.sent = kafka, topic, rng, sent
        self.stop = threading.Event()
        self.seq: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def _where(self, m: Message) -> str:
        return f"{m.partition()}/{m.offset()}"

    def run(self) -> None:
        try:
            self._run()
        except Exception as e:  # reported by the test, not lost in the thread
            self.sent.errors.append(repr(e))

    def _run(self) -> None:
        plain = self.kafka.producer(**{"enable.idempotence": True, "linger.ms": 5})
        tx = self.kafka.producer(**{"transactional.id": f"crash-{self.topic}", "linger.ms": 5})
        tx.init_transactions(30)
        bad = 0

        def delivered(key: str, seq: int) -> Callable[[KafkaError | None, Message], None]:
            def report(err: KafkaError | None, m: Message) -> None:
                if err is not None:
                    self.sent.errors.append(f"plain {key}/{seq}: {err.str()}")
                elif key == BAD_KEY:
                    self.sent.malformed.add(self._where(m))
                else:
                    self.sent.rows[self._where(m)] = (key, seq, "plain")

            return report

        while not self.stop.is_set():
            # A burst of plain messages...
            for _ in range(self.rng.randint(5, 20)):
                key = self.rng.choice(PLAIN_KEYS)
                seq = self.seq[key]
                self.seq[key] += 1
                value = json.dumps({"k": key, "seq": seq, "producer": "plain", "pad": PAD})
                plain.produce(self.topic, key=key, value=value, on_delivery=delivered(key, seq))
                if self.rng.random() < 0.02:
                    plain.produce(
                        self.topic,
                        key=BAD_KEY,
                        value=f'{{"k": "{BAD_KEY}", "n": {bad}',
                        on_delivery=delivered(BAD_KEY, bad),
                    )
                    bad += 1
            plain.poll(0)
            # ... then a transaction, aborted now and then (always the second one).
            self._transaction(tx, abort=self.sent.transactions == 1 or self.rng.random() < 0.2)
            # ~60 messages a second: a run commits a few batches before its kill, and the
            # backlog left for the final run stays small.
            time.sleep(self.rng.uniform(0.2, 0.5))
        assert plain.flush(30) == 0

    def _transaction(self, tx: Producer, *, abort: bool) -> None:
        reports: list[tuple[str, int, str]] = []
        seq = dict(self.seq)
        tx.begin_transaction()
        for _ in range(self.rng.randint(1, 20)):
            key = self.rng.choice(TX_KEYS)
            n = seq.get(key, 0)
            seq[key] = n + 1
            value = json.dumps({"k": key, "seq": n, "producer": "tx", "pad": PAD, "aborted": abort})

            def report(err: KafkaError | None, m: Message, key: str = key, n: int = n) -> None:
                if err is not None:
                    self.sent.errors.append(f"tx {key}/{n}: {err.str()}")
                else:
                    reports.append((self._where(m), n, key))

            tx.produce(self.topic, key=key, value=value, on_delivery=report)
        assert tx.flush(30) == 0
        self.sent.transactions += 1
        if abort:
            tx.abort_transaction(30)
            self.sent.aborts += 1
            self.sent.aborted.update(where for where, _, _ in reports)
            return
        tx.commit_transaction(30)
        self.seq.update(seq)
        for where, n, key in reports:
            self.sent.rows[where] = (key, n, "tx")


def _project(path: Path, kafka: KafkaBroker, topic: str) -> None:
    (path / "pipeline.sql").write_text(
        f"CREATE KAFKA CONNECTION events HOSTS = ('{kafka.bootstrap}');\n"
        f"CREATE JOB load AS COPY FROM events TOPIC = '{topic}' INTO bronze.events;\n"
    )
    # Small batches (~80 messages): a kill lands before, during and after many commits.
    _settings(path, batch_bytes=16384)


def _settings(path: Path, *, batch_bytes: int) -> None:
    (path / "headwater.toml").write_text(f"[run]\npoll_interval_seconds = 0.2\nbatch_bytes = {batch_bytes}\n")


class Run:
    """`headwater run ARGS` in the project, its output (unbuffered) collected line by line."""

    def __init__(self, path: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "headwater", "run", *args],
            cwd=path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            text=True,
        )
        self.lines: list[str] = []
        self.committing = threading.Event()  # a batch has committed
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "committed" in line:
                self.committing.set()

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(10)
        return code

    @property
    def commits(self) -> int:
        return sum("committed" in line for line in self.lines)

    @property
    def output(self) -> str:
        return "".join(self.lines)[-3000:]


def _lake(path: Path) -> duckdb.DuckDBPyConnection:
    """The project's lake, read with plain DuckDB (not through Headwater)."""
    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    import_extension("ducklake", con=con)
    con.execute("LOAD ducklake")
    hw = path / ".headwater"
    con.execute(f"ATTACH 'ducklake:{hw / 'catalog.ducklake'}' AS lake (DATA_PATH '{hw / 'data'}', READ_ONLY)")
    return con


def test_kill_minus_nine_while_producing_keeps_every_message_once_and_in_order(
    tmp_path: Path, kafka: KafkaBroker
) -> None:
    seed = SEED
    again = f"(seed {seed}: HEADWATER_CRASH_SEED={seed} pytest {Path(__file__).name} replays it)"
    rng = random.Random(seed)
    topic = f"crash-{os.getpid()}-{seed}-{time.time_ns()}"
    kafka.create_topic(topic, partitions=PARTITIONS)
    _project(tmp_path, kafka, topic)
    sent = Sent()
    producers = Producers(kafka, topic, random.Random(rng.random()), sent)
    producers.start()
    started = time.monotonic()
    kills = 0
    commits = []  # batches committed by each killed run
    try:
        time.sleep(1.0)  # a backlog before the first run
        for _ in range(ROUNDS):
            run = Run(tmp_path)
            if rng.random() < 0.2:  # while it starts (opens the lake, deploys, opens the consumer)
                time.sleep(rng.uniform(0.2, 3.0))
            else:  # while it reads and commits (a batch every few hundred ms)
                assert run.committing.wait(60), f"{run.output} {again}"
                time.sleep(rng.uniform(0.0, 1.5))
            if run.proc.poll() is None:
                os.kill(run.proc.pid, signal.SIGKILL)
                kills += 1
            code = run.wait(30)
            commits.append(run.commits)
            assert code == -signal.SIGKILL, f"{run.output} {again}"
            assert "Traceback" not in run.output, f"{run.output} {again}"
    finally:
        producers.stop.set()
        producers.join(60)
    assert not producers.is_alive() and not sent.errors, f"{sent.errors} {again}"
    assert kills >= 5 and sent.aborts >= 1, again

    # The final run catches up in large batches: its one pass must drain the backlog, and a
    # consume() whose messages take the runner more than 10 s to commit ends the pass early
    # (KafkaSource.poll counts that time as idle); the kills above were the point.
    _settings(tmp_path, batch_bytes=1 << 20)
    final = Run(tmp_path, "--once")
    assert final.wait(120) == 0, f"{final.output} {again}"
    elapsed = time.monotonic() - started

    con = _lake(tmp_path)
    rows = con.sql(
        """SELECT split_part("$source", '/', 2)::INT AS p, split_part("$source", '/', 3)::BIGINT AS o,
                  k, seq, producer, "$kafka_key", aborted
           FROM lake.bronze.events"""
    ).fetchall()
    # Every committed message exactly once, nothing else (no aborted one).
    landed = [f"{p}/{o}" for p, o, *_ in rows]
    twice = len(landed) - len(set(landed))
    assert twice == 0, f"{twice} messages landed twice {again}"
    missing = sorted(set(sent.rows) - set(landed), key=lambda w: tuple(map(int, w.split("/"))))
    assert not missing, f"{len(missing)} of {len(sent.rows)} messages missing, e.g. {missing[:10]} {again}"
    extra = set(landed) - set(sent.rows)
    assert not extra, f"messages that were not committed landed: {sorted(extra)[:10]} {again}"
    for p, o, k, seq, producer, key, aborted in rows:
        assert (k, seq, producer) == sent.rows[f"{p}/{o}"] and key == k and not aborted, again
    # Per key: one partition, and the sequence 0, 1, 2... in offset order.
    by_key: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for p, o, k, seq, *_ in rows:
        by_key[k].append((p, o, seq))
    for k, found in by_key.items():
        assert len({p for p, _, _ in found}) == 1, f"key {k} in several partitions {again}"
        seqs = [seq for _, _, seq in sorted(found)]
        assert seqs == list(range(len(seqs))), f"key {k}: {seqs[:20]}... {again}"
        assert len(seqs) == producers.seq[k], again

    # Each malformed value quarantined exactly once.
    quarantined = [
        r[0].removeprefix(f"kafka:{topic}/")
        for r in con.sql("SELECT \"$source\" FROM lake.system.quarantine WHERE job = 'load'").fetchall()
    ]
    assert sorted(quarantined) == sorted(sent.malformed) and sent.malformed, again

    # The accounting adds up in every committed run, and over all of them.
    runs = con.sql(
        """SELECT count(*) FILTER (WHERE rows_read <> rows_written + rows_deduplicated + rows_dropped + rows_quarantined),
                  sum(rows_read), sum(rows_written), sum(rows_quarantined)
           FROM lake.system.runs WHERE job = 'load'"""
    ).fetchone()
    total = len(sent.rows) + len(sent.malformed)
    assert runs == (0, total, len(sent.rows), len(sent.malformed)), f"{runs} {again}"

    # The lake's positions are the partitions' ends (past the last transaction marker).
    positions = dict(
        con.sql(
            "SELECT \"partition\", position FROM lake.system.offsets WHERE job = 'load' AND \"partition\" <> '__start__'"
        ).fetchall()
    )
    consumer = kafka.consumer(**{"group.id": f"check-{topic}"})
    try:
        ends = {
            f"{topic}/{p}": consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)
        }
    finally:
        consumer.close()
    assert positions == ends, again
    print(
        f"seed {seed}: {kills} kills, {len(sent.rows)} messages + {len(sent.malformed)} malformed, "
        f"{sent.transactions} transactions ({sent.aborts} aborted), batches committed before each kill "
        f"{commits}, {elapsed:.1f} s"
    )
