"""The continuous ``headwater run`` against a real broker: each stream job commits on its own
COMMIT_INTERVAL while files, views and other commands go on; an unreachable broker delays no
other job; a broker that goes away and comes back loses and duplicates nothing; status shows
each partition; SIGTERM stops it within seconds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.lake.errors import QueryError
from tests.conftest import write_jsonl
from tests.services.kafka import KafkaBroker

HEADWATER = Path(sys.executable).with_name("headwater")
_topics = iter(range(1_000_000))


def _topic(name: str) -> str:
    return f"{name}-{os.getpid()}-{next(_topics)}"


def _produce(kafka: KafkaBroker, topic: str, ids: range, partitions: int) -> None:
    producer = kafka.producer()
    for i in ids:
        producer.produce(
            topic, key=f"k{i % 7}", value=json.dumps({"id": i, "k": f"k{i % 7}"}), partition=i % partitions
        )
    assert producer.flush(30) == 0


def _until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check()`` holds; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def _count(project: hw.Project, sql: str) -> int:
    """(-1 while the table does not exist yet: a table without declared columns is created
    with its first rows.)"""
    try:
        return int(project.query(sql).fetchall()[0][0])
    except QueryError:
        return -1


def _status(project: hw.Project) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        [str(HEADWATER), "status", "-p", str(project.path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return {row["name"]: row for row in json.loads(out.stdout)}


def _one_job(
    make_project: Callable[..., hw.Project], kafka: KafkaBroker, name: str, partitions: int, options: str = ""
) -> tuple[hw.Project, str]:
    """A project whose job `load` reads a new topic into bronze.events, committing every second."""
    topic = _topic(name)
    kafka.create_topic(topic, partitions=partitions)
    project = make_project(
        f"""
        CREATE KAFKA CONNECTION events HOSTS = ('{kafka.bootstrap}');
        CREATE JOB load COMMIT_INTERVAL = 1 SECOND {options}
        AS COPY FROM events TOPIC = '{topic}' INTO bronze.events;
        """
    )
    return project, topic


def _stopped_cleanly(proc: subprocess.Popen[str]) -> str:
    """SIGTERM: it stops within seconds, with exit code 0 and no traceback; its output."""
    seconds, out = _stop(proc)
    assert proc.returncode == 0, out
    assert seconds < 10, (seconds, out)
    assert "Traceback" not in out
    return out


@pytest.fixture
def running() -> Iterator[Callable[[hw.Project], subprocess.Popen[str]]]:
    """Start `headwater run` on a project; whatever is left running is killed at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(project: hw.Project) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [str(HEADWATER), "run", "-p", str(project.path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stop(proc: subprocess.Popen[str]) -> tuple[float, str]:
    """SIGTERM; seconds until it exited, and its output."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return time.monotonic() - started, out


def test_each_job_commits_on_its_interval_while_files_views_and_queries_go_on(
    make_project: Callable[..., hw.Project],
    kafka: KafkaBroker,
    running: Callable[[hw.Project], subprocess.Popen[str]],
) -> None:
    topic = _topic("clicks")
    kafka.create_topic(topic, partitions=3)
    project = make_project(
        f"""
        CREATE KAFKA CONNECTION events HOSTS = ('{kafka.bootstrap}');
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE TABLE bronze.clicks;
        CREATE TABLE bronze.users;
        CREATE JOB load_clicks COMMIT_INTERVAL = 1 SECOND
        AS COPY FROM events TOPIC = '{topic}' INTO bronze.clicks;
        CREATE JOB load_users AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.users;
        CREATE MATERIALIZED VIEW gold.clicks_per_key AS
        SELECT k, count(*) AS clicks FROM bronze.clicks GROUP BY k;
        """
    )
    proc = running(project)
    _produce(kafka, topic, range(0, 300), 3)
    _until(lambda: _count(project, "SELECT count(*) FROM bronze.clicks") == 300, 60, "the first 300 messages")
    # Later messages are queryable about one COMMIT_INTERVAL after they were produced (the
    # query borrows the lake from the run).
    _produce(kafka, topic, range(300, 600), 3)
    waited = _until(lambda: _count(project, "SELECT count(*) FROM bronze.clicks") == 600, 30, "600 messages")
    assert waited < 10, waited
    write_jsonl(project.path / "landing/users.jsonl", [{"user": i} for i in range(25)])
    _until(lambda: _count(project, "SELECT count(*) FROM bronze.users") == 25, 30, "the file's records")
    _until(
        lambda: _count(project, "SELECT coalesce(sum(clicks), 0) FROM gold.clicks_per_key") == 600,
        30,
        "the view to follow its input",
    )
    assert project.query("SELECT count(DISTINCT id), min(id), max(id) FROM bronze.clicks").fetchall() == [
        (600, 0, 599)
    ]
    # more than one commit: the job did not wait for the run to end
    assert (
        _count(project, "SELECT count(*) FROM system.runs WHERE job = 'load_clicks' AND rows_read > 0") >= 2
    )
    assert project.query(
        "SELECT sum(rows_read), sum(rows_written) FROM system.runs WHERE job = 'load_clicks'"
    ).fetchall() == [(600, 600)]

    status = _status(project)
    assert status["load_clicks"]["status"] == "running"
    parts = status["load_clicks"]["partitions"]
    assert sorted(p["partition"] for p in parts) == [f"{topic}/{n}" for n in range(3)]
    assert sum(p["committed"] for p in parts) == 600
    assert all(p["end"] == p["committed"] and p["behind"] == 0 for p in parts), parts
    assert all(
        p["seconds_behind"] == 0 and p["connection"] == "connected" and p["last_commit"] for p in parts
    )
    assert "partitions" not in status["load_users"]  # (files: no partitions to show)

    _stopped_cleanly(proc)
    # Not running: status says so, and the saved progress is still there.
    after = _status(project)["load_clicks"]
    assert after["status"] == "idle"
    assert {p["connection"] for p in after["partitions"]} == {"not running"}
    assert sum(p["committed"] for p in after["partitions"]) == 600
    rows = project.query(
        'SELECT "partition", position, end_position, behind FROM system.offsets '
        "WHERE job = 'load_clicks' AND \"partition\" NOT LIKE '\\_\\_%' ESCAPE '\\' ORDER BY 1"
    ).fetchall()
    assert [(r[1] == r[2], r[3]) for r in rows] == [(True, 0)] * 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_broker_holds_up_no_other_job(
    make_project: Callable[..., hw.Project],
    kafka: KafkaBroker,
    running: Callable[[hw.Project], subprocess.Popen[str]],
) -> None:
    topic = _topic("good")
    kafka.create_topic(topic, partitions=1)
    port = _closed_port()
    project = make_project(
        f"""
        CREATE KAFKA CONNECTION live HOSTS = ('{kafka.bootstrap}');
        CREATE KAFKA CONNECTION gone HOSTS = ('127.0.0.1:{port}');
        CREATE JOB load_good COMMIT_INTERVAL = 1 SECOND AS COPY FROM live TOPIC = '{topic}' INTO bronze.good;
        CREATE JOB load_gone COMMIT_INTERVAL = 1 SECOND AS COPY FROM gone TOPIC = 'nowhere' INTO bronze.gone;
        """
    )
    proc = running(project)
    _until(lambda: _status(project)["load_gone"]["status"] == "failed", 60, "the unreachable job to fail")
    for wave in range(3):  # each wave lands while the other job keeps failing
        _produce(kafka, topic, range(wave * 50, wave * 50 + 50), 1)
        waited = _until(
            lambda n=wave: _count(project, "SELECT count(*) FROM bronze.good") == n * 50 + 50,
            30,
            "the good job",
        )
        assert waited < 10, waited
    status = _status(project)
    gone = status["load_gone"]
    assert gone["status"] == "failed"
    assert "gone" in gone["error"] and f"127.0.0.1:{port}" in gone["error"], gone["error"]
    assert status["load_good"]["status"] == "running" and status["load_good"]["error"] is None
    seconds, out = _stop(proc)
    assert proc.returncode != 0 or "load_gone" in out
    assert seconds < 10, (seconds, out)
    assert "Traceback" not in out


def test_a_broker_restart_under_a_running_run_loses_and_duplicates_nothing(
    make_project: Callable[..., hw.Project],
    kafka: KafkaBroker,
    running: Callable[[hw.Project], subprocess.Popen[str]],
) -> None:
    project, topic = _one_job(make_project, kafka, "restart", 2)
    proc = running(project)
    _produce(kafka, topic, range(0, 200), 2)
    _until(lambda: _count(project, "SELECT count(*) FROM bronze.events") == 200, 60, "before the restart")
    kafka.stop()
    try:
        _until(
            lambda: (
                {p["connection"] for p in _status(project)["load"]["partitions"]}
                <= {"reconnecting", "retrying"}
            ),
            60,
            "status to show the broker gone",
        )
        assert proc.poll() is None  # still running
    finally:
        kafka.start()
    _produce(kafka, topic, range(200, 400), 2)
    try:
        _until(lambda: _count(project, "SELECT count(*) FROM bronze.events") >= 400, 90, "after the restart")
    except AssertionError as e:  # (with what the run said)
        proc.kill()
        raise AssertionError(
            f"{e}; status {_status(project)['load']}; the run said:\n{proc.communicate()[0]}"
        ) from None
    time.sleep(2)  # (a duplicate would land by now)
    assert project.query("SELECT count(*), count(DISTINCT id) FROM bronze.events").fetchall() == [(400, 400)]
    _until(
        lambda: {p["connection"] for p in _status(project)["load"]["partitions"]} == {"connected"},
        30,
        "status to show the broker back",
    )
    _stopped_cleanly(proc)


def _cli(project: hw.Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HEADWATER), *args, "-p", str(project.path)], capture_output=True, text=True, timeout=60
    )


def test_pause_resume_and_new_partitions_while_running(
    make_project: Callable[..., hw.Project],
    kafka: KafkaBroker,
    running: Callable[[hw.Project], subprocess.Popen[str]],
) -> None:
    project, topic = _one_job(make_project, kafka, "paused", 1)
    proc = running(project)
    _produce(kafka, topic, range(0, 50), 1)
    _until(lambda: _count(project, "SELECT count(*) FROM bronze.events") == 50, 60, "the first messages")
    assert _cli(project, "pause", "load").returncode == 0
    _until(lambda: _status(project)["load"]["status"] == "paused", 30, "the job to be paused")
    _produce(kafka, topic, range(50, 100), 1)
    time.sleep(3)
    assert _count(project, "SELECT count(*) FROM bronze.events") == 50  # paused: nothing lands
    assert _cli(project, "resume", "load").returncode == 0
    _until(lambda: _count(project, "SELECT count(*) FROM bronze.events") == 100, 30, "the job to go on")
    # A partition added to the topic while the job runs is read from its beginning.
    from confluent_kafka.admin import NewPartitions

    futures = kafka.admin().create_partitions([NewPartitions(topic, 2)])
    for future in futures.values():
        future.result(30)
    producer = kafka.producer()
    for i in range(100, 120):
        producer.produce(topic, value=json.dumps({"id": i, "k": "new"}), partition=1)
    assert producer.flush(30) == 0
    _until(lambda: _count(project, "SELECT count(*) FROM bronze.events") == 120, 60, "the new partition")
    assert project.query("SELECT count(DISTINCT id) FROM bronze.events").fetchall() == [(120,)]
    parts = {p["partition"]: p for p in _status(project)["load"]["partitions"]}
    assert parts[f"{topic}/1"]["committed"] == 20
    _stopped_cleanly(proc)


def test_a_gap_found_by_a_running_run_is_skipped_and_recorded_with_on_retention_gap_skip(
    make_project: Callable[..., hw.Project],
    kafka: KafkaBroker,
    running: Callable[[hw.Project], subprocess.Popen[str]],
) -> None:
    from confluent_kafka import TopicPartition

    project, topic = _one_job(make_project, kafka, "gap", 1, "ON_RETENTION_GAP = SKIP")
    proc = running(project)
    _produce(kafka, topic, range(0, 10), 1)
    _until(lambda: _count(project, "SELECT count(*) FROM bronze.events") == 10, 60, "the first messages")
    assert _cli(project, "pause", "load").returncode == 0
    _until(lambda: _status(project)["load"]["status"] == "paused", 30, "the job to be paused")
    _produce(kafka, topic, range(10, 50), 1)
    for future in kafka.admin().delete_records([TopicPartition(topic, 0, 30)]).values():
        future.result(30)  # what retention does: offsets 10 to 29 are gone before they were read
    assert _cli(project, "resume", "load").returncode == 0
    _until(lambda: _count(project, "SELECT count(*) FROM bronze.events") == 30, 30, "the rest after the gap")
    assert project.query("SELECT list(id ORDER BY id) FROM bronze.events").fetchall() == [
        ([*range(10), *range(30, 50)],)
    ]
    assert project.query('SELECT job, "partition", first_lost, last_lost FROM system.gaps').fetchall() == [
        ("load", f"{topic}/0", 10, 29)
    ]
    out = _stopped_cleanly(proc)
    assert "skipped offsets 10 to 29" in out, out
