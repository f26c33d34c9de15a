"""Wiring of the rules engine into the service: configuration → rules directory, notifiers, engine, sender.

    alerting = await ingest.alerting.attach(writer, pool, config, registry=registry)   # None when rules.dir = ""
    ...                                      # start-up refuses a wrong rules directory (file:line: reason)
    await alerting.run()                     # tick loop + outbox sender, until cancelled
    await alerting.close()

``attach`` loads and validates the rules directory, builds the notifiers from ``notify.*``, and registers the
engine on the writer (``writer.add_listener``) so that every committed batch is evaluated. The API finds the
engine under ``ApiContext.extras["alerting"]`` (acknowledgements, silences).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter
from psycopg_pool import AsyncConnectionPool

from devices.base import PositionRow, ReadingRow
from ingest.config import Config, ConfigError
from rules.acklinks import AckLinks
from rules.clock import DataClock
from rules.compose import Composer
from rules.directory import Setup, load_directory
from rules.engine import Engine
from rules.fleet import Fleet, ProfileLookup
from rules.notifiers import Notification, Notifier
from rules.notifiers.email import EmailNotifier
from rules.notifiers.http_sms import HttpSms
from rules.notifiers.ovh import OvhSms
from rules.notifiers.twilio import TwilioSms
from rules.notifiers.webhook import WebhookNotifier
from rules.outbox import Sender
from rules.yamlmarks import ConfigFileError

__all__ = ["Alerting", "attach", "build", "build_notifiers", "ack_links", "load_rules"]

log = logging.getLogger("beffroi.alerting")


def utcnow() -> datetime:
    return datetime.now(UTC)


def load_rules(config: Config) -> Setup | None:
    """The validated rules directory, None when ``rules.dir`` is empty; a wrong file raises ConfigError."""
    directory = config.get("rules", "dir")
    if not directory:
        return None
    try:
        return load_directory(Path(directory).expanduser())
    except ConfigFileError as exc:
        raise ConfigError(f"rules directory: {exc}") from None


def ack_links(config: Config) -> AckLinks | None:
    secret = config.get("notify", "ack_secret")
    if not secret:
        return None
    try:
        return AckLinks(secret, timedelta(seconds=config.get("notify", "ack_link_ttl_s")),
                        config.get("http", "public_url"))
    except ValueError as exc:
        raise ConfigError(f"notify.ack_secret: {exc}") from None


def _headers(lines: Sequence[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"notify.http_sms_headers: {name.strip()!r}... is not 'Name: value'")
        out[name.strip()] = value.strip()
    return out


def build_notifiers(config: Config, session: aiohttp.ClientSession) -> dict[str, Notifier]:
    n = config["notify"]
    out: dict[str, Notifier] = {"webhook": WebhookNotifier(session, secret=n["webhook_secret"])}
    if n["smtp_host"]:
        out["email"] = EmailNotifier(host=n["smtp_host"], port=n["smtp_port"], sender=n["smtp_from"],
                                     starttls=n["smtp_security"] == "starttls", tls=n["smtp_security"] == "tls",
                                     username=n["smtp_user"], password=n["smtp_password"])
    provider = n["sms_provider"]
    missing = [k for k, v in n.items() if not v and k in {
        "ovh": ("ovh_application_key", "ovh_application_secret", "ovh_consumer_key", "ovh_service_name"),
        "twilio": ("twilio_account_sid", "twilio_auth_token", "sms_sender"),
        "http": ("http_sms_url", "http_sms_body"), "none": ()}[provider]]
    if missing:
        raise ConfigError(f"notify.sms_provider = {provider!r} needs notify.{', notify.'.join(sorted(missing))}")
    if provider == "ovh":
        out["sms"] = OvhSms(session, application_key=n["ovh_application_key"],
                            application_secret=n["ovh_application_secret"], consumer_key=n["ovh_consumer_key"],
                            service_name=n["ovh_service_name"], sender=n["sms_sender"], endpoint=n["ovh_endpoint"])
    elif provider == "twilio":
        out["sms"] = TwilioSms(session, account_sid=n["twilio_account_sid"], auth_token=n["twilio_auth_token"],
                               sender=n["sms_sender"], endpoint=n["twilio_endpoint"])
    elif provider == "http":
        out["sms"] = HttpSms(session, url=n["http_sms_url"], body=n["http_sms_body"], method=n["http_sms_method"],
                             headers=_headers(n["http_sms_headers"]), secret=n["http_sms_secret"])
    return out


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.notifications = Counter("beffroi_notifications", "Notification delivery outcomes by channel "
                                     "(sent, retry, failed: given up, see the alert list)", ["channel", "outcome"],
                                     registry=r)
        self.transitions = Counter("beffroi_alert_transitions", "Alert transitions made by this engine", registry=r)

    def observe(self, outcome: str, n: Notification, error: str | None) -> None:
        self.notifications.labels(n.channel, outcome).inc()


@dataclass
class Alerting:
    engine: Engine
    sender: Sender
    session: aiohttp.ClientSession
    tick_s: float
    metrics: _Metrics
    data_clock: DataClock | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def on_batch(self, readings: Sequence[ReadingRow], positions: Sequence[PositionRow]) -> None:
        """The writer's listener: a rules failure is logged, never propagated into ingestion."""
        if self.data_clock is not None:
            self.data_clock.observe(r.time for r in readings)
            self.data_clock.observe(p.time for p in positions)
        try:
            self.metrics.transitions.inc(await self.engine.on_batch(readings, positions))
        except Exception:
            log.exception("rules evaluation of a committed batch failed; the next tick evaluates again")

    async def _ticks(self) -> None:
        while True:
            try:
                self.metrics.transitions.inc(await self.engine.tick())
            except Exception:
                log.exception("rules tick failed; retrying at the next tick")
            await asyncio.sleep(self.tick_s)

    async def run(self) -> None:
        """Tick loop and outbox sender, until cancelled."""
        async with asyncio.TaskGroup() as group:
            self.tasks = [group.create_task(self._ticks(), name="rules-tick"),
                          group.create_task(self.sender.run(), name="outbox-sender")]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.session.close()


def build(pool: AsyncConnectionPool, config: Config, setup: Setup, *, profiles: ProfileLookup | None = None,
          clock: Callable[[], datetime] = utcnow, metrics_registry: CollectorRegistry | None = None,
          session: aiohttp.ClientSession | None = None) -> Alerting:
    session = session or aiohttp.ClientSession()
    n = config["notify"]
    template_dir = Path(config.get("rules", "dir")).expanduser() / "templates"
    composer = Composer(links=ack_links(config), language=n["language"], template_dir=template_dir,
                        sms_max_segments=n["sms_max_segments"])
    # A data clock is the engine's only: notification retries and link expiry stay on the wall clock.
    data_clock = DataClock() if config.get("rules", "clock") == "data" else None
    engine = Engine(pool, setup, composer, Fleet(profiles), data_clock or clock)
    metrics = _Metrics(metrics_registry)
    sender = Sender(pool, build_notifiers(config, session), clock, max_attempts=n["max_attempts"],
                    observer=metrics.observe)
    return Alerting(engine, sender, session, config.get("rules", "tick_s"), metrics, data_clock)


async def attach(writer: Any, pool: AsyncConnectionPool, config: Config, *, registry: Any = None,
                 clock: Callable[[], datetime] = utcnow,
                 metrics_registry: CollectorRegistry | None = None) -> Alerting | None:
    """Load the rules, build the alerting, register it on the writer. None (and a log line) without rules.dir."""
    setup = load_rules(config)
    if setup is None:
        log.info("rules.dir is empty: alerting is off")
        return None
    alerting = build(pool, config, setup, profiles=registry.get if registry is not None else None, clock=clock,
                     metrics_registry=metrics_registry)
    if writer is not None:
        writer.add_listener(alerting.on_batch)
    if ack_links(config) is None:
        log.warning("notify.ack_secret is empty: notifications carry no acknowledgement link")
    log.info("alerting on: %d rules from %d files, channels: %s", len(setup.rules), len(setup.files),
             ", ".join(sorted(alerting.sender.notifiers)))
    return alerting
