"""Notifier conformance: every provider's request exactly as documented, and the same status → retry table.

Each HTTP provider talks to a local aiohttp server that records the request and answers a chosen status; the
e-mail notifier talks to a real aiosmtpd server with STARTTLS and authentication.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web

from rules.notifiers import DeliveryError, Notification, Notifier
from rules.notifiers.http_sms import HttpSms
from rules.notifiers.ovh import OvhSms
from rules.notifiers.twilio import TwilioSms
from rules.notifiers.webhook import WebhookNotifier

SECRET = "s3cr3t-token-value-42"
SMS = Notification(outbox_id=7, alert_id=3, channel="sms", address="+33612345678", body="[CRITIQUE] Crue rapide")


@dataclass
class Recorder:
    status: int = 200
    body: str = "{}"
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"method": request.method, "path": request.path, "url": str(request.url),
                              "headers": dict(request.headers), "body": await request.read()})
        if request.path.endswith("/auth/time"):
            return web.Response(text="1741593600")
        return web.Response(status=self.status, text=self.body)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield recorder, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make(kind: str, session: aiohttp.ClientSession, base: str) -> Notifier:
    if kind == "ovh":
        return OvhSms(session, application_key="AK123", application_secret=SECRET, consumer_key="CK456",
                      service_name="sms-ab12345-1", sender="MAIRIE", endpoint=f"{base}/1.0", clock=lambda: 1741593590)
    if kind == "twilio":
        return TwilioSms(session, account_sid="AC0123456789", auth_token=SECRET, sender="+33700000000",
                         endpoint=base)
    if kind == "http":
        return HttpSms(session, url=base + "/send", headers={"Authorization": "Bearer {{ secret }}",
                                                              "Content-Type": "application/json"},
                       body='{"to": {{ to|tojson }}, "text": {{ text|tojson }}, "ref": "b-{{ id }}"}', secret=SECRET)
    return WebhookNotifier(session, secret=SECRET)


def notification(kind: str, base: str) -> Notification:
    if kind == "webhook":
        return Notification(7, 3, "webhook", base + "/hook", "", payload={"event": "firing", "severity": "critical"},
                            contact="supervision")
    return SMS


KINDS = ["ovh", "twilio", "http", "webhook"]


async def test_ovh_request_is_signed_as_documented(server: tuple[Recorder, str],
                                                   session: aiohttp.ClientSession) -> None:
    recorder, base = server
    await make("ovh", session, base).send(SMS)
    time_call, job = recorder.requests
    assert time_call["path"] == "/1.0/auth/time"
    assert job["method"] == "POST" and job["path"] == "/1.0/sms/sms-ab12345-1/jobs"
    h = job["headers"]
    assert h["X-Ovh-Application"] == "AK123" and h["X-Ovh-Consumer"] == "CK456"
    assert h["X-Ovh-Timestamp"] == "1741593600"          # the API's clock, not ours (10 s behind)
    assert h["Content-Type"] == "application/json;charset=utf-8"
    body = job["body"].decode()
    url = f"{base}/1.0/sms/sms-ab12345-1/jobs"
    expected = "$1$" + hashlib.sha1(f"{SECRET}+CK456+POST+{url}+{body}+1741593600".encode()).hexdigest()
    assert h["X-Ovh-Signature"] == expected
    assert json.loads(body) == {"charset": "UTF-8", "class": "phoneDisplay", "coding": "7bit",
                                "message": SMS.body, "noStopClause": True, "priority": "high",
                                "receivers": ["+33612345678"], "sender": "MAIRIE", "validityPeriod": 2880}


async def test_twilio_request_as_documented(server: tuple[Recorder, str], session: aiohttp.ClientSession) -> None:
    recorder, base = server
    await make("twilio", session, base).send(SMS)
    (req,) = recorder.requests
    assert req["method"] == "POST" and req["path"] == "/2010-04-01/Accounts/AC0123456789/Messages.json"
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(f"AC0123456789:{SECRET}".encode()).decode()
    assert parse_qs(req["body"].decode()) == {"To": ["+33612345678"], "From": ["+33700000000"], "Body": [SMS.body]}


async def test_templated_http_gateway(server: tuple[Recorder, str], session: aiohttp.ClientSession) -> None:
    recorder, base = server
    await make("http", session, base).send(SMS)
    (req,) = recorder.requests
    assert req["path"] == "/send" and req["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(req["body"]) == {"to": "+33612345678", "text": SMS.body, "ref": "b-7"}


async def test_webhook_posts_json_with_idempotency_key_and_signature(server: tuple[Recorder, str],
                                                                     session: aiohttp.ClientSession) -> None:
    recorder, base = server
    await make("webhook", session, base).send(notification("webhook", base))
    (req,) = recorder.requests
    assert req["headers"]["Idempotency-Key"] == "beffroi-outbox-7"
    assert req["headers"]["X-Beffroi-Signature"] == "sha256=" + hmac.new(SECRET.encode(), req["body"],
                                                                          hashlib.sha256).hexdigest()
    assert json.loads(req["body"]) == {"outbox_id": 7, "alert_id": 3, "event": "firing", "severity": "critical"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (408, True),
                                                   (400, False), (401, False), (404, False)])
async def test_status_decides_retry_and_no_secret_leaks(kind: str, status: int, retryable: bool,
                                                        server: tuple[Recorder, str],
                                                        session: aiohttp.ClientSession) -> None:
    recorder, base = server
    recorder.status, recorder.body = status, f"error: bad credentials {SECRET} CK456"
    with pytest.raises(DeliveryError) as info:
        await make(kind, session, base).send(notification(kind, base))
    assert info.value.retryable is retryable
    assert str(status) in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
async def test_unreachable_provider_is_retryable(kind: str, session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{s.getsockname()[1]}"     # bound, not listening: connection refused
        with pytest.raises(DeliveryError) as info:
            await make(kind, session, base).send(notification(kind, base))
    assert info.value.retryable and SECRET not in str(info.value)
