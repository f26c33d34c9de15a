"""``beffroi run`` (ingest + rules + outbox sender in one process) killed with SIGKILL while it evaluates rules,
and while it delivers notifications; restarted; counted against the database and the notification sinks.

(SIGKILL during plain ingest: ``tests/ingest/test_crash.py``; a bare outbox sender killed mid-delivery:
``tests/rules/test_outbox.py::test_a_sender_killed_mid_delivery_resends_after_restart_and_loses_nothing``.)
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.faults.conftest import ServiceFactory
from tests.faults.harness import Stream, check_stored_once, count_uplinks, wait_stored, wait_until
from tests.faults.sinks import EMAIL, PHONE, SmsGateway, SmtpSink, alerting_env, write_rules

pytestmark = pytest.mark.usefixtures("requires_mqtt5")


def _breach(index: int) -> dict[str, float]:
    return {"co2": 1800.0, "temperature": 21.0, "humidity": 45.0, "battery": 90.0}


def _counts(db: psycopg.Connection) -> tuple[int, int, int]:
    row = db.execute("SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM outbox), "
                     "(SELECT count(*) FROM outbox WHERE status = 'sent') ").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _lag(db: psycopg.Connection, devices: list[str]) -> int:
    """Breaching uplinks stored whose device has no alert yet, once the first alerts exist (else 0)."""
    row = db.execute("SELECT (SELECT count(*) FROM uplinks WHERE dev_eui = ANY(%s)), (SELECT count(*) FROM alerts)",
                     (devices,)).fetchone()
    assert row is not None
    return int(row[0]) - int(row[1]) if row[1] else 0


def _check_alerts(db: psycopg.Connection, devices: list[str]) -> None:
    rows = db.execute("SELECT dev_eui, count(*), min(state) FROM alerts GROUP BY dev_eui").fetchall()
    assert {r[0] for r in rows} == set(devices), "every breaching device has its alert"
    assert all(r[1] == 1 for r in rows), f"one alert per device, got {[r for r in rows if r[1] != 1][:3]}"
    assert {r[2] for r in rows} == {"firing"}
    statuses = db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
    assert dict(statuses) == {"sent": 2 * len(devices)}, statuses


def _texts_per_alert(texts: list[str], names: list[str]) -> Counter[str]:
    return Counter(name for text in texts for name in names if name in text)


def test_sigkill_during_rule_evaluation_loses_no_alert_and_doubles_none(
        db: psycopg.Connection, unique: str, tmp_path: Path, beffroi: ServiceFactory, smtp: SmtpSink,
        sms: SmsGateway, recovery: Callable[[str, float], None]) -> None:
    """Promise: 300 devices breach a CO2 threshold in one burst and the service is SIGKILLed while a committed
    batch is being evaluated (alerts appearing, stored breaches not evaluated yet). After the restart, within 60 s
    (300 alerts, 600 notifications on a busy 2-core machine): every
    uplink is stored once, every device has exactly one firing alert, every alert's SMS and e-mail is delivered
    (a notification in flight at the kill may arrive twice; none is lost), and no outbox row is left pending.

    Why it holds: the evaluation that died is redone by the restarted engine's first tick (threshold rules are
    evaluated on the tick too, over their window), and the unique index on open alerts refuses a second one."""
    svc = beffroi(**alerting_env(write_rules(tmp_path / "rules"), smtp, sms))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    with Stream(svc.env["BEFFROI_MQTT_URL"], unique, devices=300, start=start, readings=_breach) as stream:
        stream.register(db)
        stream.probe(db)
        stream.publish(len(stream.devices))
        # kill once a batch is committed and its evaluation is under way: alerts appearing, many stored
        # readings not evaluated yet
        wait_until(lambda: _lag(db, stream.devices) >= 5, "committed readings awaiting evaluation", 60, every_s=0.005)
        svc.kill()
        at_kill = _counts(db)
        print(f"at the kill: {count_uplinks(db, stream.devices)} of {len(stream.devices)} uplinks stored, "
              f"{at_kill[0]} alerts, {at_kill[1]} outbox rows, {at_kill[2]} sent; "
              f"SMS received {len(sms.received)}, e-mails {len(smtp.messages)}")
        assert at_kill[0] < len(stream.devices), "the kill came too late to interrupt the evaluation"
        restarted = time.monotonic()
        svc.restart()
        stream.wait_acknowledged()
        wait_stored(db, stream, lambda s: True, "every uplink of the burst stored", 60)
        wait_until(lambda: _counts(db)[0] == len(stream.devices) and _counts(db)[2] == 2 * len(stream.devices)
                   and len(sms.answered) >= len(stream.devices) and len(smtp.messages) >= len(stream.devices),
                   "every alert raised and notified", 60, every_s=0.2)
        recovery("SIGKILL during rule evaluation (300-device burst): every alert raised and notified, after the "
                 "restart", time.monotonic() - restarted)
        check_stored_once(db, stream)
        _check_alerts(db, stream.devices)
    assert {m["to"] for m in sms.answered} == {PHONE} and {m["To"] for m in smtp.messages} == {EMAIL}
    names = [f"test-{eui}" for eui in stream.devices]
    for what, texts in (("SMS", [m["text"] for m in sms.answered]),
                        ("e-mail", [str(m.get_payload()) + str(m["Subject"]) for m in smtp.messages])):
        per = _texts_per_alert(texts, names)
        missing = [n for n in names if per[n] == 0]
        assert not missing, f"{what} missing for {len(missing)} alerts"
        doubled = sum(1 for n in names if per[n] > 1)
        print(f"{what}: {len(texts)} received for {len(names)} alerts ({doubled} sent twice across the kill)")


def test_sigkill_during_notification_delivery_loses_no_notification(
        db: psycopg.Connection, unique: str, tmp_path: Path, beffroi: ServiceFactory, smtp: SmtpSink,
        sms: SmsGateway, recovery: Callable[[str, float], None]) -> None:
    """Promise: with SMS deliveries in flight (the gateway holds each request 5 s) the service is SIGKILLed;
    after the restart, within 60 s every outbox row is sent and every alert's SMS and e-mail has arrived at
    least once. Rows whose delivery was in flight — claimed but not recorded as sent — are sent again: at most
    one extra copy each."""
    svc = beffroi(**alerting_env(write_rules(tmp_path / "rules"), smtp, sms))
    sms.mode = "hang"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    with Stream(svc.env["BEFFROI_MQTT_URL"], unique, devices=10, start=start, readings=_breach) as stream:
        stream.register(db)
        stream.probe(db)
        stream.publish(len(stream.devices))
        wait_until(lambda: len(sms.received) >= 1, "an SMS delivery in flight", 60)
        time.sleep(0.5)
        svc.kill()
        in_flight = len(sms.received) - len(sms.answered)
        sent_before = _counts(db)[2]
        print(f"at the kill: {in_flight} SMS in flight, {sent_before} outbox rows recorded sent")
        assert in_flight >= 1
        sms.mode = "ok"
        restarted = time.monotonic()
        svc.restart()
        wait_until(lambda: _counts(db)[2] == 2 * len(stream.devices), "every outbox row sent", 60, every_s=0.2)
        recovery("SIGKILL during notification delivery: every outbox row sent, after the restart",
                 time.monotonic() - restarted)
        _check_alerts(db, stream.devices)
    names = [f"test-{eui}" for eui in stream.devices]
    per_sms = _texts_per_alert([m["text"] for m in sms.received], names)
    assert all(per_sms[n] >= 1 for n in names), "an SMS was lost"
    assert all(per_sms[n] <= 2 for n in names), f"more than one extra copy: {per_sms}"
    per_mail = _texts_per_alert([str(m.get_payload()) + str(m["Subject"]) for m in smtp.messages], names)
    assert all(1 <= per_mail[n] <= 2 for n in names), per_mail
    print(f"SMS reaching the gateway: {len(sms.received)} for {len(names)} alerts; e-mails: {len(smtp.messages)}")
