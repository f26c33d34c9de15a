"""Publishing through the real broker with paho-mqtt: QoS 1, each message counted only once its PUBACK is in,
with a bounded number of messages in flight (the publisher slows down rather than piling up memory).

    with Publisher("mqtt://127.0.0.1:1883", client_id="beffroi-sim-1") as pub:
        pub.publish(topic, payload)
    # leaving the block waits for every PUBACK (or raises PublishError after the timeout)
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

__all__ = ["Publisher", "PublishError", "BrokerAddress", "parse_broker_url"]

log = logging.getLogger("beffroi.simulator")


class PublishError(RuntimeError):
    """The broker refused the connection, went away for too long, or did not acknowledge in time."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://[user:password@]host[:port]`` or ``mqtts://...`` (TLS, default port 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"broker URL {url!r} must look like mqtt://host:1883 or mqtts://user:pass@host:8883")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls,
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None)


class Publisher:
    """A connected QoS-1 publisher. ``publish`` blocks while ``max_inflight`` messages await their PUBACK."""

    def __init__(self, url: str, *, client_id: str, max_inflight: int = 200, qos: int = 1,
                 connect_timeout_s: float = 10.0, ack_timeout_s: float = 60.0) -> None:
        self.address = parse_broker_url(url)
        self.qos = qos
        self.max_inflight = max_inflight
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.sent = 0            # publish() calls
        self.acked = 0           # PUBACKs received (at QoS 0: messages written to the socket)
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._connect_error: str | None = None
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                                   clean_session=True)
        # paho's own window must not be the limit: ours is, so that publish() blocks instead of queueing.
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        if self.address.username:
            self._client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            self._client.tls_set_context(ssl.create_default_context())
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

    # paho callbacks run on its network thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._connect_error = str(reason)
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connection to %s:%s lost (%s); paho reconnects and resends in-flight messages",
                        self.address.host, self.address.port, reason)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            self.acked += 1
        self._slots.release()

    def __enter__(self) -> Publisher:
        a = self.address
        try:
            self._client.connect(a.host, a.port, keepalive=30)
        except OSError as exc:
            raise PublishError(f"cannot reach the MQTT broker at {a.host}:{a.port}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(self.connect_timeout_s):
            self._client.loop_stop()
            raise PublishError(f"the MQTT broker at {a.host}:{a.port} did not answer within "
                               f"{self.connect_timeout_s:g} s")
        if self._connect_error:
            self._client.loop_stop()
            raise PublishError(f"the MQTT broker at {a.host}:{a.port} refused the connection: "
                               f"{self._connect_error} (check the user name and password in the URL)")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self._client.disconnect()
            self._client.loop_stop()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self.sent - self.acked

    def publish(self, topic: str, payload: bytes) -> None:
        if not self._slots.acquire(timeout=self.ack_timeout_s):
            raise PublishError(f"no PUBACK from the broker for {self.ack_timeout_s:g} s "
                               f"({self.in_flight} messages in flight)")
        with self._lock:
            self.sent += 1
        info = self._client.publish(topic, payload, qos=self.qos)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            # NO_CONN: paho keeps the message and sends it after reconnecting; anything else is lost
            self._slots.release()
            with self._lock:
                self.sent -= 1
            raise PublishError(f"publishing to {topic} failed: {mqtt.error_string(info.rc)}")

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every published message is acknowledged."""
        deadline = time.monotonic() + (self.ack_timeout_s if timeout_s is None else timeout_s)
        while self.in_flight > 0:
            if time.monotonic() > deadline:
                raise PublishError(f"{self.in_flight} messages still unacknowledged by the broker")
            time.sleep(0.005)
