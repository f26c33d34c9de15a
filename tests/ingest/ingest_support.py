"""Helpers shared by the ingest tests: register devices, build realistic uplinks, count rows, run a service."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg

from devices.base import Radio, Uplink
from ingest.config import Config, load_config, parse_mqtt_url
from ingest.service import Service, run_service
from simulator import envelopes

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
T0 = datetime(2025, 3, 20, 10, 0, 0, tzinfo=UTC)


def new_eui() -> str:
    return secrets.token_hex(8)


def register(db: psycopg.Connection, dev_eui: str, profile: str | None = "milesight-am307", *,
             status: str = "active", params: Mapping[str, Any] | None = None, name: str | None = None) -> None:
    db.execute("INSERT INTO devices (dev_eui, name, profile, status, params) VALUES (%s, %s, %s, %s, %s)",
               (dev_eui, name or f"test-{dev_eui}", profile, status, json.dumps(dict(params or {}))))


def vector(profile: str, index: int = 0) -> tuple[int, bytes]:
    """(fPort, payload) of a real example from tests/vectors."""
    example = json.loads((VECTORS / f"{profile}.json").read_text())["examples"][index]
    return int(example["fPort"]), bytes.fromhex(example["bytes_hex"])


# Milesight AM307 periodic frame: temperature 30.8 °C, humidity 50.5 %, battery 92 % (tests/vectors, example 0,
# cut before the item the decoder does not know).
AM307_PORT, AM307_PAYLOAD = 85, bytes.fromhex("01755c03673401046865")
AM307_READINGS = {"battery": 92.0, "temperature": 30.8, "humidity": 50.5}


def uplink(dev_eui: str, f_cnt: int, *, payload: bytes = AM307_PAYLOAD, f_port: int = AM307_PORT,
           time: datetime | None = None) -> Uplink:
    return Uplink(dev_eui, time or T0 + timedelta(minutes=10 * f_cnt), f_cnt, f_port, payload, "test",
                  radio=Radio(rssi=-97, snr=6.5, gateways=1, gateway_id="7276ff002e0601aa", frequency=868_100_000,
                              dr=5))


def count(db: psycopg.Connection, table: str, dev_eui: str | None = None) -> int:
    if dev_eui is None:
        row = db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - table names from the tests
    else:
        row = db.execute(f"SELECT count(*) FROM {table} WHERE dev_eui = %s", (dev_eui,)).fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def reasons(db: psycopg.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT reason FROM rejects ORDER BY id")]


async def wait_for(predicate: Any, what: str, limit_s: float = 20.0) -> None:
    """Poll *predicate* (a no-argument callable) until true; fail naming *what* after *limit_s* seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------------------------------ service and broker

def topics(unique: str) -> tuple[str, str]:
    """(ChirpStack filter, TTS filter) private to one test, so parallel tests never see each other's messages."""
    return f"test/{unique}/application/+/device/+/event/+", f"test/{unique}/v3/+/devices/+/up"


def service_env(db_url: str, mqtt_url: str, unique: str, **overrides: object) -> dict[str, str]:
    """BEFFROI_* variables for a service on this test's database, broker topics and client id.

    ``overrides`` use ``section_key`` names: ``ingest_unknown_devices="provision"``.
    """
    cs, tts = topics(unique)
    env = {"BEFFROI_DATABASE_URL": db_url, "BEFFROI_MQTT_URL": mqtt_url,
           "BEFFROI_MQTT_CLIENT_ID": f"beffroi-test-{unique}", "BEFFROI_MQTT_CHIRPSTACK_TOPIC": cs,
           "BEFFROI_MQTT_TTS_TOPIC": tts, "BEFFROI_HTTP_LISTEN": "127.0.0.1:0",
           "BEFFROI_INGEST_BATCH_MAX_AGE_MS": "20", "BEFFROI_MQTT_SESSION_EXPIRY_S": "300",
           "BEFFROI_MQTT_RECONNECT_MAX_S": "1",
           # test uplinks are dated 2025: a retention job must not delete them under the test's feet
           "BEFFROI_RETENTION_UPLINKS_DAYS": "0", "BEFFROI_RETENTION_READINGS_DAYS": "0",
           "BEFFROI_RETENTION_POSITIONS_DAYS": "0", "BEFFROI_RETENTION_REJECTS_DAYS": "0"}
    env.update({f"BEFFROI_{key.upper()}": str(value) for key, value in overrides.items()})
    return env


def service_config(db_url: str, mqtt_url: str, unique: str, **overrides: object) -> Config:
    return load_config(None, environ=service_env(db_url, mqtt_url, unique, **overrides))


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[Service]:
    """Run ``beffroi run`` in this event loop until the block ends (then a clean shutdown)."""
    stop = asyncio.Event()
    started: asyncio.Future[Service] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_service(config, stop=stop, install_signals=False, ready=started.set_result))
    waiting: list[asyncio.Future[Any]] = [started, task]
    done, _ = await asyncio.wait(waiting, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if started not in done:
        task.cancel()
        raise AssertionError(f"the service did not start: {task.result() if task in done else 'timeout'}")
    service = started.result()
    await asyncio.wait_for(service.consumer.subscribed.wait(), 15)
    try:
        yield service
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


class Publisher:
    """A QoS 1 MQTT publisher (paho, its own network thread), like ChirpStack's integration."""

    def __init__(self, mqtt_url: str, unique: str) -> None:
        url = parse_mqtt_url(mqtt_url)
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{unique}-{secrets.token_hex(3)}",
                                  protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(url.host, url.port)
        self.client.loop_start()
        self.unique = unique

    def chirpstack_topic(self, dev_eui: str, event: str = "up", application_id: str = "app-1") -> str:
        return envelopes.chirpstack_topic(application_id, dev_eui, event, template=topics(self.unique)[0])

    def tts_topic(self, device_id: str, application_id: str = "ecoles") -> str:
        return envelopes.tts_topic(application_id, device_id, template=topics(self.unique)[1])

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(30)

    async def apublish(self, messages: list[tuple[str, bytes]]) -> None:
        await asyncio.to_thread(self.publish, messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def cs_up(publisher: Publisher, up: Uplink, *, pb: bool = False, profile: str = "milesight-am307") -> tuple[str, bytes]:
    build = envelopes.chirpstack_pb_uplink if pb else envelopes.chirpstack_json_uplink
    return publisher.chirpstack_topic(up.dev_eui), build(up, application_id="app-1", device_profile_name=profile)


async def publish_paced(publisher: Publisher, messages: list[tuple[str, bytes]], stored: Any, *,
                        window: int = 500, chunk: int = 100) -> None:
    """Publish, keeping at most *window* messages published but not yet stored (``stored()`` counts them).

    The shared test broker runs Mosquitto's defaults: beyond ``max_queued_messages`` (1000) queued for one
    session it drops messages silently (see docs/broker.md), which a test must not mistake for a Beffroi loss.
    """
    base = stored()
    for start in range(0, len(messages), chunk):
        await wait_for(lambda start=start: start - (stored() - base) <= window, "the consumer to catch up", 60)
        await publisher.apublish(messages[start:start + chunk])
