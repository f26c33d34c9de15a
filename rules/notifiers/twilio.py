"""SMS through Twilio: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``, ``From``
(or ``MessagingServiceSid`` when the sender starts with MG) and ``Body``, HTTP basic auth AccountSid:AuthToken."""

from __future__ import annotations

import base64

import aiohttp

from rules.notifiers import Notification
from rules.notifiers.http import request

__all__ = ["TwilioSms"]


class TwilioSms:
    channel = "sms"

    def __init__(self, session: aiohttp.ClientSession, *, account_sid: str, auth_token: str, sender: str,
                 endpoint: str = "https://api.twilio.com", timeout_s: float = 10.0) -> None:
        self.session = session
        self.sid, self.token, self.sender = account_sid, auth_token, sender
        self.endpoint = endpoint.rstrip("/")
        self.timeout_s = timeout_s

    async def send(self, n: Notification) -> None:
        form = {"To": n.address, "Body": n.body}
        form["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        basic = base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()
        await request(self.session, "POST", f"{self.endpoint}/2010-04-01/Accounts/{self.sid}/Messages.json",
                      what=f"Twilio SMS to {n.address}", secrets=[self.token, basic], data=form,
                      headers={"Authorization": f"Basic {basic}"}, timeout_s=self.timeout_s)
