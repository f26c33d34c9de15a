"""Notifiers: deliver one notification, or say why not and whether trying again may help.

    DeliveryError(message, retryable)     the only error a notifier raises
      retryable=True   5xx, 408, 429, timeouts, refused connections, SMTP 4xx: the outbox tries again later
      retryable=False  other 4xx, SMTP 5xx, a bad address: trying again cannot help; the outbox gives up loudly

A notifier never retries by itself (the outbox does, with backoff, for every channel alike) and never puts a
secret in an error text (``redact``). Each is idempotent per ``Notification.outbox_id`` where its protocol allows
(e-mail Message-ID, webhook Idempotency-Key), so a resend after a crash can be recognised downstream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Notification", "DeliveryError", "Notifier", "redact"]


@dataclass(frozen=True, slots=True)
class Notification:
    outbox_id: int
    alert_id: int
    channel: str            # email | sms | webhook
    address: str            # e-mail address, E.164 number, URL
    body: str
    subject: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    contact: str = ""


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)


class Notifier(Protocol):
    channel: str

    async def send(self, notification: Notification) -> None:
        """Deliver, or raise DeliveryError."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """The text with every (non-trivial) secret replaced by ***, for error messages and logs."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
