"""The delivery stage: claim due outbox rows, hand each to its channel's notifier, record the outcome.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` inside a transaction held open while they are delivered, and
marked sent in that same transaction. Several senders (processes) share the work without overlap; a sender that
dies mid-delivery releases its rows when its connection drops, and they are delivered again — at least once,
and at most once more per crash. Retry with exponential backoff and jitter lives here, once, for every channel;
after ``max_attempts`` (or at once for a non-retryable failure) the row is marked failed, the alert's
``delivery_failures`` counter rises (the alert list shows it), an ERROR is logged and the observer is told
(the service counts it in a metric).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from rules.notifiers import DeliveryError, Notification, Notifier
from rules.store import OUTBOX_CHANNEL

__all__ = ["Backoff", "Sender", "Observer"]

log = logging.getLogger(__name__)

Observer = Callable[[str, Notification, str | None], None]     # (sent | retry | failed, notification, error)


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 5.0
    factor: float = 3.0
    cap_s: float = 900.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        """Wait before attempt ``attempt + 1`` (attempt counts from 1)."""
        seconds = min(self.cap_s, self.base_s * self.factor ** (attempt - 1))
        return timedelta(seconds=seconds * (1 + rng.uniform(-self.jitter, self.jitter)))


_CLAIM = ("SELECT id, alert_id, channel, contact, address, subject, body, payload, attempts FROM outbox "
          "WHERE status = 'pending' AND next_attempt_at <= %s ORDER BY next_attempt_at, id LIMIT %s "
          "FOR UPDATE SKIP LOCKED")


class Sender:
    def __init__(self, pool: AsyncConnectionPool, notifiers: Mapping[str, Notifier], clock: Callable[[], datetime],
                 *, max_attempts: int = 8, batch: int = 20, backoff: Backoff = Backoff(),
                 observer: Observer | None = None, rng: random.Random | None = None,
                 send_timeout_s: float = 60.0) -> None:
        self.pool = pool
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.max_attempts = max_attempts
        self.batch = batch
        self.backoff = backoff
        self.observer = observer
        self.rng = rng or random.Random()
        self.send_timeout_s = send_timeout_s

    async def _attempt(self, n: Notification) -> DeliveryError | None:
        notifier = self.notifiers.get(n.channel)
        if notifier is None:
            return DeliveryError(f"no {n.channel} notifier is configured (see the notify.* settings)",
                                 retryable=False)
        try:
            await asyncio.wait_for(notifier.send(n), self.send_timeout_s)
        except DeliveryError as exc:
            return exc
        except TimeoutError:
            return DeliveryError(f"{n.channel}: no outcome within {self.send_timeout_s:g} s", retryable=True)
        except Exception as exc:  # a notifier bug: keep the row, retry, and show the traceback once
            log.exception("%s notifier failed unexpectedly on outbox %s", n.channel, n.outbox_id)
            return DeliveryError(f"{n.channel}: unexpected {type(exc).__name__}", retryable=True)
        return None

    async def deliver_due(self) -> int:
        """Deliver one batch of due rows; returns how many were claimed."""
        async with self.pool.connection() as conn, conn.transaction():
            now = self.clock()
            cur = await conn.execute(_CLAIM, (now, self.batch))
            rows = await cur.fetchall()
            if not rows:
                return 0
            items = [(Notification(r[0], r[1], r[2], r[4], r[6], r[5], r[7] or {}, r[3]), r[8]) for r in rows]
            outcomes = await asyncio.gather(*(self._attempt(n) for n, _ in items))
            done = self.clock()
            for (n, attempts), error in zip(items, outcomes, strict=True):
                await self._record(conn, n, attempts + 1, error, done)
        return len(rows)

    async def _record(self, conn: psycopg.AsyncConnection[Any], n: Notification, attempt: int,
                      error: DeliveryError | None, now: datetime) -> None:
        context = {"outbox_id": n.outbox_id, "alert": n.alert_id, "channel": n.channel, "contact": n.contact}
        if error is None:
            await conn.execute("UPDATE outbox SET status = 'sent', attempts = %s, sent_at = %s, last_error = NULL "
                               "WHERE id = %s", (attempt, now, n.outbox_id))
            log.info("notification %s delivered by %s to %s", n.outbox_id, n.channel, n.contact, extra=context)
            self._observe("sent", n, None)
        elif error.retryable and attempt < self.max_attempts:
            retry_at = now + self.backoff.delay(attempt, self.rng)
            await conn.execute("UPDATE outbox SET attempts = %s, next_attempt_at = %s, last_error = %s WHERE id = %s",
                               (attempt, retry_at, str(error), n.outbox_id))
            log.warning("notification %s not delivered (attempt %s of %s), retrying at %s: %s", n.outbox_id,
                        attempt, self.max_attempts, retry_at.isoformat(timespec="seconds"), error, extra=context)
            self._observe("retry", n, str(error))
        else:
            await conn.execute("UPDATE outbox SET status = 'failed', attempts = %s, last_error = %s WHERE id = %s",
                               (attempt, str(error), n.outbox_id))
            await conn.execute("UPDATE alerts SET delivery_failures = delivery_failures + 1, "
                               "last_delivery_error = %s WHERE id = %s", (f"{n.channel} to {n.contact}: {error}",
                                                                          n.alert_id))
            why = "not retryable" if not error.retryable else f"gave up after {attempt} attempts"
            log.error("notification %s for alert %s to %s by %s FAILED (%s): %s — check the notify.* settings "
                      "and the contact's address; the alert list shows the failure", n.outbox_id, n.alert_id,
                      n.contact, n.channel, why, error, extra=context)
            self._observe("failed", n, str(error))

    def _observe(self, event: str, n: Notification, error: str | None) -> None:
        if self.observer is not None:
            self.observer(event, n, error)

    async def run(self, poll_s: float = 5.0) -> None:
        """Deliver until cancelled: woken by NOTIFY from the transactions that add rows, else every ``poll_s``
        (retries come due without a NOTIFY). Database trouble is logged and retried, never fatal."""
        listener: psycopg.AsyncConnection[Any] | None = None
        try:
            while True:
                try:
                    if listener is None or listener.closed:
                        dsn = self.pool.conninfo if isinstance(self.pool.conninfo, str) else ""
                        listener = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                        await listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    while await self.deliver_due() >= self.batch:
                        pass
                    async for _ in listener.notifies(timeout=poll_s, stop_after=1):
                        pass
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    log.warning("outbox sender: database unavailable (%s); retrying in %.0f s", exc, poll_s)
                    if listener is not None:
                        await listener.close()
                    listener = None
                    await asyncio.sleep(poll_s)
        finally:
            if listener is not None:
                await listener.close()
