"""The database stops taking writes for a while, or restarts, while uplinks flow.

(Terminated connections — ``pg_terminate_backend`` mid-stream — are the ingest tests' own:
``tests/ingest/test_service.py::test_terminated_database_connections_lose_nothing``.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from ingest.db import detect_flavour
from ingest.migrate import migrate
from tests.faults.conftest import ServiceFactory
from tests.faults.harness import Stream, check_stored_once, count_uplinks, wait_stored, wait_until
from tests.faults.private_pg import PrivatePostgres, private_postgres_available

pytestmark = pytest.mark.usefixtures("requires_mqtt5")

LOCK_S = 6.0


@pytest.mark.parametrize("statement_timeout_s", [None, 1.0], ids=["default-timeout", "short-timeout"])
def test_writes_blocked_for_seconds_lose_and_double_nothing(
        db: psycopg.Connection, db_url: str, unique: str, beffroi: ServiceFactory,
        recovery: Callable[[str, float], None], statement_timeout_s: float | None) -> None:
    """Promise: while the readings table cannot be written (a test transaction holds ACCESS EXCLUSIVE on it for
    6 s), nothing acknowledged is lost: the writer keeps its batch unacknowledged, back-pressure stops reading,
    and within 30 s of the lock's release every acknowledged uplink is stored exactly once.

    With the default ``database.statement_timeout_s`` (60 s, longer than the lock) the writer waits on the lock.
    With a timeout shorter than the lock (1 s here), each attempt is cancelled, the writer reconnects with
    backoff and retries the same batch, and /readyz reports the database down meanwhile."""
    overrides = {} if statement_timeout_s is None else {"database_statement_timeout_s": statement_timeout_s}
    svc = beffroi(**overrides)
    with Stream(svc.env["BEFFROI_MQTT_URL"], unique, devices=4, rate=150) as stream:
        stream.register(db)
        stream.probe(db)
        stream.start()
        wait_until(lambda: count_uplinks(db, stream.devices) >= 150, "the stream to flow", 30)
        not_ready = threading.Event()

        def watch() -> None:
            while not stop_watch.is_set():
                if not svc.ready():
                    not_ready.set()
                time.sleep(0.1)
        stop_watch = threading.Event()
        watcher = threading.Thread(target=watch, daemon=True)
        with psycopg.connect(db_url) as locker:
            locker.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
            watcher.start()
            time.sleep(LOCK_S)
            locked_rows = count_uplinks(db, stream.devices)
            locker.commit()
        released = time.monotonic()
        wait_stored(db, stream, lambda s: s.at < released, "the backlog of the lock stored", 30)
        recovery(f"readings locked {LOCK_S:.0f} s (statement timeout {statement_timeout_s or 60:g} s): "
                 "backlog stored after the release", time.monotonic() - released)
        stop_watch.set()
        watcher.join()
        stream.stop()
        stream.wait_acknowledged()
        wait_stored(db, stream, lambda s: True, "every acknowledged uplink stored", 30)
        figures = check_stored_once(db, stream)
    assert svc.alive()
    assert figures["stored"] > locked_rows, "the stream must have resumed after the lock"
    if statement_timeout_s is not None:
        assert not_ready.is_set(), "/readyz must report the database down while every write times out"
        assert "canceling statement due to statement timeout" in svc.log_text()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    if not private_postgres_available():
        pytest.skip("needs the PostgreSQL server binaries (pg_ctl, initdb) to run a private, restartable server")
    server = PrivatePostgres()
    server.start()
    with psycopg.connect(server.url, autocommit=True) as conn:
        migrate(conn, detect_flavour(conn, "off"))
    yield server
    server.destroy()


@pytest.mark.parametrize("mode", ["fast", "immediate"], ids=["clean-restart", "crash-restart"])
def test_a_database_restart_loses_and_doubles_nothing(
        private_pg: PrivatePostgres, unique: str, beffroi: ServiceFactory, recovery: Callable[[str, float], None],
        mode: str) -> None:
    """Promise: the database restarts (``fast``: clean shutdown; ``immediate``: a crash, WAL recovery on start)
    with uplinks flowing, and is away about 3 s; Beffroi keeps running, and within 30 s of the database's return
    every uplink the broker acknowledged is stored exactly once."""
    svc = beffroi(database_url=private_pg.url)
    with Stream(svc.env["BEFFROI_MQTT_URL"], unique, devices=4, rate=150) as stream:
        with psycopg.connect(private_pg.url, autocommit=True) as db:
            stream.register(db)
            stream.probe(db)
            stream.start()
            wait_until(lambda: count_uplinks(db, stream.devices) >= 150, "the stream to flow", 30)
        private_pg.stop(mode)
        time.sleep(3)
        private_pg.start()
        back = time.monotonic()
        recovery(f"database {mode} restart (3 s down): Beffroi ready again after the database's return",
                 wait_until(svc.ready, "Beffroi ready again", 30))
        with psycopg.connect(private_pg.url, autocommit=True) as db:
            wait_stored(db, stream, lambda s: s.at < back, "the backlog of the restart stored", 30)
            recovery(f"database {mode} restart (3 s down): backlog stored after the database's return",
                     time.monotonic() - back)
            stream.stop()
            stream.wait_acknowledged()
            wait_stored(db, stream, lambda s: True, "every acknowledged uplink stored", 30)
            check_stored_once(db, stream)
    assert svc.alive()
