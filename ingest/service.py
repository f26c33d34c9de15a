"""``beffroi run``: the ingest service, wired from the configuration and run in one asyncio TaskGroup.

Start-up, in order: the database schema is checked (a schema newer than this code is refused, a missing
migration asks for ``beffroi migrate``), the storage capabilities are logged, the device profiles are loaded
(a broken profile stops start-up naming its file), then the pool, the device directory, the writer, the
pipeline, the rules engine (when ``rules.dir`` is set), the MQTT consumer and the HTTP server start together.

Shutdown (SIGINT, SIGTERM): stop reading MQTT, hand what was received to the writer, commit it and acknowledge
it, then DISCONNECT (the broker keeps the session and queues for the next start). When the database is down at
that moment the last batch is given up after ``SHUTDOWN_COMMIT_S`` without acknowledging: the broker redelivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiohttp import web

from dashboards.profiles import sync_device_profiles
from devices.profile import ProfileError
from devices.registry import ProfileRegistry
from ingest.api.app import ApiContext, build_app
from ingest.config import Config, parse_mqtt_url
from ingest.db import DatabaseUnavailable, Flavour, connect, open_pool
from ingest.directory import DeviceDirectory
from ingest.metrics import Metrics
from ingest.migrate import SchemaTooNew, check_schema
from ingest.mqtt import MqttConsumer, Subscription
from ingest.pipeline import Inbound, Pipeline
from ingest.retention import run_retention
from ingest.rollups import run_rollup_refresh
from ingest.writer import Writer, connector

__all__ = ["Service", "run_service", "settle_gc", "StartupError", "SHUTDOWN_COMMIT_S"]

log = logging.getLogger("beffroi.service")

SHUTDOWN_COMMIT_S = 15.0
HTTP_SUBMIT_WAIT_S = 10.0


class StartupError(Exception):
    """The service cannot start; the message says what to do. ``exit_code`` for the command line."""

    def __init__(self, message: str, exit_code: int = 3) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Service:
    """The running parts, for the rules hook and for tests."""

    config: Config
    flavour: Flavour
    registry: ProfileRegistry
    metrics: Metrics
    pool: Any
    directory: DeviceDirectory
    writer: Writer
    pipeline: Pipeline
    consumer: MqttConsumer
    context: ApiContext
    http_address: tuple[str, int] | None = None         # where the HTTP server listens, once started
    background: list[Callable[[], Coroutine[Any, Any, Any]]] = field(default_factory=list)   # extra loops
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)      # run at shutdown

    def ack(self, tokens: Any) -> None:
        """The writer's acknowledgement: MQTT tokens to the consumer, HTTP waiters (futures) released."""
        mqtt_tokens = []
        for token in tokens:
            if isinstance(token, asyncio.Future):
                if not token.done():
                    token.set_result(None)
            else:
                mqtt_tokens.append(token)
        if mqtt_tokens:
            self.consumer.ack(mqtt_tokens)

    async def submit_http(self, raw: bytes, topic: str, source: str) -> None:
        """For the ChirpStack HTTP integration: returns once the message is committed (stored or rejected)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pipeline.submit(Inbound(topic, raw, token=done, source=source))
        await asyncio.wait_for(asyncio.shield(done), HTTP_SUBMIT_WAIT_S)


def _schema(config: Config) -> tuple[Flavour, str]:
    """Check the schema version; return the flavour it was migrated with and a capability line for the log."""
    with connect(config.get("database", "url"), autocommit=True) as conn:
        try:
            check_schema(conn)
        except SchemaTooNew as exc:
            raise StartupError(str(exc)) from exc
        except RuntimeError as exc:             # older schema: migrations pending
            raise StartupError(str(exc)) from exc
        row = conn.execute("SELECT flavour FROM schema_migrations ORDER BY version DESC LIMIT 1").fetchone()
        flavour: Flavour = "timescaledb" if row and row[0] == "timescaledb" else "postgresql"
        ext = conn.execute("SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), "
                           "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')").fetchone()
    installed, available = (ext[0], ext[1]) if ext else (None, False)
    line = (f"storage: schema migrated for {flavour}; timescaledb extension "
            f"{'installed (' + installed + ')' if installed else 'available, not installed' if available else 'not available'}"
            f"; {'continuous aggregates and policies do the rollups and retention' if flavour == 'timescaledb' else 'the rollup refresher merges the batches into the rollup tables, the retention job deletes old rows'}")
    return flavour, line


async def _wait_for_schema(config: Config, stop: asyncio.Event) -> tuple[Flavour, str]:
    delay = 1.0
    while True:
        try:
            return await asyncio.to_thread(_schema, config)
        except DatabaseUnavailable as exc:
            log.warning("%s; retrying in %.0f s", exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            raise StartupError("stopped before the database became reachable", exit_code=1)
        delay = min(delay * 2, config.get("mqtt", "reconnect_max_s"))


def _listen(config: Config) -> tuple[str, int]:
    host, _, port = config.get("http", "listen").rpartition(":")
    return host or "0.0.0.0", int(port)  # noqa: S104 - an empty host means every interface, as the operator wrote


async def _attach_rules(service: Service) -> None:
    """THE HOOK where the rules engine joins the service: it subscribes to committed batches on the writer."""
    from ingest import alerting

    attached = await alerting.attach(service.writer, service.pool, service.config, registry=service.registry,
                                     metrics_registry=service.metrics.registry)
    if attached is not None:
        service.context.extras["alerting"] = attached
        service.background.append(attached.run)
        service.closers.append(attached.close)


def build_service(config: Config, flavour: Flavour, registry: ProfileRegistry) -> Service:
    cfg_i, cfg_m = config["ingest"], config["mqtt"]
    metrics = Metrics()
    url = config.get("database", "url")
    pool = open_pool(url, config.get("database", "pool_size"))
    directory = DeviceDirectory(pool, negative_ttl_s=cfg_i["device_refresh_s"], refresh_s=cfg_i["device_refresh_s"])
    context = ApiContext(config, pool, readiness={"database": False, "mqtt": False})
    # Half the Receive Maximum per batch: the next batch fills while one commits, within what the broker may send.
    per_batch = max(1, min(cfg_i["queue_max_uplinks"], cfg_m["receive_maximum"] // 2))
    writer = Writer(connector(url, config.get("database", "statement_timeout_s")), flavour=flavour, metrics=metrics,
                    max_rows=cfg_i["batch_max_rows"],
                    max_messages=per_batch, max_age_s=cfg_i["batch_max_age_ms"] / 1000.0,
                    reconnect_max_s=cfg_m["reconnect_max_s"],
                    on_state=lambda up: context.readiness.__setitem__("database", up))
    pipeline = Pipeline(directory=directory, registry=registry, writer=writer, metrics=metrics,
                        unknown_devices=cfg_i["unknown_devices"], max_bytes=cfg_i["max_message_bytes"],
                        queue_max=cfg_i["queue_max_uplinks"])
    subscriptions = [Subscription(cfg_m["chirpstack_topic"], tts=False)] if cfg_m["chirpstack_topic"] else []
    if cfg_m["tts_topic"]:
        subscriptions.append(Subscription(cfg_m["tts_topic"], tts=True))
    consumer = MqttConsumer(parse_mqtt_url(cfg_m["url"]), client_id=cfg_m["client_id"], subscriptions=subscriptions,
                            sink=pipeline.submit, metrics=metrics, session_expiry_s=cfg_m["session_expiry_s"],
                            keepalive_s=cfg_m["keepalive_s"], receive_maximum=cfg_m["receive_maximum"],
                            reconnect_max_s=cfg_m["reconnect_max_s"], ca_file=cfg_m["ca_file"],
                            shared_group=cfg_m["shared_group"], protocol=cfg_m["protocol"],
                            on_state=lambda up: context.readiness.__setitem__("mqtt", up))
    pipeline.set_flow_control(consumer.pause_reading, consumer.resume_reading)
    service = Service(config, flavour, registry, metrics, pool, directory, writer, pipeline, consumer, context)
    writer.set_ack(service.ack)
    context.extras.update(registry=registry, metrics_registry=metrics.registry, submit=service.submit_http,
                          writer=writer, pipeline=pipeline, flavour=flavour)
    return service


def settle_gc(_service: Service | None = None) -> None:
    """For a process that runs the service and nothing else (``beffroi run``, each ``--workers`` process), once it
    serves: keep the cyclic garbage collector off what start-up loaded and off each message's short-lived objects.

    Measured on backlog drains (``beffroi bench ingest --drain``, the collector timed through ``gc.callbacks``):
    with the defaults the collector took 28 µs per uplink — every full collection walked the profiles, modules and
    device directory again, and the queued messages were scanned every 700 allocations; with start-up objects
    frozen and a 10 000-allocation young generation, 7 µs. Full collections keep their usual cadence relative to
    the young generation, so cyclic garbage (exceptions, cancelled tasks) is still reclaimed. Not applied by
    ``run_service`` itself: a process that embeds the service (tests, ``beffroi demo``) keeps its own settings."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


async def run_service(config: Config, *, stop: asyncio.Event | None = None, install_signals: bool = True,
                      ready: Callable[[Service], None] | None = None) -> int:
    """Run until *stop* is set (or SIGINT/SIGTERM); return the process exit code."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        flavour, capability = await _wait_for_schema(config, stop)
        log.info(capability)
        try:
            registry = ProfileRegistry.load(config.get("devices", "extra_paths"))
        except ProfileError as exc:
            raise StartupError(f"device profiles: {exc}", exit_code=2) from exc
        log.info("device profiles: %d loaded (%s)", len(registry), ", ".join(registry.ids()))
        await asyncio.to_thread(_publish_profiles, config, registry)
        service = build_service(config, flavour, registry)
        await service.pool.open(wait=False)
        await service.directory.load()
        await _attach_rules(service)
    except StartupError as exc:
        log.error("%s", exc)
        return exc.exit_code
    try:
        await _serve(service, stop, ready)
    finally:
        for close in service.closers:
            with contextlib.suppress(Exception):
                await close()
        await service.writer.aclose_connection()
        await service.pool.close()
    return 0


def _publish_profiles(config: Config, registry: ProfileRegistry) -> None:
    """The dashboards' SQL reads each model's family and uplink period from ``device_profiles``: keep it in step
    with the profiles this process loaded (a model added since ``beffroi migrate`` shows up at once)."""
    try:
        with connect(config.get("database", "url")) as conn:
            sync_device_profiles(conn, registry)
    except (DatabaseUnavailable, psycopg.Error) as exc:
        log.warning("could not update device_profiles for the dashboards (%s); they may show stale families", exc)


async def _serve(service: Service, stop: asyncio.Event, ready: Callable[[Service], None] | None) -> None:
    cfg = service.config
    runner = web.AppRunner(build_app(service.context), access_log=None)
    await runner.setup()
    host, port = _listen(cfg)
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0] if runner.addresses else (host, port)
    service.http_address = (str(bound[0]), int(bound[1]))
    log.info("HTTP on %s:%d (/metrics, /healthz, /readyz, API); consuming %s", *service.http_address,
             ", ".join(service.consumer.subscriptions))
    try:
        async with asyncio.TaskGroup() as group:
            writer_task = group.create_task(service.writer.run(), name="writer")
            others = [
                group.create_task(service.pipeline.run(), name="pipeline"),
                group.create_task(service.consumer.run(), name="mqtt"),
                group.create_task(service.directory.run(), name="device-directory"),
                group.create_task(run_retention(service.pool, service.flavour, dict(cfg["retention"])),
                                  name="retention"),
                *([group.create_task(run_rollup_refresh(service.pool, service.metrics,
                                                        every_s=cfg.get("ingest", "rollup_refresh_s")),
                                     name="rollup-refresh")] if service.flavour == "postgresql" else []),
                *(group.create_task(loop(), name=getattr(loop, "__qualname__", "extension"))
                  for loop in service.background),
            ]
            if ready is not None:
                ready(service)
            await stop.wait()
            log.info("stopping: no more reading, committing what was received")
            service.consumer.pause_reading()
            try:
                await asyncio.wait_for(service.pipeline.drained(), SHUTDOWN_COMMIT_S)
                await service.writer.close()
                await asyncio.wait_for(asyncio.shield(writer_task), SHUTDOWN_COMMIT_S)
            except TimeoutError:
                log.warning("the last batch could not be committed in %.0f s; it is not acknowledged and the "
                            "broker will redeliver it", SHUTDOWN_COMMIT_S)
                writer_task.cancel()
            await service.consumer.stop()
            for task in others:
                task.cancel()
    finally:
        await runner.cleanup()
    log.info("stopped")
