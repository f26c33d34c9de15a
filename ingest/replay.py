"""Re-decoding stored raw uplinks with the current profile (``beffroi replay``).

Use it after fixing a decoder or a profile mapping, or after correcting a device's parameters (a bin's depth):
the raw FRMPayload of every uplink is kept in ``uplinks``, so history can be recomputed. Readings and positions
are upserted (``ON CONFLICT DO UPDATE``) at the uplink's time; with ``prune`` a reading the current profile no
longer produces for a replayed uplink (a sentinel the old decoder let through) is deleted. Everything happens in
one transaction; the 15-min and hourly rollups of the replayed period are then recomputed from ``readings``
(plain PostgreSQL tables in the same transaction, TimescaleDB continuous aggregates refreshed afterwards).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from devices.registry import ProfileRegistry
from ingest.db import Flavour

__all__ = ["ReplayError", "ReplayReport", "replay"]

log = logging.getLogger(__name__)

_ROLLUPS = (("readings_15m", timedelta(minutes=15)), ("readings_1h", timedelta(hours=1)))
_CHUNK = 1000
# The hours a replay touches, as SQL on its %(first)s / %(last)s parameters (rollups are recomputed by whole hours).
_FIRST_HOUR = "date_bin(INTERVAL '1 hour', %(first)s::timestamptz, TIMESTAMPTZ '2000-01-03')"
_AFTER_LAST_HOUR = "date_bin(INTERVAL '1 hour', %(last)s::timestamptz, TIMESTAMPTZ '2000-01-03') + INTERVAL '1 hour'"
_KEEP_ERRORS = 10


class ReplayError(Exception):
    """The replay cannot start: unknown device, no profile, profile not loaded, bad time range."""


@dataclass
class ReplayReport:
    dev_eui: str
    profile: str
    uplinks: int = 0
    decoded: int = 0
    failed: int = 0
    readings: int = 0
    positions: int = 0
    pruned: int = 0
    warnings: int = 0
    errors: list[str] = field(default_factory=list)   # the first few decode errors, with the uplink time


def replay(conn: psycopg.Connection, registry: ProfileRegistry, dev_eui: str, since: datetime,
           until: datetime | None = None, *, flavour: Flavour = "postgresql", prune: bool = False,
           dry_run: bool = False) -> ReplayReport:
    """Re-decode the device's uplinks in [since, until) and store the results; return the counts."""
    if since.tzinfo is None or (until is not None and until.tzinfo is None):
        raise ReplayError("--since and --until need a UTC offset (e.g. 2025-03-01T00:00:00+01:00)")
    if until is not None and until <= since:
        raise ReplayError(f"--until {until.isoformat()} is not after --since {since.isoformat()}")
    row = conn.execute("SELECT profile, params FROM devices WHERE dev_eui = %s", (dev_eui,)).fetchone()
    if row is None:
        raise ReplayError(f"device {dev_eui} is not registered")
    if row[0] is None:
        raise ReplayError(f"device {dev_eui} has no profile yet (unassigned): set one, then replay")
    profile = registry.get(row[0])
    if profile is None:
        raise ReplayError(f"device {dev_eui} uses profile {row[0]!r}, which is not loaded "
                          f"(see `beffroi devices list`)")
    params = dict(row[1] or {})
    report = ReplayReport(dev_eui, profile.id)
    first = last = None
    with conn.transaction():
        reader = conn.cursor(name="beffroi_replay")
        reader.itersize = _CHUNK
        reader.execute("SELECT time, f_port, payload FROM uplinks WHERE dev_eui = %s AND time >= %s "
                       "AND (%s::timestamptz IS NULL OR time < %s) ORDER BY time",
                       (dev_eui, since, until, until))
        with conn.cursor() as writer:
            while batch := reader.fetchmany(_CHUNK):
                readings, positions, stale = [], [], []
                for time, f_port, payload in batch:
                    report.uplinks += 1
                    first, last = first or time, time
                    decoded = profile.decode(f_port, bytes(payload), params, time)
                    report.warnings += len(decoded.warnings)
                    if decoded.errors:
                        report.failed += 1
                        if len(report.errors) < _KEEP_ERRORS:
                            report.errors.append(f"{time.isoformat()}: {'; '.join(decoded.errors)}")
                        continue
                    report.decoded += 1
                    readings += [(time, dev_eui, r.quantity, r.value) for r in decoded.readings]
                    positions += [(time, dev_eui, p.latitude, p.longitude, p.altitude, p.accuracy)
                                  for p in decoded.positions]
                    stale.append((time, [r.quantity for r in decoded.readings]))
                report.readings += len(readings)
                report.positions += len(positions)
                if dry_run:
                    continue
                writer.executemany("INSERT INTO readings (time, dev_eui, quantity, value) VALUES (%s, %s, %s, %s) "
                                   "ON CONFLICT (dev_eui, quantity, time) DO UPDATE SET value = EXCLUDED.value",
                                   readings)
                writer.executemany("INSERT INTO positions (time, dev_eui, latitude, longitude, altitude, accuracy) "
                                   "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (dev_eui, time) DO UPDATE SET "
                                   "latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, "
                                   "altitude = EXCLUDED.altitude, accuracy = EXCLUDED.accuracy", positions)
                if prune:
                    for time, kept in stale:
                        writer.execute("DELETE FROM readings WHERE dev_eui = %s AND time = %s "
                                       "AND quantity <> ALL(%s)", (dev_eui, time, kept))
                        report.pruned += writer.rowcount
        reader.close()
        if not dry_run and first is not None and last is not None and flavour == "postgresql":
            _recompute_rollups(conn, dev_eui, first, last)
    if not dry_run and first is not None and last is not None and flavour == "timescaledb":
        _refresh_aggregates(conn, first, last)
    log.info("replayed %d uplink(s) of %s with %s: %d reading(s), %d position(s), %d failed",
             report.uplinks, dev_eui, profile.id, report.readings, report.positions, report.failed)
    return report


def _recompute_rollups(conn: psycopg.Connection, dev_eui: str, first: datetime, last: datetime) -> None:
    """Rebuild the device's rollup rows of every hour touched, from the readings (the source of truth).

    The table lock keeps writers from committing readings (with their partial aggregates) between the moment the
    device's pending aggregates are dropped and the moment its readings are read again: each reading is then
    counted exactly once, by this recompute or by a later merge. Ingest waits for the replay's commit."""
    params = {"dev": dev_eui, "first": first, "last": last}
    conn.execute("LOCK TABLE rollup_pending IN SHARE ROW EXCLUSIVE MODE")
    conn.execute(f"DELETE FROM rollup_pending WHERE dev_eui = %(dev)s "  # noqa: S608 - constant bounds
                 f"AND bucket >= {_FIRST_HOUR} AND bucket < {_AFTER_LAST_HOUR}", params)
    for table, width in _ROLLUPS:
        conn.execute(f"DELETE FROM {table} WHERE dev_eui = %(dev)s "  # noqa: S608 - table names are constants
                     f"AND bucket >= {_FIRST_HOUR} AND bucket < {_AFTER_LAST_HOUR}", params)
        conn.execute(
            f"INSERT INTO {table} (bucket, dev_eui, quantity, min, max, sum, count, last, last_time) "  # noqa: S608
            "SELECT date_bin(%(width)s, time, TIMESTAMPTZ '2000-01-03'), dev_eui, quantity, min(value), max(value), "
            "sum(value), count(*), (array_agg(value ORDER BY time DESC))[1], max(time) FROM readings "
            f"WHERE dev_eui = %(dev)s AND time >= {_FIRST_HOUR} AND time < {_AFTER_LAST_HOUR} GROUP BY 1, 2, 3",
            {**params, "width": width})


def _refresh_aggregates(conn: psycopg.Connection, first: datetime, last: datetime) -> None:
    """Continuous aggregates cannot be refreshed inside a transaction: this runs after the commit."""
    start = first.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = last.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        for table, _ in _ROLLUPS:
            conn.execute(f"CALL refresh_continuous_aggregate('{table}', %s, %s)", (start, end))
    finally:
        conn.autocommit = autocommit
