"""The host clock jumps (an NTP step, a virtual machine resumed, a wrong RTC corrected) under the rules engine.

The engine's clock is injected (``rules.engine.Engine(clock=...)``); the readings carry the network server's
times, which do not jump. Real database, real lifecycle and outbox; the notifications are counted in the outbox.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from devices.base import ReadingRow
from tests.rules.conftest import Clock, add_device, make_engine, pool, store_readings, write_rules  # noqa: F401
from tests.rules.helpers import T0

ONCALL = """
contacts:
  - {id: marie, name: Marie Durand, email: marie@mairie.test, phone: "+33612345678"}
  - {id: maire, name: Le maire, email: maire@mairie.test}
escalations:
  - id: standard
    levels:
      - notify: [{contact: marie}]
      - after: 15m
        notify: [{contact: maire, channels: [email]}]
routes:
  - {id: air, escalation: standard, repeat: 30m}
"""
RULE = """
rules:
  - id: co2-fort
    title: CO2 trop élevé
    select: {family: co2}
    kind: threshold
    params: {quantity: co2, above: 1500, clear: 1000, for: 10m}
    severity: warning
    route: air
"""
EUI = "a000000000000001"


def _notifications(db: psycopg.Connection) -> Counter[tuple[str, str, str]]:
    return Counter(db.execute("SELECT event, channel, contact FROM outbox").fetchall())


def _reading(db: psycopg.Connection, minutes: float, value: float) -> list[ReadingRow]:
    return store_readings(db, EUI, "co2", [(T0 + timedelta(minutes=minutes), value)])


async def test_clock_jumps_back_and_forward_duplicate_nothing(
        db: psycopg.Connection, pool: AsyncConnectionPool, tmp_path: Path) -> None:  # noqa: F811
    """Promise: the host clock jumps back one hour, then forward three hours, while an alert fires. There is one
    alert throughout; the firing notification goes out once per recipient; the backward jump sends nothing;
    the forward jump sends one escalation and one reminder per recipient reached — not one per missed 30-minute
    interval —; then the alert resolves once, with one resolution notice per recipient."""
    clock = Clock(T0)
    engine = make_engine(pool, write_rules(tmp_path, RULE, ONCALL), clock)
    add_device(db, EUI, "air", name="salle-12")
    for minute in (0, 5, 10):                       # breach held 10 min: pending, then firing
        clock.now = T0 + timedelta(minutes=minute, seconds=30)
        await engine.on_batch(_reading(db, minute, 1800), [])
        await engine.tick()
    assert db.execute("SELECT state FROM alerts").fetchall() == [("firing",)]
    assert _notifications(db) == Counter({("firing", "sms", "marie"): 1, ("firing", "email", "marie"): 1})

    clock.now -= timedelta(hours=1)                 # back one hour
    for _ in range(3):
        await engine.tick()
        clock.now += timedelta(minutes=1)
    assert _notifications(db) == Counter({("firing", "sms", "marie"): 1, ("firing", "email", "marie"): 1})

    clock.now += timedelta(hours=3)                 # forward three hours
    for _ in range(3):
        await engine.tick()
    after = _notifications(db)
    assert after[("escalation", "email", "maire")] == 1
    assert after[("repeat", "sms", "marie")] <= 1 and after[("repeat", "email", "marie")] <= 1
    assert sum(after.values()) <= 2 + 1 + 3, f"a burst after the forward jump: {after}"

    db.execute("UPDATE outbox SET status = 'sent', sent_at = %s", (clock.now,))    # as the sender would
    clock.now += timedelta(minutes=1)
    await engine.on_batch(_reading(db, (clock.now - T0).total_seconds() / 60, 600), [])
    await engine.tick()
    assert db.execute("SELECT count(*), min(state) FROM alerts").fetchone() == (1, "resolved")
    resolved = {k: v for k, v in _notifications(db).items() if k[0] == "resolved"}
    assert resolved and all(v == 1 for v in resolved.values()), resolved


async def test_a_breach_arriving_while_the_host_clock_is_behind_is_alerted_at_once(
        db: psycopg.Connection, pool: AsyncConnectionPool, tmp_path: Path) -> None:  # noqa: F811
    """Promise: after the host clock jumps back one hour, a threshold breach reported by the network server is
    still alerted when it arrives (after its ``for`` duration measured on the data), not an hour later."""
    rule = RULE.replace("for: 10m", "for: 0m")
    clock = Clock(T0)
    engine = make_engine(pool, write_rules(tmp_path, rule, ONCALL), clock)
    add_device(db, EUI, "air", name="salle-12")
    clock.now = T0 + timedelta(seconds=30)
    await engine.on_batch(_reading(db, 0, 600), [])
    clock.now -= timedelta(hours=1)                 # the host clock steps back an hour
    clock.now += timedelta(minutes=5)
    await engine.on_batch(_reading(db, 5, 1800), [])  # the network server's time did not jump
    await engine.tick()
    assert db.execute("SELECT state FROM alerts").fetchall() == [("firing",)]
