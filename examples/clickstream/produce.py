"""Click events for the clickstream example: visitors browsing a web shop, sent to a Kafka topic.

    python examples/clickstream/produce.py [--bootstrap HOST:PORT] [--topic clicks]
        [--count N] [--rate R] [--dirty F] [--seed S] [--partitions P] [--create-topic]

Each message is one JSON event keyed by its visitor's id (so a visitor's events stay in order
in one partition):

    {"event_id": "e-7-00000042", "user_id": 1017, "session_id": "s-7-000007",
     "event_type": "add_to_cart", "url": "https://shop.example/products/sku-1042",
     "referrer": "https://shop.example/category/shoes",
     "event_time": "2026-11-30T14:40:16.123456Z", "ip": "203.0.113.57",
     "email": "vera.1017@inbox.example", "user_agent": "Mozilla/5.0 (...)",
     "product": {"sku": "sku-1042", "price": 59.9}}

Visitors come from a search engine, social media, the newsletter, or directly; each session
starts on a landing page and may go on to products, the cart and a purchase. About ``--dirty``
of the messages (default 4 %) are the kind of mess a real collector lets through, each kind in
equal parts: a truncated copy of an event (not JSON), an event whose ``event_time`` is not a
timestamp, an event type the pipeline does not know (``hover``), a crawler's page view (its
user agent says ``bot``), and an exact re-send of an event already sent.

Event and session ids carry the seed. The same ``--seed`` and ``--count`` give the same
messages (a new seed is drawn when none is given), except for the times: event times
start at the moment the script starts and advance by 1/``--rate`` seconds a message (1 ms
with ``--rate 0``, which sends as fast as the broker takes them). ``--count 0`` sends until
interrupted. The topic is created (``--partitions``, default 3) if it does not exist;
``--create-topic`` only creates it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

SITE = "https://shop.example"
SOURCES = (  # where a session comes from: its first page's referrer, and how often
    ("https://www.google.com/search?q=running+shoes", 35),
    ("https://www.bing.com/search?q=trail+shoes", 8),
    ("https://www.facebook.com/", 12),
    ("https://t.co/x4Yz", 7),
    ("https://mail.example/newsletter/2026-11", 10),
    (None, 28),  # typed in, or a bookmark: no referrer
)
LANDINGS = ("/", "/category/shoes", "/category/jackets", "/products/sku-1001", "/sale")
PRODUCTS = {f"sku-{1000 + i}": round(19.9 + 10 * (i % 9), 2) for i in range(1, 25)}
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
DIRT = ("truncated", "bad_time", "unknown_type", "bot", "resend")
ACTIVE_SESSIONS = 40  # sessions browsing at the same time


@dataclass
class Session:
    number: int
    user_id: int
    email: str | None
    ip: str
    agent: str
    referrer: str | None
    steps: list[tuple[str, str, str | None]]  # (event_type, path, sku)
    done: int = 0
    last_url: str | None = None


def new_session(rng: random.Random, number: int) -> Session:
    """A visitor's session: the pages it will see and what it does on them."""
    user_id = rng.randint(1, 3000)
    logged_in = rng.random() < 0.4
    names = ("vera", "ola", "sami", "ines", "tom", "lin", "ada", "kofi", "mia", "raj")
    email = (
        f"{rng.choice(names)}.{user_id}@{rng.choice(('inbox.example', 'mail.example'))}"
        if logged_in
        else None
    )
    ip = f"{rng.choice((81, 92, 151, 185, 203))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    referrer = rng.choices([s for s, _ in SOURCES], [w for _, w in SOURCES])[0]
    steps: list[tuple[str, str, str | None]] = [("page_view", rng.choice(LANDINGS), None)]
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.55:
            sku = rng.choice(list(PRODUCTS))
            steps.append(("page_view", f"/products/{sku}", None))
        elif kind < 0.8:
            steps.append(("click", steps[-1][1], None))
        else:
            sku = rng.choice(list(PRODUCTS))
            steps.append(("add_to_cart", f"/products/{sku}", sku))
    carted = [sku for kind, _, sku in steps if kind == "add_to_cart" and sku]
    if carted and rng.random() < 0.45:
        steps.append(("page_view", "/cart", None))
        steps.append(("purchase", "/checkout", carted[-1]))
    return Session(number, user_id, email, ip, rng.choice(BROWSERS), referrer, steps)


def events(seed: int, dirty: float) -> Iterator[tuple[str, str | dict[str, object]]]:
    """(key, event) forever: an event is a dict, or a str for a value that is not JSON."""
    rng = random.Random(seed)
    sessions: list[Session] = []
    started = 0
    number = 0
    last: tuple[str, dict[str, object]] | None = None
    while True:
        while len(sessions) < ACTIVE_SESSIONS:
            started += 1
            sessions.append(new_session(rng, started))
        if last is not None and rng.random() < dirty:
            kind = rng.choice(DIRT)
            key, sent = last
            number += 1
            if kind == "truncated":  # a collector cut the line short
                yield key, json.dumps(sent)[: rng.randint(10, 60)]
                continue
            if kind == "resend":  # an exact copy: same event id
                yield key, dict(sent)
                continue
            if kind == "bot":
                yield (
                    "0",
                    {
                        "event_id": f"e-{seed}-{number:08d}",
                        "user_id": None,
                        "session_id": f"bot-{seed}-{number:08d}",
                        "event_type": "page_view",
                        "url": f"{SITE}{rng.choice(LANDINGS)}",
                        "referrer": None,
                        "event_time": sent["event_time"],
                        "ip": "66.249.66.1",
                        "email": None,
                        "user_agent": BOT,
                    },
                )
                continue
            odd = dict(sent, event_id=f"e-{seed}-{number:08d}")
            if kind == "bad_time":  # a client that sends its local format: 30/11/2026 14:40
                at = datetime.fromisoformat(str(sent["event_time"]).replace("Z", "+00:00"))
                odd["event_time"] = at.strftime("%d/%m/%Y %H:%M")
            else:  # unknown_type: a newer client's event
                odd["event_type"] = "hover"
            yield key, odd
            continue
        s = sessions[rng.randrange(len(sessions))]
        kind, path, sku = s.steps[s.done]
        number += 1
        url = f"{SITE}{path}"
        event: dict[str, object] = {
            "event_id": f"e-{seed}-{number:08d}",
            "user_id": s.user_id,
            "session_id": f"s-{seed}-{s.number:06d}",
            "event_type": kind,
            "url": url,
            "referrer": s.referrer if s.done == 0 else s.last_url,
            "event_time": "",  # set when sent
            "ip": s.ip,
            "email": s.email,
            "user_agent": s.agent,
        }
        if sku is not None:
            event["product"] = {"sku": sku, "price": PRODUCTS[sku]}
        s.done += 1
        s.last_url = url
        if s.done == len(s.steps):
            sessions.remove(s)
        last = (str(s.user_id), event)
        yield last


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> bool:
    """Create the topic unless it exists; returns whether it was created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        if topic in admin.list_topics(timeout=10).topics:
            return False
        admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=30)
    except KafkaException as e:
        sys.exit(f"produce.py: cannot create topic {topic} on {bootstrap}: {e}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until every partition has a leader
        meta = admin.list_topics(topic, timeout=10).topics.get(topic)
        if meta and meta.error is None and all(p.leader >= 0 for p in meta.partitions.values()):
            return True
        time.sleep(0.1)
    sys.exit(f"produce.py: topic {topic} has partitions without a leader after 30 s")


def produce(args: argparse.Namespace) -> int:
    # Idempotent: a retry inside the client never writes a message twice (the re-sends in the
    # data are on purpose). Log level 3: errors only, not the broker's transient warnings.
    producer = Producer(
        {"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "linger.ms": 20, "log_level": 3}
    )
    step = timedelta(seconds=1 / args.rate) if args.rate > 0 else timedelta(milliseconds=1)
    start = datetime.now(UTC)
    began = time.monotonic()
    stop = False

    def interrupted(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    sent = 0
    for key, event in events(args.seed, args.dirty):
        if stop or (args.count and sent >= args.count):
            break
        if isinstance(event, dict) and event["event_time"] == "":
            event["event_time"] = (
                (start + sent * step).isoformat(timespec="microseconds").replace("+00:00", "Z")
            )
        value = event if isinstance(event, str) else json.dumps(event)
        while True:
            try:
                producer.produce(args.topic, value=value, key=key)
                break
            except BufferError:  # the client's queue is full: let it send
                producer.poll(0.1)
        sent += 1
        producer.poll(0)
        if args.rate > 0:
            ahead = began + sent / args.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    left = producer.flush(30)
    if left:
        sys.exit(f"produce.py: {left} messages not acknowledged by {args.bootstrap} after 30 s")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        help="the broker, host:port (default: $KAFKA_BOOTSTRAP, else 127.0.0.1:9092)",
    )
    parser.add_argument("--topic", default="clicks")
    parser.add_argument("--partitions", type=int, default=3, help="for a topic that does not exist yet")
    parser.add_argument("--count", type=int, default=2000, help="messages to send; 0: until interrupted")
    parser.add_argument("--rate", type=float, default=500, help="messages per second; 0: as fast as possible")
    parser.add_argument("--dirty", type=float, default=0.04, help="the share of messages that are dirty")
    parser.add_argument(
        "--seed", type=int, help="the same seed sends the same events again (default: a new one each time)"
    )
    parser.add_argument("--create-topic", action="store_true", help="only create the topic")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    created = ensure_topic(args.bootstrap, args.topic, args.partitions)
    if args.create_topic:
        print(f"topic {args.topic} {'created' if created else 'exists already'} on {args.bootstrap}")
        return
    started = time.monotonic()
    sent = produce(args)
    print(f"sent {sent:,} messages to {args.topic} on {args.bootstrap} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
