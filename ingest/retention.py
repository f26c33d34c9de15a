"""Deleting data older than the retention settings, a bounded chunk at a time.

On TimescaleDB the retention policies set by ``beffroi migrate`` (``ingest.migrate.apply_policies``) drop whole
chunks of ``uplinks``, ``readings`` and ``positions``; this job then only prunes the plain tables (``rejects``,
``device_events``). On plain PostgreSQL it prunes all of them. Deleting in chunks of ``chunk`` rows, each in its
own short transaction, keeps locks and WAL bursts small while ingestion goes on.

The rollup tables (``readings_15m``/``readings_1h``) are kept, as TimescaleDB keeps its continuous aggregates
when raw chunks are dropped: they are the long-term history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ingest.db import Flavour

__all__ = ["purge_once", "run_retention", "tables_for"]

log = logging.getLogger(__name__)

_SERIES = (("uplinks", "uplinks_days"), ("readings", "readings_days"), ("positions", "positions_days"))
_PLAIN = (("rejects", "rejects_days"), ("device_events", "uplinks_days"))   # network events live as long as uplinks


def tables_for(flavour: Flavour) -> tuple[tuple[str, str], ...]:
    """(table, retention setting) pairs this job prunes."""
    return _PLAIN if flavour == "timescaledb" else _SERIES + _PLAIN


async def purge_once(pool: AsyncConnectionPool, flavour: Flavour, retention: Mapping[str, Any], *,
                     chunk: int = 10_000, now: datetime | None = None, pause_s: float = 0.05) -> dict[str, int]:
    """Delete expired rows from every table (0 days = keep forever); return how many rows each lost."""
    now = now or datetime.now(UTC)
    deleted: dict[str, int] = {}
    for table, key in tables_for(flavour):
        days = int(retention[key])
        if days <= 0:
            continue
        cutoff = now - timedelta(days=days)
        statement = sql.SQL(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE time < %s LIMIT %s))"
        ).format(t=sql.Identifier(table))
        total = 0
        while True:
            async with pool.connection() as conn:
                cur = await conn.execute(statement, (cutoff, chunk))
                n = cur.rowcount
            total += n
            if n < chunk:
                break
            await asyncio.sleep(pause_s)       # let the writer in between chunks
        deleted[table] = total
        if total:
            log.info("retention: deleted %d rows older than %d days from %s", total, days, table)
    return deleted


async def run_retention(pool: AsyncConnectionPool, flavour: Flavour, retention: Mapping[str, Any], *,
                        every_s: float = 3600.0, first_after_s: float = 60.0,
                        sleep: Callable[[float], Any] = asyncio.sleep) -> None:
    """Purge now and then every ``every_s`` seconds, until cancelled; a failed run is retried next time."""
    await sleep(first_after_s)
    while True:
        try:
            await purge_once(pool, flavour, retention)
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("retention run failed (%s); next attempt in %.0f s", exc, every_s)
        await sleep(every_s)
