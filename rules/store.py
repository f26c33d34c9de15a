"""SQL of alert state, the audit trail and the outbox. Callers hold the transaction; nothing here commits.

Concurrency rests on the database: ``alerts_one_open_per_rule_device`` (a unique partial index) makes the second
of two concurrent inserts a no-op (``ON CONFLICT DO NOTHING``), and every change to an open alert happens on a
row locked with ``FOR UPDATE``, so two engine processes serialise on it and the second sees the first's result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from rules.model import Severity
from rules.mute import Silence

__all__ = ["AlertRow", "OutboxMessage", "lock_open_alert", "insert_alert", "update_alert", "add_transition",
           "insert_outbox", "cancel_pending", "notified_addresses", "open_alerts", "lock_due_alerts",
           "lock_alert", "api_silences", "OUTBOX_CHANNEL"]

OUTBOX_CHANNEL = "beffroi_outbox"   # NOTIFY channel: wakes senders as soon as a transaction adds rows

_COLUMNS = sql.SQL("id, rule, dev_eui, state, severity, route, summary, value, threshold, details, started_at, fired_at, "
            "acked_at, acked_by, resolved_at, level, next_notify_at, last_notified_at, delivery_failures, "
            "last_delivery_error")


def _q(text: str) -> sql.Composed:
    """A query with ``{cols}`` standing for the alert columns."""
    return sql.SQL(text).format(cols=_COLUMNS)


@dataclass(slots=True)
class AlertRow:
    id: int
    rule: str
    dev_eui: str
    state: str
    severity: Severity
    route: str
    summary: str = ""
    value: float | None = None
    threshold: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    fired_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    resolved_at: datetime | None = None
    level: int = 0
    next_notify_at: datetime | None = None
    last_notified_at: datetime | None = None
    delivery_failures: int = 0
    last_delivery_error: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AlertRow:
        data = dict(row)
        data["severity"] = Severity.parse(data["severity"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    channel: str
    contact: str
    address: str
    subject: str
    body: str
    payload: Mapping[str, Any] = field(default_factory=dict)


async def _one(conn: AsyncConnection, query: sql.Composed, params: Iterable[Any]) -> AlertRow | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, tuple(params))
        row = await cur.fetchone()
    return AlertRow.from_row(row) if row else None


async def lock_open_alert(conn: AsyncConnection, rule: str, dev_eui: str) -> AlertRow | None:
    return await _one(conn, _q("SELECT {cols} FROM alerts WHERE rule = %s AND dev_eui = %s "
                                  "AND state <> 'resolved' FOR UPDATE"), (rule, dev_eui))


async def lock_alert(conn: AsyncConnection, alert_id: int) -> AlertRow | None:
    return await _one(conn, _q("SELECT {cols} FROM alerts WHERE id = %s FOR UPDATE"), (alert_id,))


async def insert_alert(conn: AsyncConnection, *, rule: str, dev_eui: str, state: str, severity: Severity,
                       route: str, summary: str, value: float | None, threshold: float | None,
                       details: Mapping[str, Any], started_at: datetime, fired_at: datetime | None,
                       now: datetime) -> AlertRow | None:
    """The new open alert, or None when another transaction holds the open alert of this (rule, device)."""
    return await _one(conn, _q("""
        INSERT INTO alerts (rule, dev_eui, state, severity, route, summary, value, threshold, details,
                            started_at, fired_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT DO NOTHING RETURNING {cols}"""),
        (rule, dev_eui, state, severity.label, route, summary, value, threshold, Jsonb(dict(details)),
         started_at, fired_at, now))


async def update_alert(conn: AsyncConnection, alert: AlertRow, now: datetime, **changes: Any) -> None:
    """Set columns on the (locked) alert and mirror them on ``alert``."""
    if not changes:
        return
    values = []
    for key, value in changes.items():
        setattr(alert, key, value)
        values.append(value.label if isinstance(value, Severity) else Jsonb(dict(value)) if key == "details"
                      else value)
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(key)) for key in changes)
    await conn.execute(sql.SQL("UPDATE alerts SET {}, updated_at = %s WHERE id = %s").format(assignments),
                       (*values, now, alert.id))


async def add_transition(conn: AsyncConnection, alert_id: int, now: datetime, from_state: str | None,
                         to_state: str, severity: Severity, actor: str, note: str = "") -> None:
    await conn.execute(
        "INSERT INTO alert_transitions (alert_id, time, from_state, to_state, severity, actor, note) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)", (alert_id, now, from_state, to_state, severity.label, actor, note))


async def next_outbox_id(conn: AsyncConnection) -> int:
    """Ids are taken before rendering: the acknowledgement link in a message names the message's own row."""
    cur = await conn.execute("SELECT nextval(pg_get_serial_sequence('outbox', 'id'))")
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def insert_outbox(conn: AsyncConnection, outbox_id: int, alert_id: int, event: str, message: OutboxMessage,
                        now: datetime) -> None:
    await conn.execute(
        "INSERT INTO outbox (id, alert_id, event, channel, contact, address, subject, body, payload, created_at, "
        "next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (outbox_id, alert_id, event, message.channel, message.contact, message.address, message.subject,
         message.body, Jsonb(dict(message.payload)), now, now))
    await conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")


async def cancel_pending(conn: AsyncConnection, alert_id: int, reason: str) -> int:
    """Cancel notifications of the alert not yet delivered; rows being delivered right now (locked) are left."""
    cur = await conn.execute(
        "UPDATE outbox SET status = 'cancelled', last_error = %s WHERE id IN (SELECT id FROM outbox "
        "WHERE alert_id = %s AND status = 'pending' FOR UPDATE SKIP LOCKED)", (reason, alert_id))
    return cur.rowcount


async def notified_addresses(conn: AsyncConnection, alert_id: int) -> list[tuple[str, str, str]]:
    """(channel, contact, address) that were told about the alert (delivered, or being delivered right now)."""
    cur = await conn.execute(
        "SELECT DISTINCT channel, contact, address FROM outbox WHERE alert_id = %s AND event <> 'resolved' "
        "AND status IN ('sent', 'pending') ORDER BY 1, 2", (alert_id,))
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]


async def open_alerts(conn: AsyncConnection, rules: Iterable[str] | None = None,
                      dev_euis: Iterable[str] | None = None) -> dict[tuple[str, str], AlertRow]:
    query = _q("SELECT {cols} FROM alerts WHERE state <> 'resolved' AND (%s::text[] IS NULL OR rule = ANY(%s)) "
               "AND (%s::text[] IS NULL OR dev_eui = ANY(%s))")
    rule_list = None if rules is None else list(rules)
    dev_list = None if dev_euis is None else list(dev_euis)
    params = (rule_list, rule_list, dev_list, dev_list)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    return {(r["rule"], r["dev_eui"]): AlertRow.from_row(r) for r in rows}


async def lock_due_alerts(conn: AsyncConnection, now: datetime, limit: int = 100) -> list[AlertRow]:
    """Firing alerts whose escalation / repeat / deferred notification is due; skips those another engine holds."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_q("SELECT {cols} FROM alerts WHERE state = 'firing' AND next_notify_at <= %s "
                             "ORDER BY next_notify_at LIMIT %s FOR UPDATE SKIP LOCKED"), (now, limit))
        return [AlertRow.from_row(r) for r in await cur.fetchall()]


async def api_silences(conn: AsyncConnection, now: datetime) -> list[Silence]:
    cur = await conn.execute("SELECT id, matchers, starts_at, ends_at, comment, created_by FROM silences "
                             "WHERE ends_at > %s", (now,))
    return [Silence(r[1], r[2], r[3], r[4], r[5], r[0]) for r in await cur.fetchall()]
