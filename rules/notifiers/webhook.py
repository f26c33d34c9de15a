"""Webhook: the notification's JSON payload POSTed to the route's URL, with ``Idempotency-Key:
beffroi-outbox-<id>`` so the receiver can drop a resend, and, when a secret is configured, ``X-Beffroi-Signature:
sha256=<hex HMAC of the body>`` so it can tell the call came from us."""

from __future__ import annotations

import hashlib
import hmac
import json

import aiohttp

from rules.notifiers import Notification
from rules.notifiers.http import request

__all__ = ["WebhookNotifier"]


class WebhookNotifier:
    channel = "webhook"

    def __init__(self, session: aiohttp.ClientSession, *, secret: str = "", timeout_s: float = 10.0) -> None:
        self.session = session
        self.secret = secret
        self.timeout_s = timeout_s

    async def send(self, n: Notification) -> None:
        body = json.dumps({"outbox_id": n.outbox_id, "alert_id": n.alert_id, **n.payload},
                          separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"beffroi-outbox-{n.outbox_id}"}
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Beffroi-Signature"] = f"sha256={digest}"
        await request(self.session, "POST", n.address, what=f"webhook {n.contact or n.address}",
                      secrets=[self.secret], headers=headers, data=body, timeout_s=self.timeout_s)
