"""Kafka source: one topic, every partition, read from the offsets the lake committed.

Partitions are assigned by the job itself (no group rebalancing): each starts at the lake's
position for ``<topic>/<partition>`` (the next offset to read), a partition the lake does not
know yet at its beginning. Only committed transactional messages are read (read_committed);
aborted messages and transaction markers leave gaps in the offsets, so positions are taken from
the consumer's position, never from the last offset + 1. Messages cross into the runner as
Arrow: the values as raw text (decoded like file lines), the key, timestamp and headers as the
system columns ``$kafka_key``, ``$kafka_timestamp``, ``$kafka_headers``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

import numpy as np
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from headwater.dialect.nodes import RetentionGap, StartFrom
from headwater.sources.base import Positions
from headwater.sources.collector import paused
from headwater.sources.csv_lines import REASON, split_csv
from headwater.sources.errors import SourceError
from headwater.sources.files import FILE_BITS, LINE_COLUMN, RAW_COLUMN, FileChunk, FilePosition, int64_array
from headwater.state.store import Gap

TIMEOUT_S = 5.0  # a broker that has not answered by then is unreachable
BATCH_MESSAGES = 10_000  # messages taken from the consumer at once
IDLE_S = 10.0  # draining: a partition that gives nothing for this long has no more to give
PROBE_S = 5.0  # following: how often the end offsets and the topic's partitions are asked for
_NUMBERED_PARTITIONS = 256  # see KafkaSource._numbered
FOLLOW_WAIT_S = 0.05  # following: longest wait in one read (a record waits at most this long to be handed on)
# Prefetching, overridable in CONSUMER_PROPERTIES: librdkafka's defaults keep at most 100,000
# messages queued and fetch 1 MiB a partition at a time, so a consumer busy with a batch finds
# its queue empty and waits for the broker (bench/kafka_ingest.py: 7.4 s for 1M messages with
# the defaults, 2.8 s with these; the queue stays within queued.max.messages.kbytes, 64 MiB).
FETCH = {
    "queued.min.messages": 1_000_000,
    "max.partition.fetch.bytes": 16 * 1024 * 1024,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "fetch.queue.backoff.ms": 10,
}
# Errors after which librdkafka reconnects by itself: the job waits, it does not fail.
TRANSIENT = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError._TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.REQUEST_TIMED_OUT,
}
CHECK_HINT = (
    "check that the broker is running and reachable from this machine, that HOSTS lists its "
    "host:port as the broker advertises it, and the security settings in CONSUMER_PROPERTIES"
)
SYSTEM_SCHEMA = pa.schema(
    [
        (LINE_COLUMN, pa.int64()),
        ("$kafka_key", pa.string()),
        ("$kafka_timestamp", pa.timestamp("ms", tz="UTC")),
        ("$kafka_headers", pa.map_(pa.string(), pa.string())),
    ]
)
_quiet = logging.getLogger("headwater.kafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class KafkaSource:
    def __init__(
        self,
        job: str,
        connection: str,
        hosts: tuple[str, ...],
        properties: dict[str, str],
        topic: str,
        batch_bytes: int,
        header: list[str] | None = None,
        on_gap: RetentionGap = "FAIL",
    ) -> None:
        self.job, self.connection, self.hosts, self.topic = job, connection, hosts, topic
        self.batch_bytes = batch_bytes
        self.header = header  # CSV values: their columns (else JSON)
        self.on_gap = on_gap  # ON_RETENTION_GAP
        self.gaps: list[Gap] = []  # skipped (SKIP), not yet recorded by a commit
        self.errors: list[str] = []
        conf: dict[str, Any] = {
            "group.id": f"headwater-{job}",
            **FETCH,
            **properties,
            "bootstrap.servers": ",".join(hosts),
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # An offset that is no longer there (deleted by retention) is an error, never a
            # silent jump to the partition's start or end: see _gap().
            "auto.offset.reset": "error",
            "error_cb": self._on_error,
            "logger": _quiet,
        }
        try:
            self.consumer = Consumer(conf)
        except KafkaException as e:
            err = e.args[0] if e.args else None
            text = err.str() if isinstance(err, KafkaError) else str(err)
            for value in properties.values():  # a value is never shown
                if value:
                    text = text.replace(value, "***")
            raise SourceError(
                f"job {job}: the Kafka client refused the settings of connection {connection}: {text}",
                hint="fix CONSUMER_PROPERTIES (librdkafka's property names and values)",
            ) from None
        self._known: list[int] | None = None
        self.ends: dict[int, int] = {}  # partition -> high watermark when opened (following: last asked)
        self.positions: dict[int, int] = {}
        self.following = False  # in ``follow``: commits to the group do not wait for the broker
        self.connected = True  # following: whether the broker answers (else librdkafka retries)
        self.since = time.time()  # when ``connected`` last changed
        self.checked = 0.0  # following: when the end offsets were last asked for (epoch seconds)
        self._all = np.empty(0, np.int64)  # see _numbered

    def _on_error(self, err: KafkaError) -> None:
        self.errors.append(err.str())
        del self.errors[:-20]
        if err.code() in TRANSIENT:
            self._connection(False)

    def _connection(self, up: bool) -> None:
        if up != self.connected:
            self.connected, self.since = up, time.time()

    # -- metadata ---------------------------------------------------------------------------
    def _unreachable(self, what: str, e: KafkaException | None = None) -> SourceError:
        seen = "no answer"
        if self.errors:
            seen = self.errors[-1]
        elif e is not None:
            err = e.args[0] if e.args else None
            seen = err.str() if isinstance(err, KafkaError) else str(err)
        return SourceError(
            f"job {self.job}: Kafka connection {self.connection} (HOSTS {', '.join(self.hosts)}) did not "
            f"answer {what} within {TIMEOUT_S:g} s: {seen}",
            hint=CHECK_HINT,
        )

    @property
    def partitions(self) -> list[int]:
        """The topic's partitions (asked once: a partition added later is read from the next run)."""
        if self._known is None:
            self._known = self._partitions()
        return self._known

    def _partitions(self) -> list[int]:
        try:
            meta = self.consumer.list_topics(self.topic, timeout=TIMEOUT_S)
        except KafkaException as e:
            raise self._unreachable("a metadata request", e) from None
        if not meta.brokers:
            raise self._unreachable("a metadata request")
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise SourceError(
                f"job {self.job}: topic {self.topic!r} does not exist on Kafka connection {self.connection} "
                f"(HOSTS {', '.join(self.hosts)})",
                hint="create the topic, or fix TOPIC in the job",
            )
        return sorted(topic.partitions)

    def _watermarks(self, partition: int) -> tuple[int, int]:
        try:
            low, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=TIMEOUT_S, cached=False
            )
        except KafkaException as e:
            raise self._unreachable(f"for the offsets of {self.topic}/{partition}", e) from None
        return int(low), int(high)

    def name(self, partition: int) -> str:
        return f"{self.topic}/{partition}"

    # -- the protocol -----------------------------------------------------------------------
    def start(self, start_from: StartFrom | None) -> Positions:
        marks: Positions = {}
        for p in self.partitions:
            low, high = self._watermarks(p)
            if start_from is None or start_from.kind == "BEGINNING":
                offset = low
            elif start_from.kind == "NOW":
                offset = high
            else:
                offset = self._offset_at(p, _millis(str(start_from.timestamp)), high)
            marks[self.name(p)] = (offset, offset)
        return marks

    def _offset_at(self, partition: int, millis: int, high: int) -> int:
        try:
            found = self.consumer.offsets_for_times(
                [TopicPartition(self.topic, partition, millis)], timeout=TIMEOUT_S
            )[0]
        except KafkaException as e:
            raise self._unreachable(f"for the offsets of {self.topic}/{partition} by time", e) from None
        return high if found.offset < 0 else int(found.offset)

    def open(self, committed: Positions) -> None:
        assign = []
        for p in self.partitions:
            low, high = self._watermarks(p)
            at = committed.get(self.name(p), (low, low))[0]
            if at < low:
                at = self._gap(p, at, low)
            if at > high:
                raise self._truncated(p, at, high)
            self.ends[p] = high
            self.positions[p] = at
            assign.append(TopicPartition(self.topic, p, at))
        self.consumer.assign(assign)

    def _gap(self, partition: int, first: int, low: int) -> int:
        """Offsets ``first`` to ``low - 1`` of the partition were deleted before the job read
        them: stop (ON_RETENTION_GAP = FAIL), or go on from ``low`` (SKIP), the gap to be
        recorded in system.gaps by the commit that moves the job's position past it."""
        if self.on_gap != "SKIP":
            raise SourceError(
                f"job {self.job} stopped: messages {first} to {low - 1} of topic {self.topic} partition "
                f"{partition} were deleted (the topic's retention) before the job read them; nothing was skipped",
                hint="restore them into the topic and run again; or, to accept losing them, set "
                f"ON_RETENTION_GAP = SKIP on job {self.job} and run: it goes on from offset {low} and "
                "records the gap in system.gaps",
            )
        self.gaps.append(Gap(self.name(partition), first, low - 1))
        return low

    def _truncated(self, partition: int, at: int, high: int) -> SourceError:
        return SourceError(
            f"job {self.job}: the lake has read topic {self.topic} partition {partition} up to offset {at}, "
            f"but the partition ends at {high}: was the topic deleted and created again?",
            hint="re-create the job (a new name) to read the new topic from its start",
        )

    def _out_of_range(self, partition: int, offset: int) -> None:
        """While reading, the broker no longer has ``offset`` (the consumer stopped there:
        ``auto.offset.reset=error``): the same as a gap found when opening."""
        low, high = self._watermarks(partition)
        if offset >= low:
            raise self._truncated(partition, offset, high)
        at = self._gap(partition, offset, low)
        # Read on from there; the position moves to `at` with the chunks (see poll).
        self.positions[partition] = at
        tp = TopicPartition(self.topic, partition)
        try:
            self.consumer.incremental_unassign([tp])
            self.consumer.incremental_assign([TopicPartition(self.topic, partition, at)])
        except KafkaException as e:
            raise self._unreachable(f"for {self.topic}/{partition}", e) from None

    def lag(self) -> dict[str, int]:
        return {self.name(p): max(0, self.ends[p] - at) for p, at in self.positions.items()}

    def poll(self, *, drain: bool) -> Iterator[FileChunk]:
        """Chunks of at most BATCH_MESSAGES messages, until every partition has reached the end
        it had when opened (or has given nothing for IDLE_S), with or without ``drain``: what
        arrives later is for the next pass."""
        pending = {p for p, at in self.positions.items() if at < self.ends[p]}
        quiet_since = time.monotonic()
        moved: dict[int, int] = {}  # positions not handed out with a chunk yet
        while pending:
            try:
                with paused():
                    messages = self.consumer.consume(num_messages=BATCH_MESSAGES, timeout=0.5)
            except KafkaException as e:
                raise self._unreachable("while reading", e) from None
            good = _good(messages, self)
            now = self._advance()
            if good or now:
                quiet_since = time.monotonic()
            moved.update(now)
            pending = {p for p in pending if self.positions[p] < self.ends[p]}
            if good:
                yield from self._chunks(good, moved)
                moved = {}
                quiet_since = time.monotonic()  # (the time the runner took with them is not idle)
            if time.monotonic() - quiet_since > IDLE_S:
                break  # e.g. an open transaction holds the partition back: the rest waits
        if moved:  # moved past transaction markers or aborted messages only: no records
            yield self._positions_only(moved)

    def follow(self, stop: threading.Event) -> Iterator[FileChunk | None]:
        """Chunks of new records as they arrive, for ever (until ``stop``); ``None`` when a
        read gave nothing. A broker that goes away is waited for (librdkafka reconnects; the
        positions stay where they were): ``connected`` says so. The end offsets, and partitions
        added to the topic (read from their beginning), are asked for every PROBE_S."""
        probed = 0.0
        self.following = True
        while not stop.is_set():
            if time.monotonic() - probed >= (PROBE_S if self.connected else 1.0):
                self._probe()
                probed = time.monotonic()
            try:
                # (a short wait: what arrived is handed on at once, and read again in the next call)
                with paused():
                    messages = self.consumer.consume(num_messages=BATCH_MESSAGES, timeout=FOLLOW_WAIT_S)
            except KafkaException:
                self._connection(False)
                yield None
                continue
            good = _good(messages, self, following=True)
            if good:
                self._connection(True)
            moved = self._advance()
            if good:
                for p in {int(m.partition() or 0) for m in good}:
                    self.ends[p] = max(self.ends.get(p, 0), self.positions[p])
                yield from self._chunks(good, moved)
            elif moved:
                yield self._positions_only(moved)
            else:
                yield None

    def _probe(self) -> None:
        """Following: the end offsets now (for lag) and partitions the topic has gained."""
        try:
            meta = self.consumer.list_topics(self.topic, timeout=2.0)
            topic = meta.topics.get(self.topic)
            if not meta.brokers or topic is None or topic.error is not None:
                raise KafkaException(KafkaError(KafkaError._TRANSPORT))
            added = sorted(set(topic.partitions) - set(self.positions))
            ends = {}
            for p in [*self.positions, *added]:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=2.0, cached=False
                )
                ends[p] = int(high)
                if p in added:
                    self.positions[p] = int(low)
        except KafkaException:
            self._connection(False)
            return
        if added:
            self.consumer.incremental_assign(
                [TopicPartition(self.topic, p, self.positions[p]) for p in added]
            )
            self._known = sorted(self.positions)
        self.ends.update(ends)
        self.checked = time.time()
        self._connection(True)

    def _advance(self) -> dict[int, int]:
        """The partitions whose position moved, with the new position (the next offset)."""
        moved = {}
        for tp in self.consumer.position([TopicPartition(self.topic, p) for p in self.positions]):
            if tp.offset >= 0 and tp.offset != self.positions[tp.partition]:
                self.positions[tp.partition] = moved[tp.partition] = int(tp.offset)
        return moved

    def _positions_only(self, moved: dict[int, int]) -> FileChunk:
        lines = int64_array(np.empty(0, np.int64))
        positions = tuple((self.name(p), FilePosition(at, at)) for p, at in sorted(moved.items()))
        empty = pa.array([], pa.large_string())
        if self.header is None:
            table = pa.table({LINE_COLUMN: lines, RAW_COLUMN: empty})
        else:
            table = pa.table(
                {**{c: pa.array([], pa.string()) for c in self.header}, LINE_COLUMN: lines, RAW_COLUMN: empty}
            )
        return FileChunk(
            self.topic,
            "JSON" if self.header is None else "CSV",
            table,
            positions[0][1],
            positions[0][1],
            0,
            parts=positions,
            source_prefixes=(f"kafka:{self.topic}/",),
            system=SYSTEM_SCHEMA.empty_table(),
        )

    def _chunks(self, messages: list[Message], moved: dict[int, int]) -> Iterator[FileChunk]:
        """The messages of one consume() as chunks of about ``batch_bytes``. A chunk's position
        in a partition is the offset of the partition's next message in a later chunk, else
        the consumer's position (past aborted messages and transaction markers)."""
        with paused():
            arrays = self._arrays(messages)
        yield from self._cut(messages, moved, *arrays)

    def _arrays(self, messages: list[Message]) -> tuple[Any, ...]:
        n = len(messages)
        # Each field taken once, message by message (confluent-kafka gives nothing else; map
        # over the C methods: no Python frame per message), then everything as arrays.
        parts = np.fromiter(map(Message.partition, messages), np.int64, n)
        offsets = np.fromiter(map(Message.offset, messages), np.int64, n)
        given = list(map(Message.value, messages))
        # (a tombstone has no value)
        values = cast(list[bytes], [v or b"" for v in given] if None in given else given)
        sizes = np.cumsum(np.fromiter(map(len, values), np.int64, n))
        # (timestamp type, milliseconds) per message; type 0: none
        stamps = np.fromiter(itertools.chain.from_iterable(map(Message.timestamp, messages)), np.int64, 2 * n)
        kinds, times = stamps[0::2], stamps[1::2]
        times = np.where(kinds != 0, times, 0)
        found = list(map(Message.headers, messages))
        headers_type = SYSTEM_SCHEMA.field("$kafka_headers").type
        columns = [
            _texts(list(map(Message.key, messages))),
            pa.array(times, pa.int64(), mask=kinds == 0).cast(SYSTEM_SCHEMA.field("$kafka_timestamp").type),
            pa.array([_headers(h) for h in found], headers_type) if any(found) else pa.nulls(n, headers_type),
        ]
        raw = None if self.header is not None else pa.array(values, pa.large_binary()).view(pa.large_string())
        return parts, offsets, values, sizes, times, columns, raw

    def _cut(
        self,
        messages: list[Message],
        moved: dict[int, int],
        parts: np.ndarray,
        offsets: np.ndarray,
        values: list[bytes],
        sizes: np.ndarray,
        times: np.ndarray,
        columns: list[pa.Array],
        raw: pa.Array | None,
    ) -> Iterator[FileChunk]:
        n = len(messages)
        step = max(1, self.batch_bytes)
        cuts = [0, *(np.flatnonzero(np.diff(sizes // step)) + 1).tolist(), n]
        where = {int(p): np.flatnonzero(parts == p) for p in np.unique(parts)}
        for start, end in itertools.pairwise(cuts):
            if end <= start:
                continue
            ends = dict(moved) if end == n else {}
            present = np.unique(parts[start:end])
            for p in present.tolist():
                later = where[p][np.searchsorted(where[p], end) :]
                ends[p] = int(offsets[later[0]]) if len(later) else moved.get(p, self.positions[p])
            numbered = self._numbered(present)
            number = (
                parts[start:end] if numbered is not present else np.searchsorted(present, parts[start:end])
            )
            lines = int64_array((number << FILE_BITS) | offsets[start:end])
            rejected = None
            if raw is None:
                assert self.header is not None
                table, rejected = csv_values(values[start:end], lines, self.header)
            else:
                table = pa.table({LINE_COLUMN: lines, RAW_COLUMN: raw.slice(start, end - start)})
            system = pa.table([lines, *(c.slice(start, end - start) for c in columns)], schema=SYSTEM_SCHEMA)
            positions = tuple((self.name(p), FilePosition(at, at)) for p, at in sorted(ends.items()))
            part_of, time_of = parts[start:end], times[start:end]
            latest = tuple(
                (self.name(p), float(time_of[part_of == p].max()) / 1000) for p in present.tolist()
            )
            yield FileChunk(
                self.topic,
                "JSON" if self.header is None else "CSV",
                table,
                positions[0][1],
                positions[0][1],
                int(sizes[end - 1] - (sizes[start - 1] if start else 0)),
                rejected,
                parts=positions,
                source_prefixes=tuple(f"kafka:{self.name(p)}/" for p in numbered.tolist()),
                system=system,
                stamps=latest,
            )

    def _numbered(self, present: np.ndarray) -> np.ndarray:
        """The partitions a chunk's lines are numbered by (``__hw_line >> FILE_BITS`` indexes
        them): all of the topic's, 0 to the highest, so that consecutive chunks share them and
        are merged without renumbering (``sources.merge``); for a topic with very many
        partitions, only those in the chunk (``present`` itself)."""
        top = max(self.positions, default=0)
        if top >= _NUMBERED_PARTITIONS or int(present.max(initial=0)) > top:
            return present
        if len(self._all) != top + 1:
            self._all = np.arange(top + 1, dtype=np.int64)
        return self._all

    def committed(self, positions: Positions) -> None:
        """Also commit the offsets to the consumer group, for Kafka's lag tools (the lake's
        are the ones the job reads on from: a failure here changes nothing)."""
        mine = [
            TopicPartition(self.topic, int(name.rpartition("/")[2]), at)
            for name, (at, _) in positions.items()
            if name.startswith(self.topic + "/")
        ]
        if mine:
            with contextlib.suppress(KafkaException):
                if self.following:
                    self.consumer.commit(offsets=mine, asynchronous=True)
                else:
                    self.consumer.commit(offsets=mine, asynchronous=False)

    def close(self) -> None:
        self.consumer.close()


def csv_values(values: list[bytes], lines: pa.Array, header: list[str]) -> tuple[pa.Table, pa.Table]:
    """CSV values (one record each, no header) as the text columns ``header`` + rejected ones.
    They are read together, one per line; a value with a line break in it is rejected first."""
    numbers = np.asarray(lines.to_numpy(), np.int64)
    body = b"\n".join(values) + b"\n"
    broken = np.zeros(len(values), bool)
    if body.count(b"\n") != len(values) or b"\r" in body:  # (rare: only then value by value)
        broken = np.fromiter((b"\n" in v or b"\r" in v for v in values), bool, len(values))
        body = b"".join(v + b"\n" for v, bad in zip(values, broken, strict=True) if not bad)
    kept = numbers[~broken]
    table, rejected = split_csv(body, 0, header, ",", LINE_COLUMN, RAW_COLUMN)
    table = table.set_column(
        table.schema.get_field_index(LINE_COLUMN),
        LINE_COLUMN,
        int64_array(kept[np.asarray(table[LINE_COLUMN].to_numpy(), np.int64)]),
    )
    rejected = rejected.set_column(
        rejected.schema.get_field_index(LINE_COLUMN),
        LINE_COLUMN,
        int64_array(kept[np.asarray(rejected[LINE_COLUMN].to_numpy(), np.int64)]),
    )
    if broken.any():
        texts = [v.decode("utf-8", "replace") for v, bad in zip(values, broken, strict=True) if bad]
        more = pa.table(
            {
                LINE_COLUMN: int64_array(numbers[broken]),
                RAW_COLUMN: pa.array(texts, rejected.schema.field(RAW_COLUMN).type),
                REASON: pa.array(["a CSV value with a line break"] * len(texts), pa.string()),
            }
        )
        rejected = pa.concat_tables([rejected, more.select(rejected.column_names).cast(rejected.schema)])
    return table, rejected


def _good(messages: list[Message], source: KafkaSource, *, following: bool = False) -> list[Message]:
    """The messages that are records (errors and end-of-partition events acted on and left out)."""
    if not any(map(Message.error, messages)):  # (the usual case: checked without a Python frame each)
        return messages
    return [m for m in messages if _check(m, source, following=following)]


def _check(message: Message, source: KafkaSource, *, following: bool = False) -> bool:
    err = message.error()
    if err is None:
        return True
    if err.code() == KafkaError._PARTITION_EOF:
        return False
    if following and err.code() in TRANSIENT:
        source._connection(False)
        return False
    partition, offset = message.partition(), message.offset()
    if (
        err.code() == KafkaError._AUTO_OFFSET_RESET
        and partition is not None
        and offset is not None
        and offset >= 0
    ):
        source._out_of_range(partition, offset)
        return False
    raise SourceError(
        f"job {source.job}: reading topic {source.topic} partition {message.partition()} from Kafka "
        f"connection {source.connection} failed: {err.str()}",
        hint=CHECK_HINT,
    )


def _texts(values: list[bytes | None]) -> pa.Array:
    """Keys as text (a key that is not UTF-8 keeps its bytes as \\x escapes)."""
    binary = pa.array(values, pa.binary())
    try:
        return binary.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array(
            [None if v is None else v.decode("utf-8", "backslashreplace") for v in values], pa.string()
        )


def _headers(
    headers: list[tuple[str, str | bytes | None]] | dict[str, str | bytes | None] | None,
) -> list[tuple[str, str | None]] | None:
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, dict) else headers
    # A key given twice keeps its last value (a MAP has one value per key).
    kept = {k: (v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else v) for k, v in pairs}
    return list(kept.items())


def _millis(text: str) -> int:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        from datetime import UTC

        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)
