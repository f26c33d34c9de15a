"""``beffroi run`` in-process against the real Mosquitto and PostgreSQL: what is published ends up in rows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta

import aiohttp
import psycopg
import pytest

from simulator import envelopes as env
from tests.ingest.ingest_support import (
    AM307_READINGS,
    T0,
    Publisher,
    count,
    cs_up,
    new_eui,
    publish_paced,
    reasons,
    register,
    running,
    service_config,
    uplink,
    vector,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("requires_mqtt5")


@pytest.fixture
def publisher(mqtt_url: str, unique: str) -> Iterator[Publisher]:
    pub = Publisher(mqtt_url, unique)
    yield pub
    pub.close()


async def test_chirpstack_json_protobuf_and_tts_uplinks_become_rows(
        db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str, publisher: Publisher) -> None:
    co2_json, co2_pb, co2_tts, tracker = new_eui(), new_eui(), new_eui(), new_eui()
    for eui in (co2_json, co2_pb, co2_tts):
        register(db, eui, "milesight-am307")
    register(db, tracker, "dragino-lgt92")
    port, payload = vector("dragino-lgt92", 0)
    async with running(service_config(db_url, mqtt_url, unique)):
        await publisher.apublish([
            cs_up(publisher, uplink(co2_json, 1)),
            cs_up(publisher, uplink(co2_pb, 1), pb=True),
            (publisher.tts_topic("salle-3"), env.tts_uplink(uplink(co2_tts, 1), application_id="ecoles")),
            cs_up(publisher, uplink(tracker, 1, payload=payload, f_port=port), profile="dragino-lgt92"),
        ])
        await wait_for(lambda: count(db, "uplinks") == 4, "four uplinks")
    for eui, source in ((co2_json, "chirpstack-json"), (co2_pb, "chirpstack-pb"), (co2_tts, "tts")):
        rows: dict[str, float] = dict(db.execute("SELECT quantity, value FROM readings WHERE dev_eui = %s",
                                                 (eui,)).fetchall())
        assert rows == AM307_READINGS, source
        assert db.execute("SELECT source, f_cnt, f_port FROM uplinks WHERE dev_eui = %s", (eui,)).fetchone() == \
            (source, 1, 85)
    assert count(db, "positions", tracker) == 1
    assert db.execute("SELECT uplinks, last_f_cnt FROM device_state WHERE dev_eui = %s", (co2_json,)).fetchone() == \
        (1, 1)


async def test_a_redelivered_uplink_adds_no_row(db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str,
                                                publisher: Publisher) -> None:
    eui = new_eui()
    register(db, eui)
    first, second = uplink(eui, 1), uplink(eui, 2)
    async with running(service_config(db_url, mqtt_url, unique)):
        await publisher.apublish([cs_up(publisher, first), cs_up(publisher, second)])
        await wait_for(lambda: count(db, "uplinks", eui) == 2, "two uplinks")
        # the same messages again, and the same uplink in the other encoding (same dedup id, fCnt and time)
        await publisher.apublish([cs_up(publisher, first), cs_up(publisher, first, pb=True),
                                  cs_up(publisher, uplink(eui, 3))])
        await wait_for(lambda: count(db, "uplinks", eui) == 3, "the third uplink")
    assert count(db, "readings", eui) == 3 * len(AM307_READINGS)
    assert db.execute("SELECT uplinks FROM device_state WHERE dev_eui = %s", (eui,)).fetchone() == (3,)


BAD = [
    ("malformed_json", b'{"deduplicationId": '),
    ("malformed_protobuf", b"\x0a\xff\xff\xff\xff\x0f"),
    ("missing_field", json.dumps({"time": "2025-03-20T10:00:00+00:00", "fCnt": 1}).encode()),
    ("bad_dev_eui", json.dumps({"time": "2025-03-20T10:00:00+00:00", "deviceInfo": {"devEui": "xyz"}}).encode()),
    ("invalid_field", json.dumps({"time": "not a time", "deviceInfo": {"devEui": "0011223344556677"}}).encode()),
    ("oversized", b'{"x": "' + b"a" * 70_000 + b'"}'),
]


async def test_every_kind_of_bad_input_lands_in_rejects_and_the_stream_goes_on(
        db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str, publisher: Publisher) -> None:
    good, unknown, no_profile = new_eui(), new_eui(), new_eui()
    register(db, good)
    register(db, no_profile, None, status="unassigned")
    hot = env.chirpstack_json_uplink(uplink(good, 2, payload=bytes.fromhex("01755c" "0367a00f")),
                                     application_id="a", device_profile_name="p")
    messages = [(publisher.chirpstack_topic("0011223344556677"), payload) for _, payload in BAD]
    messages += [
        cs_up(publisher, uplink(unknown, 1)),                                       # unknown_device
        cs_up(publisher, uplink(no_profile, 1)),                                    # no_profile
        cs_up(publisher, uplink(good, 1, payload=b"\xff")),                         # decode_error
        (publisher.chirpstack_topic(good), hot),                                    # out_of_range (400 °C)
        (publisher.chirpstack_topic(good, "txack"), b'{"whatever": true}'),         # ignored
        cs_up(publisher, uplink(good, 3)),                                          # and the stream goes on
    ]
    async with running(service_config(db_url, mqtt_url, unique)) as service:
        await publisher.apublish(messages)
        await wait_for(lambda: count(db, "readings", good) == len(AM307_READINGS) + 1, "the good uplink")
        await wait_for(lambda: count(db, "rejects") == len(BAD) + 4, "every reject")
        text = service.metrics.registry.get_sample_value("beffroi_ingest_rejects_total", {"reason": "oversized"})
        assert text == 1.0
    expected = [reason for reason, _ in BAD] + ["unknown_device", "no_profile", "decode_error", "out_of_range"]
    assert sorted(reasons(db)) == sorted(expected)
    assert count(db, "uplinks", no_profile) == 1 and count(db, "uplinks", unknown) == 0
    assert count(db, "uplinks", good) == 3        # the undecodable and the out-of-range ones are kept


async def test_unknown_devices_can_be_provisioned(db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str,
                                                  publisher: Publisher) -> None:
    eui = new_eui()
    async with running(service_config(db_url, mqtt_url, unique, ingest_unknown_devices="provision")):
        await publisher.apublish([cs_up(publisher, uplink(eui, 1)), cs_up(publisher, uplink(eui, 2))])
        await wait_for(lambda: count(db, "uplinks", eui) == 2, "both uplinks")
    assert db.execute("SELECT status, profile FROM devices WHERE dev_eui = %s", (eui,)).fetchone() == \
        ("unassigned", None)
    assert reasons(db) == ["no_profile", "no_profile"]


async def test_status_log_and_join_events_are_recorded(db: psycopg.Connection, db_url: str, mqtt_url: str,
                                                       unique: str, publisher: Publisher) -> None:
    eui = new_eui()
    register(db, eui)
    app, profile = "app-1", "milesight-am307"
    async with running(service_config(db_url, mqtt_url, unique)):
        await publisher.apublish([
            (publisher.chirpstack_topic(eui, "status"),
             env.chirpstack_json(env.chirpstack_status_event(eui, T0, margin=12, battery_level=80.0,
                                                                     application_id=app, device_profile_name=profile))),
            (publisher.chirpstack_topic(eui, "log"),
             env.chirpstack_pb(env.chirpstack_log_event(eui, T0, code="UPLINK_CODEC", description="x",
                                                            application_id=app, device_profile_name=profile))),
            (publisher.chirpstack_topic(eui, "join"),
             env.chirpstack_json(env.chirpstack_join_event(eui, T0 + timedelta(seconds=1), application_id=app,
                                                               device_profile_name=profile))),
        ])
        await wait_for(lambda: count(db, "device_events", eui) == 2 and count(db, "readings", eui) == 2, "events")
    assert dict(db.execute("SELECT quantity, value FROM readings WHERE dev_eui = %s", (eui,)).fetchall()) == \
        {"battery": 80.0, "margin": 12.0}
    assert {r[0] for r in db.execute("SELECT kind FROM device_events WHERE dev_eui = %s", (eui,))} == {"log", "join"}


async def test_a_small_queue_applies_back_pressure_and_loses_nothing(
        db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str, publisher: Publisher) -> None:
    eui = new_eui()
    register(db, eui)
    config = service_config(db_url, mqtt_url, unique, ingest_queue_max_uplinks=4, mqtt_receive_maximum=16,
                            ingest_batch_max_rows=10)
    async with running(config):
        await publisher.apublish([cs_up(publisher, uplink(eui, i)) for i in range(1, 301)])
        await wait_for(lambda: count(db, "uplinks", eui) == 300, "300 uplinks")
    assert count(db, "readings", eui) == 300 * len(AM307_READINGS)


async def test_terminated_database_connections_lose_nothing(
        db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str, publisher: Publisher) -> None:
    eui = new_eui()
    register(db, eui)
    n = 1500

    async def kill_connections() -> int:
        kills = 0
        while count(db, "uplinks", eui) < n:
            if count(db, "uplinks", eui) > (kills + 1) * n // 6:
                db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                           "AND application_name LIKE 'beffroi%'")
                kills += 1
            await asyncio.sleep(0.02)
        return kills

    async with running(service_config(db_url, mqtt_url, unique, mqtt_receive_maximum=100)) as service:
        killer = asyncio.create_task(kill_connections())
        messages = [cs_up(publisher, uplink(eui, i)) for i in range(1, n + 1)]
        await publish_paced(publisher, messages, lambda: count(db, "uplinks", eui))
        await wait_for(lambda: count(db, "uplinks", eui) == n, f"{n} uplinks", limit_s=60)
        kills = await killer
        retries = service.metrics.registry.get_sample_value("beffroi_ingest_batch_retries_total")
    assert kills >= 2 and retries is not None and retries >= 1
    assert count(db, "readings", eui) == n * len(AM307_READINGS)


async def test_health_readiness_and_metrics_are_served(db: psycopg.Connection, db_url: str, mqtt_url: str,
                                                       unique: str, publisher: Publisher) -> None:
    eui = new_eui()
    register(db, eui)
    async with running(service_config(db_url, mqtt_url, unique)) as service:
        await publisher.apublish([cs_up(publisher, uplink(eui, 1))])
        await wait_for(lambda: count(db, "uplinks", eui) == 1, "one uplink")
        await wait_for(lambda: service.context.readiness == {"database": True, "mqtt": True}, "readiness")
        assert service.http_address is not None
        host, port = service.http_address
        base = f"http://{host}:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/healthz") as resp:
                assert resp.status == 200
            async with http.get(base + "/readyz") as resp:
                assert resp.status == 200 and (await resp.json())["ready"] is True
            async with http.get(base + "/metrics") as resp:
                text = await resp.text()
        assert 'beffroi_ingest_messages_total{outcome="stored",source="chirpstack-json"} 1.0' in text
        assert 'beffroi_ingest_rows_written_total{table="readings"} 3.0' in text
        assert "beffroi_ingest_commit_seconds_bucket" in text and 'beffroi_component_up{component="mqtt"} 1.0' in text
        service.context.readiness["mqtt"] = False
        async with aiohttp.ClientSession() as http, http.get(base + "/readyz") as resp:
            assert resp.status == 503


async def test_the_chirpstack_http_integration_answers_once_the_uplink_is_committed(
        db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str) -> None:
    eui = new_eui()
    register(db, eui)
    secret = "http-secret-0123456789abcdef"
    body = env.chirpstack_json_uplink(uplink(eui, 1), application_id="a", device_profile_name="milesight-am307")
    async with running(service_config(db_url, mqtt_url, unique, api_chirpstack_secret=secret)) as service:
        assert service.http_address is not None
        host, port = service.http_address
        async with aiohttp.ClientSession() as http, http.post(
                f"http://{host}:{port}/api/chirpstack?event=up", data=body,
                headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}) as resp:
            assert resp.status == 200, await resp.text()
        assert count(db, "uplinks", eui) == 1                   # committed before the answer
        stored = service.metrics.registry.get_sample_value("beffroi_ingest_messages_total",
                                                           {"source": "http", "outcome": "stored"})
        assert stored == 1.0
    assert dict(db.execute("SELECT quantity, value FROM readings WHERE dev_eui = %s", (eui,)).fetchall()) == \
        AM307_READINGS


async def test_the_service_refuses_a_database_that_is_not_migrated(empty_db_url: str, mqtt_url: str, unique: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from ingest.service import run_service

    code = await run_service(service_config(empty_db_url, mqtt_url, unique), install_signals=False)
    assert code == 3 and "beffroi migrate" in caplog.text


async def test_the_service_refuses_a_schema_newer_than_the_code(db: psycopg.Connection, db_url: str, mqtt_url: str,
                                                                unique: str, caplog: pytest.LogCaptureFixture) -> None:
    from ingest.service import run_service

    db.execute("INSERT INTO schema_migrations (version, name, flavour) VALUES (9999, 'future', 'postgresql')")
    code = await run_service(service_config(db_url, mqtt_url, unique), install_signals=False)
    assert code == 3 and "newer" in caplog.text


async def test_start_up_publishes_the_loaded_profiles_for_the_dashboards(
        db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str) -> None:
    db.execute("DELETE FROM device_profiles")
    async with running(service_config(db_url, mqtt_url, unique)) as service:
        families = dict(db.execute("SELECT id, family FROM device_profiles").fetchall())
        assert families == {p.id: p.family for p in service.registry}


def test_a_service_process_settles_the_garbage_collector_once_serving() -> None:
    import subprocess
    import sys

    code = ("import gc; from ingest.service import settle_gc; before = gc.get_threshold(); settle_gc(); "
            "print(before, gc.get_threshold(), gc.get_freeze_count() > 1000)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(")")
    assert out[0] + ")" == "(700, 10, 10)" and out[1].strip() + ")" == "(10000, 10, 10)" and "True" in out[2]
