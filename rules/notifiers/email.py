"""E-mail over SMTP (aiosmtplib): STARTTLS (or implicit TLS) and authentication when configured.

The Message-ID is derived from the outbox id, so a message resent after a crash is the same message to mail
clients and archives. SMTP 4xx replies and connection trouble are retryable; 5xx replies are not.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from rules.notifiers import DeliveryError, Notification, redact

__all__ = ["EmailNotifier"]


class EmailNotifier:
    channel = "email"

    def __init__(self, *, host: str, port: int, sender: str, starttls: bool = True, tls: bool = False,
                 username: str = "", password: str = "", timeout_s: float = 15.0,
                 tls_context: ssl.SSLContext | None = None, domain: str = "beffroi.local") -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.tls = starttls, tls
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.tls_context = tls_context
        self.domain = domain

    def message(self, n: Notification) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = n.address
        msg["Subject"] = n.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<outbox-{n.outbox_id}.alert-{n.alert_id}@{self.domain}>"
        msg["X-Beffroi-Alert"] = str(n.alert_id)
        msg.set_content(n.body)
        return msg

    async def send(self, n: Notification) -> None:
        try:
            await aiosmtplib.send(
                self.message(n), hostname=self.host, port=self.port, use_tls=self.tls,
                start_tls=self.starttls and not self.tls, username=self.username or None,
                password=self.password or None, timeout=self.timeout_s, tls_context=self.tls_context)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            raise DeliveryError(redact(f"SMTP {self.host}: recipient refused: {exc}", [self.password]),
                                retryable=all(400 <= c < 500 for c in codes)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(redact(f"SMTP {self.host}: {exc.code} {exc.message}", [self.password]),
                                retryable=400 <= exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(redact(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}",
                                       [self.password]), retryable=True) from None
