"""Plain PostgreSQL: the rollup tables (``readings_15m``, ``readings_1h``) that stand in for TimescaleDB's continuous
aggregates, refreshed off the insert path.

Each batch's transaction appends the 15-minute partial aggregates of the readings it actually inserted to
``rollup_pending`` (``ingest/batch.py``); ``run_rollup_refresh`` merges them into both rollup tables every
``ingest.rollup_refresh_s`` seconds, the way a TimescaleDB refresh policy materialises a continuous aggregate.
Upserting in every batch was the largest database cost of an uplink (docs/performance.md): a busy (device,
quantity, bucket) was rewritten once per batch, now once per refresh.

What it guarantees:

* nothing counted twice or lost: a partial aggregate is deleted from ``rollup_pending`` and merged into both
  tables in one transaction; a crash rolls both back;
* one refresher at a time per database (a transaction-level advisory lock), whatever the number of ``beffroi run``
  processes: the others skip their turn;
* readers see the newest bucket at most ``rollup_refresh_s`` (plus one merge) behind the readings; the
  dashboards read raw readings for short ranges, where that matters.

TimescaleDB: continuous aggregates and their policies do this; nothing here runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ingest.metrics import Metrics

__all__ = ["PARTIAL_AGGREGATES", "MERGE_LIMIT", "merge_pending", "merge_pending_sync", "run_rollup_refresh"]

log = logging.getLogger(__name__)

# The 15-minute partial aggregates of ``ins`` (the rows a statement inserted), for ``INSERT INTO rollup_pending``.
PARTIAL_AGGREGATES = """SELECT date_bin(INTERVAL '15 minutes', time, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
           dev_eui, quantity, min(value), max(value), sum(value), count(*),
           (array_agg(value ORDER BY time DESC))[1], max(time)
    FROM ins GROUP BY dev_eui, quantity, bucket"""

# Partial aggregates merged per transaction: bounds a merge's duration and memory after a long outage.
MERGE_LIMIT = 200_000

# Any constant shared by every Beffroi process of a database ("beff").
_LOCK_KEY = 0x62656666

_UPSERT = """
    ON CONFLICT (dev_eui, quantity, bucket) DO UPDATE SET
        min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max), sum = r.sum + EXCLUDED.sum,
        count = r.count + EXCLUDED.count,
        last = CASE WHEN EXCLUDED.last_time >= r.last_time THEN EXCLUDED.last ELSE r.last END,
        last_time = greatest(r.last_time, EXCLUDED.last_time)"""

# Upserts ordered by key: a replay recomputing a device's buckets locks rows in the same order.
_MERGE = """
WITH moved AS (
    DELETE FROM rollup_pending
    WHERE ctid = ANY (ARRAY(SELECT ctid FROM rollup_pending LIMIT %(limit)s))
    RETURNING bucket, dev_eui, quantity, min, max, sum, count, last, last_time
), agg_15m AS (
    SELECT bucket, dev_eui, quantity, min(min) AS min, max(max) AS max, sum(sum) AS sum, sum(count) AS count,
           (array_agg(last ORDER BY last_time DESC))[1] AS last, max(last_time) AS last_time
    FROM moved GROUP BY dev_eui, quantity, bucket
), roll_15m AS (
    INSERT INTO readings_15m AS r (bucket, dev_eui, quantity, min, max, sum, count, last, last_time)
    SELECT bucket, dev_eui, quantity, min, max, sum, count, last, last_time FROM agg_15m
    ORDER BY dev_eui, quantity, bucket UPSERT
), roll_1h AS (
    INSERT INTO readings_1h AS r (bucket, dev_eui, quantity, min, max, sum, count, last, last_time)
    SELECT date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS hour, dev_eui, quantity,
           min(min), max(max), sum(sum), sum(count), (array_agg(last ORDER BY last_time DESC))[1], max(last_time)
    FROM agg_15m GROUP BY dev_eui, quantity, hour ORDER BY dev_eui, quantity, hour UPSERT
)
SELECT count(*) FROM moved
""".replace(" UPSERT", _UPSERT)
_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"


async def merge_pending(conn: psycopg.AsyncConnection[Any], *, limit: int = MERGE_LIMIT) -> int | None:
    """Merge up to *limit* pending partial aggregates in one transaction; None when another process is merging."""
    async with conn.transaction():
        locked = await (await conn.execute(_LOCK, (_LOCK_KEY,))).fetchone()
        if not (locked and locked[0]):
            return None
        row = await (await conn.execute(_MERGE, {"limit": limit})).fetchone()
    return int(row[0]) if row else 0


def merge_pending_sync(conn: psycopg.Connection[Any], *, limit: int = MERGE_LIMIT) -> int:
    """Merge everything pending now (waiting for a running refresher); for replays, tools and tests."""
    merged = 0
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            row = conn.execute(_MERGE, {"limit": limit}).fetchone()
        n = int(row[0]) if row else 0
        merged += n
        if n < limit:
            return merged


async def run_rollup_refresh(pool: AsyncConnectionPool, metrics: Metrics, *, every_s: float,
                             sleep: Callable[[float], Any] = asyncio.sleep) -> None:
    """Merge the pending partial aggregates every *every_s* seconds, until cancelled.

    A failed merge changes nothing (its transaction rolls back) and is retried at the next turn; meanwhile the
    rollups lag and ``beffroi_rollup_last_refresh_timestamp_seconds`` stops moving."""
    failing = False
    while True:
        try:
            while True:
                async with pool.connection() as conn:
                    merged = await merge_pending(conn)
                if merged is None:          # another process holds the turn
                    break
                metrics.rollup_merged.inc(merged)
                metrics.rollup_refreshed.set(time.time())
                if merged < MERGE_LIMIT:
                    break
            if failing:
                log.info("rollup refresh works again; readings_15m/readings_1h are up to date")
            failing = False
        except (psycopg.Error, PoolTimeout) as exc:
            if not failing:
                log.warning("rollup refresh failed (%s: %s); the partial aggregates stay in rollup_pending and "
                            "are merged at the next attempt in %.0f s — until then the 15-min and hourly views "
                            "lag behind the readings (check the database's logs if this repeats)",
                            type(exc).__name__, exc, every_s)
            failing = True
        await sleep(every_s)
