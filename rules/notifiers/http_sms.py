"""SMS through any HTTP gateway, described by templates: URL, headers and body are Jinja2 templates receiving
``to`` (E.164), ``to_digits`` (without +), ``text``, ``id`` (outbox id) and ``alert_id``; values are JSON- or
URL-encoded with the ``tojson`` / ``urlencode`` filters as the gateway wants.

    url: https://sms.example.fr/api/send
    headers: {Authorization: "Bearer {{ secret }}", Content-Type: application/json}
    body: '{"to": {{ to|tojson }}, "text": {{ text|tojson }}, "ref": "beffroi-{{ id }}"}'

``secret`` (from configuration or the environment) is available to the templates and scrubbed from errors.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import jinja2

from rules.notifiers import Notification
from rules.notifiers.http import request

__all__ = ["HttpSms"]


class HttpSms:
    channel = "sms"

    def __init__(self, session: aiohttp.ClientSession, *, url: str, body: str, method: str = "POST",
                 headers: Mapping[str, str] | None = None, secret: str = "", timeout_s: float = 10.0) -> None:
        env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
        self.session = session
        self.method = method.upper()
        self.url = env.from_string(url)
        self.body = env.from_string(body)
        self.headers = {k: env.from_string(v) for k, v in (headers or {}).items()}
        self.secret = secret
        self.timeout_s = timeout_s

    async def send(self, n: Notification) -> None:
        ctx = {"to": n.address, "to_digits": n.address.lstrip("+"), "text": n.body, "id": n.outbox_id,
               "alert_id": n.alert_id, "secret": self.secret}
        await request(self.session, self.method, self.url.render(ctx), what=f"SMS gateway to {n.address}",
                      secrets=[self.secret], headers={k: t.render(ctx) for k, t in self.headers.items()},
                      data=self.body.render(ctx).encode(), timeout_s=self.timeout_s)
