"""Plain PostgreSQL rollups: batches append partial aggregates, the refresher merges them exactly once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from devices.base import ReadingRow
from devices.registry import ProfileRegistry
from ingest.batch import Item, prepare_session, write_batch
from ingest.metrics import Metrics
from ingest.replay import replay
from ingest.rollups import merge_pending, merge_pending_sync, run_rollup_refresh
from tests.ingest.ingest_support import T0, count, new_eui, register, uplink, wait_for

# What the rollups must hold: the same aggregates recomputed from the readings, the source of truth.
_RECOMPUTE = """
SELECT date_bin(%(width)s, time, TIMESTAMPTZ '2000-01-03'), quantity, min(value), max(value), sum(value), count(*),
       (array_agg(value ORDER BY time DESC))[1], max(time)
FROM readings WHERE dev_eui = %(dev)s GROUP BY 1, 2 ORDER BY 1, 2"""
_STORED = ("SELECT bucket, quantity, min, max, sum, count, last, last_time FROM {table} WHERE dev_eui = %(dev)s "
           "ORDER BY 1, 2")


def _expected_and_stored(db: psycopg.Connection, dev_eui: str) -> list[tuple[list[Any], list[Any]]]:
    out = []
    for table, width in (("readings_15m", timedelta(minutes=15)), ("readings_1h", timedelta(hours=1))):
        expected = db.execute(_RECOMPUTE, {"width": width, "dev": dev_eui}).fetchall()
        stored = db.execute(_STORED.format(table=table), {"dev": dev_eui}).fetchall()
        out.append((_exact_sums(expected), _exact_sums(stored)))
    return out


def _exact_sums(rows: list[Any]) -> list[Any]:
    """Sums added in another order differ in the last bits of a double: compare them to 1e-9."""
    return [(*row[:4], round(row[4], 9), *row[5:]) for row in rows]


def _items(dev_eui: str, f_cnts: range, rng: random.Random) -> list[Item]:
    items = []
    for f_cnt in f_cnts:
        up = uplink(dev_eui, f_cnt, time=T0 + timedelta(minutes=7 * f_cnt))      # quarters and hours straddled
        items.append(Item(source="chirpstack-json", uplink=up, readings=[
            ReadingRow(up.time, dev_eui, q, round(rng.uniform(-10, 40), 2)) for q in ("temperature", "humidity")]))
    return items


async def _write(url: str, items: list[Item]) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await prepare_session(conn)
        async with conn.transaction():
            await write_batch(conn, items, rollups=True, want_rows=False)


async def test_batches_merged_at_any_moment_give_the_aggregates_of_the_readings(module_db_url: str,
                                                                                mdb: psycopg.Connection) -> None:
    eui = new_eui()
    register(mdb, eui)
    rng = random.Random(5)
    items = _items(eui, range(1, 41), rng)
    await _write(module_db_url, items[:10])
    merge_pending_sync(mdb)                                 # a refresh between batches...
    await _write(module_db_url, items[10:25])
    await _write(module_db_url, items[5:30])                # ...a redelivery overlapping stored uplinks...
    merge_pending_sync(mdb)
    await _write(module_db_url, items[30:])                 # ...and a batch still pending
    assert count(mdb, "rollup_pending", eui) > 0
    merge_pending_sync(mdb)
    assert count(mdb, "rollup_pending", eui) == 0
    for expected, stored in _expected_and_stored(mdb, eui):
        assert stored == expected and len(stored) >= 10


async def test_two_refreshers_merge_each_partial_aggregate_once(module_db_url: str, mdb: psycopg.Connection) -> None:
    eui = new_eui()
    register(mdb, eui)
    items = _items(eui, range(1, 201), random.Random(9))
    for start in range(0, 200, 20):
        await _write(module_db_url, items[start:start + 20])
    async with await psycopg.AsyncConnection.connect(module_db_url) as a, \
            await psycopg.AsyncConnection.connect(module_db_url) as b:
        results = await asyncio.gather(merge_pending(a, limit=50), merge_pending(b, limit=50))
        # one holds the turn; the other skips it instead of waiting or merging the same rows
        assert sorted(r is None for r in results) == [False, True]
        while await merge_pending(a, limit=50):
            pass
    assert count(mdb, "rollup_pending", eui) == 0
    for expected, stored in _expected_and_stored(mdb, eui):
        assert stored == expected


@asynccontextmanager
async def _refresher(url: str, metrics: Metrics) -> AsyncIterator[None]:
    """The service's refresher task every 0.1 s on its own pool, cancelled on the way out whatever happens."""
    async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
        task = asyncio.create_task(run_rollup_refresh(pool, metrics, every_s=0.1))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_the_refresher_of_the_service_merges_on_its_schedule(module_db_url: str,
                                                                   mdb: psycopg.Connection) -> None:
    eui = new_eui()
    register(mdb, eui)
    metrics = Metrics()
    async with _refresher(module_db_url, metrics):
        await _write(module_db_url, _items(eui, range(1, 5), random.Random(1)))
        await wait_for(lambda: count(mdb, "readings_1h", eui) > 0 and count(mdb, "rollup_pending", eui) == 0,
                       "the refresher's merge")
    assert metrics.rollup_merged._value.get() >= 4            # one partial aggregate per quarter at least
    assert metrics.rollup_refreshed._value.get() > 0
    for expected, stored in _expected_and_stored(mdb, eui):
        assert stored == expected


async def test_a_failing_merge_changes_nothing_and_is_retried(module_db_url: str, mdb: psycopg.Connection,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    eui = new_eui()
    register(mdb, eui)
    await _write(module_db_url, _items(eui, range(1, 5), random.Random(2)))
    pending = count(mdb, "rollup_pending", eui)
    mdb.execute("ALTER TABLE readings_1h ADD CONSTRAINT no_merge CHECK (count < 0) NOT VALID")
    try:
        async with _refresher(module_db_url, Metrics()):
            await wait_for(lambda: "rollup refresh failed" in caplog.text, "the warning")
            assert count(mdb, "rollup_pending", eui) == pending and count(mdb, "readings_15m", eui) == 0
            mdb.execute("ALTER TABLE readings_1h DROP CONSTRAINT no_merge")
            await wait_for(lambda: count(mdb, "rollup_pending", eui) == 0, "the merge after the repair")
    finally:
        mdb.execute("ALTER TABLE readings_1h DROP CONSTRAINT IF EXISTS no_merge")
    for expected, stored in _expected_and_stored(mdb, eui):
        assert stored == expected


async def test_a_replay_over_pending_aggregates_counts_each_reading_once(module_db_url: str,
                                                                        mdb: psycopg.Connection) -> None:
    eui = new_eui()
    register(mdb, eui)
    items = _items(eui, range(1, 21), random.Random(3))
    await _write(module_db_url, items)
    with psycopg.connect(module_db_url) as conn:             # uplinks stored by the writer, nothing merged yet
        replay(conn, ProfileRegistry.load(), eui, T0, T0 + timedelta(days=1))
        conn.commit()
    merge_pending_sync(mdb)
    for expected, stored in _expected_and_stored(mdb, eui):
        assert stored == expected and stored
