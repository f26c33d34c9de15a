"""One batch, one transaction: what the writer stores and the SQL that stores it idempotently.

``Item`` is what the pipeline makes of one MQTT message (an uplink and its readings and positions, rejects,
device events, a device to provision) plus the token to acknowledge once it is committed. ``write_batch`` puts a
list of items into the database inside the caller's transaction:

1. devices to provision (``INSERT … ON CONFLICT DO NOTHING``);
2. uplinks, readings and positions by binary ``COPY`` into session-local staging tables, then
   ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` into the real tables, so a redelivered message adds
   nothing and the rows returned are exactly the ones this batch added;
3. from those rows only: ``device_state`` and, on plain PostgreSQL, the batch's partial aggregates appended to
   ``rollup_pending`` for the rollup refresher (``ingest/rollups.py``; TimescaleDB's continuous aggregates need
   nothing); a redelivered reading is never counted twice;
4. device events and rejects;
5. ``NOTIFY beffroi_batch`` with a small JSON summary, delivered by PostgreSQL at commit only, so rule engines in
   other processes can follow committed data.

State upserts are ordered by key so that concurrent writers (several consumer processes) lock rows in
the same order and do not deadlock each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from devices.base import PositionRow, ReadingRow, Uplink
from ingest.messages import DeviceEvent
from ingest.rollups import PARTIAL_AGGREGATES

__all__ = ["Item", "RejectRow", "Provision", "Committed", "prepare_session", "write_batch", "NOTIFY_CHANNEL"]

NOTIFY_CHANNEL = "beffroi_batch"


@dataclass(frozen=True, slots=True)
class RejectRow:
    time: datetime
    source: str
    reason: str
    detail: str
    topic: str | None = None
    dev_eui: str | None = None
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class Provision:
    """A device first seen on the network, registered as ``unassigned`` (``ingest.unknown_devices = "provision"``)."""

    dev_eui: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Item:
    """Everything one MQTT message turns into. ``outcome`` is stored / rejected / ignored (for the metrics)."""

    token: Any = None                       # handed back to the consumer's ack() after commit
    source: str = ""
    outcome: str = "stored"
    topic: str = ""
    raw: bytes = b""                        # kept so a row the database refuses can still become a reject
    received: float = 0.0                   # time.monotonic() when the message arrived
    uplink: Uplink | None = None
    readings: list[ReadingRow] = field(default_factory=list)
    positions: list[PositionRow] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)
    provision: Provision | None = None

    @property
    def rows(self) -> int:
        return len(self.readings) + len(self.positions) + (self.uplink is not None)


@dataclass(slots=True)
class Committed:
    """What a batch actually added (rows come back only when asked for, e.g. for the rules engine)."""

    readings: list[ReadingRow] = field(default_factory=list)
    positions: list[PositionRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)     # table -> rows inserted
    uplinks_offered: int = 0


_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_uplinks (LIKE uplinks) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS stage_readings (LIKE readings) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS stage_positions (LIKE positions) ON COMMIT DELETE ROWS",
)

_COPY_UPLINKS = ("COPY stage_uplinks (time, dev_eui, f_cnt, f_port, dedup_id, source, rssi, snr, gateways, "
                 "gateway_id, frequency, dr, payload) FROM STDIN (FORMAT BINARY)")
_UPLINK_TYPES = ["timestamptz", "text", "int8", "int4", "text", "text", "float4", "float4", "int2", "text", "int8",
                 "int2", "bytea"]
_COPY_READINGS = "COPY stage_readings (time, dev_eui, quantity, value) FROM STDIN (FORMAT BINARY)"
_COPY_POSITIONS = ("COPY stage_positions (time, dev_eui, latitude, longitude, altitude, accuracy) FROM STDIN "
                   "(FORMAT BINARY)")
_COPY_REJECTS = "COPY rejects (time, source, topic, dev_eui, reason, detail, raw) FROM STDIN (FORMAT BINARY)"

_INSERT_UPLINKS = """
WITH ins AS (
    INSERT INTO uplinks (COLS) SELECT COLS FROM stage_uplinks
    ON CONFLICT DO NOTHING RETURNING dev_eui, time, f_cnt, rssi, snr
), latest AS (
    SELECT DISTINCT ON (dev_eui) dev_eui, time, f_cnt, rssi, snr, count(*) OVER (PARTITION BY dev_eui) AS n
    FROM ins ORDER BY dev_eui, time DESC
), state AS (
    INSERT INTO device_state AS s (dev_eui, last_seen, last_f_cnt, last_rssi, last_snr, uplinks)
    SELECT l.dev_eui, l.time, l.f_cnt, l.rssi, l.snr, l.n FROM latest l JOIN devices d ON d.dev_eui = l.dev_eui
    ORDER BY l.dev_eui
    ON CONFLICT (dev_eui) DO UPDATE SET
        uplinks = s.uplinks + EXCLUDED.uplinks,
        last_seen = greatest(s.last_seen, EXCLUDED.last_seen),
        last_f_cnt = CASE WHEN EXCLUDED.last_seen >= s.last_seen THEN EXCLUDED.last_f_cnt ELSE s.last_f_cnt END,
        last_rssi = CASE WHEN EXCLUDED.last_seen >= s.last_seen THEN EXCLUDED.last_rssi ELSE s.last_rssi END,
        last_snr = CASE WHEN EXCLUDED.last_seen >= s.last_seen THEN EXCLUDED.last_snr ELSE s.last_snr END
    RETURNING 1
)
SELECT count(*) FROM ins
""".replace("COLS", "time, dev_eui, f_cnt, f_port, dedup_id, source, rssi, snr, gateways, gateway_id, frequency, dr, payload")

_READINGS_CTE = """WITH ins AS (
    INSERT INTO readings (time, dev_eui, quantity, value) SELECT time, dev_eui, quantity, value FROM stage_readings
    ON CONFLICT DO NOTHING RETURNING time, dev_eui, quantity, value
)"""
# Plain PostgreSQL: the 15-minute partial aggregates of the rows this statement actually inserted (ins), appended
# to rollup_pending; the refresher (ingest/rollups.py) merges them into readings_15m/readings_1h off the insert
# path. Buckets use time_bucket's origin (Monday 2000-01-03), so both flavours agree.
_ROLLUPS = f""", pending AS (
    INSERT INTO rollup_pending (bucket, dev_eui, quantity, min, max, sum, count, last, last_time)
    {PARTIAL_AGGREGATES}
)"""
_ROWS = "\nSELECT time, dev_eui, quantity, value FROM ins"
_COUNT = "\nSELECT count(*) FROM ins"
_INSERT_READINGS = {
    (False, False): _READINGS_CTE + _COUNT,
    (False, True): _READINGS_CTE + _ROWS,
    (True, False): _READINGS_CTE + _ROLLUPS + _COUNT,
    (True, True): _READINGS_CTE + _ROLLUPS + _ROWS,
}
_POSITIONS_CTE = """WITH ins AS (
    INSERT INTO positions (time, dev_eui, latitude, longitude, altitude, accuracy)
    SELECT time, dev_eui, latitude, longitude, altitude, accuracy FROM stage_positions
    ON CONFLICT DO NOTHING RETURNING time, dev_eui, latitude, longitude, altitude, accuracy
)"""
_INSERT_POSITIONS = {
    False: _POSITIONS_CTE + _COUNT,
    True: _POSITIONS_CTE + "\nSELECT time, dev_eui, latitude, longitude, altitude, accuracy FROM ins",
}


async def prepare_session(conn: psycopg.AsyncConnection[Any]) -> None:
    """Create this connection's staging tables (temporary: private to the session, emptied at each commit)."""
    async with conn.transaction():
        for statement in _STAGING:
            await conn.execute(statement)


async def write_batch(conn: psycopg.AsyncConnection[Any], items: list[Item], *, rollups: bool,
                      want_rows: bool) -> Committed:
    """Write *items* inside the caller's open transaction; see the module docstring for the steps."""
    out = Committed()
    provisions = {i.provision.dev_eui: i.provision for i in items if i.provision is not None}
    uplinks = [i.uplink for i in items if i.uplink is not None]
    readings = [r for i in items for r in i.readings]
    positions = [p for i in items for p in i.positions]
    events = [e for i in items for e in i.events]
    rejects = [r for i in items for r in i.rejects]
    out.uplinks_offered = len(uplinks)
    async with conn.cursor() as cur:
        if provisions:
            await cur.executemany(
                "INSERT INTO devices (dev_eui, name, status, tags) VALUES (%s, %s, 'unassigned', %s) "
                "ON CONFLICT (dev_eui) DO NOTHING",
                [(p.dev_eui, p.name, json.dumps(p.tags)) for p in sorted(provisions.values(), key=lambda p: p.dev_eui)])
            out.counts["devices"] = len(provisions)
        if uplinks:
            async with cur.copy(_COPY_UPLINKS) as copy:
                copy.set_types(_UPLINK_TYPES)
                for u in uplinks:
                    r = u.radio
                    await copy.write_row((u.time, u.dev_eui, u.f_cnt, u.f_port, u.dedup_id, u.source, r.rssi, r.snr,
                                          r.gateways, r.gateway_id, r.frequency, r.dr, u.payload))
            await cur.execute(_INSERT_UPLINKS)
            out.counts["uplinks"] = _count(await cur.fetchone())
        if readings:
            async with cur.copy(_COPY_READINGS) as copy:
                copy.set_types(["timestamptz", "text", "text", "float8"])
                for rd in readings:
                    await copy.write_row((rd.time, rd.dev_eui, rd.quantity, rd.value))
            await cur.execute(_INSERT_READINGS[rollups, want_rows])
            if want_rows:
                out.readings = [ReadingRow(*row) for row in await cur.fetchall()]
                out.counts["readings"] = len(out.readings)
            else:
                out.counts["readings"] = _count(await cur.fetchone())
        if positions:
            async with cur.copy(_COPY_POSITIONS) as copy:
                copy.set_types(["timestamptz", "text", "float8", "float8", "float8", "float8"])
                for p in positions:
                    await copy.write_row((p.time, p.dev_eui, p.latitude, p.longitude, p.altitude, p.accuracy))
            await cur.execute(_INSERT_POSITIONS[want_rows])
            if want_rows:
                out.positions = [PositionRow(*row) for row in await cur.fetchall()]
                out.counts["positions"] = len(out.positions)
            else:
                out.counts["positions"] = _count(await cur.fetchone())
        if events:
            await cur.executemany(
                "INSERT INTO device_events (time, dev_eui, source, kind, level, code, description, context) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(e.time, e.dev_eui, e.source, e.kind, e.level, e.code, e.description, json.dumps(e.context))
                 for e in events])
            out.counts["device_events"] = len(events)
        if rejects:
            async with cur.copy(_COPY_REJECTS) as copy:
                copy.set_types(["timestamptz", "text", "text", "text", "text", "text", "bytea"])
                for j in rejects:
                    await copy.write_row((j.time, j.source, j.topic, j.dev_eui, j.reason, j.detail, j.raw))
            out.counts["rejects"] = len(rejects)
        added = out.counts.get("readings", 0) + out.counts.get("positions", 0)
        if added:
            times = [r.time for r in readings] + [p.time for p in positions]
            summary = {"readings": out.counts.get("readings", 0), "positions": out.counts.get("positions", 0),
                       "from": min(times).isoformat(), "to": max(times).isoformat()}
            await cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, json.dumps(summary)))
    return out


def _count(row: tuple[Any, ...] | None) -> int:
    return int(row[0]) if row else 0
