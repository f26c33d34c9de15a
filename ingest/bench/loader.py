"""Load ``ingest/bench/dataset.py``'s history into a freshly migrated plain-PostgreSQL database, fast.

The series are generated with numpy six hours at a time (windows aligned on whole hours, so no 15-minute or
hourly bucket straddles two windows) and streamed as binary ``COPY`` on four connections at once: ``readings``
and ``positions`` in time order, as the writer would have stored them uplink after uplink, without their indexes
(built afterwards: the usual way to load history); ``readings_15m`` and ``readings_1h``, the tables that stand in
for continuous aggregates on plain PostgreSQL, computed from the same arrays.

Why the rollups are not ``INSERT … SELECT … GROUP BY`` over the loaded rows: measured here, that statement (the
writer's own definition, with ``array_agg(value ORDER BY time DESC)`` for ``last``) took 5.4 s per 685 000 rows,
mostly sorting text keys — about 15 minutes for a year — while numpy computes them during generation in seconds.
``check_rollups`` then recomputes a sample of buckets with that SQL and compares, so the two cannot drift.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ingest.bench import pgbinary
from ingest.bench.dataset import FAMILIES, BenchDevice, fleet, track, values

__all__ = ["LoadStats", "load_dataset", "check_rollups"]

CHUNK_S = 6 * 3600
_ORIGIN_US = 946_857_600 * 1_000_000          # 2000-01-03 00:00 UTC: time_bucket's origin, used by the writer
_ROLLUPS = (("readings_15m", 900), ("readings_1h", 3600))
_LOADED = ("readings", "positions", "readings_15m", "readings_1h")
_COLUMNS = {
    "readings": "readings (time, dev_eui, quantity, value)",
    "positions": "positions (time, dev_eui, latitude, longitude, altitude, accuracy)",
    "readings_15m": "readings_15m (bucket, dev_eui, quantity, min, max, sum, count, last, last_time)",
    "readings_1h": "readings_1h (bucket, dev_eui, quantity, min, max, sum, count, last, last_time)",
}


@dataclass
class LoadStats:
    readings: int = 0
    positions: int = 0
    rollup_rows: int = 0
    copy_bytes: int = 0
    generate_s: float = 0.0
    copy_s: float = 0.0
    index_s: float = 0.0


def _rollup(t_us: np.ndarray, dev: np.ndarray, euis: np.ndarray, q: str, v: np.ndarray,
            width_s: int) -> tuple[np.ndarray, np.ndarray]:
    """(sort keys, COPY rows) of one quantity's buckets; input flattened device-major, time ascending."""
    width = width_s * 1_000_000
    bucket = (t_us - _ORIGIN_US) // width * width + _ORIGIN_US
    n = len(t_us)
    change = np.flatnonzero((dev[1:] != dev[:-1]) | (bucket[1:] != bucket[:-1])) + 1
    starts = np.concatenate(([0], change)).astype(np.int64)
    ends = np.concatenate((change, [n])).astype(np.int64)
    rows = pgbinary.rollup_rows(bucket[starts], euis[dev[starts]], q, np.minimum.reduceat(v, starts),
                                np.maximum.reduceat(v, starts), np.add.reduceat(v, starts), ends - starts,
                                v[ends - 1], t_us[ends - 1])
    return bucket[starts], rows


def _stream(url: str, table: str) -> tuple[psycopg.Connection, Any, Any]:
    conn = psycopg.connect(url, autocommit=True)
    cur = conn.cursor()
    copy_cm = cur.copy(f"COPY {_COLUMNS[table]} FROM STDIN (FORMAT BINARY)")
    copy = copy_cm.__enter__()
    copy.write(pgbinary.HEADER)
    return conn, copy_cm, copy


def _copy_series(url: str, members: dict[str, list[BenchDevice]], start: float, end: float, seed: int,
                 stats: LoadStats, progress: Callable[[str], None]) -> None:
    rng = np.random.default_rng(seed)
    families = []
    for f in FAMILIES:
        devs = members[f.name]
        if devs:
            euis = np.array([d.dev_eui.encode() for d in devs], dtype="S16")
            families.append((f, devs, euis, rng.uniform(0, f.period_s, len(devs))))
    streams = {table: _stream(url, table) for table in _COLUMNS}
    days = (end - start) / 86400
    windows = np.arange(math.floor(start / 3600) * 3600, end, CHUNK_S)
    try:
        for w, w0 in enumerate(windows):
            began = time.perf_counter()
            w1 = w0 + CHUNK_S
            blocks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {t: [] for t in _COLUMNS}
            for f, devs, euis, phases in families:
                ticks = np.arange(math.ceil((w0 - f.period_s) / f.period_s) * f.period_s, w1, f.period_s,
                                  dtype=np.float64)
                t = ticks[None, :] + phases[:, None]
                keep = (t >= max(w0, start)) & (t < w1) & (t <= end)
                if not keep.any():
                    continue
                idx = np.arange(len(devs))
                series = values(f.name, t, idx, rng, start, days)
                t_us = (t[keep] * 1e6).astype(np.int64)
                dev = np.broadcast_to(idx[:, None], t.shape)[keep]
                for q in f.quantities:
                    v = series[q][keep]
                    blocks["readings"].append((t_us, pgbinary.reading_rows(t_us, euis[dev], q, v)))
                    stats.readings += len(v)
                    for table, width in _ROLLUPS:
                        blocks[table].append(_rollup(t_us, dev, euis, q, v, width))
                        stats.rollup_rows += len(blocks[table][-1][0])
                if f.positions:
                    lat, lon = track(t, idx, np.array([d.latitude for d in devs]),
                                     np.array([d.longitude for d in devs]))
                    order = np.argsort(t_us, kind="stable")
                    rows = pgbinary.position_rows(t_us, euis[dev], lat[keep], lon[keep],
                                                  1800 + 20 * np.sin(t[keep] / 5000), np.full(len(t_us), 8.0))
                    blocks["positions"].append((t_us[order], np.frombuffer(rows, np.uint8).reshape(len(t_us), -1)))
                    stats.positions += len(t_us)
            datas = {table: pgbinary.interleave(b) for table, b in blocks.items()}
            copied = time.perf_counter()
            stats.generate_s += copied - began
            for table, data in datas.items():
                streams[table][2].write(data)
                stats.copy_bytes += len(data)
            stats.copy_s += time.perf_counter() - copied
            if w % 120 == 0:
                progress(f"  {(w0 - windows[0]) / 86400:.0f}/{days:.0f} days: {stats.readings:,} readings")
        began = time.perf_counter()
        for _conn, copy_cm, copy in streams.values():
            copy.write(pgbinary.TRAILER)
            copy_cm.__exit__(None, None, None)
        stats.copy_s += time.perf_counter() - began
    finally:
        for conn, *_ in streams.values():
            conn.close()


def _register(conn: psycopg.Connection, members: dict[str, list[BenchDevice]]) -> None:
    from dashboards.profiles import sync_device_profiles
    from devices.registry import ProfileRegistry

    sync_device_profiles(conn, ProfileRegistry.load())
    rows = [(d.dev_eui, d.name, d.profile, d.site, d.latitude, d.longitude, json.dumps(d.tags))
            for devs in members.values() for d in devs]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO devices (dev_eui, name, profile, site, latitude, longitude, tags) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)", rows)


def _drop_keys(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the primary keys and indexes of *tables*; return the statements that rebuild them as migrated."""
    keys: list[str] = []
    indexes: list[str] = []
    for table in tables:
        for name, definition in conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                "AND contype = 'p'", (table,)).fetchall():
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            keys.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for name, definition in conn.execute(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = %s::regclass", (table,)).fetchall():
            conn.execute(f"DROP INDEX {name}")
            indexes.append(definition)
    return keys + indexes


def load_dataset(conn: psycopg.Connection, url: str, *, devices: int, days: float, seed: int = 1,
                 end: datetime | None = None, progress: Callable[[str], None] = print) -> LoadStats:
    """Fill the freshly migrated, empty database at *url* (*conn*: autocommit) with ``days`` of history."""
    end_dt = end or datetime.now(UTC)
    end_s, start_s = end_dt.timestamp(), (end_dt - timedelta(days=days)).timestamp()
    members = fleet(devices)
    stats = LoadStats()
    _register(conn, members)
    keys = _drop_keys(conn, _LOADED)
    _copy_series(url, members, start_s, end_s, seed, stats, progress)
    progress(f"  copied {stats.readings:,} readings, {stats.positions:,} positions, {stats.rollup_rows:,} rollup "
             "rows; building indexes")
    began = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '1GB'")
    for statement in keys:
        conn.execute(statement)
    # every family reports its battery in each uplink: its hourly counts are the uplink counts
    conn.execute("""INSERT INTO device_state (dev_eui, last_seen, uplinks)
                    SELECT dev_eui, max(last_time), sum(count) FROM readings_1h WHERE quantity = 'battery'
                    GROUP BY dev_eui""")
    for table in ("readings", "positions", "readings_15m", "readings_1h", "devices", "device_state"):
        conn.execute(f"VACUUM (ANALYZE) {table}")
    stats.index_s = time.perf_counter() - began
    return stats


_CHECK = """
SELECT date_bin(%(width)s, time, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS b, min(value), max(value), sum(value),
       count(*), (array_agg(value ORDER BY time DESC))[1], max(time)
FROM readings WHERE dev_eui = %(dev)s AND quantity = %(q)s GROUP BY b ORDER BY b
"""


def check_rollups(conn: psycopg.Connection, samples: int = 6) -> int:
    """Recompute a few device/quantity series' rollups with the writer's SQL; return the buckets compared.

    Raises ``AssertionError`` naming the first bucket that differs."""
    pairs = conn.execute("SELECT d.dev_eui, (SELECT quantity FROM readings_1h h WHERE h.dev_eui = d.dev_eui "
                         "ORDER BY quantity DESC LIMIT 1) FROM devices d ORDER BY md5(d.dev_eui) LIMIT %s",
                         (samples,)).fetchall()
    compared = 0
    for dev, q in pairs:
        for table, width in _ROLLUPS:
            want = conn.execute(_CHECK, {"width": timedelta(seconds=width), "dev": dev, "q": q}).fetchall()
            got = conn.execute(f"SELECT bucket, min, max, sum, count, last, last_time FROM {table} "  # noqa: S608
                               "WHERE dev_eui = %s AND quantity = %s ORDER BY bucket", (dev, q)).fetchall()
            if len(want) != len(got):
                raise AssertionError(f"{table} {dev} {q}: {len(got)} buckets loaded, {len(want)} recomputed")
            for w, g in zip(want, got, strict=True):
                same = w[0] == g[0] and w[4] == g[4] and w[6] == g[6] and all(
                    math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) for a, b in zip(w[1:4] + w[5:6],
                                                                                      g[1:4] + g[5:6], strict=True))
                if not same:
                    raise AssertionError(f"{table} {dev} {q} bucket {w[0]}: loaded {g}, recomputed {w}")
                compared += 1
    return compared
