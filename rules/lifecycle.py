"""The alert lifecycle: pending → firing → acknowledged → resolved (or resolved straight from pending/firing).

Every function runs inside the caller's transaction on a row it has locked, writes the transition to the audit
trail and queues the notifications it implies in the outbox — all committed together or not at all.

Notification policy, decided here once:
- firing: level 1 of the route's escalation policy, plus the route's webhooks;
- while firing and unacknowledged: level N+1 once its ``after`` has elapsed since firing, and a repeat to the
  levels reached every ``repeat`` interval; acknowledging stops both and cancels what is not yet sent;
- severity rising: the levels reached are told again (an acknowledged alert becomes firing again);
- resolved: everyone who was told (and the webhooks) if the route says ``notify_resolved``;
- silenced, or outside the severity's active hours: nothing is queued; the alert waits (``next_notify_at``)
  and is notified when the silence ends or the hours open, if it is still firing and unacknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from psycopg import AsyncConnection

from rules.compose import AlertView, Composer
from rules.model import DeviceInfo, Verdict
from rules.mute import Silence, silenced
from rules.routing import Recipient, Routing, Webhook
from rules.ruleset import Rule
from rules.store import (
    AlertRow,
    add_transition,
    api_silences,
    cancel_pending,
    insert_alert,
    insert_outbox,
    lock_alert,
    lock_due_alerts,
    lock_open_alert,
    next_outbox_id,
    notified_addresses,
    update_alert,
)

__all__ = ["Lifecycle", "NotAcknowledgeable", "acknowledge"]

log = logging.getLogger(__name__)

ViewLookup = Callable[[AsyncConnection, AlertRow], Awaitable[AlertView]]


class NotAcknowledgeable(Exception):
    """The alert is pending or resolved; only a firing alert can be acknowledged."""


async def acknowledge(conn: AsyncConnection, alert_id: int, actor: str, now: datetime) -> AlertRow | None:
    """Acknowledge a firing alert (idempotent when already acknowledged); None when it does not exist."""
    alert = await lock_alert(conn, alert_id)
    if alert is None:
        return None
    if alert.state == "acknowledged":
        return alert
    if alert.state != "firing":
        raise NotAcknowledgeable(f"alert {alert_id} is {alert.state}; only a firing alert can be acknowledged")
    await update_alert(conn, alert, now, state="acknowledged", acked_at=now, acked_by=actor, next_notify_at=None)
    await add_transition(conn, alert.id, now, "firing", "acknowledged", alert.severity, actor)
    cancelled = await cancel_pending(conn, alert.id, f"acknowledged by {actor}")
    log.info("alert %s acknowledged by %s (%s pending notifications cancelled)", alert.id, actor, cancelled,
             extra={"alert": alert.id, "rule": alert.rule, "dev_eui": alert.dev_eui})
    return alert


class Lifecycle:
    def __init__(self, routing: Routing, composer: Composer, rules: Mapping[str, Rule],
                 file_silences: Sequence[Silence] = ()) -> None:
        self.routing = routing
        self.composer = composer
        self.rules = rules
        self.file_silences = tuple(file_silences)

    # -- verdicts ----------------------------------------------------------------------------------------------

    async def apply(self, conn: AsyncConnection, rule: Rule, device: DeviceInfo, verdict: Verdict,
                    now: datetime, actor: str = "engine") -> str | None:
        """Bring the (rule, device) alert in line with the verdict; return the transition made, if any."""
        if verdict.status == "hold":
            return None
        alert = await lock_open_alert(conn, rule.id, device.dev_eui)
        if alert is None:
            if verdict.status not in ("pending", "firing"):
                return None
            firing = verdict.status == "firing"
            alert = await insert_alert(
                conn, rule=rule.id, dev_eui=device.dev_eui, state=verdict.status,
                severity=verdict.severity or rule.severity, route=rule.route, summary=verdict.summary,
                value=verdict.value, threshold=verdict.threshold, details=verdict.details,
                started_at=verdict.since or now, fired_at=now if firing else None, now=now)
            if alert is None:  # another engine created it meanwhile: decide again against its row
                alert = await lock_open_alert(conn, rule.id, device.dev_eui)
                if alert is None:
                    return None
                return await self._update(conn, alert, rule, device, verdict, now, actor)
            await add_transition(conn, alert.id, now, None, alert.state, alert.severity, actor, verdict.summary)
            if firing:
                await self._notify(conn, self._view(alert, rule, device), "firing", [1], now)
            return alert.state
        return await self._update(conn, alert, rule, device, verdict, now, actor)

    async def _update(self, conn: AsyncConnection, alert: AlertRow, rule: Rule, device: DeviceInfo,
                      verdict: Verdict, now: datetime, actor: str) -> str | None:
        measure = {"value": verdict.value, "threshold": verdict.threshold, "summary": verdict.summary or alert.summary}
        if verdict.status == "ok":
            await self._resolve(conn, alert, rule, device, now, actor, measure)
            return "resolved"
        if verdict.status == "pending":
            return None
        severity = verdict.severity or rule.severity
        if alert.state == "pending":
            await update_alert(conn, alert, now, state="firing", fired_at=now, severity=max(severity, alert.severity),
                               **measure)
            await add_transition(conn, alert.id, now, "pending", "firing", alert.severity, actor, verdict.summary)
            await self._notify(conn, self._view(alert, rule, device), "firing", [1], now)
            return "firing"
        if severity > alert.severity:
            previous, was = alert.severity, alert.state
            await update_alert(conn, alert, now, severity=severity, state="firing", fired_at=now if
                               was == "acknowledged" else alert.fired_at, acked_at=None, acked_by=None, **measure)
            await add_transition(conn, alert.id, now, was, "firing", severity, actor,
                                 f"severity {previous.label} -> {severity.label}")
            levels = list(range(1, max(alert.level, 1) + 1)) if was == "firing" else [1]
            await self._notify(conn, self._view(alert, rule, device), "severity", levels, now)
            return "severity"
        if verdict.value is not None and verdict.value != alert.value:
            await update_alert(conn, alert, now, **measure)
        return None

    # -- people ------------------------------------------------------------------------------------------------

    async def acknowledge(self, conn: AsyncConnection, alert_id: int, actor: str, now: datetime) -> AlertRow | None:
        return await acknowledge(conn, alert_id, actor, now)

    async def resolve_removed(self, conn: AsyncConnection, alert_id: int, now: datetime) -> None:
        """Close an alert whose rule no longer exists in the rule files (no notification: nobody can act on it)."""
        alert = await lock_alert(conn, alert_id)
        if alert is not None and alert.state != "resolved":
            await update_alert(conn, alert, now, state="resolved", resolved_at=now, next_notify_at=None)
            await add_transition(conn, alert.id, now, alert.state, "resolved", alert.severity, "engine",
                                 "rule removed from the rule files")
            await cancel_pending(conn, alert.id, "rule removed")

    async def _resolve(self, conn: AsyncConnection, alert: AlertRow, rule: Rule, device: DeviceInfo,
                       now: datetime, actor: str, measure: Mapping[str, object]) -> None:
        was = alert.state
        await update_alert(conn, alert, now, state="resolved", resolved_at=now, next_notify_at=None, **measure)
        await add_transition(conn, alert.id, now, was, "resolved", alert.severity, actor)
        await cancel_pending(conn, alert.id, "resolved before delivery")
        route = self.routing.route(alert.route)
        if was == "pending" or not route.notify_resolved:
            return
        if await self._muted(conn, alert, device, now) is not None:
            return
        view = self._view(alert, rule, device)
        for channel, contact, address in await notified_addresses(conn, alert.id):
            to: Recipient | Webhook = (Webhook(contact, address) if channel == "webhook"
                                       else Recipient(contact, channel, address))
            await self._queue(conn, view, "resolved", to, now)

    # -- notifications -----------------------------------------------------------------------------------------

    def _view(self, alert: AlertRow, rule: Rule, device: DeviceInfo) -> AlertView:
        quantities = rule.condition.quantities
        return AlertView(alert, rule.title, rule.description, device, quantities[0] if quantities else None)

    async def _muted(self, conn: AsyncConnection, alert: AlertRow, device: DeviceInfo,
                     now: datetime) -> Silence | None:
        attributes = {"rule": alert.rule, "dev_eui": alert.dev_eui, "site": device.site, "family": device.family,
                      "profile": device.profile, "severity": alert.severity.label}
        return silenced([*self.file_silences, *await api_silences(conn, now)], attributes, now)

    async def _queue(self, conn: AsyncConnection, view: AlertView, event: str, to: Recipient | Webhook,
                     now: datetime) -> None:
        outbox_id = await next_outbox_id(conn)
        await insert_outbox(conn, outbox_id, view.alert.id, event, self.composer.compose(view, event, to, outbox_id,
                                                                                          now), now)

    async def _notify(self, conn: AsyncConnection, view: AlertView, event: str, levels: Sequence[int],
                      now: datetime) -> None:
        """Queue ``event`` for the given escalation levels, unless muted (then wait and retry later)."""
        alert = view.alert
        route = self.routing.route(alert.route)
        silence = await self._muted(conn, alert, view.device, now)
        opens = route.notify_from(alert.severity, now)
        if silence is not None or opens > now:
            # nobody is told now; level 0 makes the due-processing send the first notification later
            wake = silence.ends if silence is not None else opens
            if alert.level == 0 or event in ("firing", "severity"):
                await update_alert(conn, alert, now, level=0, next_notify_at=wake)
            else:
                await update_alert(conn, alert, now, next_notify_at=wake)
            return
        seen: set[tuple[str, str]] = set()
        for level in levels:
            for recipient in self.routing.recipients(alert.route, level, now):
                if (recipient.contact, recipient.channel) not in seen:
                    seen.add((recipient.contact, recipient.channel))
                    await self._queue(conn, view, event, recipient, now)
        if event in ("firing", "severity", "escalation"):
            for hook in route.webhooks:
                await self._queue(conn, view, event, hook, now)
        level = max(alert.level, *levels)
        await update_alert(conn, alert, now, level=level, last_notified_at=now,
                           next_notify_at=self._next_check(alert, level, now))

    def _next_check(self, alert: AlertRow, level: int, now: datetime) -> datetime | None:
        route = self.routing.route(alert.route)
        candidates = []
        escalation = self.routing.next_escalation(alert.route, level, alert.fired_at or now)
        if escalation is not None:
            candidates.append(escalation)
        if route.repeat is not None:
            candidates.append(now + route.repeat)
        return min(candidates) if candidates else None

    async def process_due(self, conn: AsyncConnection, now: datetime, views: ViewLookup, limit: int = 100) -> int:
        """Escalations, repeats and deferred first notifications that are due; returns how many alerts moved."""
        done = 0
        for alert in await lock_due_alerts(conn, now, limit):
            if alert.rule not in self.rules:
                await self.resolve_removed(conn, alert.id, now)
                continue
            view = await views(conn, alert)
            levels = self.routing.levels(alert.route)
            escalation = self.routing.next_escalation(alert.route, alert.level, alert.fired_at or now)
            route = self.routing.route(alert.route)
            if alert.level == 0:
                await self._notify(conn, view, "firing", [1], now)
            elif escalation is not None and escalation <= now and alert.level < len(levels):
                await self._notify(conn, view, "escalation", [alert.level + 1], now)
            elif route.repeat is not None and (alert.last_notified_at is None
                                               or alert.last_notified_at + route.repeat <= now):
                await self._notify(conn, view, "repeat", list(range(1, alert.level + 1)), now)
            else:
                await update_alert(conn, alert, now, next_notify_at=self._next_check(alert, alert.level, now))
            done += 1
        return done
