"""Copy what the profile registry knows about device models into ``device_profiles`` for the dashboards' SQL.

Call ``sync_device_profiles(conn, registry)`` once the schema is migrated and the registry loaded (``beffroi
migrate`` and service start-up), or run ``beffroi dashboards sync-profiles``. Idempotent: unchanged rows are not
rewritten; models no longer installed keep their row, since devices may still name them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import psycopg

__all__ = ["ProfileLike", "sync_device_profiles"]


class ProfileLike(Protocol):
    id: str
    vendor: str
    model: str
    family: str
    uplink_period_s: int


_UPSERT = """
INSERT INTO device_profiles (id, vendor, model, family, uplink_period_s, updated_at)
VALUES (%s, %s, %s, %s, %s, now())
ON CONFLICT (id) DO UPDATE
SET vendor = EXCLUDED.vendor, model = EXCLUDED.model, family = EXCLUDED.family,
    uplink_period_s = EXCLUDED.uplink_period_s, updated_at = now()
WHERE (device_profiles.vendor, device_profiles.model, device_profiles.family, device_profiles.uplink_period_s)
      IS DISTINCT FROM (EXCLUDED.vendor, EXCLUDED.model, EXCLUDED.family, EXCLUDED.uplink_period_s)
"""


def sync_device_profiles(conn: psycopg.Connection, profiles: Iterable[ProfileLike]) -> int:
    """Upsert every profile in one transaction; return how many rows were inserted or changed."""
    rows = sorted((p.id, p.vendor, p.model, p.family, int(p.uplink_period_s)) for p in profiles)
    changed = 0
    with conn.transaction(), conn.cursor() as cur:
        for row in rows:
            cur.execute(_UPSERT, row)
            changed += cur.rowcount
    return changed
