"""Fixtures of the rules tests: a pool on a fresh database, a controllable clock, a rules directory, devices."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from devices.base import ReadingRow
from rules.compose import Composer
from rules.directory import Setup, load_directory
from rules.engine import Engine
from rules.fleet import Fleet
from tests.rules.helpers import T0

ONCALL = """
contacts:
  - {id: marie, name: Marie Durand, email: marie@mairie.test, phone: "+33612345678"}
  - {id: paul, name: Paul Martin, email: paul@mairie.test, phone: "+33698765432"}
  - {id: maire, name: Le maire, email: maire@mairie.test}
teams:
  - {id: technique, members: [marie, paul]}
rotations:
  - {id: astreinte, members: [marie, paul], start: 2025-03-03, handoff: {day: monday, time: "09:00"}}
escalations:
  - id: standard
    levels:
      - notify: [{rotation: astreinte}]
      - after: 15m
        notify: [{contact: maire, channels: [email]}]
routes:
  - {id: default, escalation: standard, repeat: 30m}
  - {id: crue, parent: default, repeat: 10m}
  - {id: co2, parent: default, repeat: never, active_hours: {info: "mon-fri 08:00-17:00"}}
"""

PROFILES = {
    "gauge": SimpleNamespace(family="flood", uplink_period_s=300),
    "air": SimpleNamespace(family="co2", uplink_period_s=600),
}

FLOOD_RULE = """
rules:
  - id: crue-rapide
    title: Montée rapide de la rivière
    select: {family: flood}
    kind: rate_of_change
    params: {quantity: water_level, rise: 0.20, within: 15m, clear: 0.05}
    severity: critical
    route: crue
"""


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool]:
    p = AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False)
    await p.open()
    yield p
    await p.close()


def write_rules(directory: Path, rules: str, oncall: str = ONCALL) -> Setup:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "oncall.yaml").write_text(textwrap.dedent(oncall))
    (directory / "rules.yaml").write_text(textwrap.dedent(rules))
    return load_directory(directory)


def make_engine(pool: AsyncConnectionPool, setup: Setup, clock: Callable[[], datetime]) -> Engine:
    return Engine(pool, setup, Composer(), Fleet(PROFILES.get), clock)


def add_device(db: psycopg.Connection, dev_eui: str, profile: str = "gauge", *, name: str = "Pont de la Mairie",
               site: str = "centre", created_at: datetime = T0) -> None:
    db.execute("INSERT INTO devices (dev_eui, name, profile, site, created_at) VALUES (%s, %s, %s, %s, %s)",
               (dev_eui, name, profile, site, created_at))


def store_readings(db: psycopg.Connection, dev_eui: str, quantity: str,
                   samples: Sequence[tuple[datetime, float]]) -> list[ReadingRow]:
    """Insert as the writer would (readings + device_state), return the committed rows."""
    rows = [ReadingRow(t, dev_eui, quantity, v) for t, v in samples]
    with db.transaction():
        for r in rows:
            db.execute("INSERT INTO readings VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                       (r.time, r.dev_eui, r.quantity, r.value))
        last = max(t for t, _ in samples)
        db.execute("INSERT INTO device_state (dev_eui, last_seen, uplinks) VALUES (%s, %s, 1) ON CONFLICT (dev_eui) "
                   "DO UPDATE SET last_seen = greatest(device_state.last_seen, excluded.last_seen), "
                   "uplinks = device_state.uplinks + 1", (dev_eui, last))
    return rows


def alerts(db: psycopg.Connection) -> list[tuple[object, ...]]:
    return db.execute("SELECT rule, dev_eui, state, severity FROM alerts ORDER BY id").fetchall()


def outbox(db: psycopg.Connection, where: str = "true") -> list[tuple[object, ...]]:
    return db.execute(f"SELECT event, channel, contact, status FROM outbox WHERE {where} ORDER BY id").fetchall()  # noqa: S608
