"""The MQTT consumer: paho-mqtt 2.x driven by the asyncio event loop, acknowledging only what is committed.

* MQTT v5, QoS 1 subscriptions, ``clean_start = False`` with a Session Expiry Interval: while Beffroi is away the
  broker keeps its session and queues messages (within the broker's own limits, see ``docs/broker.md``).
* ``manual_ack``: paho does not acknowledge on receipt; the writer calls ``ack(tokens)`` after the transaction
  holding those messages committed. A message that is not acknowledged is redelivered by the broker after a
  reconnect; the idempotent inserts make the redelivery harmless.
* Receive Maximum (``mqtt.receive_maximum``) caps how many unacknowledged messages the broker sends: this is the
  main back-pressure. When the pipeline's queue is nevertheless full, ``pause_reading`` removes the socket from
  the event loop until it drains (the kernel buffer and then TCP hold the rest).
* An acknowledgement token carries the connection generation: after a reconnect, packet ids restart and the broker
  redelivers; acknowledging an old id on the new connection could acknowledge a different, uncommitted message,
  so stale tokens are dropped instead (the redelivered copy gets acknowledged when its own batch commits).
* Reconnection with capped, jittered exponential backoff; the blocking part of a connection attempt (DNS, TCP,
  TLS handshake) runs in a worker thread so the event loop keeps serving HTTP and committing.
* ``mqtts://`` uses TLS (``mqtt.ca_file`` or the system trust store); user and password come from the URL;
  ``mqtt.shared_group`` subscribes through ``$share/<group>/`` so several processes split one stream.
"""

from __future__ import annotations

import asyncio
import logging
import random
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.config import MqttUrl
from ingest.metrics import Metrics
from ingest.paho_client import LeanClient
from ingest.pipeline import Inbound

__all__ = ["AckToken", "Subscription", "MqttConsumer"]

log = logging.getLogger(__name__)

# Packets read per wake-up of the event loop at most: enough to cut the loop's per-message overhead, few enough
# (a few milliseconds of work) that a committing batch gets its turn soon after each of its round trips.
_BURST = 32


@dataclass(frozen=True, slots=True)
class AckToken:
    generation: int
    mid: int
    qos: int


@dataclass(frozen=True, slots=True)
class Subscription:
    topic_filter: str
    tts: bool = False              # messages on it are TTS uplinks (else ChirpStack events)

    @property
    def levels(self) -> list[str]:
        return self.topic_filter.split("/")


def _matches(levels: list[str], topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest)."""
    parts = topic.split("/")
    for i, level in enumerate(levels):
        if level == "#":
            return True
        if i >= len(parts) or (level != "+" and level != parts[i]):
            return False
    return len(parts) == len(levels)


class MqttConsumer:
    def __init__(self, url: MqttUrl, *, client_id: str, subscriptions: Sequence[Subscription],
                 sink: Callable[[Inbound], None], metrics: Metrics, session_expiry_s: int = 604800,
                 keepalive_s: int = 30, receive_maximum: int = 1000, reconnect_max_s: float = 30.0,
                 ca_file: str = "", shared_group: str = "", on_state: Callable[[bool], None] | None = None,
                 protocol: str = "5") -> None:
        self._url = url
        self._subscriptions = list(subscriptions)
        self._sink = sink
        self._metrics = metrics
        self._keepalive = keepalive_s
        self._reconnect_max = reconnect_max_s
        self._shared_group = shared_group
        self._on_state = on_state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._sock: Any = None
        self._paused = False
        self._generation = 0
        self._connected = False
        self._stopping = False
        self._refused = False                 # the last CONNACK was a refusal (already logged)
        self._tts_topics: dict[str, bool] = {}
        self._disconnected = asyncio.Event()
        self.subscribed = asyncio.Event()     # set once the broker granted the subscriptions of this connection
        self._connect_props = Properties(PacketTypes.CONNECT)
        self._connect_props.SessionExpiryInterval = session_expiry_s
        self._connect_props.ReceiveMaximum = receive_maximum
        # MQTT 3.1.1 is for brokers without v5 (the demo's embedded one): no session expiry, Receive Maximum or
        # shared subscriptions there, the session lasts as long as the broker keeps it.
        self._v5 = protocol == "5"
        if not self._v5 and shared_group:
            raise ValueError("mqtt.shared_group needs MQTT v5 (mqtt.protocol = \"5\")")
        if self._v5:
            client = LeanClient(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5,
                                manual_ack=True, on_publish_fast=self._on_publish)
        else:
            client = LeanClient(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
                                clean_session=False, manual_ack=True, on_publish_fast=self._on_publish)
        if url.username is not None:
            client.username_pw_set(unquote(url.username), unquote(url.password) if url.password else None)
        if url.tls:
            client.tls_set(ca_certs=ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._client = client

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def subscriptions(self) -> list[str]:
        """The topic filters as subscribed (with the ``$share/<group>/`` prefix when shared)."""
        return [self._filter(sub) for sub in self._subscriptions]

    # ----------------------------------------------------------------------------------------- public

    async def run(self) -> None:
        """Connect, and reconnect after every loss, until ``stop()``."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        misc = asyncio.create_task(self._misc_loop(), name="mqtt-misc")
        attempt = 0
        first = True
        try:
            while not self._stopping:
                self._disconnected.clear()
                generation = self._generation
                try:
                    await self._loop.run_in_executor(None, self._connect_blocking, first)
                    first = False
                except (OSError, ssl.SSLError, ValueError) as exc:
                    log.warning("cannot connect to the MQTT broker %s:%d (%s)", self._url.host, self._url.port, exc)
                    self._close_half_open()
                else:
                    await self._disconnected.wait()
                if self._stopping:
                    break
                attempt = 0 if self._generation != generation else attempt + 1
                delay = min(self._reconnect_max, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)
                log.info("reconnecting to the MQTT broker in %.1f s", delay)
                await asyncio.sleep(delay)
        finally:
            misc.cancel()

    def ack(self, tokens: Iterable[AckToken]) -> None:
        """Acknowledge committed messages; tokens from an earlier connection are dropped (see module doc)."""
        client, generation, stale = self._client, self._generation, 0
        for token in tokens:
            if token.generation == generation and self._connected:
                client.ack(token.mid, token.qos)
            else:
                stale += 1
        if stale:
            self._metrics.stale_acks.inc(stale)

    def pause_reading(self) -> None:
        self._paused = True
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock)

    def resume_reading(self) -> None:
        self._paused = False
        if self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock, self._on_readable)
            if self._client.buffered():        # read before the pause: the socket may never wake us for it
                self._loop.call_soon(self._on_readable)

    async def stop(self, wait_s: float = 5.0) -> None:
        """Send DISCONNECT (after any queued acknowledgements) and wait for the socket to close."""
        self._stopping = True
        if self._connected:
            self._client.disconnect()
            try:
                await asyncio.wait_for(self._disconnected.wait(), wait_s)
            except TimeoutError:
                log.warning("the MQTT broker did not close the connection within %.0f s", wait_s)
        self._disconnected.set()

    # ----------------------------------------------------------------------------------------- connection

    def _connect_blocking(self, first: bool) -> None:
        if first and self._v5:
            self._client.connect(self._url.host, self._url.port, keepalive=self._keepalive, clean_start=False,
                                 properties=self._connect_props)
        elif first:
            self._client.connect(self._url.host, self._url.port, keepalive=self._keepalive)
        else:
            self._client.reconnect()

    def _close_half_open(self) -> None:
        sock = self._client.socket()
        if sock is not None:
            self._on_socket_close(self._client, None, sock)
            try:
                sock.close()
            except OSError:
                pass

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if reason.is_failure:
            self._refused = True
            log.error("the MQTT broker refused the connection: %s (check mqtt.url credentials and ACLs)", reason)
            return
        self._generation += 1
        self._set_connected(True)
        if not flags.session_present:
            log.warning("the MQTT broker had no session for client id %s: messages published while Beffroi was "
                        "away are lost unless this is the first start (mqtt.session_expiry_s, broker "
                        "persistence)", client._client_id.decode(errors="replace"))
        if self._v5:
            client.subscribe([(self._filter(sub), SubscribeOptions(qos=1)) for sub in self._subscriptions])
        else:
            client.subscribe([(sub.topic_filter, 1) for sub in self._subscriptions])
        log.info("connected to the MQTT broker %s:%d (session present: %s)", self._url.host, self._url.port,
                 flags.session_present)

    def _filter(self, sub: Subscription) -> str:
        return f"$share/{self._shared_group}/{sub.topic_filter}" if self._shared_group else sub.topic_filter

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      properties: Properties | None) -> None:
        refused = [(sub, reason) for sub, reason in zip(self._subscriptions, reasons, strict=False) if reason.is_failure]
        for sub, reason in refused:
            log.error("subscription to %s refused by the broker: %s", self._filter(sub), reason)
        if not refused:
            self.subscribed.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Properties | None) -> None:
        if self._connected and not self._stopping:
            log.warning("MQTT connection lost: %s", reason)
        elif not self._stopping and not self._refused:
            log.warning("the MQTT broker %s:%d closed the connection before accepting it (%s): check the port and "
                        "the scheme (mqtts:// for a TLS listener, mqtt:// for a plain one)",
                        self._url.host, self._url.port, reason)
        self._refused = False
        self._set_connected(False)
        if self._loop is not None:
            self._call(self._disconnected.set)
            self._call(self.subscribed.clear)

    def _set_connected(self, up: bool) -> None:
        self._connected = up
        self._metrics.up.labels("mqtt").set(1 if up else 0)
        if self._on_state is not None:
            self._on_state(up)

    def _is_tts(self, topic: str) -> bool:
        """Whether *topic* came through the TTS subscription (cached: a city has a bounded set of topics)."""
        known = self._tts_topics.get(topic)
        if known is None:
            known = any(sub.tts and _matches(sub.levels, topic) for sub in self._subscriptions)
            if len(self._tts_topics) > 100_000:
                self._tts_topics.clear()
            self._tts_topics[topic] = known
        return known

    def _on_publish(self, topic: bytes, payload: bytes, mid: int, qos: int) -> None:
        """A PUBLISH from the lean path (``ingest/paho_client.py``)."""
        try:
            text = topic.decode()
            token = AckToken(self._generation, mid, qos) if qos else None
            self._sink(Inbound(text, payload, self._is_tts(text), token, time.monotonic()))
        except Exception:      # never let paho see an exception: it would break its read loop
            log.exception("cannot queue an MQTT message")

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        """A PUBLISH that paho decoded itself (one with MQTT v5 properties)."""
        self._on_publish(msg.topic.encode(), bytes(msg.payload), msg.mid, msg.qos)

    # ----------------------------------------------------------------------------------------- event loop

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run *fn* on the event loop thread (paho calls the socket hooks from the connecting thread too)."""
        assert self._loop is not None
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def register() -> None:
            self._sock = sock
            if not self._paused:
                assert self._loop is not None
                self._loop.add_reader(sock, self._on_readable)
        self._call(register)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def unregister() -> None:
            assert self._loop is not None
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
            if self._sock is sock:
                self._sock = None
        self._call(unregister)

    def _on_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call(lambda: self._loop.add_writer(sock, client.loop_write) if self._loop else None)

    def _on_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call(lambda: self._loop.remove_writer(sock) if self._loop else None)

    def _on_readable(self) -> None:
        """Read up to ``_BURST`` packets while bytes are waiting (paho reads one packet per ``loop_read``)."""
        client, sock = self._client, self._sock
        for _ in range(_BURST):
            client.loop_read()
            if self._paused or sock is None or sock is not self._sock:
                return
            if not self._waiting(sock) and not select.select([sock], [], [], 0)[0]:
                return
        if self._waiting(sock) and self._loop is not None:
            self._loop.call_soon(self._on_readable)      # the kernel socket may be empty: it would not wake us

    def _waiting(self, sock: Any) -> bool:
        """Bytes already out of the kernel socket: in the client's read buffer, or decrypted inside TLS."""
        return self._client.buffered() or (isinstance(sock, ssl.SSLSocket) and sock.pending() > 0)

    async def _misc_loop(self) -> None:
        """Keepalive pings and timeouts (paho's loop_misc), once a second."""
        while True:
            await asyncio.sleep(1.0)
            if self._sock is not None:
                self._client.loop_misc()
