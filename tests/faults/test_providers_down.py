"""The SMTP server and the SMS provider are down for ten minutes, then come back.

Time is injected: the engine and the outbox sender run in this process on a controllable clock, advanced in
10-second steps, so the ten minutes (and the backoff between attempts: 5 s, ×3 each time, capped at 15 min,
±20 % jitter — ``rules/outbox.py``) pass in seconds. The providers are real: an aiosmtpd server that is stopped
(connection refused) and started again on its port, and an HTTP gateway answering 503 while down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import psycopg
from psycopg_pool import AsyncConnectionPool

from ingest.alerting import build_notifiers
from ingest.config import load_config
from rules.directory import load_directory
from rules.outbox import Sender
from tests.faults.sinks import SmsGateway, SmtpSink, write_rules
from tests.rules.conftest import Clock, add_device, make_engine, pool, store_readings  # noqa: F401 - fixture
from tests.rules.helpers import T0

DOWN = timedelta(minutes=10)
STEP = timedelta(seconds=10)
ALERTS = 10


async def test_ten_minutes_without_smtp_nor_sms_then_every_notification_once(
        db: psycopg.Connection, pool: AsyncConnectionPool, tmp_path: Path, smtp: SmtpSink,  # noqa: F811
        sms: SmsGateway, recovery: Callable[[str, float], None]) -> None:
    """Promise (injected clock): alerts raised while the SMTP server refuses connections and the SMS gateway
    answers 503 for 10 minutes are retried with backoff — never given up (8 attempts span about 40 minutes) —
    and once the providers are back every e-mail and SMS is delivered exactly once, at the first retry that
    follows (at most one backoff step, ≤ 15 min + 20 %, after the return)."""
    clock = Clock(T0)
    engine = make_engine(pool, load_directory(write_rules(tmp_path / "rules")), clock)
    config = load_config(None, environ={
        "BEFFROI_NOTIFY_SMTP_HOST": "127.0.0.1", "BEFFROI_NOTIFY_SMTP_PORT": str(smtp.port),
        "BEFFROI_NOTIFY_SMTP_SECURITY": "none", "BEFFROI_NOTIFY_SMS_PROVIDER": "http",
        "BEFFROI_NOTIFY_HTTP_SMS_URL": sms.url,
        "BEFFROI_NOTIFY_HTTP_SMS_BODY": '{"to": {{ to|tojson }}, "text": {{ text|tojson }}}'})
    smtp.stop()
    sms.mode = "down"
    async with aiohttp.ClientSession() as session:
        sender = Sender(pool, build_notifiers(config, session), clock, max_attempts=config.get("notify", "max_attempts"))
        for i in range(ALERTS):
            eui = f"a0000000000000{i:02x}"
            add_device(db, eui, "air", name=f"salle-{i:02d}")
            await engine.on_batch(store_readings(db, eui, "co2", [(clock.now, 1800.0)]), [])
        assert db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone() == (2 * ALERTS,)
        down_until = clock.now + DOWN
        while clock.now < down_until:
            await sender.deliver_due()
            clock.advance(seconds=STEP.total_seconds())
        attempts_while_down = db.execute("SELECT min(attempts), max(attempts) FROM outbox").fetchone()
        assert attempts_while_down is not None
        assert db.execute("SELECT count(*) FROM outbox WHERE status <> 'pending'").fetchone() == (0,)
        assert smtp.messages == [] and sms.answered == []
        smtp.start()
        sms.mode = "ok"
        back = clock.now
        while db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone() != (0,):
            assert clock.now - back < timedelta(minutes=20), "still not delivered 20 min after the providers came back"
            await sender.deliver_due()
            clock.advance(seconds=STEP.total_seconds())
    recovery("SMTP and SMS down 10 min (injected clock): every notification delivered, after the providers' "
             "return", (clock.now - back).total_seconds())
    print(f"attempts per notification while down: {attempts_while_down[0]}-{attempts_while_down[1]}")
    assert db.execute("SELECT status, count(*) FROM outbox GROUP BY 1").fetchall() == [("sent", 2 * ALERTS)]
    assert len(smtp.messages) == ALERTS and len(sms.answered) == ALERTS
    names = [f"salle-{i:02d}" for i in range(ALERTS)]
    assert sorted(n for m in sms.answered for n in names if n in m["text"]) == names, "one SMS per alert"
    assert sorted(n for m in smtp.messages for n in names if n in str(m.get_payload()) + str(m["Subject"])) == names
    assert db.execute("SELECT sum(delivery_failures) FROM alerts").fetchone() == (0,)
    assert 4 <= attempts_while_down[0] and attempts_while_down[1] <= 7
