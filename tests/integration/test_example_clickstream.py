"""examples/clickstream against a real broker: the README's commands, run as written, and every
table checked against a computation of the test's own over the messages read back from the topic
(plain Python: no Headwater, no SQL of the example)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
from confluent_kafka import TopicPartition

import headwater as hw
from tests.services.kafka import KafkaBroker, start_kafka
from tests.test_docs import blocks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "clickstream"
README = EXAMPLE / "README.md"
MARKER = "run by tests/integration/test_example_clickstream.py"
START_BROKER = "export KAFKA_BOOTSTRAP=$(scripts/services/kafka.sh start)"  # what `broker` runs
# README commands this test does not run, and why: the continuous part (a producer that runs
# until stopped, `run` without --once, a query beside it) and stopping the broker.
NOT_RUN = {
    ".venv/bin/python examples/clickstream/produce.py --count 0 --rate 50 &",
    ".venv/bin/headwater run -p examples/clickstream",
    '.venv/bin/headwater query -p examples/clickstream "SELECT minute, events, sessions, purchases FROM '
    'gold.activity_per_minute ORDER BY minute DESC LIMIT 5"',
    "scripts/services/kafka.sh stop",
}
TOPIC = "clicks"
EVENT_TYPES = {"page_view", "click", "add_to_cart", "purchase"}
TIME_REASON = "column event_time: expected TIMESTAMP WITH TIME ZONE"
TYPE_REASON = "expectation known_event_type (QUARANTINE) failed"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A broker of its own, started by scripts/services/kafka.sh as the README does: the topic
    the example reads, `clicks`, must not be one that other tests create on the session's."""
    started = start_kafka(tmp_path_factory.mktemp("clickstream-kafka"))
    try:
        yield started
    finally:
        started.stop()


@dataclass
class Step:
    command: str
    expected: list[str] | None  # the output the README shows, if it shows one


def readme_steps() -> tuple[list[Step], list[str]]:
    """The README's commands: those marked for this test (with their shown output), and the others."""
    marked: list[Step] = []
    others: list[str] = []
    for block in blocks(README):
        if block.lang not in ("sh", "console"):
            continue
        if block.lang == "sh":
            lines = [line for line in block.text.splitlines() if line.strip()]
            steps = [Step(line, None) for line in lines]
        else:
            steps = []
            for line in block.text.splitlines():
                if line.startswith("$ "):
                    steps.append(Step(line[2:], []))
                else:
                    assert steps and steps[-1].expected is not None, f"{block}: output before a command"
                    steps[-1].expected.append(line)
        if block.marker == MARKER:
            marked += steps
        else:
            others += [s.command for s in steps]
    return marked, others


def run_step(step: Step, project: Path, env: dict[str, str]) -> None:
    if step.command == START_BROKER:
        return  # the `broker` fixture started it with the same script
    argv = shlex.split(step.command)
    program = {
        ".venv/bin/python": [sys.executable],
        ".venv/bin/headwater": [sys.executable, "-m", "headwater"],
    }
    assert argv[0] in program, f"README: {step.command!r} is not a command this test knows how to run"
    args = [
        str(project / "produce.py")
        if a == "examples/clickstream/produce.py"
        else str(project)
        if a == "examples/clickstream"
        else a
        for a in argv[1:]
    ]
    ran = subprocess.run([*program[argv[0]], *args], capture_output=True, text=True, env=env, cwd=ROOT)
    assert ran.returncode == 0, f"{step.command}\n{ran.stdout}\n{ran.stderr}"
    if step.expected is not None:
        assert [line.rstrip() for line in ran.stdout.splitlines()] == step.expected, step.command


# -- the computation of our own ----------------------------------------------------------------
@dataclass
class Expected:
    rows: list[tuple[str, dict[str, Any], datetime]]  # ($source, event, event time) written
    read: int
    deduplicated: int
    dropped: int
    quarantined: Counter[str]
    emails: set[str]
    ips: set[str]


def read_topic(kafka: KafkaBroker) -> list[tuple[int, int, bytes]]:
    """Every message of the topic, as (partition, offset, value), in partition and offset order."""
    consumer = kafka.consumer(**{"group.id": "clickstream-oracle"})
    try:
        parts = sorted(kafka.admin().list_topics(TOPIC, timeout=10).topics[TOPIC].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in parts}
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in parts])
        out: list[tuple[int, int, bytes]] = []
        while len(out) < sum(ends.values()):
            for m in consumer.consume(num_messages=1000, timeout=5):
                assert m.error() is None, m.error()
                out.append((m.partition(), m.offset(), m.value() or b""))
    finally:
        consumer.close()
    return sorted(out)


def expected(messages: list[tuple[int, int, bytes]]) -> Expected:
    """What the pipeline must do with the messages, by the README's rules, in plain Python."""
    rows: list[tuple[str, dict[str, Any], datetime]] = []
    seen: set[str] = set()
    quarantined: Counter[str] = Counter()
    dropped = deduplicated = 0
    emails: set[str] = set()
    ips: set[str] = set()
    for partition, offset, value in messages:
        try:
            event = json.loads(value)
        except ValueError:
            quarantined["malformed JSON"] += 1
            continue
        assert isinstance(event, dict)
        emails |= {event["email"]} if event.get("email") else set()
        ips |= {event["ip"]} if event.get("ip") else set()
        try:
            at = datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))
        except ValueError:
            quarantined[TIME_REASON] += 1
            continue
        if event["event_type"] not in EVENT_TYPES:
            quarantined[TYPE_REASON] += 1
        elif event.get("user_agent") is None or "bot" in event["user_agent"].lower():
            dropped += 1
        elif event["event_id"] in seen:
            deduplicated += 1
        else:
            seen.add(event["event_id"])
            rows.append((f"kafka:{TOPIC}/{partition}/{offset}", event, at))
    return Expected(rows, len(messages), deduplicated, dropped, quarantined, emails, ips)


def page(url: str) -> str:
    return urlsplit(url).path


def source(referrer: str | None) -> str:
    if not referrer:
        return "(direct)"
    host = urlsplit(referrer).hostname or ""
    return "internal" if host == "shop.example" else host.removeprefix("www.")


def price(event: dict[str, Any]) -> Decimal | None:
    return Decimal(str(event["product"]["price"])) if event.get("product") else None


def sessions(rows: list[tuple[str, dict[str, Any], datetime]]) -> dict[str, tuple[Any, ...]]:
    by_session: dict[str, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    for _, event, at in rows:
        by_session[event["session_id"]].append((at, event))
    out = {}
    for sid, events in by_session.items():
        events.sort(key=lambda e: e[0])
        kinds = Counter(e["event_type"] for _, e in events)
        revenue = sum(
            (price(e) or Decimal(0) for _, e in events if e["event_type"] == "purchase"), Decimal(0)
        )
        first = events[0][1]
        out[sid] = (
            first["user_id"],
            events[0][0],
            events[-1][0],
            source(first["referrer"]),
            page(first["url"]),
            len(events),
            kinds["page_view"],
            kinds["add_to_cart"],
            kinds["purchase"],
            revenue,
        )
    return out


def check_pipeline(project_dir: Path, kafka: KafkaBroker) -> Expected:
    """Bronze, silver, gold and the quarantine against the messages in the topic."""
    want = expected(read_topic(kafka))
    project = hw.Project(project_dir)

    def q(sql: str) -> list[tuple[Any, ...]]:
        return project.query(sql).fetchall()

    runs = q(
        "SELECT sum(rows_read), sum(rows_written), sum(rows_deduplicated), sum(rows_dropped), "
        "sum(rows_quarantined) FROM system.runs WHERE job = 'load_clicks'"
    )
    assert runs == [
        (want.read, len(want.rows), want.deduplicated, want.dropped, sum(want.quarantined.values()))
    ]
    assert (
        Counter(dict(q("SELECT reason, count(*) FROM system.quarantine GROUP BY reason"))) == want.quarantined
    )
    # Bronze: each event written once, from the first message that carried it, its IP cut to /24
    # and its email hashed (the same email always the same hash, and no two emails one hash).
    got = {
        r[0]: r[1:]
        for r in q(
            "SELECT event_id, user_id, session_id, event_type, url, referrer, event_time, ip, "
            'product.sku, product.price, "$source", "$event_time", email FROM bronze.clicks'
        )
    }
    assert len(got) == len(want.rows) == q("SELECT count(*) FROM bronze.clicks")[0][0]
    hashes: dict[str | None, str | None] = {}
    for src, e, at in want.rows:
        network = re.sub(r"\.[0-9]+$", ".0", e["ip"])
        sku = e["product"]["sku"] if e.get("product") else None
        row = (e["user_id"], e["session_id"], e["event_type"], e["url"], e["referrer"], at, network, sku)
        assert got[e["event_id"]][:8] == row
        assert got[e["event_id"]][8:11] == (price(e), src, at)
        stored = got[e["event_id"]][11]
        assert (stored is None) == (e["email"] is None)
        assert stored is None or re.fullmatch("[0-9a-f]{64}", stored)
        assert hashes.setdefault(e["email"], stored) == stored
    assert len(set(hashes.values())) == len(hashes)
    # Silver: one row per event with its page and source; one row per session.
    clicks = {
        r[0]: r[1:] for r in q("SELECT event_id, page, source, sku, revenue, event_minute FROM silver.clicks")
    }
    assert clicks == {
        e["event_id"]: (
            page(e["url"]),
            source(e["referrer"]),
            e["product"]["sku"] if e.get("product") else None,
            price(e) if e["event_type"] == "purchase" else None,
            at.replace(second=0, microsecond=0),
        )
        for _, e, at in want.rows
    }
    expected_sessions = sessions(want.rows)
    got_sessions = {
        r[0]: r[1:]
        for r in q(
            "SELECT session_id, user_id, started_at, ended_at, source, landing_page, events, page_views, "
            "add_to_carts, purchases, revenue FROM silver.sessions"
        )
    }
    assert got_sessions == expected_sessions
    # Gold.
    by_source: dict[str, list[int | Decimal]] = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for s in expected_sessions.values():
        agg = by_source[s[3]]
        agg[0] += 1
        agg[1] += s[7] > 0
        agg[2] += s[8] > 0
        agg[3] += s[9]
    traffic = q(
        "SELECT source, sessions, with_cart, with_purchase, conversion_pct, revenue FROM gold.traffic_by_source"
    )
    assert {r[0]: (r[1], r[2], r[3], r[5]) for r in traffic} == {k: tuple(v) for k, v in by_source.items()}
    for r in traffic:
        assert abs(r[4] - 100 * r[3] / r[1]) <= 0.05 + 1e-9
    views = Counter(page(e["url"]) for _, e, _ in want.rows if e["event_type"] == "page_view")
    view_sessions: dict[str, set[str]] = defaultdict(set)
    for _, e, _ in want.rows:
        if e["event_type"] == "page_view":
            view_sessions[page(e["url"])].add(e["session_id"])
    top = sorted(views.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert q("SELECT page, page_views, sessions FROM gold.top_pages ORDER BY page_views DESC, page") == [
        (p, n, len(view_sessions[p])) for p, n in top
    ]
    minutes: dict[datetime, list[Any]] = defaultdict(lambda: [0, set(), 0, Decimal(0)])
    for _, e, at in want.rows:
        m = minutes[at.replace(second=0, microsecond=0)]
        m[0] += 1
        m[1].add(e["session_id"])
        if e["event_type"] == "purchase":
            m[2] += 1
            m[3] += price(e)
    assert {
        r[0]: r[1:]
        for r in q("SELECT minute, events, sessions, purchases, revenue FROM gold.activity_per_minute")
    } == {k: (v[0], len(v[1]), v[2], v[3]) for k, v in minutes.items()}
    return want


def test_clickstream_example(tmp_path: Path, broker: KafkaBroker) -> None:
    marked, others = readme_steps()
    assert set(others) == NOT_RUN, "a README command neither marked for this test nor listed in NOT_RUN"
    assert marked[0].command == START_BROKER
    project_dir = tmp_path / "clickstream"
    shutil.copytree(EXAMPLE, project_dir, ignore=shutil.ignore_patterns(".headwater", "__pycache__"))
    env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap}
    for step in marked:
        run_step(step, project_dir, env)
    want = check_pipeline(project_dir, broker)
    assert want.read == 3000 and len(want.rows) > 2500
    assert want.deduplicated and want.dropped and len(want.quarantined) == 3
    # No email and no full IP address in clear: not in the lake's files, nor the catalog (which
    # holds small commits inline), nor the quarantine.
    texts = []
    for path in (project_dir / ".headwater").rglob("*"):
        if path.suffix == ".parquet":
            texts.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
        elif path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    project = hw.Project(project_dir)
    texts.append(json.dumps(project.query("SELECT * FROM system.quarantine").rows(), default=str))
    assert len(want.emails) > 100 and len(want.ips) > 300
    assert not {s for s in want.emails | want.ips if any(s in t for t in texts)}

    # More events (another seed) and a second run: only they are read, and every table is again
    # what the messages say (windows computed provisionally by the first run are replaced).
    more = Step(".venv/bin/python examples/clickstream/produce.py --count 500 --rate 0 --seed 8", None)
    run_step(more, project_dir, env)
    run_step(Step(".venv/bin/headwater run --once -p examples/clickstream", None), project_dir, env)
    want = check_pipeline(project_dir, broker)
    assert want.read == 3500
