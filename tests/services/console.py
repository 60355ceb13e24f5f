"""A `headwater ui` process on a project, for the console's tests (and scripts/screenshots.py)."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from headwater.demo import EXAMPLE

SIGNUPS = EXAMPLE.parent / "signups"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Console:
    process: subprocess.Popen[str]
    url: str  # with the token
    port: int

    @property
    def token(self) -> str:
        return self.url.rsplit("token=", 1)[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: str | None = None
    ) -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            answer = conn.getresponse()
            return answer.status, answer.read().decode(), {k.lower(): v for k, v in answer.getheaders()}
        finally:
            conn.close()


@contextlib.contextmanager
def console(folder: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Console]:
    """Start `headwater ui` on ``folder``; stop it (SIGINT) afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "ui", "-p", str(folder), "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://\S+token=\S+", line)
        assert found, f"no URL in {line!r}: {process.stdout.read() if process.poll() is not None else ''}"
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s, contextlib.suppress(OSError):
                s.connect(("127.0.0.1", port))
                break
            assert time.monotonic() < deadline, "the console did not start listening"
            time.sleep(0.05)
        yield Console(process, found.group(), port)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def signups_project(target: Path) -> Path:
    """The signups example (sealed quarantine, the four expectation actions) in ``target``."""
    shutil.copytree(SIGNUPS, target, ignore=shutil.ignore_patterns(".headwater"))
    return target
