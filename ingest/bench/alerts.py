"""``beffroi bench alerts``: latency from a committed reading that crosses a threshold to the notification being
handed to the SMTP server and to the SMS provider.

Runs against a scratch database on the configured server (created, migrated, dropped), a real SMTP server
(aiosmtpd, in process) and a local HTTP SMS gateway. Each iteration commits a rising water level on a fresh
device, calls the engine exactly as the writer does after a commit, and stops the clock when both the SMTP
server has accepted the e-mail (end of DATA) and the gateway has received the SMS request. The outbox sender
runs as in the service (woken by NOTIFY). Prints p50, p99 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import numpy as np
import psycopg
from aiohttp import web
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from devices.base import ReadingRow
from ingest.migrate import migrate
from rules.compose import Composer
from rules.directory import load_directory
from rules.engine import Engine
from rules.fleet import Fleet
from rules.notifiers import Notifier
from rules.notifiers.email import EmailNotifier
from rules.notifiers.http_sms import HttpSms
from rules.outbox import Sender

_RULES = """
contacts: [{id: astreinte, name: Astreinte, email: astreinte@bench.test, phone: "+33612345678"}]
escalations: [{id: e, levels: [{notify: [{contact: astreinte}]}]}]
routes: [{id: crue, escalation: e, repeat: never}]
rules:
  - {id: crue, title: Crue rapide, kind: threshold, severity: critical, route: crue,
     params: {quantity: water_level, above: 2.0, clear: 1.8}}
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="p99 latency: threshold-crossing reading → notification handed to SMTP/SMS")
    p.add_argument("--iterations", type=int, default=200, help="alerts to raise (default 200)")
    p.set_defaults(func=run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Arrivals:
    def __init__(self) -> None:
        self.seen: dict[str, dict[str, float]] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.loop = asyncio.get_running_loop()

    def mark(self, key: str, channel: str) -> None:
        now = time.perf_counter()

        def record() -> None:
            got = self.seen.setdefault(key, {})
            got[channel] = now
            if len(got) == 2:
                self.events.setdefault(key, asyncio.Event()).set()
        self.loop.call_soon_threadsafe(record)


class _SmtpHandler:
    def __init__(self, arrivals: _Arrivals) -> None:
        self.arrivals = arrivals

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        text = envelope.content.decode(errors="replace")
        for line in text.splitlines():
            if line.startswith("X-Beffroi-Alert:"):
                self.arrivals.mark(line.split(":", 1)[1].strip(), "email")
        return "250 OK"


async def _measure(db_url: str, iterations: int) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    arrivals = _Arrivals()
    smtp = Controller(_SmtpHandler(arrivals), hostname="127.0.0.1", port=_free_port())
    smtp.start()

    async def sms(request: web.Request) -> web.Response:
        arrivals.mark(str((await request.json())["alert"]), "sms")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sms", sms)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bench.yaml").write_text(_RULES)
        setup = load_directory(tmp)
    latencies = []
    try:
        async with AsyncConnectionPool(db_url, min_size=2, max_size=4) as pool, aiohttp.ClientSession() as session:
            profiles = {"gauge": SimpleNamespace(family="flood", uplink_period_s=300)}
            engine = Engine(pool, setup, Composer(), Fleet(profiles.get), lambda: datetime.now(UTC))
            notifiers: dict[str, Notifier] = {"email": EmailNotifier(host="127.0.0.1", port=smtp.port, sender="b@bench.test",
                                                starttls=False),
                         "sms": HttpSms(session, url=f"http://127.0.0.1:{port}/sms",
                                        body='{"to": {{ to|tojson }}, "alert": {{ alert_id }}}')}
            sender = asyncio.create_task(Sender(pool, notifiers, lambda: datetime.now(UTC)).run(poll_s=5))
            await asyncio.sleep(0.5)              # the sender is listening
            async with pool.connection() as conn:
                for i in range(iterations):
                    dev = f"be00{i:012x}"
                    await conn.execute("INSERT INTO devices (dev_eui, name, profile, site) VALUES (%s, %s, 'gauge', "
                                       "'bench')", (dev, f"Jauge {i}"))
                await conn.commit()
            for i in range(iterations):
                dev = f"be00{i:012x}"
                now = datetime.now(UTC)
                rows = [ReadingRow(now - timedelta(minutes=5), dev, "water_level", 1.5),
                        ReadingRow(now, dev, "water_level", 2.4)]
                async with pool.connection() as conn:
                    for r in rows:
                        await conn.execute("INSERT INTO readings VALUES (%s, %s, %s, %s)",
                                           (r.time, r.dev_eui, r.quantity, r.value))
                start = time.perf_counter()                # the writer's commit is done: the clock starts
                await engine.on_batch(rows, [])
                async with pool.connection() as conn:
                    alert_id = (await (await conn.execute("SELECT id FROM alerts WHERE dev_eui = %s",
                                                          (dev,))).fetchone() or [None])[0]
                event = arrivals.events.setdefault(str(alert_id), asyncio.Event())
                await asyncio.wait_for(event.wait(), 30)
                latencies.append(max(arrivals.seen[str(alert_id)].values()) - start)
            sender.cancel()
    finally:
        smtp.stop()
        await runner.cleanup()
    ms = np.array(latencies) * 1000
    return {"alerts": len(latencies), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()), "target_p99_ms": 1000.0}


def run(args: argparse.Namespace) -> int:
    from ingest.commands.bench import print_figures

    server = args.settings.get("database", "url")
    name = f"beffroi_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, "postgresql")
        figures = asyncio.run(_measure(url, args.iterations))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    print_figures("alerts: committed reading → notification handed to SMTP and SMS gateway", figures)
    return 0 if figures["p99_ms"] <= 1000 else 1
