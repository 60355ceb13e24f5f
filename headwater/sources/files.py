"""Files source: JSON lines, CSV and Parquet files under a folder, read from where the job left off.

Positions are per file (the *partition*): the byte offset just after the last complete record
read, and the number of the next line. A file that grows is read on from its offset; a file
already read to its end is not read again. Records cross package boundaries as Arrow tables.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from headwater.sources.csv_lines import split_csv
from headwater.sources.errors import SourceError
from headwater.sources.keys import stored_name
from headwater.sources.long_lines import line_length, rejected_long_line

Format = Literal["JSON", "CSV", "PARQUET"]
LINE_COLUMN = "__hw_line"
RAW_COLUMN = "__hw_raw"

_EXTENSIONS: dict[str, Format] = {
    ".json": "JSON",
    ".jsonl": "JSON",
    ".ndjson": "JSON",
    ".csv": "CSV",
    ".tsv": "CSV",
    ".parquet": "PARQUET",
    ".pq": "PARQUET",
}
# A file whose tail has no newline yet is read to its end once it has been quiet this long
# (or always, when draining with `run --once`).
SETTLE_SECONDS = 2.0
# A large file is read this much at a time (whole lines; a longer line is read whole, up to
# batch_bytes). A chunk's classification holds a few times its size in memory: chunks of a
# bounded size keep a run's memory bounded, however large its files. (Smaller reads cost
# throughput: each chunk is a few queries with fixed costs, and fewer rows keep fewer
# threads busy. docs/benchmarks.md has the measurements.)
READ_BYTES = 64 * 1024 * 1024
# Rows of an Arrow record batch of lines: DuckDB scans an Arrow table a record batch at a time
# per thread, so a chunk is cut in many for the threads to share evenly.
ARROW_BATCH_ROWS = 8_192


@dataclass(frozen=True)
class FilePosition:
    offset: int  # bytes (JSON/CSV) or rows (Parquet) consumed
    line: int  # number of the next line (JSON/CSV) or row (Parquet), 1-based


FILE_BITS = 40  # in a chunk of several files, __hw_line is (file number << FILE_BITS) | line
_LINE_MASK = (1 << FILE_BITS) - 1


@dataclass(frozen=True)
class Sources:
    """How a chunk's ``__hw_line`` values become ``$source`` texts: ``prefix || line`` for one
    file; for several, the file number in the high bits picks the prefix."""

    prefixes: tuple[str, ...]

    def __post_init__(self) -> None:
        # A file name that is not UTF-8 (its bytes as surrogates) is shown with \x escapes.
        object.__setattr__(self, "prefixes", tuple(map(_printable, self.prefixes)))

    @property
    def several(self) -> bool:
        return len(self.prefixes) > 1

    def sql(self, line: str) -> str:
        """SQL for the $source of the line in SQL expression ``line``."""
        if not self.several:
            return f"{_literal(self.prefixes[0])} || {line}"
        items = ", ".join(_literal(p) for p in self.prefixes)
        return f"[{items}][({line} >> {FILE_BITS}) + 1] || ({line} & {_LINE_MASK})"

    def arrow(self, lines: pa.Array | pa.ChunkedArray) -> pa.Array:
        """The $source of each line, as a string array."""
        values = np.asarray(lines.to_numpy(), dtype=np.int64)
        if not self.several:
            texts = pc.cast(int64_array(values), pa.string())
            return pc.binary_join_element_wise(pa.scalar(self.prefixes[0]), texts, "")
        prefixes = pa.array(self.prefixes, pa.string()).take(int64_array(values >> FILE_BITS))
        texts = pc.cast(int64_array(values & _LINE_MASK), pa.string())
        return pc.binary_join_element_wise(prefixes, texts, "")

    def text(self, line: int) -> str:
        if not self.several:
            return f"{self.prefixes[0]}{line}"
        return f"{self.prefixes[line >> FILE_BITS]}{line & _LINE_MASK}"

    def describe(self) -> str:
        """The file(s), for messages."""
        names = [p.removeprefix("file:").rstrip(":") for p in self.prefixes]
        return names[0] if len(names) == 1 else f"{names[0]} (and {len(names) - 1} more files)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _printable(text: str) -> str:
    """``text`` as valid UTF-8: bytes a file name carries as surrogates become ``\\xNN``."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


@dataclass
class FileChunk:
    """New records of one file, or of several small ones (``parts``). ``table`` has
    ``__hw_line`` plus either ``__hw_raw`` (one JSON text per line) or the parsed columns (CSV,
    Parquet)."""

    partition: str  # the file's path as shown in $source
    format: Format
    table: pa.Table
    start: FilePosition
    end: FilePosition
    nbytes: int
    rejected: pa.Table | None = None  # lines that are not records: __hw_line, __hw_raw, __hw_reason
    source_prefix: str | None = None  # $source = prefix || line; default file:<partition>:
    tracked: bool = True  # False for records replayed from the quarantine: no position to save
    parts: tuple[tuple[str, FilePosition], ...] = ()  # several files: (partition, end) of each
    # Other sources: the $source prefixes (several: the prefix number is in __hw_line's high
    # bits, as for several files), and their system columns by __hw_line ($kafka_key...).
    source_prefixes: tuple[str, ...] = ()
    system: pa.Table | None = None
    # Streams: per partition, the time (epoch seconds) of the latest record in the chunk.
    stamps: tuple[tuple[str, float], ...] = ()

    @property
    def prefix(self) -> str:
        return self.source_prefix if self.source_prefix is not None else f"file:{self.partition}:"

    @property
    def sources(self) -> Sources:
        if self.source_prefixes:
            return Sources(self.source_prefixes)
        if self.parts:
            return Sources(tuple(f"file:{partition}:" for partition, _ in self.parts))
        return Sources((self.prefix,))

    def positions(self) -> list[tuple[str, FilePosition]]:
        """The position of each file read, once this chunk is committed."""
        if not self.tracked:
            return []
        return list(self.parts) if self.parts else [(self.partition, self.end)]


def combine(chunks: Iterable[FileChunk], limit: int, max_files: int = 1000) -> Iterator[FileChunk]:
    """Consecutive chunks smaller than ``limit`` bytes, of the same kind (JSON; CSV with the same
    header and delimiter; Parquet with the same schema), as one chunk of at most ``limit`` bytes
    and ``max_files`` files: each chunk is a DuckDB query with fixed costs, which a folder of many
    small files would otherwise pay per file. Others pass as they are."""
    pending: list[FileChunk] = []
    kind: tuple[object, ...] | None = None
    size = 0

    def flush() -> Iterator[FileChunk]:
        nonlocal pending, size, kind
        if len(pending) == 1:
            yield pending[0]
        elif pending:
            yield _combined(pending)
        pending, size, kind = [], 0, None

    for chunk in chunks:
        key = _kind(chunk)
        if key is None or chunk.nbytes >= limit:
            yield from flush()
            yield chunk
            continue
        if key != kind or size + chunk.nbytes > limit or len(pending) >= max_files:
            yield from flush()
        pending.append(chunk)
        kind = key
        size += chunk.nbytes
    yield from flush()


def _kind(chunk: FileChunk) -> tuple[object, ...] | None:
    """Chunks of the same kind can be read as one (None: this one cannot)."""
    if not chunk.tracked or chunk.parts or chunk.source_prefix is not None:
        return None
    if chunk.format == "CSV":
        return ("CSV", chunk.partition.lower().endswith(".tsv"), tuple(chunk.table.column_names))
    if chunk.format == "PARQUET":
        return ("PARQUET", str(chunk.table.schema))
    return (chunk.format,)


def _numbered(table: pa.Table, number: int) -> pa.Table:
    """``table`` with its line numbers moved into file ``number``'s range."""
    lines = np.concatenate([c.to_numpy() for c in table[LINE_COLUMN].chunks] or [np.empty(0, np.int64)])
    encoded = int64_array((np.int64(number) << FILE_BITS) | lines)
    return table.set_column(table.schema.get_field_index(LINE_COLUMN), LINE_COLUMN, encoded)


def _combined(chunks: list[FileChunk]) -> FileChunk:
    tables = [_numbered(c.table, n) for n, c in enumerate(chunks)]
    rejected = [_numbered(c.rejected, n) for n, c in enumerate(chunks) if c.rejected is not None]
    first, last = chunks[0], chunks[-1]
    return FileChunk(
        first.partition,
        first.format,
        pa.concat_tables(tables),
        first.start,
        last.end,
        sum(c.nbytes for c in chunks),
        pa.concat_tables(rejected) if rejected else None,
        parts=tuple((c.partition, c.end) for c in chunks),
    )


def detect_format(path: Path, content_type: str) -> Format | None:
    if content_type != "AUTO":
        return content_type  # type: ignore[return-value]
    return _EXTENSIONS.get(path.suffix.lower())


class FilesSource:
    def __init__(
        self, root: Path, display_root: str, pattern: str | None, content_type: str, max_bytes: int
    ) -> None:
        self.root = root
        self.display_root = display_root.rstrip("/")
        self.pattern = pattern or "**/*"
        self.content_type = content_type
        self.max_bytes = max_bytes

    def files(self) -> list[Path]:
        if not self.root.is_dir():
            raise SourceError(
                f"the folder {self.display_root!r} of the files connection does not exist",
                hint="create it, or fix PATH in CREATE FILES CONNECTION",
            )
        found = [
            p
            for p in self.root.glob(self.pattern)
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        ]
        return sorted(found)

    def partition_of(self, path: Path) -> str:
        """The file's name in positions and ``$source`` (bytes that are not UTF-8 as ``\\xNN``)."""
        return _printable(f"{self.display_root}/{path.relative_to(self.root).as_posix()}")

    def poll(self, positions: dict[str, FilePosition], *, drain: bool) -> Iterator[FileChunk]:
        """Yield chunks of new records, file by file in path order, each at most ``max_bytes``."""
        for path in self.files():
            fmt = detect_format(path, self.content_type)
            if fmt is None:
                continue  # not a data file (README, .DS_Store...): AUTO skips unknown extensions
            partition = self.partition_of(path)
            pos = positions.get(partition, FilePosition(0, 1))
            if fmt == "PARQUET":
                yield from self._parquet(path, partition, pos)
            else:
                yield from self._text(path, partition, fmt, pos, drain)

    # -- text formats -----------------------------------------------------------------------
    def _text(
        self, path: Path, partition: str, fmt: Format, pos: FilePosition, drain: bool
    ) -> Iterator[FileChunk]:
        size = path.stat().st_size
        if size < pos.offset:
            raise SourceError(
                f"{partition} shrank from {pos.offset} to {size} bytes after it was read",
                hint="files are append-only: write a new file instead of rewriting one",
            )
        header: list[str] | None = None
        offset, line = pos.offset, pos.line
        if fmt == "CSV":
            header, header_end = _csv_header(path, partition, "\t" if path.suffix.lower() == ".tsv" else ",")
            if offset < header_end:
                offset, line = header_end, 2
        settled = drain or (time.time() - path.stat().st_mtime) >= SETTLE_SECONDS
        step = min(READ_BYTES, self.max_bytes)
        with open(path, "rb") as f:
            while offset < size:
                f.seek(offset)
                data = f.read(min(step, size - offset))
                end = data.rfind(b"\n") + 1
                if end == 0 and len(data) == step < self.max_bytes:
                    # a line longer than a read: read on, up to batch_bytes
                    f.seek(offset)
                    data = f.read(min(self.max_bytes, size - offset))
                    end = data.rfind(b"\n") + 1
                if end == 0:
                    if len(data) < self.max_bytes and not settled:
                        return  # an incomplete last line: wait for its newline
                    end = len(data)
                    if end == self.max_bytes:
                        length = line_length(f, offset, size, self.max_bytes, settled)
                        if length is None:
                            return  # its newline has not arrived yet
                        # Too long for a batch: quarantined (cut), and the job reads on.
                        empty, _, _ = _split(b"", line, fmt, header, partition)
                        rejected = rejected_long_line(
                            partition, line, data, length, self.max_bytes, LINE_COLUMN, RAW_COLUMN
                        )
                        consumed = min(length + 1, size - offset)
                        yield FileChunk(
                            partition,
                            fmt,
                            empty,
                            FilePosition(offset, line),
                            FilePosition(offset + consumed, line + 1),
                            consumed,
                            rejected,
                        )
                        offset += consumed
                        line += 1
                        continue
                elif offset + len(data) == size and end < len(data) and settled:
                    end = len(data)  # a settled file's last line has no newline: take it
                body = data[:end]
                table, nlines, rejected = _split(body, line, fmt, header, partition)
                yield FileChunk(
                    partition,
                    fmt,
                    table,
                    FilePosition(offset, line),
                    FilePosition(offset + end, line + nlines),
                    end,
                    rejected,
                )
                offset += end
                line += nlines

    # -- parquet --------------------------------------------------------------------------
    def _parquet(self, path: Path, partition: str, pos: FilePosition) -> Iterator[FileChunk]:
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as e:
            raise SourceError(f"{partition}: not a readable Parquet file ({e})") from None
        total = pf.metadata.num_rows
        if total <= pos.offset:
            return
        row = 0
        for group in range(pf.num_row_groups):
            n = pf.metadata.row_group(group).num_rows
            if row + n <= pos.offset:
                row += n
                continue
            table = pf.read_row_group(group)
            if row < pos.offset:
                table = table.slice(pos.offset - row)
                row = pos.offset
            lines = pa.array(np.arange(row + 1, row + 1 + table.num_rows, dtype=np.int64))
            table = table.append_column(LINE_COLUMN, lines)
            yield FileChunk(
                partition,
                "PARQUET",
                table,
                FilePosition(row, row + 1),
                FilePosition(row + table.num_rows, row + table.num_rows + 1),
                table.nbytes,
            )
            row += table.num_rows


def newline_positions(body: bytes, step: int = 1 << 20) -> np.ndarray:
    """The offsets of the newlines in ``body``, found a megabyte at a time (one mask the size
    of ``body`` would cost more in fresh pages than the comparison itself)."""
    buf = np.frombuffer(body, dtype=np.uint8)
    mask = np.empty(min(step, len(buf)), dtype=np.bool_)
    parts = []
    for start in range(0, len(buf), step):
        piece = buf[start : start + step]
        hits = mask[: len(piece)]
        np.equal(piece, 10, out=hits)
        parts.append(np.flatnonzero(hits) + start)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def line_numbers(first: int, count: int) -> pa.Array:
    """first, first + 1, ... as an int64 Arrow array."""
    return int64_array(np.arange(first, first + count, dtype=np.int64))


def int64_array(values: np.ndarray) -> pa.Array:
    """A numpy integer array as an int64 Arrow array, from its buffer (pa.array would import pandas)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _csv_header(path: Path, partition: str, delimiter: str) -> tuple[list[str], int]:
    with open(path, "rb") as f:
        first = f.readline()
    if not first.endswith(b"\n"):
        return [], 0  # not even a full header yet
    try:
        names = pacsv.read_csv(
            io.BytesIO(first),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
        )
        header = [stored_name(str(v)) for v in names.to_pylist()[0].values()] if names.num_rows else []
    except pa.ArrowInvalid as e:
        raise SourceError(f"{partition}:1: cannot read the CSV header ({e})") from None
    return header, len(first)


def _split(
    body: bytes, first_line: int, fmt: Format, header: list[str] | None, partition: str
) -> tuple[pa.Table, int, pa.Table | None]:
    """Cut ``body`` (complete lines) into records: the table, the lines consumed, rejected lines."""
    newlines = newline_positions(body)
    nlines = len(newlines) + (0 if body.endswith(b"\n") or not body else 1)
    if fmt == "JSON":
        offsets = np.empty(nlines + 1, dtype=np.int64)
        offsets[0] = 0
        offsets[1 : len(newlines) + 1] = newlines + 1
        if nlines > len(newlines):
            offsets[-1] = len(body)
        raw = pa.LargeStringArray.from_buffers(nlines, pa.py_buffer(offsets), pa.py_buffer(body))
        lines = line_numbers(first_line, nlines)
        table = pa.table({LINE_COLUMN: lines, RAW_COLUMN: raw})
        return (
            pa.Table.from_batches(table.to_batches(max_chunksize=ARROW_BATCH_ROWS), table.schema),
            nlines,
            None,
        )
    if not header:
        raise SourceError(f"{partition}:1: the CSV file has no header line")
    delimiter = "\t" if partition.lower().endswith(".tsv") else ","
    table, rejected = split_csv(body, first_line, header, delimiter, LINE_COLUMN, RAW_COLUMN)
    return table, nlines, rejected
