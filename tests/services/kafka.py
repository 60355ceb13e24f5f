"""A real Apache Kafka broker (KRaft, one node) for the tests, run by scripts/services/kafka.sh.

The script fetches the broker's jars from Maven Central once (`make services` does it before the
tests) and runs them on the machine's Java; this module drives it and hands out clients.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "services" / "kafka.sh"
START_TIMEOUT_S = 120


class KafkaServiceError(RuntimeError):
    pass


def run_script(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run scripts/services/kafka.sh with ARGS; a failure raises with the script's own message."""
    out = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True)
    if check and out.returncode != 0:
        raise KafkaServiceError(f"kafka.sh {' '.join(args)} exited with {out.returncode}:\n{out.stderr}")
    return out


@dataclass
class KafkaBroker:
    dir: Path
    bootstrap: str
    _admin: AdminClient | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.bootstrap.rsplit(":", 1)[1])

    @property
    def pid(self) -> int | None:
        status = run_script("status", "--dir", str(self.dir), check=False)
        if status.returncode != 0:
            return None
        return int((self.dir / "kafka.pid").read_text())

    def start(self) -> None:
        """Start the broker again on the same data folder and port (after stop() or kill())."""
        out = run_script(
            "start", "--dir", str(self.dir), "--port", str(self.port), "--timeout", str(START_TIMEOUT_S)
        )
        self.bootstrap = out.stdout.strip().splitlines()[-1]
        self.wait_partitions_led()

    def wait_partitions_led(self, timeout_s: float = 30) -> None:
        """Wait until every partition of every topic answers as led by the broker.

        "Kafka Server started" comes before a restarted broker leads its partitions again: a
        client asking too early gets NOT_LEADER_FOR_PARTITION.
        """
        deadline = time.monotonic() + timeout_s
        consumer = self.consumer(**{"group.id": "headwater-tests-ready"})
        try:
            while True:
                try:
                    topics = self.admin().list_topics(timeout=5).topics
                    for name, topic in topics.items():
                        for p in topic.partitions:
                            consumer.get_watermark_offsets(TopicPartition(name, p), timeout=5)
                    return
                except KafkaException as e:
                    if time.monotonic() > deadline:
                        raise KafkaServiceError(
                            f"{self.bootstrap}: partitions not led after {timeout_s}s: {e}"
                        ) from e
                    time.sleep(0.1)
        finally:
            consumer.close()

    def stop(self) -> None:
        """A clean stop: SIGTERM, then SIGKILL if it has not stopped after 30 s."""
        self._admin = None
        run_script("stop", "--dir", str(self.dir))

    def kill(self) -> None:
        """SIGKILL, as a crash would: the next start() recovers the data folder."""
        self._admin = None
        pid = self.pid
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (self.dir / "kafka.pid").unlink(missing_ok=True)

    def conf(self, **conf: Any) -> dict[str, Any]:
        """Client settings: the bootstrap address plus CONF, as in `producer(**{"acks": "all"})`."""
        return {"bootstrap.servers": self.bootstrap, **conf}

    def admin(self) -> AdminClient:
        # Kept on the broker: a temporary AdminClient is destroyed before its futures resolve.
        if self._admin is None:
            self._admin = AdminClient(self.conf())
        return self._admin

    def producer(self, **conf: Any) -> Producer:
        return Producer(self.conf(**conf))

    def consumer(self, **conf: Any) -> Consumer:
        return Consumer(self.conf(**{"auto.offset.reset": "earliest", "enable.auto.commit": False, **conf}))

    def create_topic(self, name: str, partitions: int = 1, timeout_s: float = 30) -> None:
        """Create a topic and wait until every partition has a leader."""
        admin = self.admin()
        futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=timeout_s)
        futures[name].result(timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                topic = admin.list_topics(name, timeout=5).topics.get(name)
            except KafkaException:
                topic = None
            if (
                topic is not None
                and topic.error is None
                and len(topic.partitions) == partitions
                and all(p.leader >= 0 for p in topic.partitions.values())
            ):
                return
            if time.monotonic() > deadline:
                raise KafkaServiceError(f"topic {name}: partitions without a leader after {timeout_s}s")
            time.sleep(0.1)


def start_kafka(dir: Path, port: int | None = None) -> KafkaBroker:
    """Start a broker whose settings, data and log are in DIR (formatted on first use)."""
    args = ["start", "--dir", str(dir), "--timeout", str(START_TIMEOUT_S)]
    if port is not None:
        args += ["--port", str(port)]
    out = run_script(*args)
    return KafkaBroker(Path(dir).resolve(), out.stdout.strip().splitlines()[-1])
