"""Alerts for the page tests: firing alerts with the notification (outbox row) whose signed link reaches them."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from rules.acklinks import AckLinks
from tests.api.seed import T0

ACK_SECRET = "page-tests-ack-secret-0123456789"
ENV = {"BEFFROI_NOTIFY_ACK_SECRET": ACK_SECRET}


def firing_alert(conn: psycopg.Connection, alert_id: int, dev_eui: str, summary: str, severity: str = "critical",
                 value: float = 3.2, threshold: float = 3.0) -> str:
    """Insert a firing alert and the SMS that announced it; return the signed link's path (/ack/<token>)."""
    conn.execute("INSERT INTO alerts (id, rule, dev_eui, state, severity, route, summary, value, threshold, "
                 "started_at, fired_at, level, updated_at) VALUES (%s, 'crue-rapide', %s, 'firing', %s, "
                 "'astreinte', %s, %s, %s, %s, %s, 1, %s)",
                 (alert_id, dev_eui, severity, summary, value, threshold, T0, T0 + timedelta(minutes=5), T0))
    conn.execute("INSERT INTO alert_transitions (alert_id, time, from_state, to_state, severity, actor) VALUES "
                 "(%s, %s, NULL, 'pending', %s, 'engine'), (%s, %s, 'pending', 'firing', %s, 'engine')",
                 (alert_id, T0, severity, alert_id, T0 + timedelta(minutes=5), severity))
    outbox_id = conn.execute(
        "INSERT INTO outbox (alert_id, event, channel, contact, address, body, status, created_at, next_attempt_at, "
        "sent_at) VALUES (%s, 'firing', 'sms', 'marie', '+33600000000', 'Crue', 'sent', %s, %s, %s) RETURNING id",
        (alert_id, T0, T0, T0)).fetchone()[0]  # type: ignore[index]
    links = AckLinks(ACK_SECRET, timedelta(days=1), "http://127.0.0.1")
    return "/ack/" + links.token(alert_id, outbox_id, T0 + timedelta(minutes=5))
