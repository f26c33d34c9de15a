"""E-mail through a real SMTP server (aiosmtpd) with STARTTLS and authentication."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rules.notifiers import DeliveryError, Notification
from rules.notifiers.email import EmailNotifier
from tests.rules.smtp import PASSWORD, USER, Inbox, start

MAIL = Notification(12, 4, "email", "marie@mairie.test", "Quoi : crue\n", subject="[Beffroi][CRITIQUE] Crue")


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[int, Inbox, object]]:
    controller, inbox, ctx = start(tmp_path)
    yield controller.port, inbox, ctx
    controller.stop()


def notifier(port: int, ctx: object, password: str = PASSWORD) -> EmailNotifier:
    return EmailNotifier(host="127.0.0.1", port=port, sender="beffroi@mairie.test", starttls=True, username=USER,
                         password=password, tls_context=ctx)  # type: ignore[arg-type]


async def test_message_is_delivered_over_starttls_with_auth(smtp: tuple[int, Inbox, object]) -> None:
    port, inbox, ctx = smtp
    await notifier(port, ctx).send(MAIL)
    (msg,) = inbox.messages
    assert msg["Subject"] == "[Beffroi][CRITIQUE] Crue" and msg["To"] == "marie@mairie.test"
    assert msg["Message-ID"] == "<outbox-12.alert-4@beffroi.local>"     # the same on a resend
    assert msg.get_payload(decode=True).decode().startswith("Quoi : crue")


@pytest.mark.parametrize(("reply", "retryable"), [("451 4.3.0 try later", True), ("550 5.1.1 no such user", False)])
async def test_smtp_reply_decides_retry(smtp: tuple[int, Inbox, object], reply: str, retryable: bool) -> None:
    port, inbox, ctx = smtp
    inbox.reply = reply
    with pytest.raises(DeliveryError) as info:
        await notifier(port, ctx).send(MAIL)
    assert info.value.retryable is retryable and reply[:3] in str(info.value)


async def test_no_server_is_retryable() -> None:
    from tests.rules.smtp import free_port
    with pytest.raises(DeliveryError) as info:
        await EmailNotifier(host="127.0.0.1", port=free_port(), sender="b@m.test").send(MAIL)
    assert info.value.retryable
