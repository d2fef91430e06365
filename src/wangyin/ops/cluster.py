"""A private PostgreSQL cluster for the failover drill: one etcd, and two PostgreSQL 15 nodes
managed by Patroni (a primary and a synchronous standby), on free ports of 127.0.0.1 under
one temporary directory. Nothing of it touches the machine's own PostgreSQL.

Debian's packages provide the programs (`scripts/install-ha.sh`, `make ha-packages`):
patroni, etcd-server and postgresql-15. PostgreSQL refuses to run as root, so when this
runs as root every process of the cluster runs as the `postgres` OS user.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg

SCOPE = "wangyin-drill"
DATABASE = "wangyin"
# Failure detection: the leader key lives TTL seconds unless the primary's Patroni renews
# it (every LOOP_WAIT); when it expires the synchronous standby takes it and promotes.
# Patroni needs loop_wait + 2 * retry_timeout <= ttl. These bound the RTO at about TTL.
TTL = 10
LOOP_WAIT = 1
RETRY_TIMEOUT = 4


class ClusterError(RuntimeError):
    pass


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


def missing_programs() -> list[str]:
    """What this machine lacks to run the cluster (empty: all there)."""
    missing = [name for name in ("patroni", "etcd") if shutil.which(name) is None]
    if pg_bin() is None:
        missing.append("postgresql server (/usr/lib/postgresql/*/bin)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("the postgres OS user (PostgreSQL refuses to run as root)")
    return missing


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _is_ours(pid: int, marker: str) -> bool:
    """The process is still the one we started (its command line names our directory)."""
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Node:
    name: str
    root: Path
    pg_port: int
    api_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.pg_port}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"

    def role(self) -> str:
        """What Patroni says this node is: primary, sync (standby), replica, or down."""
        try:
            with httpx.Client(timeout=1.0) as http:
                if http.get(self.api + "/primary").status_code == 200:
                    return "primary"
                if http.get(self.api + "/sync").status_code == 200:
                    return "sync"
                if http.get(self.api + "/replica").status_code == 200:
                    return "replica"
        except httpx.HTTPError:
            pass
        return "down"


@dataclass
class Cluster:
    root: Path
    nodes: list[Node]
    etcd_port: int
    etcd_peer_port: int
    etcd: subprocess.Popen[bytes] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    @classmethod
    def create(cls, *, nodes: int = 2) -> Cluster:
        missing = missing_programs()
        if missing:
            raise ClusterError("missing: " + ", ".join(missing) + " (run `make ha-packages`)")
        # Not under a private temporary directory of root's: postgres must enter it.
        root = Path(tempfile.mkdtemp(prefix="wangyin-drill-"))
        root.chmod(0o755)
        members = [
            Node(
                name=f"pg{i + 1}",
                root=root / f"pg{i + 1}",
                pg_port=free_port(),
                api_port=free_port(),
            )
            for i in range(nodes)
        ]
        return cls(root=root, nodes=members, etcd_port=free_port(), etcd_peer_port=free_port())

    # -- processes ------------------------------------------------------------------------

    def _as_postgres(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        owner = pwd.getpwnam("postgres")
        return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _spawn(self, command: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
        handle = log.open("ab")
        self._logs.append(handle)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(cwd),
            "LANG": "C.UTF-8",
        }
        return subprocess.Popen(  # noqa: S603 - Debian's programs, arguments we build
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            **self._as_postgres(),
        )

    def start(self, *, timeout: float = 90.0) -> None:
        """etcd, then the nodes; back when one is the primary and another its synchronous
        standby (a copy of it by pg_basebackup)."""
        etcd_dir = self.root / "etcd"
        self._own(etcd_dir)
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        client = f"http://127.0.0.1:{self.etcd_port}"
        self.etcd = self._spawn(
            [
                shutil.which("etcd") or "etcd",
                "--name",
                "drill",
                "--data-dir",
                str(etcd_dir / "data"),
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"drill={peer}",
                "--initial-cluster-state",
                "new",
            ],
            etcd_dir / "etcd.log",
            etcd_dir,
        )
        self.wait(lambda: self._etcd_healthy(), timeout, "etcd did not start")
        # All at once: one wins the initialize key in etcd and bootstraps, the others wait
        # for it and copy it.
        for node in self.nodes:
            self.start_node(node)
        self.wait(self.synchronous, timeout, "no primary with a synchronous standby came up")
        with psycopg.connect(self.libpq_url("postgres"), connect_timeout=5) as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _etcd_healthy(self) -> bool:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.etcd_port}/health", timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def start_node(self, node: Node) -> None:
        self._own(node.root)
        config = node.root / "patroni.yml"
        # JSON is YAML: no YAML writer needed.
        config.write_text(json.dumps(self._config(node), indent=2))
        node.proc = self._spawn(
            [shutil.which("patroni") or "patroni", str(config)],
            node.root / "patroni.log",
            node.root,
        )

    def _config(self, node: Node) -> dict[str, Any]:
        binaries = pg_bin()
        trust = [
            "local all all trust",
            "host all all 127.0.0.1/32 trust",
            "host replication replicator 127.0.0.1/32 trust",
        ]
        return {
            "scope": SCOPE,
            "name": node.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{node.api_port}",
                "connect_address": f"127.0.0.1:{node.api_port}",
            },
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_port}"]},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL,
                    "loop_wait": LOOP_WAIT,
                    "retry_timeout": RETRY_TIMEOUT,
                    # Only a standby that confirmed every commit may be promoted (RPO 0).
                    "synchronous_mode": True,
                    # Alone (its standby lost), the primary goes on without one: a bank
                    # wanting RPO 0 even then runs two standbys and strict mode instead.
                    "synchronous_mode_strict": False,
                    "maximum_lag_on_failover": 0,
                    "postgresql": {
                        # The old primary comes back as a standby: pg_rewind (data
                        # checksums allow it) drops what it wrote that nobody confirmed.
                        "use_pg_rewind": True,
                        "remove_data_directory_on_rewind_failure": True,
                        "use_slots": True,
                        "parameters": {
                            "synchronous_commit": "on",
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "max_wal_senders": 5,
                            "max_replication_slots": 5,
                            "max_connections": 60,
                            "wal_keep_size": "64MB",
                        },
                    },
                },
                # no-sync: initdb of a throwaway cluster need not wait for the disk (the
                # server itself fsyncs as always).
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums", "no-sync"],
                "pg_hba": trust,
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(node.data),
                "bin_dir": str(binaries),
                "pgpass": str(node.root / "pgpass"),
                # A new standby copies the primary now, not after a spread checkpoint.
                "basebackup": [{"checkpoint": "fast"}],
                "authentication": {
                    "superuser": {"username": "postgres", "password": "drill"},
                    "replication": {"username": "replicator", "password": "drill"},
                },
                "parameters": {"unix_socket_directories": str(node.root), "shared_buffers": "32MB"},
                "pg_hba": trust,
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
        }

    # -- state --------------------------------------------------------------------------

    def url(self, database: str = DATABASE) -> str:
        """The application's URL: every node, and only a read-write one will do."""
        hosts = "&".join(f"host={node.address}" for node in self.nodes)
        return (
            f"postgresql://postgres@/{database}?{hosts}"
            "&target_session_attrs=read-write&connect_timeout=2"
        )

    def libpq_url(self, database: str = DATABASE) -> str:
        """The same for libpq itself (psql, psycopg): its own multi-host form."""
        hosts = ",".join(node.address for node in self.nodes)
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"

    def primary(self) -> Node | None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None and node.role() == "primary":
                return node
        return None

    def replication(self, node: Node) -> dict[str, str]:
        """What the primary `node` says of its standbys: name -> sync_state, plus its
        synchronous_commit and synchronous_standby_names under those names."""
        with psycopg.connect(node.dsn(), autocommit=True, connect_timeout=5) as conn:
            states = {
                str(name): str(state)
                for name, state in conn.execute(
                    "SELECT application_name, sync_state FROM pg_stat_replication"
                )
            }
            for setting in ("synchronous_commit", "synchronous_standby_names"):
                row = conn.execute(f"SHOW {setting}").fetchone()
                states[setting] = str(row[0]) if row else ""
        return states

    def synchronous(self) -> bool:
        """A primary and a synchronous standby streaming from it."""
        roles = [node.role() for node in self.nodes]
        return "primary" in roles and "sync" in roles

    @staticmethod
    def wait(check: Any, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise ClusterError(message)

    # -- failure and cleanup ------------------------------------------------------------

    def kill(self, node: Node) -> None:
        """SIGKILL the node whole, as a machine losing power: Patroni, the postmaster and
        every backend at once, with no chance to hand over or flush anything."""
        pids = [node.proc.pid] if node.proc is not None else []
        postmaster = _postmaster_pid(node.data)
        if postmaster is not None and _is_ours(postmaster, str(node.data)):
            pids.append(postmaster)
            pids.extend(_children().get(postmaster, []))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if node.proc is not None:
            node.proc.wait(timeout=10)
        # Back only when every one of them is gone (or a zombie): what answers after this
        # is another node.
        self.wait(lambda: not any(_alive(pid) for pid in pids), 10, "a killed process lives")

    def stop(self) -> None:
        """Stop everything this cluster started and remove its directory."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()  # Patroni stops its PostgreSQL, then exits
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(timeout=10)
            postmaster = _postmaster_pid(node.data)
            if postmaster is not None and _is_ours(postmaster, str(node.data)):
                for pid in [postmaster, *_children().get(postmaster, [])]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait(timeout=5)
        for handle in self._logs:
            handle.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for path in sorted(self.root.glob("*/*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name} ({path.parent.name})\n" + "\n".join(text))
        return "\n".join(out)


@contextlib.contextmanager
def running_cluster(*, nodes: int = 2) -> Iterator[Cluster]:
    cluster = Cluster.create(nodes=nodes)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
