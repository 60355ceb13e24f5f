"""A real PostgreSQL server (Debian's package) in a temporary folder, for the test session."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PostgresServer:
    host: str
    port: int
    datadir: Path
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-Atc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        _as_postgres(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"], check=False
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs the Debian package)")
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_postgres() -> PostgresServer:
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="hw-pg-"))
    datadir = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    _as_postgres([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    port = _free_port()
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c wal_level=logical -c fsync=off"
    _as_postgres(
        [str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(base / "log"), "-w", "start"]
    )
    server = PostgresServer("127.0.0.1", port, datadir, bindir)
    deadline = time.monotonic() + 20
    while True:
        try:
            server.psql("SELECT 1")
            return server
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
