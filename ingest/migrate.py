"""Forward-only numbered SQL migrations.

Files in ``ingest/migrations`` are named ``NNNN_name.sql`` (both flavours) and optionally
``NNNN_name.postgresql.sql`` / ``NNNN_name.timescaledb.sql`` (run after the common part, for one flavour only).
Each version is applied once, in its own transaction, and recorded in ``schema_migrations``; a released file is
never edited, a fix is a new number. A database whose newest version is beyond the code's is refused, so an old
binary never writes into a schema it does not understand.

Number ranges keep parallel work apart: 0001-0009 ingest core, 0010-0019 rules and alerting, 0020-0029 API and
access control, 0030-0039 dashboards support views, 0040-0049 performance (storage parameters, indexes).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from ingest.db import Flavour

__all__ = ["Migration", "SchemaTooNew", "discover", "migrate", "current_version", "apply_policies"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<flavour>postgresql|timescaledb))?\.sql$")
_LOCK_KEY = 0x62656666  # "beff": one migrator at a time


class SchemaTooNew(Exception):
    """The database was migrated by a newer Beffroi; this code must not run against it."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    parts: dict[str, str]  # "common" | flavour -> SQL text

    def sql_for(self, flavour: Flavour) -> list[str]:
        return [self.parts[p] for p in ("common", flavour) if p in self.parts]


def discover() -> list[Migration]:
    found: dict[int, dict[str, Any]] = {}
    for entry in resources.files("ingest.migrations").iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        version = int(match["version"])
        slot = found.setdefault(version, {"name": match["name"], "parts": {}})
        if slot["name"] != match["name"]:
            raise RuntimeError(f"migration {version:04d} has two names: {slot['name']} and {match['name']}")
        slot["parts"][match["flavour"] or "common"] = entry.read_text(encoding="utf-8")
    return [Migration(v, found[v]["name"], found[v]["parts"]) for v in sorted(found)]


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version integer PRIMARY KEY, name text NOT NULL, flavour text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def current_version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: psycopg.Connection, flavour: Flavour) -> list[int]:
    """Apply pending migrations; return the versions applied. ``conn`` must be in autocommit mode."""
    migrations = discover()
    known = migrations[-1].version if migrations else 0
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        _ensure_table(conn)
        applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        newest = max(applied, default=0)
        if newest > known:
            raise SchemaTooNew(
                f"the database schema is at version {newest} but this Beffroi knows migrations up to {known}: "
                "it was migrated by a newer release. Upgrade Beffroi (or restore a backup); refusing to run.")
        done = []
        for m in migrations:
            if m.version in applied:
                continue
            with conn.transaction():
                for text in m.sql_for(flavour):
                    conn.execute(text.encode())
                conn.execute("INSERT INTO schema_migrations (version, name, flavour) VALUES (%s, %s, %s)",
                             (m.version, m.name, flavour))
            log.info("applied migration %04d_%s (%s)", m.version, m.name, flavour)
            done.append(m.version)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def check_schema(conn: psycopg.Connection) -> None:
    """Refuse to start when the schema is missing migrations or newer than the code."""
    known = discover()[-1].version
    have = current_version(conn)
    if have > known:
        raise SchemaTooNew(f"database schema version {have} is newer than this Beffroi ({known}); upgrade Beffroi")
    if have < known:
        raise RuntimeError(f"database schema is at version {have}, this Beffroi needs {known}: run `beffroi migrate`")


_RETENTION = {"uplinks": "uplinks_days", "readings": "readings_days", "positions": "positions_days"}


def apply_policies(conn: psycopg.Connection, flavour: Flavour, retention: dict[str, Any]) -> None:
    """Set TimescaleDB retention and compression policies from the configuration (idempotent).

    On plain PostgreSQL retention is enforced by the service's retention job (ingest/retention.py) instead.
    """
    if flavour != "timescaledb":
        return
    compress_after = int(retention["compress_after_days"])
    for table, key in _RETENTION.items():
        days = int(retention[key])
        conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
        if days > 0:
            conn.execute("SELECT add_retention_policy(%s, drop_after => make_interval(days => %s))", (table, days))
        conn.execute("SELECT remove_compression_policy(%s, if_exists => true)", (table,))
        conn.execute("SELECT add_compression_policy(%s, compress_after => make_interval(days => %s))",
                     (table, compress_after))
    log.info("timescaledb policies set: retention %s, compression after %s days",
             {t: retention[k] for t, k in _RETENTION.items()}, compress_after)


