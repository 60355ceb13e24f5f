"""Kafka ingestion throughput: Headwater against a bare confluent-kafka consumer, in one run.

    python bench/kafka_ingest.py [--messages N] [--partitions P] [--repeat R] [--profile]

Starts a Kafka broker of its own (scripts/services/kafka.sh, data in a temporary folder), writes
N JSON orders (about 200 bytes each: ids, an ISO timestamp, a status, an amount, a nested
``customer`` object) round-robin into a topic of P partitions, once, then measures, each in a
fresh process reading the whole topic from its beginning:

  a. a bare consumer: confluent-kafka with the settings Headwater's source uses (read_committed,
     no auto-commit, its prefetch settings ``headwater.sources.kafka.FETCH``, partitions
     assigned at offset 0), ``consume(num_messages=10000)`` in a loop until it has N messages,
     each message's value taken (nothing else is done with them);
  b. Headwater: ``Project.run(once=True)`` of a project with one Kafka connection and one
     ingestion job into ``bronze.orders``, timed whole (parse, plan, deploy, read, decode and
     type every value, write Parquet, commit rows and offsets together);
  c. the bare consumer of (a) with librdkafka's default prefetch settings, for reference.

It checks that all saw N messages (and that the table holds N rows), prints rows/s, each
process's peak RSS, the ratio b/a (the target's), b/c, and where Headwater's time went (timers around the steps of
its Kafka path). With ``--repeat R`` each measurement runs R times, alternating; the median
counts. ``--profile`` also runs (b) under cProfile and prints the profile to stderr; ``--trace`` times
each SQL statement of (b) and prints the slowest to stderr.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _common import instrument, machine, new_project, print_steps, run_child, run_once

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests/services/kafka.py, which drives the broker script

TOPIC = "orders"
CONSUME_BATCH = 10_000  # messages per consume(), as Headwater's source asks for
PROJECT_SQL = """
CREATE KAFKA CONNECTION events HOSTS = ('{bootstrap}');
CREATE TABLE bronze.orders;
CREATE JOB load_orders AS COPY FROM events TOPIC = '{topic}' INTO bronze.orders;
"""
STEPS = (
    ("plan and deploy", "headwater.runner.loop", "Runner._deploy"),
    ("consume() and cut into chunks", "headwater.sources.kafka", "KafkaSource.poll"),
    ("  messages into Arrow (KafkaSource._chunks)", "headwater.sources.kafka", "KafkaSource._chunks"),
    ("classify each chunk (before the transaction)", "headwater.runner.ingest", "Batch._stage"),
    ("  plan the chunk (UTF-8 check, sample)", "headwater.runner.ingest", "decode"),
    ("  one query: typed, transformed, classified", "headwater.quality.batch", "evaluate"),
    ("write the chunks and commit (one transaction)", "headwater.runner.ingest", "Batch.commit"),
    ("  INSERT into the lake (Parquet)", "headwater.runner.ingest", "_write"),
)


# -- data ------------------------------------------------------------------------------------
def values(n: int, seed: int = 7) -> list[bytes]:
    """N JSON orders, one per message value (those of bench/ingest_files.py, and a channel)."""
    import polars as pl
    from ingest_files import orders

    rng = np.random.default_rng(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    out: list[bytes] = []
    for first in range(0, n, 250_000):  # (orders() builds one Arrow chunk: at most this many)
        frame = pl.from_arrow(orders(rng, first + 1, min(250_000, n - first), start))
        assert isinstance(frame, pl.DataFrame)
        frame = frame.with_columns(channel=pl.lit("web-checkout-eu"))  # (to about 200 bytes)
        out += frame.write_ndjson().encode().splitlines()
    return out


def fill_topic(broker: Any, n: int, partitions: int) -> int:
    """Write N messages round-robin into the topic's partitions; returns the bytes of values."""
    broker.create_topic(TOPIC, partitions=partitions)
    producer = broker.producer(**{"linger.ms": 50, "batch.size": 1_000_000, "compression.type": "none"})
    data = values(n)
    for i, value in enumerate(data):
        while True:
            try:
                producer.produce(TOPIC, value=value, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise SystemExit("the broker did not acknowledge every message")
    return sum(map(len, data))


# -- the two measurements, each run in its own process ----------------------------------------
def measure_consumer(bootstrap: str, n: int, fetch: bool = True) -> dict[str, Any]:
    """``fetch``: with Headwater's prefetch settings (else librdkafka's defaults)."""
    from confluent_kafka import Consumer, TopicPartition

    from headwater.sources.kafka import FETCH

    started = time.perf_counter()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-bare-consumer",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            **(FETCH if fetch else {}),
        }
    )
    parts = sorted(consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions)
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in parts])
    seen = nbytes = 0
    while seen < n:
        for m in consumer.consume(num_messages=CONSUME_BATCH, timeout=0.5):
            if m.error() is None:
                seen += 1
                nbytes += len(m.value())
    consumer.close()
    return {"seconds": time.perf_counter() - started, "rows": seen, "bytes": nbytes}


def measure_headwater(work: Path, bootstrap: str, profile: bool, trace: bool) -> dict[str, Any]:
    from ingest_guarantees import StatementTimer

    from headwater.api import Project

    tracer = StatementTimer() if trace else None

    project_dir = new_project(work, PROJECT_SQL.format(bootstrap=bootstrap, topic=TOPIC))
    steps: dict[str, float] = collections.defaultdict(float)
    instrument(steps, STEPS)
    seconds, batches, profiler = run_once(project_dir, profile)
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(20)
    if tracer is not None:
        tracer.report(seconds)
    ((count,),) = Project(project_dir).query("SELECT count(*) FROM bronze.orders").fetchall()
    return {"seconds": seconds, "rows": int(count), "batches": batches, "steps": steps}


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the median counts")
    parser.add_argument("--profile", action="store_true", help="profile Headwater's run (to stderr)")
    parser.add_argument(
        "--trace", action="store_true", help="time each SQL statement of Headwater's run (to stderr)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (and the broker's data)"
    )
    parser.add_argument(
        "--worker", choices=["consumer", "consumer-defaults", "headwater"], help=argparse.SUPPRESS
    )
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = (
            measure_headwater(args.work, args.bootstrap, args.profile, args.trace)
            if args.worker == "headwater"
            else measure_consumer(args.bootstrap, args.messages, fetch=args.worker == "consumer")
        )
        print(json.dumps(result))
        return

    from tests.services.kafka import start_kafka

    work = Path(tempfile.mkdtemp(prefix="headwater-bench-kafka-"))
    broker = None
    try:
        started = time.perf_counter()
        broker = start_kafka(work / "kafka")
        print(f"broker on {broker.bootstrap} in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        size = fill_topic(broker, args.messages, args.partitions)
        print(
            f"produced {args.messages:,} messages ({size / 1e6:,.0f} MB of values, "
            f"{size / args.messages:.0f} B each) into {args.partitions} partitions "
            f"in {time.perf_counter() - started:.1f} s"
        )
        load_before = os.getloadavg()[0]
        common = ["--bootstrap", broker.bootstrap, "--messages", str(args.messages)]
        bare, plain, head = [], [], []
        for _ in range(args.repeat):
            bare.append(run_child(__file__, "consumer", work, common))
            plain.append(run_child(__file__, "consumer-defaults", work, common))
            head.append(
                run_child(
                    __file__,
                    "headwater",
                    work,
                    [*common, *(["--profile"] if args.profile else []), *(["--trace"] if args.trace else [])],
                )
            )
        load_after = os.getloadavg()[0]
    finally:
        if broker is not None:
            broker.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    for name, runs in (
        ("the bare consumer", bare),
        ("the bare consumer (defaults)", plain),
        ("Headwater", head),
    ):
        for res, _ in runs:
            if res["rows"] != args.messages:
                raise SystemExit(f"{name} got {res['rows']:,} rows, expected {args.messages:,}")
    print("\n" + machine() + f"; load average {load_before:.1f} before, {load_after:.1f} after")
    runs_note = f", median of {args.repeat} runs" if args.repeat > 1 else ""
    print(f"{args.messages:,} messages in {args.partitions} partitions, {size / 1e6:,.0f} MB{runs_note}")
    header = f"{'':<34}{'seconds':>9}{'rows/s':>13}{'MB/s':>9}{'peak RSS':>13}"
    print(header)
    print("-" * len(header))
    medians = {}
    for label, runs in (
        ("a. bare confluent-kafka consumer", bare),
        ("b. Headwater run --once", head),
        ("c. (a) with librdkafka's defaults", plain),
    ):
        seconds = statistics.median(res["seconds"] for res, _ in runs)
        rss = max(r for _, r in runs)
        medians[label[0]] = seconds
        print(
            f"{label:<34}{seconds:>9.2f}{args.messages / seconds:>13,.0f}{size / 1e6 / seconds:>9.1f}"
            f"{rss / 2**20:>9,.0f} MiB"
        )
        if len(runs) > 1:
            each = ", ".join(f"{res['seconds']:.2f}" for res, _ in runs)
            print(f"{'':<4}each run: {each} s")
    commits = head[0][0]["batches"]
    print(f"\nratio b/a (rows/s): {medians['a'] / medians['b']:.2f}x   (Headwater made {commits} commit(s))")
    print(
        f"ratio b/c (rows/s): {medians['c'] / medians['b']:.2f}x   (against a bare loop with librdkafka's defaults)"
    )
    median_run = sorted((res for res, _ in head), key=lambda r: r["seconds"])[len(head) // 2]
    print_steps(median_run, STEPS)


if __name__ == "__main__":
    main()
