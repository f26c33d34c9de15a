"""The consumer's lean paho receive path (``ingest/paho_client.py``) against the real broker: every message arrives
whole and in order whatever the packet boundaries, and what the lean path does not handle goes through paho's."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import paho.mqtt as paho_mqtt
import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.config import parse_mqtt_url
from ingest.metrics import Metrics
from ingest.mqtt import AckToken, MqttConsumer, Subscription
from ingest.paho_client import READ_SIZE, VERIFIED_PAHO
from ingest.pipeline import Inbound
from tests.ingest.ingest_support import wait_for


def test_paho_is_the_version_the_lean_path_was_checked_against() -> None:
    # LeanClient overrides two private methods of paho's Client: read them again before changing this pin.
    assert paho_mqtt.__version__ == VERIFIED_PAHO


Sink = Callable[[MqttConsumer, Inbound], None]


def _acking(received: list[Inbound]) -> Sink:
    """Keep each message and acknowledge it at once (the broker's in-flight window stays open)."""
    def sink(consumer: MqttConsumer, message: Inbound) -> None:
        received.append(message)
        if message.token is not None:
            consumer.ack([message.token])
    return sink


def _at_least(received: list[Inbound], count: int) -> bool:
    return len(received) >= count


@asynccontextmanager
async def _session(mqtt_url: str, topic: str, sink: Sink, protocol: str = "5"
                   ) -> AsyncIterator[tuple[MqttConsumer, paho.Client]]:
    """A subscribed consumer on ``topic/#`` feeding *sink*, and a publisher of the same protocol; both closed after."""
    url = parse_mqtt_url(mqtt_url)
    consumer = MqttConsumer(url, client_id=f"lean-{os.getpid()}-{topic}", subscriptions=[Subscription(f"{topic}/#")],
                            sink=lambda message: sink(consumer, message), metrics=Metrics(), protocol=protocol)
    asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.subscribed.wait(), 10)
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"lean-pub-{os.getpid()}",
                            protocol=paho.MQTTv5 if protocol == "5" else paho.MQTTv311)
    publisher.max_inflight_messages_set(1000)
    publisher.connect(url.host, url.port)
    publisher.loop_start()
    try:
        yield consumer, publisher
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        await consumer.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_bursts_and_large_messages_arrive_whole_and_in_order(mqtt_url: str, unique: str,
                                                                   protocol: str) -> None:
    received: list[Inbound] = []
    topic = f"lean/{unique}/{protocol}"
    async with _session(mqtt_url, topic, _acking(received), protocol) as (_consumer, publisher):
        # small messages of every length around the 1-byte/2-byte remaining-length boundary, then one message
        # larger than the read buffer, then QoS 0: many packets per recv and packets split across recvs
        sent = [(f"{topic}/dev/{k % 7}", bytes([k % 251]) * (k % 300), 1) for k in range(3000)]
        sent.append((f"{topic}/big", os.urandom(READ_SIZE + 12345), 1))
        qos0 = [(f"{topic}/q0/{k}", f"qos0-{k}".encode(), 0) for k in range(50)]
        # in chunks the machine's broker queues whole (Mosquitto drops past 1 000 queued messages per client);
        # QoS 0 last, since it would overtake QoS 1 messages still queued in the publisher
        sent += qos0
        for start in range(0, len(sent), 500):
            for t, p, q in sent[start:start + 500]:
                publisher.publish(t, p, qos=q)
            await wait_for(functools.partial(_at_least, received, min(start + 500, len(sent))), "every message",
                           limit_s=30)
        await asyncio.sleep(0.2)
        assert [(m.topic, m.payload) for m in received] == [(t, p) for t, p, _ in sent]
        tokens = [m.token for m in received]
        assert all(isinstance(t, AckToken) and t.qos == 1 for t in tokens[:3001])
        assert tokens[3001:] == [None] * 50


async def test_a_message_with_v5_properties_goes_through_paho_s_own_path(mqtt_url: str, unique: str) -> None:
    received: list[Inbound] = []
    topic = f"lean/{unique}/props"
    async with _session(mqtt_url, topic, _acking(received)) as (_consumer, publisher):
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = ("origin", "gateway-7")
        props.ContentType = "application/json"
        publisher.publish(f"{topic}/a", b'{"with": "properties"}', qos=1, properties=props).wait_for_publish(10)
        publisher.publish(f"{topic}/b", b"plain", qos=1).wait_for_publish(10)
        await wait_for(lambda: len(received) == 2, "both messages")
        assert [(m.topic, m.payload) for m in received] == [(f"{topic}/a", b'{"with": "properties"}'),
                                                       (f"{topic}/b", b"plain")]
        assert all(isinstance(m.token, AckToken) for m in received)


async def test_bytes_read_before_a_pause_are_delivered_after_it(mqtt_url: str, unique: str) -> None:
    received: list[Inbound] = []
    topic = f"lean/{unique}/pause"
    loop = asyncio.get_running_loop()

    def sink(consumer: MqttConsumer, message: Inbound) -> None:   # as the pipeline does when its queue is full
        received.append(message)
        if len(received) == 10:
            consumer.pause_reading()
            loop.call_later(0.5, consumer.resume_reading)

    async with _session(mqtt_url, topic, sink) as (_consumer, publisher):
        for k in range(500):
            publisher.publish(f"{topic}/x", f"m{k}".encode(), qos=1)
        # the 500 small packets come in one or two reads: when the pause comes, the rest waits in the client's
        # buffer with nothing left in the kernel socket to wake the event loop; resuming must drain it
        await wait_for(lambda: len(received) == 500, "the 500 messages after resume")
        assert [m.payload for m in received] == [f"m{k}".encode() for k in range(500)]
