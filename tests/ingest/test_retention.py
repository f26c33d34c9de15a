"""The retention job deletes what is older than the settings, in chunks, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.db import open_pool
from ingest.retention import purge_once, tables_for
from tests.ingest.ingest_support import count, new_eui, register

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SETTINGS = {"uplinks_days": 90, "readings_days": 365, "positions_days": 30, "rejects_days": 30}


def _seed(db: psycopg.Connection, eui: str, age_days: list[float]) -> None:
    for i, age in enumerate(age_days):
        when = NOW - timedelta(days=age)
        db.execute("INSERT INTO uplinks (time, dev_eui, f_cnt, f_port, source, payload) VALUES (%s, %s, %s, 1, 't', "
                   "'\\x00')", (when, eui, i))
        db.execute("INSERT INTO readings (time, dev_eui, quantity, value) VALUES (%s, %s, 'co2', 400)", (when, eui))
        db.execute("INSERT INTO positions (time, dev_eui, latitude, longitude) VALUES (%s, %s, 45, 3)", (when, eui))
        db.execute("INSERT INTO rejects (time, source, dev_eui, reason) VALUES (%s, 't', %s, 'decode_error')",
                   (when, eui))


async def test_rows_older_than_their_retention_are_deleted_in_chunks(db: psycopg.Connection, db_url: str) -> None:
    eui = new_eui()
    register(db, eui)
    _seed(db, eui, [1, 10, 40, 40.1, 40.2, 100, 400, 401, 402])
    pool = open_pool(db_url, 1)
    await pool.open()
    try:
        deleted = await purge_once(pool, "postgresql", SETTINGS, chunk=2, now=NOW, pause_s=0)
    finally:
        await pool.close()
    assert deleted == {"uplinks": 4, "readings": 3, "positions": 7, "rejects": 7, "device_events": 0}
    assert (count(db, "uplinks"), count(db, "readings"), count(db, "positions"), count(db, "rejects")) == (5, 6, 2, 2)


async def test_zero_days_keeps_forever(db: psycopg.Connection, db_url: str) -> None:
    eui = new_eui()
    register(db, eui)
    _seed(db, eui, [1000])
    pool = open_pool(db_url, 1)
    await pool.open()
    try:
        deleted = await purge_once(pool, "postgresql", dict.fromkeys(SETTINGS, 0), now=NOW)
    finally:
        await pool.close()
    assert deleted == {} and count(db, "readings") == 1


@pytest.mark.parametrize(("flavour", "tables"), [
    ("timescaledb", {"rejects", "device_events"}),
    ("postgresql", {"uplinks", "readings", "positions", "rejects", "device_events"}),
])
def test_on_timescaledb_the_policies_prune_the_series(flavour: str, tables: set[str]) -> None:
    assert {t for t, _ in tables_for(flavour)} == tables  # type: ignore[arg-type]
