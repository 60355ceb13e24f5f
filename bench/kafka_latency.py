"""Kafka produce-to-queryable latency of a running ``headwater run``, with its CPU and memory.

    python bench/kafka_latency.py [--rate 5000] [--duration 60] [--partitions 4] [--poll 0.1]

Starts a Kafka broker of its own (scripts/services/kafka.sh, data in a temporary folder) and a
project with one Kafka ingestion job (``COMMIT_INTERVAL = 1 SECOND``), then, each in its own
process:

  - ``headwater run`` (continuous), started first and left to deploy;
  - a reader, querying the lake table every ``--poll`` seconds, as ``headwater query`` would
    (``Project.query``: it opens the lake for each query), for the rows committed since the last
    ``$commit_time`` it saw. With the default DuckDB-file catalog one process at a time has the
    lake: the reader waits while ``run`` holds it, and ``run`` waits while the reader does.
    ``--catalog postgres`` puts the catalog in a throwaway PostgreSQL server (Debian's package,
    as the tests use; fsync off), where neither waits;
  - a producer, sending ``--rate`` messages a second (about 200 bytes of JSON, 1/100 of a
    second's worth every 10 ms) for ``--duration`` seconds. Each message carries the moment it
    was handed to the client (``sent_at``, epoch microseconds).

A message's latency is the moment the reader's query that first returned it finished, minus its
``sent_at``: produce to queryable, as a reader sees it. After the producer stops, the bench waits
(at most 60 s) for the reader to have seen every message, then stops ``run`` with SIGINT. It
prints the latency percentiles, how many messages were seen, the CPU time ``run`` used while
the producer ran (utime + stime from /proc, as a share of one core and of the machine), and its
RSS, sampled every second (peak, and the mean of the first and the last minute, or of the first
and last fifth of a shorter run).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests/services/kafka.py, which drives the broker script

TOPIC = "events"
PROJECT_SQL = """
CREATE KAFKA CONNECTION events HOSTS = ('{bootstrap}');
CREATE TABLE bronze.events (id BIGINT, sent_at BIGINT, kind VARCHAR, user_id BIGINT, url VARCHAR, pad VARCHAR);
CREATE JOB load_events COMMIT_INTERVAL = 1 SECOND AS COPY FROM events TOPIC = '{topic}' INTO bronze.events;
"""
PAD = "x" * 96  # to about 200 bytes a message
WAIT_AFTER_S = 60.0  # for the reader to see the last messages
TICK = 0.01  # the producer sends 1/100 of a second's messages at once


# -- the producer and the reader, each in a process of its own ----------------------------------
def produce(bootstrap: str, rate: float, duration: float, out: Path, warmup: bool = False) -> None:
    """``warmup``: ids -1, -2, ... (the reader does not count them)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    began = time.monotonic()
    sent = 0
    total = int(duration * rate)
    while sent < total:
        elapsed = time.monotonic() - began
        due = min(int(elapsed * rate) + 1, total)
        while sent < due:
            value = json.dumps(
                {
                    "id": -1 - sent if warmup else sent,
                    "sent_at": time.time_ns() // 1000,
                    "kind": "page_view",
                    "user_id": sent % 5000,
                    "url": f"https://shop.example/products/sku-{sent % 997}",
                    "pad": PAD,
                }
            )
            while True:
                try:
                    producer.produce(TOPIC, value=value, key=str(sent % 5000))
                    break
                except BufferError:
                    producer.poll(0.01)
            sent += 1
        producer.poll(0)
        time.sleep(max(0.0, began + (sent / rate) - time.monotonic()) or TICK / 10)
    if producer.flush(60):
        raise SystemExit("producer: the broker did not acknowledge every message")
    out.write_text(json.dumps({"sent": sent, "seconds": time.monotonic() - began}))


def read(project_dir: Path, expected_file: Path, poll: float, out: Path) -> None:
    """Poll the table until the producer's count (in expected_file) has been seen, or told to stop."""
    import headwater as hw

    project = hw.Project(project_dir)
    seen: dict[int, int] = {}  # id -> latency in microseconds
    last = None
    waits: list[float] = []
    stop_at: float | None = None
    while True:
        started = time.monotonic()
        try:
            if last is None:
                rows = project.query(
                    'SELECT id, sent_at, "$commit_time" FROM bronze.events WHERE id >= 0'
                ).fetchall()
            else:
                rows = project.query(
                    'SELECT id, sent_at, "$commit_time" FROM bronze.events '
                    f"WHERE id >= 0 AND \"$commit_time\" > '{last}'"
                ).fetchall()
        except Exception as e:  # the table does not exist yet, or the lake stayed busy
            rows = []
            if "does not exist" not in str(e) and "busy" not in str(e).lower() and "held" not in str(e):
                print(f"reader: {e}", file=sys.stderr)
        now_us = time.time_ns() // 1000
        waits.append(time.monotonic() - started)
        for row_id, sent_at, commit_time in rows:
            if row_id not in seen:
                seen[row_id] = now_us - sent_at
            if last is None or commit_time.isoformat() > last:
                last = commit_time.isoformat()
        if expected_file.exists():
            expected = json.loads(expected_file.read_text())["sent"]
            stop_at = stop_at or time.monotonic() + WAIT_AFTER_S
            if len(seen) >= expected or time.monotonic() > stop_at:
                break
        time.sleep(max(0.0, poll - (time.monotonic() - started)))
    out.write_text(json.dumps({"latency_us": list(seen.values()), "query_seconds": waits}))


# -- sampling the run process -------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler(threading.Thread):
    """RSS of a process every second, until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.samples.append((time.monotonic(), rss_bytes(self.pid)))
            except OSError:
                return
            self.stopping.wait(1.0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=5000, help="messages per second")
    parser.add_argument("--duration", type=float, default=60, help="seconds of producing")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--warmup",
        type=float,
        default=5,
        help="seconds of producing at --rate before the measured ones, not counted (0: none)",
    )
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between the reader's queries")
    parser.add_argument(
        "--catalog",
        choices=["file", "postgres"],
        default="file",
        help="the lake's catalog: the default DuckDB file, or a throwaway PostgreSQL server",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--worker", choices=["producer", "reader"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "producer":
        produce(args.bootstrap, args.rate, args.duration, args.work / "produced.json")
        return
    if args.worker == "reader":
        read(args.work / "project", args.work / "produced.json", args.poll, args.work / "read.json")
        return

    from tests.services.kafka import start_kafka

    work = Path(tempfile.mkdtemp(prefix="headwater-bench-latency-"))
    broker = postgres = None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        broker = start_kafka(work / "kafka")
        broker.create_topic(TOPIC, partitions=args.partitions)
        project_dir = work / "project"
        project_dir.mkdir()
        (project_dir / "pipeline.sql").write_text(PROJECT_SQL.format(bootstrap=broker.bootstrap, topic=TOPIC))
        if args.catalog == "postgres":
            from tests.services.postgres import start_postgres

            postgres = start_postgres()
            dsn = postgres.create_database("lake")
            (project_dir / "headwater.toml").write_text(f'[lake]\ncatalog = "{dsn}"\n')
        log = open(work / "run.log", "wb")  # noqa: SIM115 (closed below)
        run = subprocess.Popen(
            [sys.executable, "-m", "headwater", "run", "-p", str(project_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(run)
        deadline = time.monotonic() + 60
        while b"applied plan" not in (work / "run.log").read_bytes():
            if run.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"headwater run did not start:\n{(work / 'run.log').read_text()}")
            time.sleep(0.2)
        # Running means reading: wait until its reader has every partition open (as status shows).
        import headwater as hw

        while True:
            jobs = {j["name"]: j for j in hw.Project(project_dir).status()}
            parts = jobs.get("load_events", {}).get("partitions") or []
            if len(parts) == args.partitions and all(p["connection"] == "connected" for p in parts):
                break
            if run.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"headwater run did not start reading:\n{(work / 'run.log').read_text()}")
            time.sleep(0.2)
        if args.warmup > 0:  # the first commits (the table's first rows) are not steady state
            produce(broker.bootstrap, args.rate, args.warmup, work / "warmup.json", warmup=True)
            warm = json.loads((work / "warmup.json").read_text())["sent"]
            while hw.Project(project_dir).query(
                "SELECT count(*) FROM bronze.events WHERE id < 0"
            ).fetchall() != [(warm,)]:
                if run.poll() is not None or time.monotonic() > deadline + 120:
                    raise SystemExit(f"the warm-up did not land:\n{(work / 'run.log').read_text()}")
                time.sleep(0.2)
        sampler = Sampler(run.pid)
        sampler.start()
        me = [sys.executable, __file__, "--work", str(work), "--bootstrap", broker.bootstrap]
        reader = subprocess.Popen([*me, "--worker", "reader", "--poll", str(args.poll)])
        procs.append(reader)
        load_before = os.getloadavg()[0]
        cpu_before, wall_before = cpu_seconds(run.pid), time.monotonic()
        producer = subprocess.Popen(
            [*me, "--worker", "producer", "--rate", str(args.rate), "--duration", str(args.duration)]
        )
        procs.append(producer)
        if producer.wait() != 0:
            raise SystemExit("the producer failed")
        cpu_after, wall_after = cpu_seconds(run.pid), time.monotonic()
        reader.wait(timeout=WAIT_AFTER_S + 60)
        sampler.stopping.set()
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
        log.close()
        produced = json.loads((work / "produced.json").read_text())
        seen = json.loads((work / "read.json").read_text())
        load = (load_before, os.getloadavg()[0])
        report(args, produced, seen, cpu_after - cpu_before, wall_after - wall_before, sampler.samples, load)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace,
    produced: dict[str, Any],
    seen: dict[str, Any],
    cpu: float,
    wall: float,
    rss: list[tuple[float, int]],
    load: tuple[float, float],
) -> None:
    latencies = [us / 1e6 for us in seen["latency_us"]]
    print(
        "\n"
        + machine(f"lake catalog: {args.catalog}")
        + f"; load average {load[0]:.1f} before, {load[1]:.1f} after"
    )
    print(
        f"produced {produced['sent']:,} messages in {produced['seconds']:.1f} s "
        f"({produced['sent'] / produced['seconds']:,.0f}/s) into {args.partitions} partitions; "
        f"the reader saw {len(latencies):,} of them (queries every {args.poll:g} s, "
        f"each {statistics.median(seen['query_seconds']):.3f} s median, "
        f"{max(seen['query_seconds']):.2f} s at most)"
    )
    if latencies:
        points = ", ".join(f"p{p} {percentile(latencies, p):.2f} s" for p in (50, 90, 99))
        print(f"produce-to-queryable latency: {points}, max {max(latencies):.2f} s")
    print(
        f"headwater run CPU while producing: {cpu:.1f} s in {wall:.1f} s = {100 * cpu / wall:.0f} % of one core, "
        f"{100 * cpu / wall / (os.cpu_count() or 1):.0f} % of the machine's {os.cpu_count()} cores"
    )
    if rss:
        span = rss[-1][0] - rss[0][0]
        window = 60.0 if span >= 180 else span / 5
        first = [r for t, r in rss if t - rss[0][0] <= window]
        last = [r for t, r in rss if rss[-1][0] - t <= window]
        print(
            f"headwater run RSS: peak {max(r for _, r in rss) / 2**20:,.0f} MiB; mean of the first "
            f"{window:.0f} s {statistics.mean(first) / 2**20:,.0f} MiB, of the last {window:.0f} s "
            f"{statistics.mean(last) / 2**20:,.0f} MiB ({len(rss)} samples)"
        )


if __name__ == "__main__":
    main()
