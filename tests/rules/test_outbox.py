"""The delivery stage: claims, retries with backoff, giving up loudly, crash safety, concurrent senders."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import psycopg
import pytest
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from rules.notifiers import DeliveryError, Notification
from rules.notifiers.http_sms import HttpSms
from rules.outbox import Backoff, Sender
from tests.rules.conftest import Clock
from tests.rules.helpers import T0


def seed(db: psycopg.Connection, rows: int = 1) -> int:
    """An open alert (on a new device each time) with ``rows`` due SMS notifications."""
    n = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
    alert_id = db.execute("INSERT INTO alerts (rule, dev_eui, state, severity, route, started_at, fired_at, "
                          "updated_at) VALUES ('crue', %s, 'firing', 'critical', 'crue', %s, %s, %s) "
                          "RETURNING id", (f"70b3d5e75e{n:06d}", T0, T0, T0)).fetchone()[0]
    for i in range(rows):
        db.execute("INSERT INTO outbox (alert_id, event, channel, contact, address, body, created_at, "
                   "next_attempt_at) VALUES (%s, 'firing', 'sms', %s, '+33612345678', 'crue', %s, %s)",
                   (alert_id, f"c{i}", T0 - timedelta(days=1), T0 - timedelta(days=1)))
    return int(alert_id)


class Gateway:
    """A local SMS gateway answering the statuses queued in ``answers`` (then 200), or hanging when asked."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.received: list[bytes] = []
        self.hang = False
        self.got_two = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.read())
        if len(self.received) >= 2:
            self.got_two.set()
        if self.hang:
            await asyncio.sleep(3600)
        return web.Response(status=self.answers.pop(0) if self.answers else 200, text="ok")


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    gw = Gateway()
    app = web.Application()
    app.router.add_post("/send", gw.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield gw, f"http://127.0.0.1:{port}/send"
    await runner.cleanup()


def sender(pool: AsyncConnectionPool, session: aiohttp.ClientSession, url: str, clock: Clock,
           **kwargs: object) -> Sender:
    sms = HttpSms(session, url=url, body='{"to": {{ to|tojson }}, "id": {{ id }}}')
    return Sender(pool, {"sms": sms}, clock, backoff=Backoff(jitter=0), **kwargs)  # type: ignore[arg-type]


def statuses(db: psycopg.Connection) -> list[tuple[object, ...]]:
    return db.execute("SELECT status, attempts FROM outbox ORDER BY id").fetchall()


async def test_a_provider_500_is_retried_with_backoff_and_a_400_is_not(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, gateway: tuple[Gateway, str]) -> None:
    gw, url = gateway
    alert_id = seed(db)
    gw.answers = [500, 503]
    async with aiohttp.ClientSession() as session:
        s = sender(pool, session, url, clock)
        assert await s.deliver_due() == 1
        assert statuses(db) == [("pending", 1)]
        assert await s.deliver_due() == 0                  # not due yet: backing off
        retry_at = db.execute("SELECT next_attempt_at FROM outbox").fetchone()[0]
        assert retry_at == clock.now + timedelta(seconds=5)
        clock.advance(seconds=5)
        await s.deliver_due()
        assert db.execute("SELECT next_attempt_at FROM outbox").fetchone()[0] == clock.now + timedelta(seconds=15)
        clock.advance(seconds=15)
        await s.deliver_due()
        assert statuses(db) == [("sent", 3)]
        # a 400 is final at once, and loud: the alert shows it
        seed(db)
        gw.answers = [400]
        await s.deliver_due()
    assert statuses(db)[-1] == ("failed", 1)
    failures = db.execute("SELECT delivery_failures, last_delivery_error FROM alerts ORDER BY id").fetchall()
    assert failures[0][0] == 0 and failures[1][0] == 1 and "HTTP 400" in failures[1][1]
    assert len(gw.received) == 4 and alert_id


async def test_retryable_failures_give_up_after_the_limit(
        db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock, gateway: tuple[Gateway, str]) -> None:
    gw, url = gateway
    seed(db)
    gw.answers = [500] * 10
    events: list[str] = []
    async with aiohttp.ClientSession() as session:
        s = sender(pool, session, url, clock, max_attempts=3, observer=lambda e, n, err: events.append(e))
        for _ in range(3):
            await s.deliver_due()
            clock.advance(hours=1)
    assert statuses(db) == [("failed", 3)]
    assert events == ["retry", "retry", "failed"]
    assert db.execute("SELECT delivery_failures FROM alerts").fetchone()[0] == 1


async def test_two_senders_deliver_each_row_once(db: psycopg.Connection, db_url: str, pool: AsyncConnectionPool,
                                                 clock: Clock) -> None:
    seed(db, rows=40)
    delivered: list[int] = []

    class Slow:
        channel = "sms"

        async def send(self, n: Notification) -> None:
            await asyncio.sleep(0.01)
            delivered.append(n.outbox_id)

    async with AsyncConnectionPool(db_url, min_size=1, max_size=2) as other:
        a = Sender(pool, {"sms": Slow()}, clock, batch=5)
        b = Sender(other, {"sms": Slow()}, clock, batch=5)
        while sum(await asyncio.gather(a.deliver_due(), b.deliver_due())):
            pass
    assert sorted(delivered) == sorted(set(delivered)) and len(delivered) == 40
    assert statuses(db) == [("sent", 1)] * 40


async def test_a_missing_channel_fails_loudly(db: psycopg.Connection, pool: AsyncConnectionPool, clock: Clock) -> None:
    seed(db)
    await Sender(pool, {}, clock).deliver_due()
    assert statuses(db) == [("failed", 1)]
    assert "no sms notifier" in db.execute("SELECT last_error FROM outbox").fetchone()[0]


async def test_a_sender_killed_mid_delivery_resends_after_restart_and_loses_nothing(
        db: psycopg.Connection, db_url: str, pool: AsyncConnectionPool, gateway: tuple[Gateway, str]) -> None:
    gw, url = gateway
    seed(db, rows=2)
    gw.hang = True
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.rules.sender_worker", db_url, url,
                                                env=env)
    try:
        await asyncio.wait_for(gw.got_two.wait(), 60)   # both rows are in flight, the claim is uncommitted
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert statuses(db) == [("pending", 0), ("pending", 0)]     # the killed sender's claim died with it
    gw.hang = False
    async with aiohttp.ClientSession() as session:
        # the backend notices the dead connection quickly; wait until its locks are gone
        for _ in range(100):
            if await sender(pool, session, url, Clock(datetime.now(UTC))).deliver_due():
                break
            await asyncio.sleep(0.1)
    assert statuses(db) == [("sent", 1), ("sent", 1)]
    assert len(gw.received) == 4                              # each sent twice: once lost in the crash, once now


def test_backoff_grows_and_is_capped() -> None:
    import random
    b = Backoff(base_s=5, factor=3, cap_s=900, jitter=0)
    assert [b.delay(n, random.Random(1)).total_seconds() for n in (1, 2, 3, 4, 8)] == [5, 15, 45, 135, 900]


def test_delivery_error_says_whether_to_retry() -> None:
    assert DeliveryError("x", retryable=True).retryable and not DeliveryError("x", retryable=False).retryable
