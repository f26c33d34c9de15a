"""Signed one-click acknowledgement links.

A token names the alert and the notification (outbox row) that carried it, and when it expires, signed with
HMAC-SHA256 under the configured secret. It is short enough for an SMS (43 characters). Being single use is
the database's job (``ack_link_uses``): the signature only proves where the link came from and until when.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["AckLinks", "AckClaim", "InvalidLink"]

_LAYOUT = ">QQI"            # alert id, outbox id, expiry (unix seconds)
_MAC_BYTES = 12
_CONTEXT = b"beffroi-ack-v1"


class InvalidLink(Exception):
    """The token is malformed, forged or expired; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class AckClaim:
    alert_id: int
    outbox_id: int
    expires: datetime


class AckLinks:
    def __init__(self, secret: str, lifetime: timedelta, public_url: str) -> None:
        if len(secret) < 16:
            raise ValueError("the acknowledgement link secret must be at least 16 characters")
        self._key = secret.encode()
        self.lifetime = lifetime
        self.public_url = public_url.rstrip("/")

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _CONTEXT + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def token(self, alert_id: int, outbox_id: int, now: datetime) -> str:
        payload = struct.pack(_LAYOUT, alert_id, outbox_id, int((now + self.lifetime).timestamp()))
        return base64.urlsafe_b64encode(payload + self._mac(payload)).decode().rstrip("=")

    def url(self, alert_id: int, outbox_id: int, now: datetime) -> str:
        return f"{self.public_url}/ack/{self.token(alert_id, outbox_id, now)}"

    def verify(self, token: str, now: datetime) -> AckClaim:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise InvalidLink("malformed link") from None
        size = struct.calcsize(_LAYOUT)
        if len(raw) != size + _MAC_BYTES:
            raise InvalidLink("malformed link")
        payload, mac = raw[:size], raw[size:]
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidLink("this link is not valid")
        alert_id, outbox_id, expires = struct.unpack(_LAYOUT, payload)
        expiry = datetime.fromtimestamp(expires, UTC)
        if now >= expiry:
            raise InvalidLink("this link has expired")
        return AckClaim(alert_id, outbox_id, expiry)
