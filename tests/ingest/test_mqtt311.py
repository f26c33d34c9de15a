"""MQTT 3.1.1 (``mqtt.protocol = "3.1.1"``) against the embedded amqtt broker that ``make demo`` and the test
fixtures fall back to on a machine without Mosquitto: uplinks are stored, acknowledged after commit."""

from __future__ import annotations

from collections.abc import Iterator

import paho.mqtt.client as paho
import psycopg
import pytest

from ingest.config import parse_mqtt_url
from ingest.embedded import LocalBroker, embedded_broker
from simulator import envelopes
from tests.ingest.ingest_support import (
    AM307_READINGS,
    count,
    new_eui,
    register,
    running,
    service_config,
    topics,
    uplink,
    wait_for,
)


@pytest.fixture
def amqtt() -> Iterator[LocalBroker]:
    broker = embedded_broker()
    yield broker
    broker.stop()


async def test_uplinks_are_stored_over_mqtt_3_1_1(db: psycopg.Connection, db_url: str, unique: str,
                                                  amqtt: LocalBroker) -> None:
    eui = new_eui()
    register(db, eui, "milesight-am307")
    url = parse_mqtt_url(amqtt.url)
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{unique}", protocol=paho.MQTTv311)
    publisher.connect(url.host, url.port)
    publisher.loop_start()
    try:
        config = service_config(db_url, amqtt.url, unique, mqtt_protocol="3.1.1")
        async with running(config) as service:
            assert service.consumer.connected
            topic = envelopes.chirpstack_topic("app-1", eui, "up", template=topics(unique)[0])
            for f_cnt in (1, 2, 2):   # the third is a redelivery: no second row
                body = envelopes.chirpstack_json_uplink(uplink(eui, f_cnt), application_id="app-1",
                                                        device_profile_name="milesight-am307")
                publisher.publish(topic, body, qos=1).wait_for_publish(10)
            await wait_for(lambda: count(db, "uplinks", eui) == 2, "two uplinks over MQTT 3.1.1")
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    rows = dict(db.execute("SELECT quantity, value FROM readings WHERE dev_eui = %s AND time = "
                           "(SELECT min(time) FROM readings WHERE dev_eui = %s)", (eui, eui)).fetchall())
    assert rows == AM307_READINGS


def test_shared_subscriptions_need_mqtt5(db_url: str, unique: str) -> None:
    from ingest.metrics import Metrics
    from ingest.mqtt import MqttConsumer, Subscription

    with pytest.raises(ValueError, match="shared_group needs MQTT v5"):
        MqttConsumer(parse_mqtt_url("mqtt://127.0.0.1:1883"), client_id="x", subscriptions=[Subscription("a/#")],
                     sink=lambda _: None, metrics=Metrics(), shared_group="g", protocol="3.1.1")
