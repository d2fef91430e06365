"""A private PostgreSQL cluster for one test: its own data directory, port and socket
directory, never the machine's main server (moved here from tests/chaos/test_db_outage.py
so the outage test and the backup drill share it)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

# Trusted local superuser, no fsync: a throwaway cluster for one test.
INITDB_OPTIONS = ("-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin() -> Path | None:
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        path = Path(directory)
        if all((path / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


def as_postgres(command: Sequence[str]) -> list[str]:
    """PostgreSQL refuses to run as root: root runs it as the postgres OS user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


@dataclass
class PrivatePostgres:
    bin: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = as_postgres([str(self.bin / args[0]), *args[1:]])
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        options = f"-F -p {self.port} -k {self.root} -h 127.0.0.1 -c max_connections=30"
        log = str(self.root / "postgres.log")
        self.run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "30", "-o", options, "start"
        )

    def stop(self, check: bool = True) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=check)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def private_postgres(
    prefix: str,
    conf: Sequence[str] = (),
    before_start: Callable[[PrivatePostgres], None] | None = None,
) -> Iterator[PrivatePostgres]:
    """initdb in a fresh temporary directory (readable by the postgres OS user), append
    `conf` lines to its postgresql.conf, call `before_start` (files that name its directory
    or port), start it; stop it and remove everything after."""
    binaries = pg_bin()
    if binaries is None:
        _unavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        raise AssertionError("unreachable")
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root without a postgres OS user to run PostgreSQL as")
    # Not under pytest's tmp_path: its parents are private to root, and postgres must enter.
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    pg = PrivatePostgres(bin=binaries, root=root, port=free_port())
    try:
        pg.run("initdb", "-D", str(pg.data), *INITDB_OPTIONS)
        if conf:
            with (pg.data / "postgresql.conf").open("a") as handle:
                handle.write("\n".join(conf) + "\n")
        if before_start is not None:
            before_start(pg)
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(Exception):
            pg.stop(check=False)
        shutil.rmtree(root, ignore_errors=True)
