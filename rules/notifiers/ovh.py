"""SMS through OVHcloud's API: ``POST /1.0/sms/{serviceName}/jobs``, signed as OVH documents.

Every call carries X-Ovh-Application (application key), X-Ovh-Consumer (consumer key), X-Ovh-Timestamp (the
API's clock: fetched once from ``GET /1.0/auth/time`` and kept as an offset) and X-Ovh-Signature:
``"$1$" + sha1_hex(application_secret + "+" + consumer_key + "+" + METHOD + "+" + full URL + "+" + body + "+"
+ timestamp)``. The body is the JSON job: receivers, message, sender (or senderForResponse), charset, coding,
class, priority, noStopClause (these are alerts, not marketing), validityPeriod (minutes).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

import aiohttp

from rules.gsm7 import is_gsm7
from rules.notifiers import DeliveryError, Notification
from rules.notifiers.http import request

__all__ = ["OvhSms", "ovh_signature"]


def ovh_signature(secret: str, consumer: str, method: str, url: str, body: str, timestamp: int) -> str:
    clear = "+".join((secret, consumer, method, url, body, str(timestamp)))
    return "$1$" + hashlib.sha1(clear.encode()).hexdigest()  # noqa: S324 (the scheme OVH specifies)


class OvhSms:
    channel = "sms"

    def __init__(self, session: aiohttp.ClientSession, *, application_key: str, application_secret: str,
                 consumer_key: str, service_name: str, sender: str = "",
                 endpoint: str = "https://eu.api.ovh.com/1.0", clock: Callable[[], float] = time.time,
                 timeout_s: float = 10.0) -> None:
        self.session = session
        self.ak, self.secret, self.ck = application_key, application_secret, consumer_key
        self.service_name, self.sender = service_name, sender
        self.endpoint = endpoint.rstrip("/")
        self.clock = clock
        self.timeout_s = timeout_s
        self._offset: int | None = None

    @property
    def _secrets(self) -> list[str]:
        return [self.secret, self.ck, self.ak]

    async def _timestamp(self) -> int:
        if self._offset is None:
            text = await request(self.session, "GET", f"{self.endpoint}/auth/time", what="OVH auth/time",
                                 secrets=self._secrets, timeout_s=self.timeout_s)
            try:
                self._offset = int(text.strip()) - int(self.clock())
            except ValueError:
                raise DeliveryError(f"OVH auth/time: unexpected answer {text[:40]!r}", retryable=True) from None
        return int(self.clock()) + self._offset

    async def send(self, n: Notification) -> None:
        job: dict[str, object] = {
            "charset": "UTF-8", "class": "phoneDisplay", "coding": "7bit" if is_gsm7(n.body) else "8bit",
            "message": n.body, "noStopClause": True, "priority": "high", "receivers": [n.address],
            "validityPeriod": 2880,
        }
        if self.sender:
            job["sender"] = self.sender
        else:
            job["senderForResponse"] = True
        body = json.dumps(job, separators=(",", ":"), ensure_ascii=False)
        url = f"{self.endpoint}/sms/{self.service_name}/jobs"
        timestamp = await self._timestamp()
        headers = {
            "Content-Type": "application/json;charset=utf-8",
            "X-Ovh-Application": self.ak,
            "X-Ovh-Consumer": self.ck,
            "X-Ovh-Timestamp": str(timestamp),
            "X-Ovh-Signature": ovh_signature(self.secret, self.ck, "POST", url, body, timestamp),
        }
        await request(self.session, "POST", url, what=f"OVH SMS to {n.address}", secrets=self._secrets,
                      headers=headers, data=body.encode(), timeout_s=self.timeout_s)
