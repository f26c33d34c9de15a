"""Turning an alert event into the message one recipient gets: SMS text, e-mail subject and body, webhook JSON.

Templates are Jinja2 files (``rules/templates/<language>/sms.j2``, ``email_subject.j2``, ``email_body.j2``),
French by default; a ``templates`` folder in the rules directory overrides any of them. They receive: ``event``
(firing, escalation, repeat, severity, resolved), ``title``, ``description``, ``severity_label``, ``device``,
``dev_eui``, ``site``, ``value``, ``threshold``, ``unit``, ``summary``, ``since``, ``now``, ``alert_id``,
``ack_url``; filters ``num`` (decimal comma in French), ``clock`` (HH:MM) and ``datetime`` (local time).
Messages are rendered when the notification is queued, so the outbox row holds exactly what is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from devices.quantities import QUANTITIES
from rules.acklinks import AckLinks
from rules.gsm7 import fit
from rules.model import DeviceInfo, Severity
from rules.routing import Recipient, Webhook
from rules.store import AlertRow, OutboxMessage

__all__ = ["AlertView", "Composer", "LANGUAGES"]

LANGUAGES = ("fr", "en")
_SEVERITY = {"fr": {Severity.INFO: "INFO", Severity.WARNING: "ALERTE", Severity.CRITICAL: "CRITIQUE"},
             "en": {Severity.INFO: "INFO", Severity.WARNING: "WARNING", Severity.CRITICAL: "CRITICAL"}}


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert with what people need to read it: the rule's wording and the device's name and place."""

    alert: AlertRow
    title: str
    description: str
    device: DeviceInfo
    quantity: str | None = None


class Composer:
    def __init__(self, *, links: AckLinks | None = None, language: str = "fr", template_dir: Path | None = None,
                 sms_max_segments: int = 2, tz: str = "Europe/Paris") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"notification language must be one of {', '.join(LANGUAGES)}")
        loaders: list[jinja2.BaseLoader] = []
        if template_dir is not None and template_dir.is_dir():
            loaders.append(jinja2.FileSystemLoader(str(template_dir)))
        loaders.append(jinja2.PackageLoader("rules", f"templates/{language}"))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=False,
                                      undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
        self.tz = ZoneInfo(tz)
        self.language = language
        self.env.filters.update(num=self._num, clock=self._clock, datetime=self._datetime)
        self.links = links
        self.sms_max_segments = sms_max_segments

    def _num(self, value: float) -> str:
        text = f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"
        return text.replace(".", ",") if self.language == "fr" else text

    def _clock(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%H:%M") if value else "?"

    def _datetime(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%d/%m/%Y %H:%M") if value else "?"

    def context(self, view: AlertView, event: str, now: datetime, ack_url: str | None) -> dict[str, Any]:
        a = view.alert
        unit = QUANTITIES[view.quantity].unit if view.quantity in QUANTITIES else ""
        return {
            "event": event, "title": view.title, "description": view.description,
            "severity": a.severity.label, "severity_label": _SEVERITY[self.language][a.severity],
            "device": view.device.name or a.dev_eui, "dev_eui": a.dev_eui, "site": view.device.site or "",
            "value": a.value, "threshold": a.threshold,
            "unit": "" if unit in ("", "bool", "count", "index", "level") else (" " + unit if unit[0].isalpha() else unit),
            "summary": a.summary, "since": a.fired_at or a.started_at, "now": now, "alert_id": a.id,
            "ack_url": ack_url, "rule": a.rule, "route": a.route, "details": dict(a.details),
        }

    def compose(self, view: AlertView, event: str, to: Recipient | Webhook, outbox_id: int,
                now: datetime) -> OutboxMessage:
        ack_url = (self.links.url(view.alert.id, outbox_id, now)
                   if self.links is not None and event != "resolved" else None)
        ctx = self.context(view, event, now, ack_url)
        if isinstance(to, Webhook):
            payload = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in ctx.items()}
            payload["state"] = view.alert.state
            return OutboxMessage("webhook", to.name, to.url, "", "", payload)
        if to.channel == "sms":
            text = " ".join(self.env.get_template("sms.j2").render(ctx).split())
            return OutboxMessage("sms", to.contact, to.address, "", fit(text, ack_url or "", self.sms_max_segments))
        subject = " ".join(self.env.get_template("email_subject.j2").render(ctx).split())
        body = self.env.get_template("email_body.j2").render(ctx).strip() + "\n"
        return OutboxMessage("email", to.contact, to.address, subject, body)
