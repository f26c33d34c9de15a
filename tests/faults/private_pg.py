"""A private PostgreSQL server for the tests that stop, crash and restart the database.

The shared server on 127.0.0.1:5432 serves every other test and must never be stopped; this one lives in a
temporary directory, listens on a free port on 127.0.0.1, and is initialised with the system's own server binaries
(the same major version as production). As root (CI containers), the server runs as the ``postgres`` system user,
since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.faults.harness import free_port, wait_until

__all__ = ["PrivatePostgres", "private_postgres_available"]


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return ""          # root without a postgres user: cannot run a server
    return "postgres"


def private_postgres_available() -> bool:
    bindir = _bindir()
    return bindir is not None and (bindir / "initdb").exists() and _run_as() != ""


class PrivatePostgres:
    """``start()``, ``stop("fast" | "immediate")``, ``start()`` again, ``destroy()``; ``url`` stays the same."""

    def __init__(self) -> None:
        bindir = _bindir()
        assert bindir is not None
        self.bindir = bindir
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="beffroi-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--encoding=UTF8",
                  "--no-sync", "--no-instructions")
        with (self.data / "postgresql.conf").open("a") as conf:
            # fsync off: the tests crash the server processes, not the machine (the page cache survives)
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                       "fsync = off\nfull_page_writes = off\nmax_connections = 50\nshared_buffers = 16MB\n")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "30", "start")
        import psycopg

        def accepts() -> bool:
            try:
                with psycopg.connect(self.url, connect_timeout=1):
                    return True
            except psycopg.OperationalError:
                return False
        wait_until(accepts, "the private PostgreSQL to accept connections", 30, every_s=0.1)

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clean shutdown (sessions terminated); ``immediate``: every server process quits at once, as
        in a crash — the next start replays the WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
