"""Publishing through the real broker: QoS 1, every message acknowledged, in-flight bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.publish import Publisher, PublishError, parse_broker_url
from tests.support.services import host_port


class Collector:
    """A subscriber on ``<prefix>/#`` that records what arrives."""

    def __init__(self, url: str, prefix: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._ready = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"collector-{prefix}")
        self._client.on_connect = lambda c, u, f, r, p: c.subscribe(f"{prefix}/#", qos=1)
        self._client.on_subscribe = lambda c, u, m, r, p: self._ready.set()
        self._client.on_message = lambda c, u, msg: self.received.append((msg.topic, bytes(msg.payload)))
        host, port = host_port(url)
        self._client.connect(host, port)
        self._client.loop_start()
        assert self._ready.wait(10), "subscription not acknowledged"

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def collector(mqtt_url: str, unique: str) -> Iterator[Collector]:
    c = Collector(mqtt_url, unique)
    yield c
    c.close()


def test_every_message_is_acknowledged_and_delivered(mqtt_url: str, unique: str, collector: Collector) -> None:
    with Publisher(mqtt_url, client_id=f"pub-{unique}", max_inflight=5) as pub:
        for i in range(300):
            pub.publish(f"{unique}/application/a/device/{i:016x}/event/up", f"{{\"n\": {i}}}".encode())
            assert pub.in_flight <= 5
    assert pub.sent == pub.acked == 300
    collector.wait_for(300)
    assert len(collector.received) == 300
    assert [p for _, p in collector.received] == [f"{{\"n\": {i}}}".encode() for i in range(300)]


def test_unreachable_broker_is_reported() -> None:
    with pytest.raises(PublishError, match="cannot reach"), Publisher("mqtt://127.0.0.1:1", client_id="x"):
        pass


def test_broker_url_forms() -> None:
    a = parse_broker_url("mqtts://sim%40ville:s3cret@broker.example:8884")
    assert (a.host, a.port, a.tls, a.username, a.password) == ("broker.example", 8884, True, "sim@ville", "s3cret")
    assert parse_broker_url("mqtt://localhost").port == 1883
    with pytest.raises(ValueError):
        parse_broker_url("http://localhost")
