"""``beffroi demo``: the whole system on one machine, in about a minute, with nothing to configure.

It picks the local PostgreSQL and MQTT broker when they answer (else embedded ones), creates a fresh demo
database, migrates it, registers the simulator's fleets, starts ``beffroi run`` with the shipped French rule sets,
delivers notifications to local captures (an SMTP sink writing ``.eml`` files, an SMS gateway writing one JSON
line per message), plays the four scenarios one after another in accelerated time, and prints where to look.
Ctrl-C stops everything cleanly.

The scenarios are played back to back on one simulated timeline (each starts where the previous one ended) and
the rules engine follows the data's time (``rules.clock = "data"``), so durations, escalations and "silent
device" checks mean the same as in production, only faster.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

import psycopg
from psycopg import sql

from ingest.embedded import LocalBroker, LocalPostgres, free_port, local_broker, local_postgres, reachable

__all__ = ["DemoOptions", "run_demo", "SCENARIOS"]

# (scenario, simulated start, how long to play). One timeline: each starts where the previous ended.
TIMELINE_START = datetime.fromisoformat("2025-04-28T00:00")      # a Monday, first day back at school
SCENARIOS: tuple[tuple[str, timedelta], ...] = (
    ("school-week", timedelta(days=2)),
    ("flash-flood", timedelta(days=2)),
    ("waste-round", timedelta(days=5)),
    ("flock-escape", timedelta(days=2)),
)
FAMILIES = ("co2", "flood", "bin", "tracker")


@dataclass
class DemoOptions:
    workdir: Path
    database: str = "beffroi_demo"
    http_listen: str = "127.0.0.1:8080"
    topic_prefix: str = "beffroi-demo"
    speed: str = "max"
    exit_when_done: bool = False


@dataclass
class _Sinks:
    mail_dir: Path
    sms_log: Path
    smtp_port: int = 0
    sms_port: int = 0
    _stoppers: list[Any] = field(default_factory=list)

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)   # aiosmtpd logs every SMTP command at INFO
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        mail_dir = self.mail_dir

        class SaveMail:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                name = f"{time.time_ns()}.eml"
                (mail_dir / name).write_bytes(envelope.original_content or envelope.content)
                return "250 OK"

        self.smtp_port = free_port()
        smtp = Controller(SaveMail(), hostname="127.0.0.1", port=self.smtp_port)
        smtp.start()
        self._stoppers.append(smtp.stop)

        log = self.sms_log
        lock = threading.Lock()

        class SmsGateway(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock, log.open("ab") as f:
                    f.write(body.strip() + b"\n")
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        http = ThreadingHTTPServer(("127.0.0.1", 0), SmsGateway)
        self.sms_port = http.server_address[1]
        threading.Thread(target=http.serve_forever, name="demo-sms-gateway", daemon=True).start()
        self._stoppers.append(http.shutdown)

    def counts(self) -> tuple[int, int]:
        mails = len(list(self.mail_dir.glob("*.eml")))
        sms = len(self.sms_log.read_text().splitlines()) if self.sms_log.exists() else 0
        return mails, sms

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            stop()


def _with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _fresh_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_dbname(server_url, name)


def _beffroi(args: list[str], env: Mapping[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "ingest.cli", *args], env=dict(env), text=True,
                            capture_output=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"`beffroi {' '.join(args)}` failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result


def _say(text: str) -> None:
    print(text, flush=True)


def _counts(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        per_family: dict[str, int] = dict(conn.execute(
            "SELECT coalesce(p.family, 'unassigned'), count(u.*) FROM uplinks u JOIN devices d USING (dev_eui) "
            "LEFT JOIN device_profiles p ON p.id = d.profile GROUP BY 1").fetchall())
        alerts: dict[str, int] = dict(conn.execute(
            "SELECT coalesce(p.family, 'unassigned'), count(*) FROM alerts a JOIN devices d USING (dev_eui) "
            "LEFT JOIN device_profiles p ON p.id = d.profile GROUP BY 1").fetchall())
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()
        positions = conn.execute("SELECT count(*) FROM positions").fetchone()
        rejects = conn.execute("SELECT count(*) FROM rejects").fetchone()
    return {"uplinks": per_family, "alerts": alerts, "readings": readings[0] if readings else 0,
            "positions": positions[0] if positions else 0, "rejects": rejects[0] if rejects else 0}


def _wait_ready(url: str, service: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise RuntimeError("`beffroi run` exited during start-up; see its log")
        try:
            with urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"`beffroi run` was not ready after {timeout_s:.0f} s ({url}/readyz)")


def run_demo(options: DemoOptions) -> int:
    work = options.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    db_url = os.environ.get("BEFFROI_DATABASE_URL")
    postgres: LocalPostgres | None = None
    if not db_url:
        postgres = local_postgres(work / "pgdata")
        db_url = _fresh_database(postgres.server_url, options.database)
    broker: LocalBroker
    if os.environ.get("BEFFROI_MQTT_URL"):
        broker = LocalBroker(os.environ["BEFFROI_MQTT_URL"], embedded=False, protocol="5")
    else:
        broker = local_broker()
    _say(f"database: {'embedded ' if postgres and postgres.embedded else ''}{_hide_password(db_url)}")
    _say(f"broker:   {'embedded ' if broker.embedded else ''}{broker.url} (MQTT {broker.protocol})")

    sinks = _Sinks(work / "mail", work / "sms.log")
    if sinks.sms_log.exists():
        sinks.sms_log.unlink()
    for old in sinks.mail_dir.glob("*.eml"):
        old.unlink()
    sinks.start()
    host, _, port = options.http_listen.rpartition(":")
    if reachable(host, int(port)):
        port = str(free_port())
        _say(f"port {options.http_listen} is taken; the demo listens on {host}:{port}")
    base_url = f"http://{host}:{port}"
    rules_dir = resources.files("rules.examples") / "fr"
    prefix = options.topic_prefix.strip("/")
    env = {**os.environ,
           "BEFFROI_DATABASE_URL": db_url, "BEFFROI_MQTT_URL": broker.url,
           "BEFFROI_MQTT_CLIENT_ID": f"{prefix}-ingest",
           "BEFFROI_MQTT_CHIRPSTACK_TOPIC": f"{prefix}/application/+/device/+/event/+",
           "BEFFROI_MQTT_TTS_TOPIC": f"{prefix}/v3/+/devices/+/up",
           "BEFFROI_HTTP_LISTEN": f"{host}:{port}", "BEFFROI_HTTP_PUBLIC_URL": base_url,
           "BEFFROI_RULES_DIR": str(rules_dir), "BEFFROI_RULES_CLOCK": "data", "BEFFROI_RULES_TICK_S": "1",
           "BEFFROI_NOTIFY_SMTP_HOST": "127.0.0.1", "BEFFROI_NOTIFY_SMTP_PORT": str(sinks.smtp_port),
           "BEFFROI_NOTIFY_SMTP_SECURITY": "none", "BEFFROI_NOTIFY_SMTP_FROM": "beffroi-demo@localhost",
           "BEFFROI_NOTIFY_SMS_PROVIDER": "http",
           "BEFFROI_NOTIFY_HTTP_SMS_URL": f"http://127.0.0.1:{sinks.sms_port}/sms",
           "BEFFROI_NOTIFY_HTTP_SMS_BODY": '{"to": {{ to|tojson }}, "text": {{ text|tojson }}, "ref": {{ id }}}',
           "BEFFROI_NOTIFY_ACK_SECRET": secrets.token_urlsafe(32),
           "BEFFROI_FEED_ENABLED": "true", "BEFFROI_LOG_LEVEL": "WARNING",
           # the simulated timeline is in the past: keep it all, or the retention job would delete it at once
           "BEFFROI_RETENTION_UPLINKS_DAYS": "0", "BEFFROI_RETENTION_POSITIONS_DAYS": "0",
           "BEFFROI_RETENTION_REJECTS_DAYS": "0", "BEFFROI_RETENTION_READINGS_DAYS": "0"}
    env.pop("BEFFROI_CONFIG", None)
    if broker.protocol != "5":
        env["BEFFROI_MQTT_PROTOCOL"] = broker.protocol

    service: subprocess.Popen[bytes] | None = None
    try:
        _say("migrating the database and registering the simulated fleets…")
        _beffroi(["migrate"], env)
        for name, _ in SCENARIOS:
            csv = work / f"{name}.csv"
            _beffroi(["simulate", name, "--fleet-only", "--fleet-csv", str(csv)], env)
            _beffroi(["devices", "import", str(csv)], env)
        token = _beffroi(["tokens", "create", "--name", "demo", "--role", "admin"], env).stdout.strip()
        log_file = (work / "beffroi-run.log").open("wb")
        service = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
        _wait_ready(base_url, service)
        _say(f"beffroi run is up ({base_url}); playing the four scenarios in accelerated time…")
        sim_start = TIMELINE_START
        for name, length in SCENARIOS:
            if stop.is_set():
                break
            args = ["simulate", name, "--speed", options.speed, "--start", sim_start.isoformat(timespec="minutes"),
                    "--until", f"{int(length.total_seconds())}s", "--topic-prefix", prefix,
                    "--mqtt-url", broker.url, "--client-id", f"{prefix}-sim-{name}"]
            done = _beffroi(args, env)
            _say(f"  {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else name}")
            sim_start += length
        time.sleep(3)   # the last batches and their alerts
        counts = _counts(db_url)
        mails, sms = sinks.counts()
        if os.environ.get("BEFFROI_GRAFANA_URL"):
            _beffroi(["dashboards", "push", "--url", os.environ["BEFFROI_GRAFANA_URL"]], env)
            _say(f"dashboards pushed to {os.environ['BEFFROI_GRAFANA_URL']}")
        _say("")
        _say(f"Beffroi demo ready in {time.monotonic() - started:.0f} s.")
        uplinks = ", ".join(f"{f} {counts['uplinks'].get(f, 0)}" for f in FAMILIES)
        alerts = ", ".join(f"{f} {counts['alerts'].get(f, 0)}" for f in FAMILIES)
        _say(f"  ingested: {sum(counts['uplinks'].values())} uplinks ({uplinks}), {counts['readings']} readings, "
             f"{counts['positions']} positions, {counts['rejects']} rejects")
        _say(f"  alerts:   {alerts}")
        _say(f"  notified: {mails} e-mails in {sinks.mail_dir}, {sms} SMS in {sinks.sms_log}")
        _say(f"  status page  {base_url}/status   (sign in with the token below)")
        _say(f"  API          {base_url}/api/openapi.json   (Authorization: Bearer <token>)")
        _say(f"  metrics      {base_url}/metrics")
        _say(f"  flock feed   {base_url}/api/feed/flocks.geojson")
        _say(f"  admin token  {token}")
        _say(f"  service log  {work / 'beffroi-run.log'}")
        _say("DEMO READY " + json.dumps({"uplinks": counts["uplinks"], "alerts": counts["alerts"],
                                          "emails": mails, "sms": sms, "url": base_url}))
        if not options.exit_when_done:
            _say("Ctrl-C stops everything.")
            while not stop.wait(0.5):
                if service.poll() is not None:
                    raise RuntimeError("`beffroi run` stopped unexpectedly; see its log")
        return 0
    finally:
        if service is not None and service.poll() is None:
            service.send_signal(signal.SIGINT)
            try:
                service.wait(30)
            except subprocess.TimeoutExpired:
                service.kill()
        sinks.stop()
        broker.stop()
        _say("demo stopped")


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
    return url

