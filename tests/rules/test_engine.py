"""The engine and the alert lifecycle against the real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from rules.lifecycle import NotAcknowledgeable
from tests.rules.conftest import (
    FLOOD_RULE,
    Clock,
    add_device,
    alerts,
    make_engine,
    outbox,
    store_readings,
    write_rules,
)
from tests.rules.helpers import at

GAUGE = "70b3d5e75e000001"


def flood(db: psycopg.Connection, levels: list[tuple[float, float]]):  # type: ignore[no-untyped-def]
    return store_readings(db, GAUGE, "water_level", [(at(m), v) for m, v in levels])


async def test_a_flash_flood_raises_one_critical_alert_and_tells_the_person_on_call(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, FLOOD_RULE), clock)
    add_device(db, GAUGE)
    clock.now = at(0)
    assert await engine.on_batch(flood(db, [(0, 1.00)]), []) == 0
    clock.now = at(10)
    batch = flood(db, [(5, 1.12), (10, 1.30)])
    assert await engine.on_batch(batch, []) == 1
    assert await engine.on_batch(batch, []) == 0          # the same batch again (redelivery) changes nothing
    assert alerts(db) == [("crue-rapide", GAUGE, "firing", "critical")]
    # 2025-03-10 09:10 Paris: Paul holds the rotation's second week
    assert outbox(db) == [("firing", "sms", "paul", "pending"), ("firing", "email", "paul", "pending")]
    sms, subject, body = db.execute("SELECT body, (SELECT subject FROM outbox WHERE channel = 'email'), "
                                    "(SELECT body FROM outbox WHERE channel = 'email') FROM outbox "
                                    "WHERE channel = 'sms'").fetchone()
    # é and è are GSM-7 characters: no need to strip them
    assert sms == "[CRITIQUE] Montée rapide de la rivière - Pont de la Mairie (centre): hausse de 0,3 m en 15 min " \
                  "(seuil 0,2 m) depuis 09:10."
    assert subject == "[Beffroi][CRITIQUE] Montée rapide de la rivière - Pont de la Mairie"
    assert "Où         : Pont de la Mairie, site centre" in body
    trail = db.execute("SELECT from_state, to_state, actor FROM alert_transitions").fetchall()
    assert trail == [(None, "firing", "engine")]


async def test_escalation_and_repeats_until_acknowledged_then_silence(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, FLOOD_RULE), clock)
    add_device(db, GAUGE)
    flood(db, [(0, 1.0)])
    clock.now = at(10)
    await engine.on_batch(flood(db, [(10, 1.3)]), [])
    clock.now = at(20)                                     # 10 min: the crue route repeats to level 1
    await engine.tick()
    assert outbox(db, "event = 'repeat'") == [("repeat", "sms", "paul", "pending"),
                                              ("repeat", "email", "paul", "pending")]
    clock.now = at(26)                                     # 16 min after firing: level 2, the mayor
    await engine.tick()
    assert outbox(db, "event = 'escalation'") == [("escalation", "email", "maire", "pending")]
    alert_id = db.execute("SELECT id FROM alerts").fetchone()[0]
    async with pool.connection() as conn:
        acked = await engine.lifecycle.acknowledge(conn, alert_id, "user:marie", clock.advance(minutes=1))
    assert acked is not None and acked.state == "acknowledged"
    assert db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0] == 0
    before = len(outbox(db))
    for _ in range(4):
        clock.advance(minutes=15)
        await engine.tick()
    assert len(outbox(db)) == before                       # acknowledged: no more repeats nor escalation
    assert db.execute("SELECT to_state, actor FROM alert_transitions ORDER BY id DESC LIMIT 1").fetchone() == (
        "acknowledged", "user:marie")


async def test_receding_water_resolves_and_tells_who_was_told(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, FLOOD_RULE), clock)
    add_device(db, GAUGE)
    flood(db, [(0, 1.0)])
    clock.now = at(10)
    await engine.on_batch(flood(db, [(10, 1.3)]), [])
    db.execute("UPDATE outbox SET status = 'sent'")
    clock.now = at(30)
    assert await engine.on_batch(flood(db, [(20, 1.28), (30, 1.15)]), []) == 1
    assert alerts(db)[0][2] == "resolved"
    assert outbox(db, "event = 'resolved'") == [("resolved", "email", "paul", "pending"),
                                               ("resolved", "sms", "paul", "pending")]
    sms = db.execute("SELECT body FROM outbox WHERE event = 'resolved' AND channel = 'sms'").fetchone()[0]
    assert sms.startswith("[FIN] Montée rapide de la rivière") and "/ack/" not in sms
    # the next flood is a new alert
    clock.now = at(40)
    await engine.on_batch(flood(db, [(35, 1.1), (40, 1.4)]), [])
    assert [a[2] for a in alerts(db)] == ["resolved", "firing"]


async def test_a_value_flapping_in_the_hysteresis_band_makes_one_alert(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    setup = write_rules(tmp_path, """
        rules:
          - {id: co2-haut, title: CO2 élevé, kind: threshold, severity: warning, route: default,
             params: {quantity: co2, above: 1500, clear: 1300}}
    """)
    engine = make_engine(pool, setup, clock)
    add_device(db, GAUGE, "air", name="Salle 12")
    for i, value in enumerate([1200, 1550, 1450, 1520, 1400, 1510, 1350, 1600]):
        clock.now = at(i * 10)
        await engine.on_batch(store_readings(db, GAUGE, "co2", [(clock.now, value)]), [])
    assert alerts(db) == [("co2-haut", GAUGE, "firing", "warning")]
    assert len(outbox(db, "event = 'firing'")) == 2


async def test_two_engines_on_the_same_stream_make_one_alert(
        db: psycopg.Connection, db_url: str, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    setup = write_rules(tmp_path, FLOOD_RULE)
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4) as other_pool:
        first, second = make_engine(pool, setup, clock), make_engine(other_pool, setup, clock)
        for n in range(5):
            dev = f"70b3d5e75e00001{n}"
            add_device(db, dev)
            store_readings(db, dev, "water_level", [(at(0), 1.0)])
            batch = store_readings(db, dev, "water_level", [(at(10), 1.5)])
            clock.now = at(10)
            results = await asyncio.gather(first.on_batch(batch, []), second.on_batch(batch, []),
                                           first.on_batch(batch, []), second.on_batch(batch, []))
            assert sum(results) == 1
    assert len(alerts(db)) == 5
    assert len(outbox(db)) == 10                            # one SMS and one e-mail per alert, never twice


async def test_a_silent_device_raises_a_no_data_alert_on_the_tick(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, """
        rules:
          - {id: muet, title: Capteur muet, kind: no_data, params: {periods: 3}, severity: warning, route: default}
    """), clock)
    add_device(db, GAUGE)                                   # gauge profile: one uplink every 5 min
    store_readings(db, GAUGE, "water_level", [(at(0), 1.0)])
    clock.now = at(14)
    assert await engine.tick() == 0
    clock.now = at(16)
    assert await engine.tick() >= 1
    assert alerts(db) == [("muet", GAUGE, "firing", "warning")]
    clock.now = at(20)                                      # it speaks again: resolved at once, by the batch
    assert await engine.on_batch(store_readings(db, GAUGE, "water_level", [(at(20), 1.0)]), []) == 1
    assert alerts(db)[0][2] == "resolved"


async def test_severity_rises_on_the_open_alert_and_re_notifies(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, """
        rules:
          - id: vigilance
            title: Vigilance crue
            kind: threshold
            route: crue
            params: {quantity: water_level, steps: [{above: 2.0, clear: 1.9, severity: info},
                                                    {above: 2.5, clear: 2.4, severity: warning},
                                                    {above: 3.0, clear: 2.9, severity: critical}]}
    """), clock)
    add_device(db, GAUGE)
    for minute, level in [(0, 2.1), (10, 2.6), (20, 3.2)]:
        clock.now = at(minute)
        await engine.on_batch(store_readings(db, GAUGE, "water_level", [(clock.now, level)]), [])
    assert alerts(db) == [("vigilance", GAUGE, "firing", "critical")]
    notes = [r[0] for r in db.execute("SELECT note FROM alert_transitions ORDER BY id").fetchall()]
    assert notes[1:] == ["severity info -> warning", "severity warning -> critical"]
    assert [e for e, *_ in outbox(db)].count("severity") == 4


async def test_quiet_hours_defer_an_advisory_and_drop_it_if_it_ends_before_morning(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, """
        rules:
          - {id: co2-conseil, title: Aérer la salle, kind: threshold, severity: info, route: co2,
             params: {quantity: co2, above: 800, clear: 700}}
    """), clock)
    add_device(db, GAUGE, "air", name="Salle 12")
    clock.now = at(60 * 11)                                 # 20:00 in Paris: outside school hours
    await engine.on_batch(store_readings(db, GAUGE, "co2", [(clock.now, 900)]), [])
    assert alerts(db)[0][2] == "firing" and outbox(db) == []
    next_at = db.execute("SELECT next_notify_at FROM alerts").fetchone()[0]
    assert next_at == at(60 * 23)                           # Tuesday 08:00 in Paris (07:00 UTC)
    clock.now = at(60 * 24 + 1)
    await engine.tick()
    assert [c for _, c, *_ in outbox(db)] == ["sms", "email"]
    # the next evening's advisory clears before morning: nobody is ever told
    db.execute("UPDATE alerts SET state = 'resolved', resolved_at = now()")
    clock.now = at(60 * 35)
    await engine.on_batch(store_readings(db, GAUGE, "co2", [(clock.now, 950)]), [])
    clock.now = at(60 * 36)
    await engine.on_batch(store_readings(db, GAUGE, "co2", [(clock.now, 600)]), [])
    clock.now = at(60 * 48 + 5)
    await engine.tick()
    assert len(outbox(db)) == 2


async def test_a_silence_holds_notifications_until_it_ends(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, FLOOD_RULE), clock)
    add_device(db, GAUGE)
    db.execute("INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment) VALUES "
               "('{\"site\": \"centre\"}', %s, %s, 'user:marie', 'travaux sur le pont')", (at(0), at(60)))
    flood(db, [(0, 1.0)])
    clock.now = at(10)
    await engine.on_batch(flood(db, [(10, 1.3)]), [])
    assert alerts(db)[0][2] == "firing" and outbox(db) == []
    clock.now = at(61)
    await engine.tick()
    assert [e for e, *_ in outbox(db)] == ["firing", "firing"]


async def test_state_survives_a_restart_pending_becomes_firing_on_a_new_engine(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    setup = write_rules(tmp_path, """
        rules:
          - {id: co2-haut, title: CO2, kind: threshold, route: default,
             params: {quantity: co2, above: 1500, clear: 1300, for: 15m}}
    """)
    add_device(db, GAUGE, "air")
    clock.now = at(0)
    await make_engine(pool, setup, clock).on_batch(store_readings(db, GAUGE, "co2", [(at(0), 1600)]), [])
    assert alerts(db)[0][2] == "pending" and outbox(db) == []
    clock.now = at(16)
    await make_engine(pool, setup, clock).tick()            # a fresh engine, no data since
    assert alerts(db)[0][2] == "firing"
    assert [r[0] for r in db.execute("SELECT to_state FROM alert_transitions ORDER BY id").fetchall()] == [
        "pending", "firing"]


async def test_a_pending_alert_that_clears_is_resolved_without_notification(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, """
        rules:
          - {id: co2-haut, title: CO2, kind: threshold, route: default,
             params: {quantity: co2, above: 1500, for: 15m}}
    """), clock)
    add_device(db, GAUGE, "air")
    clock.now = at(0)
    await engine.on_batch(store_readings(db, GAUGE, "co2", [(at(0), 1600)]), [])
    clock.now = at(5)
    await engine.on_batch(store_readings(db, GAUGE, "co2", [(at(5), 1000)]), [])
    assert alerts(db)[0][2] == "resolved" and outbox(db) == []


async def test_alerts_of_a_removed_rule_are_closed(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    add_device(db, GAUGE)
    clock.now = at(10)
    await make_engine(pool, write_rules(tmp_path / "a", FLOOD_RULE), clock).on_batch(
        flood(db, [(0, 1.0), (10, 1.4)]), [])
    assert alerts(db)[0][2] == "firing"
    engine = make_engine(pool, write_rules(tmp_path / "b", "rules: []"), clock)
    await engine.tick()
    state, = db.execute("SELECT state FROM alerts").fetchone()
    assert state == "resolved"


async def test_only_a_firing_alert_can_be_acknowledged(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(pool, write_rules(tmp_path, FLOOD_RULE), clock)
    async with pool.connection() as conn:
        assert await engine.lifecycle.acknowledge(conn, 12345, "user:x", clock()) is None
    add_device(db, GAUGE)
    clock.now = at(10)
    await engine.on_batch(flood(db, [(0, 1.0), (10, 1.4)]), [])
    clock.now = at(30)
    await engine.on_batch(flood(db, [(30, 1.0)]), [])
    alert_id = db.execute("SELECT id FROM alerts").fetchone()[0]
    async with pool.connection() as conn:
        try:
            await engine.lifecycle.acknowledge(conn, alert_id, "user:x", clock())
        except NotAcknowledgeable as exc:
            assert "resolved" in str(exc)
        else:
            raise AssertionError("a resolved alert was acknowledged")
