"""Smoke test of the TimescaleDB flavour of the migrations on PGlite + TimescaleDB (WASM).

TimescaleDB itself cannot run here; PGlite's TimescaleDB build accepts the same DDL (hypertables, compression,
continuous aggregates, policies), so this proves the TimescaleDB path is at least well-formed and complete.
It needs Node.js and `npm ci` in tests/timescale/pglite (done by .ci/run); in CI a missing piece fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ingest.db import detect_flavour
from ingest.migrate import apply_policies, check_schema, discover, migrate

HERE = Path(__file__).parent / "pglite"
RETENTION = {"uplinks_days": 90, "readings_days": 3650, "positions_days": 30, "rejects_days": 30,
             "compress_after_days": 7}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"TimescaleDB smoke test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def timescale_url() -> Iterator[str]:
    if not shutil.which("node"):
        _unavailable("Node.js is not installed (needed to run PGlite + TimescaleDB)")
    if not (HERE / "node_modules" / "@unni-craftsman" / "pglite").exists():
        _unavailable("run `npm ci --ignore-scripts` in tests/timescale/pglite first")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["node", "server.mjs"], cwd=HERE, env={**os.environ, "PORT": str(port)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.stdout.readline().strip() != "ready":
            if proc.poll() is not None:
                pytest.fail("PGlite server exited before becoming ready")
        yield f"postgresql://postgres:pglite@127.0.0.1:{port}/postgres?sslmode=disable"
    finally:
        proc.terminate()
        proc.wait(10)


def test_timescaledb_migrations_create_hypertables_aggregates_and_policies(timescale_url: str) -> None:
    # prepare_threshold=None: PGlite's single session does not keep server-side prepared statements well
    with psycopg.connect(timescale_url, autocommit=True, prepare_threshold=None) as conn:
        flavour = detect_flavour(conn, "auto")
        assert flavour == "timescaledb"
        assert migrate(conn, flavour) == [m.version for m in discover()]
        apply_policies(conn, flavour, RETENTION)
        apply_policies(conn, flavour, RETENTION)  # idempotent: policies replaced, not duplicated
        check_schema(conn)
        hypertables = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
        assert {"readings", "positions", "uplinks"} <= hypertables
        caggs = dict(conn.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates").fetchall())
        assert caggs == {"readings_15m": False, "readings_1h": False}
        jobs = conn.execute("SELECT proc_name, hypertable_name FROM timescaledb_information.jobs "
                            "WHERE hypertable_name IS NOT NULL").fetchall()
        for table in ("readings", "positions", "uplinks"):
            assert jobs.count(("policy_retention", table)) == 1
            assert jobs.count(("policy_compression", table)) == 1
        compressed = {r[0] for r in conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE compression_enabled")}
        assert {"readings", "positions", "uplinks"} <= compressed
        # the dashboards read the aggregates index-only (0070): one covering index per aggregate, 0003's gone
        indexes = dict(conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'readings\\_15m%' "
            "OR indexname LIKE 'readings\\_1h%'").fetchall())
        for view in ("readings_15m", "readings_1h"):
            assert f"{view}_device_idx" not in indexes
            assert indexes[f"{view}_device_covering_idx"].endswith(
                "(dev_eui, quantity, bucket DESC) INCLUDE (avg, min, max, count)")
        # the continuous aggregates answer with the same columns as the plain-PostgreSQL rollups
        conn.execute("INSERT INTO readings VALUES (now() - interval '2 minutes', 'a', 'co2', 500), "
                     "(now() - interval '1 minute', 'a', 'co2', 400)")
        row = conn.execute("SELECT min, avg, max, last, count FROM readings_15m WHERE dev_eui = 'a'").fetchall()
        assert sum(r[4] for r in row) == 2
        assert migrate(conn, flavour) == []
