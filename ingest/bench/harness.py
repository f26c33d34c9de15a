"""What the service benchmarks share: a scratch database, a private Mosquitto, ``beffroi run`` as a real process
(its memory read from ``/proc``), the simulator's load fleet registered, its messages published at QoS 1.

A benchmark measures a process the way an operator would see it: ``beffroi run`` started as a subprocess with
``BEFFROI_*`` variables, ready when ``/readyz`` answers 200, stopped with SIGTERM (commit, acknowledge, disconnect).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from ingest.migrate import migrate

__all__ = ["free_port", "ScratchDatabase", "PrivateMosquitto", "ServiceProcess", "register_devices", "count",
           "wait_until", "proc_memory_mb", "proc_cpu_seconds", "CpuMeter", "database_backends"]


def free_port(consecutive: int = 1) -> int:
    """A free TCP port on 127.0.0.1 — the first of *consecutive* free ones (for ``--workers``: port + i)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if all(_bindable(port + i) for i in range(1, consecutive)):
            return port


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


class ScratchDatabase:
    """``with ScratchDatabase(server_url, "beffroi_bench_x") as url:`` a migrated database, dropped at the end."""

    def __init__(self, server_url: str, name: str, *, keep: bool = False) -> None:
        self.admin = _with_db(server_url, "postgres")
        self.name = name
        self.url = _with_db(server_url, name)
        self.keep = keep

    def __enter__(self) -> str:
        with psycopg.connect(self.admin, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        with psycopg.connect(self.url, autocommit=True) as conn:
            migrate(conn, "postgresql")
        return self.url

    def __exit__(self, *exc: object) -> None:
        if not self.keep:
            with psycopg.connect(self.admin, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


class PrivateMosquitto:
    """A Mosquitto of our own on a free port, holding up to ``max_queued`` messages per offline session.

    The machine's broker keeps Mosquitto's default of 1 000 queued messages per session (beyond which it drops
    silently); a backlog benchmark needs its own. No persistence: the backlog lives in the broker's memory."""

    def __init__(self, max_queued: int) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="beffroi-bench-mqtt-"))
        self.max_queued = max_queued
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def __enter__(self) -> PrivateMosquitto:
        config = self.directory / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false",
                 f"max_queued_messages {self.max_queued}", "max_queued_bytes 0", "max_inflight_messages 0",
                 f"log_dest file {self.directory}/mosquitto.log"]
        if os.geteuid() == 0:
            lines.append("user root")
        config.write_text("\n".join(lines) + "\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(self.port), 10, "the private Mosquitto to listen")
        return self

    def rss_mb(self) -> float:
        return proc_memory_mb(self.process.pid)[0] if self.process else 0.0

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process else []

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        shutil.rmtree(self.directory, ignore_errors=True)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def proc_memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process in MB, from /proc/<pid>/status (VmRSS, VmHWM)."""
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    except FileNotFoundError:
        return 0.0, 0.0
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by a changing set of processes (consumers, database backends) since ``start()``.

    Every ``sample(pids)`` reads ``/proc/<pid>/stat`` of the pids given and keeps each one's latest reading; the
    figure is, per pid, the latest reading minus its reading at ``start()`` (0 for a pid first seen later). A
    process that exits keeps its last reading: what it used after the last sample before its exit is missed, so
    sample often, and once more just before the processes go away."""

    def __init__(self) -> None:
        self.last: dict[int, float] = {}
        self.base: dict[int, float] = {}

    def sample(self, pids: Iterable[int]) -> None:
        for pid in pids:
            cpu = proc_cpu_seconds(pid)
            if cpu:                              # 0: already gone, keep what was read before
                self.last[pid] = cpu

    def start(self, pids: Iterable[int]) -> None:
        self.sample(pids)
        self.base = dict(self.last)

    def seconds(self) -> float:
        return sum(cpu - self.base.get(pid, 0.0) for pid, cpu in self.last.items())


def database_backends(conn: psycopg.Connection) -> list[int]:
    """The pids of the server processes working for the connection's database (client backends, autovacuum
    workers while they are on it), this connection's own backend excluded."""
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()").fetchall()
    return [int(row[0]) for row in rows]


class ServiceProcess:
    """``beffroi run`` (optionally ``--workers N``) as a subprocess configured by ``BEFFROI_*`` variables."""

    def __init__(self, settings: Mapping[str, object], *, workers: int = 1, log: Path | None = None) -> None:
        self.port = free_port(workers)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEFFROI_")}
        env.update({f"BEFFROI_{k.upper()}": str(v) for k, v in settings.items()})
        env["BEFFROI_HTTP_LISTEN"] = f"127.0.0.1:{self.port}"
        self.env = env
        self.workers = workers
        self.log = log or Path(tempfile.mkstemp(prefix="beffroi-bench-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServiceProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        args = [sys.executable, "-m", "ingest.cli", "run"] + (["--workers", str(self.workers)] if self.workers > 1
                                                              else [])
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        ports = [self.port + i for i in range(self.workers)]
        try:
            wait_until(lambda: all(self._ready(p) for p in ports), 60, f"beffroi run to be ready (log: {self.log})",
                       alive=lambda: self.process is not None and self.process.poll() is None)
        except RuntimeError:
            self.stop()
            raise
        time.sleep(0.5)        # /readyz says connected; the SUBSCRIBE goes out right after the CONNACK

    def _ready(self, port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def pids(self) -> list[int]:
        """The consumer processes: the service itself, or the workers of ``--workers``."""
        if self.process is None:
            return []
        if self.workers == 1:
            return [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            pids = [int(p) for p in children.read_text().split()]
        except FileNotFoundError:
            return []
        # the workers, not multiprocessing's resource tracker
        return [p for p in pids if b"spawn_main" in _cmdline(p)]

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the consumer processes (from /proc/<pid>/stat)."""
        return sum(proc_cpu_seconds(pid) for pid in self.pids())

    def memory_mb(self) -> list[tuple[float, float]]:
        return [proc_memory_mb(pid) for pid in self.pids()]

    def metrics(self, index: int = 0) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port + index}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def wait_until(predicate: Callable[[], bool], limit_s: float, what: str, *, every_s: float = 0.05,
               alive: Callable[[], bool] | None = None) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if alive is not None and not alive():
            raise RuntimeError(f"gave up waiting for {what}: the process exited")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {limit_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def register_devices(url: str, devices: Iterable[tuple[str, str, str | None]]) -> int:
    """Insert (dev_eui, name, profile) rows into ``devices``; return how many."""
    rows = list(devices)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY devices (dev_eui, name, profile, site, tags) FROM STDIN") as copy:
            for eui, name, profile in rows:
                copy.write_row((eui, name, profile, "bench", json.dumps({"scenario": "bench"})))
    return len(rows)


def count(url: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0
