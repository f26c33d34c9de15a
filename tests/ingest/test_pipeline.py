"""The pipeline turns each message into the rows and rejects it should, and never raises on bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from devices.base import Radio, Uplink
from devices.registry import ProfileRegistry
from ingest.batch import Item
from ingest.db import open_pool
from ingest.directory import DeviceDirectory
from ingest.metrics import Metrics
from ingest.pipeline import Inbound, Pipeline
from ingest.writer import Writer, connector
from simulator import envelopes as env
from tests.ingest.ingest_support import AM307_READINGS, T0, new_eui, register, uplink, vector

REGISTRY = ProfileRegistry.load()
TOPIC = "application/app-1/device/{eui}/event/{event}"


def _cs(up: Uplink, event: str = "up", obj: dict[str, Any] | None = None) -> Inbound:
    body = env.chirpstack_json_uplink(up, application_id="app-1", device_profile_name="milesight-am307", object=obj)
    return Inbound(TOPIC.format(eui=up.dev_eui, event=event), body)


@pytest.fixture
async def make_pipeline(module_db_url: str) -> AsyncIterator[Callable[..., Pipeline]]:
    pool = open_pool(module_db_url, 2)
    await pool.open()

    def make(**kw: Any) -> Pipeline:
        writer = Writer(connector(module_db_url), flavour="postgresql", metrics=Metrics())
        return Pipeline(directory=DeviceDirectory(pool, negative_ttl_s=60), registry=REGISTRY, writer=writer,
                        metrics=Metrics(), **kw)
    yield make
    await pool.close()


def _readings(item: Item) -> dict[str, float]:
    return {r.quantity: r.value for r in item.readings}


def _reasons(item: Item) -> list[str]:
    return [r.reason for r in item.rejects]


async def test_an_uplink_is_decoded_by_the_device_profile(mdb: psycopg.Connection,
                                                          make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui, "milesight-am307")
    item = await make_pipeline().process(_cs(uplink(eui, 7)))
    assert item.uplink is not None and item.uplink.f_cnt == 7 and item.outcome == "stored"
    assert _readings(item) == AM307_READINGS and item.rejects == []
    assert all(r.time == item.uplink.time for r in item.readings)


async def test_a_tracker_uplink_gives_a_position(mdb: psycopg.Connection,
                                                 make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui, "dragino-lgt92")
    port, payload = vector("dragino-lgt92", 0)
    item = await make_pipeline().process(_cs(uplink(eui, 1, payload=payload, f_port=port)))
    assert len(item.positions) == 1 and -90 <= item.positions[0].latitude <= 90


async def test_unknown_devices_are_rejected_by_default(mdb: psycopg.Connection,
                                                       make_pipeline: Callable[..., Pipeline]) -> None:
    item = await make_pipeline().process(_cs(uplink(new_eui(), 1)))
    assert _reasons(item) == ["unknown_device"] and item.uplink is None and item.outcome == "rejected"
    assert item.rejects[0].raw is not None and item.rejects[0].raw.startswith(b"{")


async def test_unknown_devices_can_be_provisioned_as_unassigned(mdb: psycopg.Connection,
                                                                make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(unknown_devices="provision")
    eui = new_eui()
    item = await pipeline.process(_cs(uplink(eui, 1)))
    assert item.provision is not None and item.provision.dev_eui == eui
    assert item.provision.tags["profile_hint"] == "milesight-am307"
    assert item.uplink is not None and _reasons(item) == ["no_profile"]      # stored undecoded, for later
    again = await pipeline.process(_cs(uplink(eui, 2)))
    assert again.provision is None and again.uplink is not None            # provisioned once


async def test_a_device_registered_after_a_miss_is_found_once_the_negative_cache_expires(
        mdb: psycopg.Connection, module_db_url: str) -> None:
    pool = open_pool(module_db_url, 1)
    await pool.open()
    now = [0.0]
    directory = DeviceDirectory(pool, negative_ttl_s=30, clock=lambda: now[0])
    eui = new_eui()
    try:
        assert await directory.lookup(eui) is None
        register(mdb, eui)
        assert await directory.lookup(eui) is None        # remembered as unknown
        now[0] = 31.0
        found = await directory.lookup(eui)
        assert found is not None and found.profile == "milesight-am307"
    finally:
        await pool.close()


async def test_a_device_without_profile_uses_the_network_object_quantities(
        mdb: psycopg.Connection, make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui, None, status="unassigned")
    item = await make_pipeline().process(_cs(uplink(eui, 1), obj={"co2": 776, "temperature": 21.5, "mode": "eco",
                                                                  "humidity": 140}))
    assert _readings(item) == {"co2": 776.0, "temperature": 21.5}
    assert _reasons(item) == ["out_of_range"]                  # humidity 140 %


async def test_a_disabled_device_is_rejected(mdb: psycopg.Connection, make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui, status="disabled")
    item = await make_pipeline().process(_cs(uplink(eui, 1)))
    assert _reasons(item) == ["device_disabled"] and item.uplink is None


async def test_a_decoder_error_keeps_the_uplink_and_rejects_the_payload(
        mdb: psycopg.Connection, make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui)
    item = await make_pipeline().process(_cs(uplink(eui, 1, payload=b"\xff")))
    assert _reasons(item) == ["decode_error"] and item.uplink is not None and item.readings == []
    assert "truncated" in item.rejects[0].detail


async def test_an_out_of_range_value_is_rejected_alone(mdb: psycopg.Connection,
                                                       make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui)
    # AM307 item 03/67 temperature: 0x0FA0 = 4000 -> 400.0 °C, beyond the vocabulary's 125 °C
    payload = bytes.fromhex("01755c" "0367a00f" "046865")
    item = await make_pipeline().process(_cs(uplink(eui, 1, payload=payload)))
    assert _readings(item) == {"battery": 92.0, "humidity": 50.5}
    assert _reasons(item) == ["out_of_range"] and "temperature" in item.rejects[0].detail
    assert item.uplink is not None


async def test_status_events_become_battery_and_margin_readings(mdb: psycopg.Connection,
                                                                make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui)
    msg = env.chirpstack_pb(env.chirpstack_status_event(eui, T0, application_id="a", device_profile_name="p",
                                                        margin=9, battery_level=55.5))
    item = await make_pipeline().process(Inbound(TOPIC.format(eui=eui, event="status"), msg))
    assert _readings(item) == {"battery": 55.5, "margin": 9.0} and item.uplink is None


async def test_log_events_become_device_events(mdb: psycopg.Connection,
                                               make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui)
    msg = env.chirpstack_json(env.chirpstack_log_event(eui, T0, application_id="a", device_profile_name="p",
                                                       code="UPLINK_F_CNT_RESET", level="WARNING"))
    item = await make_pipeline().process(Inbound(TOPIC.format(eui=eui, event="log"), msg))
    assert [e.code for e in item.events] == ["UPLINK_F_CNT_RESET"]


async def test_tts_uplinks_go_through_the_same_path(mdb: psycopg.Connection,
                                                    make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui)
    body = env.tts_uplink(uplink(eui, 3), application_id="ecoles")
    item = await make_pipeline().process(Inbound("v3/ecoles/devices/d/up", body, tts=True))
    assert item.source == "tts" and _readings(item) == AM307_READINGS


async def test_oversized_messages_are_rejected_with_a_truncated_copy(make_pipeline: Callable[..., Pipeline]) -> None:
    body = b'{"pad": "' + b"x" * 10_000 + b'"}'
    item = await make_pipeline(max_bytes=1000).process(Inbound("application/a/device/b/event/up", body))
    assert _reasons(item) == ["oversized"] and item.rejects[0].raw == body[:4096]


@pytest.mark.parametrize("payload", [b"", b"\x00" * 50, b"{", b"[]", b"null", json.dumps({"deviceInfo": 3}).encode(),
                                     bytes(range(256)), "é".encode("latin-1")])
async def test_garbage_never_raises(payload: bytes, make_pipeline: Callable[..., Pipeline]) -> None:
    item = await make_pipeline().process(Inbound("application/a/device/b/event/up", payload))
    assert item.outcome == "rejected" and len(item.rejects) == 1


async def test_a_mac_only_frame_is_stored_without_decoding(mdb: psycopg.Connection,
                                                           make_pipeline: Callable[..., Pipeline]) -> None:
    eui = new_eui()
    register(mdb, eui)
    up = Uplink(eui, T0, 4, 0, b"", "test", radio=Radio(rssi=-100, snr=1.0, gateways=1))
    item = await make_pipeline().process(_cs(up))
    assert item.uplink is not None and item.readings == [] and item.rejects == []
