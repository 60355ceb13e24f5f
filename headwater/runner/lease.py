"""Sharing the lake with a continuous ``run``.

A file catalog (the default) has one user at a time, and attaching it costs ~0.2 s, so a
continuous run keeps it. Other commands (``query``, ``status``, ``pause``...) ask the run for
it over a local socket: the run finishes the commit in hand, lets the lake go, answers ``ok``,
and takes it back once every borrower has hung up (its sources go on reading meanwhile).
The socket also answers ``status`` with what only the run knows (connections, end offsets).

The socket is in Linux's abstract namespace, named after the project's state folder: nothing
to clean up after a kill -9, no path length limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import select
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import HeadwaterError
from headwater.lake.errors import LakeBusy, QueryError

if TYPE_CHECKING:
    import pyarrow as pa

BORROW_TIMEOUT_S = 30.0


def address(state_dir: Path) -> str:
    digest = hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:24]
    return f"\0headwater-{digest}"


def _connect(state_dir: Path, timeout: float) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address(state_dir))
    except OSError:
        sock.close()
        return None  # no run
    return sock


def borrow(state_dir: Path, timeout: float = BORROW_TIMEOUT_S) -> socket.socket | None:
    """If a run holds the lake, ask for it; the lake is ours until the socket is closed.
    None: no run is going on."""
    sock = _connect(state_dir, 2.0)
    if sock is None:
        return None
    try:
        sock.sendall(b"lease\n")
        sock.settimeout(timeout)
        answer = sock.recv(16)
    except OSError:
        sock.close()
        raise LakeBusy(
            "the running `headwater run` did not let go of the lake in time",
            hint="it may be in a long commit; try again",
        ) from None
    if answer != b"ok\n":
        sock.close()
        return None  # the run is stopping: the lake is free, or soon
    return sock


def ask_query(state_dir: Path, sql: str) -> pa.Table | None:
    """Have the running ``run`` answer a read-only query (no lake to lend: it reads alongside
    its commits). None when nothing runs."""
    sock = _connect(state_dir, 2.0)
    if sock is None:
        return None
    with sock:
        try:
            body = sql.encode()
            sock.sendall(b"query %d\n" % len(body) + body)
            sock.settimeout(None)
            data = _read_all(sock)
        except OSError:
            return None
    head, _, rest = data.partition(b"\n")
    if head == b"ok":
        import pyarrow as pa  # (here: without a run, a command need not load it)

        return pa.ipc.open_stream(rest).read_all()
    if head == b"error":
        found = json.loads(rest)
        raise QueryError(found["message"], hint=found.get("hint"))
    return None


def _read_all(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def live_status(state_dir: Path) -> dict[str, Any] | None:
    """What the running ``run`` knows now, or None when nothing runs."""
    sock = _connect(state_dir, 2.0)
    if sock is None:
        return None
    with sock:
        try:
            sock.sendall(b"status\n")
            found = json.loads(_read_all(sock))
        except (OSError, ValueError):
            return None
    return found if isinstance(found, dict) else None


def _read_line(conn: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n") and len(line) < 256:
        byte = conn.recv(1)
        if not byte:
            break
        line += byte
    return line.strip()


class LeaseServer:
    """The run's side. ``wanted`` says a borrower is waiting; ``hand_over`` lends the lake."""

    def __init__(
        self,
        state_dir: Path,
        wake: threading.Event,
        status: Callable[[], dict[str, Any]],
        query: Callable[[str], pa.Table] | None = None,
    ) -> None:
        self._wake = wake
        self._status = status
        self._query = query
        self._waiting: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(address(state_dir))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.thread = threading.Thread(target=self._serve, name="lake-lease", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2.0)
            try:
                request = _read_line(conn)
            except OSError:
                conn.close()
                continue
            if request.startswith(b"query ") and self._query is not None:
                threading.Thread(target=self._answer, args=(conn, request), daemon=True).start()
            elif request == b"status":
                with conn, contextlib.suppress(OSError, TypeError, ValueError):
                    conn.sendall(json.dumps(self._status(), default=str).encode())
            elif request == b"lease":
                with self._lock:
                    self._waiting.append(conn)
                self._wake.set()
            else:
                conn.close()

    def _answer(self, conn: socket.socket, request: bytes) -> None:
        """A query, read alongside the run's commits: Arrow IPC, or the error as JSON."""
        assert self._query is not None
        with conn:
            try:
                size = int(request.split()[1])
                body = b""
                while len(body) < size:
                    chunk = conn.recv(size - len(body))
                    if not chunk:
                        return
                    body += chunk
                try:
                    table = self._query(body.decode())
                except HeadwaterError as e:
                    conn.sendall(b"error\n" + json.dumps({"message": e.message, "hint": e.hint}).encode())
                    return
                import pyarrow as pa

                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                conn.settimeout(None)
                conn.sendall(b"ok\n" + sink.getvalue().to_pybytes())
            except (OSError, ValueError):
                return

    @property
    def wanted(self) -> bool:
        with self._lock:
            return bool(self._waiting)

    def hand_over(
        self, release: Callable[[], None], reacquire: Callable[[], None], stop: threading.Event
    ) -> bool:
        """Let the lake go, serve every borrower (those who come meanwhile too) until they
        have all hung up, then take it back (False: stopping, it was not taken back)."""
        release()
        lent: list[socket.socket] = []
        try:
            while True:
                with self._lock:
                    new, self._waiting = self._waiting, []
                for conn in new:
                    try:
                        conn.sendall(b"ok\n")
                        lent.append(conn)
                    except OSError:
                        conn.close()
                if not lent:
                    break
                readable, _, _ = select.select(lent, [], [], 0.05)
                for conn in readable:
                    with contextlib.suppress(OSError):
                        if conn.recv(64):
                            continue  # (a borrower says nothing more; ignore it)
                    conn.close()
                    lent.remove(conn)
                if stop.is_set() and lent:
                    # Stopping: the borrowers keep the lake; the run does not need it back.
                    return False
        finally:
            for conn in lent:
                conn.close()
        reacquire()
        return True

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for conn in waiting:
            with contextlib.suppress(OSError):
                conn.sendall(b"bye\n")  # the run stops: the lake is free
            conn.close()
        with contextlib.suppress(OSError):
            self.sock.close()
        self.thread.join(timeout=2)
