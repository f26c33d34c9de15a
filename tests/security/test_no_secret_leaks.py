"""No secret in logs or error text: a full run with every secret configured, then a grep.

Secrets configured: the database password (in ``database.url``), the MQTT password (in ``mqtt.url``, against a
broker that checks it), the SMTP password (STARTTLS + AUTH on a real server), the SMS gateway's API key (sent
in a header; the gateway's first answer is a 500 echoing that header back), an API token, the ChirpStack shared
secret and the acknowledgement-link secret — and the signed link itself, a credential too.

The run: uplinks breach a rule, alerts are raised and notified by SMS (retried after the 500) and e-mail; the API
is called with good, wrong and mangled tokens, the ChirpStack endpoint with a wrong and the right secret, the ack
link is previewed, used, reused and forged; a second process starts against an unreachable database and a third
with a malformed MQTT URL. Everything every process wrote (DEBUG level), every HTTP body and header Beffroi sent
back, and ``/metrics`` are searched for each secret.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from ingest.api.tokens import create_token
from tests.faults.conftest import ServiceFactory
from tests.faults.harness import REPO, ServiceProcess, Stream, fault_env, free_port, wait_until
from tests.faults.sinks import SmsGateway, alerting_env, write_rules
from tests.rules import smtp as smtp_server
from tests.support.broker import PrivateBroker

pytestmark = pytest.mark.usefixtures("requires_mosquitto", "requires_mqtt5")

DB_PASSWORD = "db-" + secrets.token_urlsafe(12)
MQTT_PASSWORD = "mqtt-" + secrets.token_urlsafe(12)
SMS_KEY = "sms-" + secrets.token_urlsafe(16)
CHIRPSTACK_SECRET = "cs-" + secrets.token_urlsafe(16)
ACK_SECRET = "ack-" + secrets.token_urlsafe(24)


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}"))


def _http(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
          ) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - local test URL
            return int(resp.status), f"{dict(resp.headers)}\n{resp.read().decode(errors='replace')}"
    except urllib.error.HTTPError as exc:
        return int(exc.code), f"{dict(exc.headers)}\n{exc.read().decode(errors='replace')}"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[smtp_server.Inbox, int, Path]]:
    controller, inbox, _ = smtp_server.start(tmp_path)
    yield inbox, controller.port, tmp_path / "cert.pem"
    controller.stop()


def test_no_configured_secret_appears_in_logs_or_error_text(
        db: psycopg.Connection, db_url: str, unique: str, tmp_path: Path, beffroi: ServiceFactory,
        smtp: tuple[smtp_server.Inbox, int, Path]) -> None:
    inbox, smtp_port, smtp_cert = smtp
    sms = SmsGateway(echo_failures=1)
    users = {"beffroi": MQTT_PASSWORD, "chirpstack": "pub-" + secrets.token_urlsafe(8)}
    token = create_token(db, "secret-test", "admin", "test")[0]
    corpus: list[str] = []
    try:
        with PrivateBroker(tmp_path / "broker", users=users) as broker:
            svc = beffroi(broker_url=broker.url_for("beffroi"), database_url=_with_password(db_url, DB_PASSWORD),
                          log_level="DEBUG", api_chirpstack_secret=CHIRPSTACK_SECRET, notify_ack_secret=ACK_SECRET,
                          **alerting_env(write_rules(tmp_path / "rules"), smtp_port, sms,
                                         notify_smtp_host="localhost", notify_smtp_security="starttls",
                                         notify_smtp_user=smtp_server.USER, notify_smtp_password=smtp_server.PASSWORD,
                                         notify_http_sms_secret=SMS_KEY,
                                         notify_http_sms_headers="Authorization: Bearer {{ secret }}"),
                          start=False)
            svc.env["SSL_CERT_FILE"] = str(smtp_cert)        # trust the test SMTP server's certificate
            svc.env["BEFFROI_HTTP_PUBLIC_URL"] = svc.http
            svc.start()
            svc.wait_ready()
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
            with Stream(broker.url_for("chirpstack"), unique, devices=2, start=start,
                        readings=lambda i: {"co2": 1800.0, "temperature": 21.0, "humidity": 40.0, "battery": 90.0}
                        ) as stream:
                stream.register(db)
                stream.probe(db)
                stream.publish(2)
                wait_until(lambda: len(sms.answered) >= 2 and len(inbox.messages) >= 2, "SMS and e-mails", 60)
            assert any(SMS_KEY in str(h) for h in sms.headers), "the gateway did get the key"
            corpus += _api_calls(svc.http, token.raw, sms.answered[0]["text"])
            corpus.append(svc.get("/metrics")[1].decode(errors="replace"))
        corpus += [_unreachable_database(db_url, tmp_path), _malformed_mqtt_url(tmp_path)]
        corpus.append(svc.log_text())
    finally:
        sms.close()
    assert "authentication failed" in svc.log_text() and "not delivered" in svc.log_text()
    text = "\n".join(corpus)
    secret_part = token.raw.split("_", 2)[2]      # bfr_<public key id>_<secret>
    links = re.findall(r"/ack/([A-Za-z0-9_\-.~]+)", sms.answered[0]["text"])
    assert links, "the SMS carries an acknowledgement link"
    leaks = {name: value for name, value in {
        "database password": DB_PASSWORD, "MQTT password": MQTT_PASSWORD, "SMTP password": smtp_server.PASSWORD,
        "SMS API key": SMS_KEY, "API token": token.raw, "API token secret": secret_part,
        "ChirpStack secret": CHIRPSTACK_SECRET, "ack-link secret": ACK_SECRET,
    }.items() if value in text}
    # the link's own confirmation page carries it (its form posts to it); no log line may
    if links[0] in svc.log_text():
        leaks["ack link (in the log)"] = links[0]
    # the paths that would leak are exercised: a gateway error echoing the key, an unreachable database's URL
    assert "Bearer ***" in svc.log_text() and "postgres:***@" in text
    print(f"searched {len(text)} characters of logs and HTTP answers for 8 secrets")
    assert not leaks, f"secrets found in logs or HTTP answers: {sorted(leaks)}"


def _api_calls(base: str, token: str, sms_text: str) -> list[str]:
    """Calls that succeed and calls that fail; returns what Beffroi answered to each (headers and body)."""
    good = {"Authorization": f"Bearer {token}"}
    mangled = token[:-6] + ("A" * 6 if not token.endswith("AAAAAA") else "B" * 6)
    out = []
    for method, path, headers, body in [
        ("GET", "/api/alerts", good, None),
        ("GET", "/api/devices", good, None),
        ("GET", "/api/alerts", {"Authorization": f"Bearer {mangled}"}, None),
        ("GET", "/api/alerts", {"Authorization": f"Bearer {token}x"}, None),
        ("GET", "/api/alerts", {"Authorization": f"Basic {token}"}, None),
        ("GET", f"/api/alerts?token={token}", {}, None),
        ("GET", "/api/export/readings?from=yesterday", good, None),
        ("POST", "/api/devices/import", {**good, "Content-Type": "text/csv"}, b"dev_eui,name\n"),
        ("POST", "/api/chirpstack?event=up", {"Authorization": f"Bearer {CHIRPSTACK_SECRET}x",
                                               "Content-Type": "application/json"}, b"{}"),
        ("POST", "/api/chirpstack?event=up", {"Authorization": f"Bearer {CHIRPSTACK_SECRET}",
                                               "Content-Type": "application/json"}, b"{not json"),
        ("POST", f"/api/chirpstack?event=up&secret={CHIRPSTACK_SECRET}", {"Content-Type": "application/json"}, b"{}"),
    ]:
        status, answer = _http(method, base + path, headers, body)
        out.append(f"{method} {path.split('?')[0]} -> {status}\n{answer}")
    link = re.search(r"(/ack/[A-Za-z0-9_\-.~]+)", sms_text)
    assert link is not None
    forged = link.group(1)[:-3] + ("xyz" if not link.group(1).endswith("xyz") else "abc")
    for method, path in [("GET", link.group(1)), ("POST", link.group(1)), ("POST", link.group(1)),
                         ("POST", forged)]:
        status, answer = _http(method, base + path, {"Content-Type": "application/x-www-form-urlencoded"},
                               b"" if method == "POST" else None)
        out.append(f"{method} /ack/... -> {status}\n{answer}")
    return out


def _unreachable_database(db_url: str, tmp_path: Path) -> str:
    """A service whose database does not answer: it logs that (without the password) and retries."""
    parts = urlsplit(db_url)
    url = urlunsplit(parts._replace(netloc=f"postgres:{DB_PASSWORD}@127.0.0.1:{free_port()}"))
    svc = ServiceProcess(fault_env(url, "mqtt://127.0.0.1:1", "nodb", log_level="DEBUG"), tmp_path / "nodb.log")
    svc.start()
    wait_until(lambda: "retrying" in svc.log_text(), "the unreachable-database log line", 30)
    time.sleep(1)
    svc.stop()
    return svc.log_text()


def _malformed_mqtt_url(tmp_path: Path) -> str:
    """A configuration error naming the key: the password in the offending URL is not printed."""
    env = fault_env("postgresql://postgres@127.0.0.1:5432/postgres", f"mqtt://beffroi:{MQTT_PASSWORD}@host:port",
                    "badurl")
    svc = ServiceProcess(env, tmp_path / "badurl.log")
    done = subprocess.run([sys.executable, "-m", "ingest.cli", "run"], cwd=REPO, env=svc.env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "mqtt.url" in done.stderr, done.stderr
    return done.stdout + done.stderr
