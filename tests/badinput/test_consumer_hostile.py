"""Hostile and garbage messages through the real broker into a running ``beffroi run``.

Promise: none of these stops or stalls the consumer; each message ends as exactly one row of ``rejects`` with a
reason code (the raw message kept, truncated when oversized), stored verbatim whatever characters it holds; and a
valid uplink published after them is stored with its readings.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.base import Uplink
from simulator import envelopes as env
from tests.badinput.test_envelope_properties import JSON, _valid_json, _valid_tts, damaged_json
from tests.faults.conftest import ServiceFactory
from tests.faults.harness import Stream, wait_stored, wait_until
from tests.ingest.ingest_support import T0, register, topics

pytestmark = pytest.mark.usefixtures("requires_mqtt5")

JS_MODELS = Path(__file__).resolve().parents[1] / "devices" / "data" / "js"     # acme-js-meter: codec.js


def _garbage_sample(n: int) -> list[bytes]:
    """*n* messages drawn (reproducibly) from the property tests' strategies: bytes, JSON, damaged envelopes."""
    out: list[bytes] = []
    strategy = st.one_of(st.binary(max_size=300), JSON.map(lambda d: json.dumps(d).encode()),
                         damaged_json(_valid_json("up")), damaged_json(_valid_tts()))

    @settings(max_examples=n, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(message: bytes) -> None:
        out.append(message)
    collect()
    return out[:n]


def _rejects(db: psycopg.Connection, topic_like: str) -> list[tuple[str, str, bytes | None, str]]:
    return [(r[0], r[1], bytes(r[2]) if r[2] is not None else None, r[3]) for r in db.execute(
        "SELECT reason, detail, raw, topic FROM rejects WHERE topic LIKE %s ORDER BY id", (topic_like,))]


def test_garbage_never_stops_the_consumer_and_each_message_ends_in_rejects(
        db: psycopg.Connection, unique: str, beffroi: ServiceFactory) -> None:
    svc = beffroi()
    garbage = _garbage_sample(150)
    with Stream(svc.env["BEFFROI_MQTT_URL"], unique, devices=1) as stream:
        stream.register(db)
        stream.probe(db)
        # unregistered devices only: whatever a message parses to, it is one reject (unknown_device at best)
        cs, tts = topics(unique)
        messages = [(env.chirpstack_topic(f"garbage-{i}", "0123456789abcdef", "up", template=cs), body)
                    for i, body in enumerate(garbage)]
        messages += [(env.tts_topic(f"garbage-{i}", "dev", template=tts), body) for i, body in enumerate(garbage[:50])]
        infos = [stream.client.publish(topic, body, qos=1) for topic, body in messages]
        for info in infos:
            info.wait_for_publish(30)
        stream.publish(1)
        stream.wait_acknowledged()
        wait_stored(db, stream, lambda s: True, "the valid uplink after the garbage", 60)
        wait_until(lambda: len(_rejects(db, f"test/{unique}/%garbage-%")) >= len(messages), "every garbage reject", 60)
    rejects = _rejects(db, f"test/{unique}/%garbage-%")
    assert len(rejects) == len(messages), "exactly one reject per garbage message"
    assert all(reason and detail for reason, detail, _, _ in rejects)
    assert svc.alive() and "Traceback" not in svc.log_text()
    assert sorted(raw or b"" for _, _, raw, _ in rejects) == sorted(body for _, body in messages)


def test_hostile_messages_are_rejected_with_a_clear_reason_and_stored_verbatim(
        db: psycopg.Connection, unique: str, beffroi: ServiceFactory) -> None:
    svc = beffroi()
    cs, _ = topics(unique)
    sql_eui = "24e1'); DROP TABLE devices; --"
    path_eui = "../../../etc/passwd"
    up = _valid_json("up")
    hostile = {
        "ten-mb": (b'{"deviceInfo": {"devEui": "' + b"a" * (10 * 2**20) + b'"}}', "oversized"),
        "nested": (b'{"deviceInfo":' * 20_000 + b"{}" + b"}" * 20_000, "oversized"),
        "nested-small": (b"[" * 30_000 + b"]" * 30_000, "malformed_json"),
        "sql-eui": (json.dumps({**up, "deviceInfo": {**up["deviceInfo"], "devEui": sql_eui}}).encode(), "bad_dev_eui"),
        "path-eui": (json.dumps({**up, "deviceInfo": {**up["deviceInfo"], "devEui": path_eui}}).encode(), "bad_dev_eui"),
        "nul-name": (json.dumps({**up, "deviceInfo": {**up["deviceInfo"], "deviceName": "salle\x00 12"}}).encode(),
                     "unknown_device"),
    }
    # hostile characters in the topic itself (MQTT allows them in a topic level)
    topic_of = {name: env.chirpstack_topic(f"hostile-{name}", "'; DROP TABLE readings; --", "up", template=cs)
                for name in hostile}
    with Stream(svc.env["BEFFROI_MQTT_URL"], unique, devices=1) as stream:
        stream.register(db)
        stream.probe(db)
        for name, (body, _) in hostile.items():
            stream.client.publish(topic_of[name], body, qos=1).wait_for_publish(60)
        stream.publish(1)
        stream.wait_acknowledged()
        wait_stored(db, stream, lambda s: True, "the valid uplink after the hostile ones", 60)
        wait_until(lambda: len(_rejects(db, f"test/{unique}/%hostile-%")) >= len(hostile), "every hostile reject", 60)
    got = {topic: (reason, detail, raw) for reason, detail, raw, topic in _rejects(db, f"test/{unique}/%hostile-%")}
    for name, (body, reason) in hostile.items():
        assert topic_of[name] in got, f"{name}: no reject stored under its (hostile) topic"
        stored_reason, detail, raw = got[topic_of[name]]
        assert stored_reason == reason, f"{name}: {stored_reason} ({detail})"
        if reason == "oversized":
            assert raw is not None and len(raw) <= 4096 and body.startswith(raw), name
        else:
            assert raw == body, f"{name}: the raw message is kept verbatim"
    assert "nest" in got[topic_of["nested-small"]][1]
    assert db.execute("SELECT count(*) FROM devices").fetchone() == (1,), "the devices table is intact"
    assert svc.alive() and "Traceback" not in svc.log_text()


def test_a_js_codec_that_loops_or_hoards_memory_does_not_stop_the_consumer(
        db: psycopg.Connection, unique: str, beffroi: ServiceFactory) -> None:
    """The consumer-level side of devices/jscodec.py's limits (the codec-level tests are
    tests/devices/test_jscodec.py): a burst of uplinks whose codec loops forever or allocates without end, from
    a device among others, ends in ``decode_error`` rejects (the uplinks themselves kept for re-decoding), and the
    good uplinks around them are decoded and stored."""
    svc = beffroi(devices_extra_paths=str(JS_MODELS))
    bad, good = secrets.token_hex(8), secrets.token_hex(8)
    register(db, bad, "acme-js-meter")
    register(db, good, "acme-js-meter")
    cs, _ = topics(unique)
    messages = []
    for i in range(12):
        frame = (9, b"\x01") if i % 2 == 0 else (9, b"\x02")               # loop forever / allocate forever
        messages.append((bad, i + 1, *frame))
        messages.append((good, i + 1, 1, bytes.fromhex("5c00d701a401")))  # 92 %, 21.5 °C, 420 ppm, PIR
    with Stream(svc.env["BEFFROI_MQTT_URL"], unique, devices=1) as stream:
        stream.register(db)
        stream.probe(db)
        started = time.monotonic()
        for eui, f_cnt, port, payload in messages:
            body = env.chirpstack_json_uplink(Uplink(eui, T0.replace(minute=f_cnt), f_cnt, port, payload, "test"),
                                              application_id="js", device_profile_name="acme-js-meter")
            stream.client.publish(env.chirpstack_topic("js", eui, "up", template=cs), body, qos=1).wait_for_publish(30)
        stream.publish(1)
        stream.wait_acknowledged()
        wait_stored(db, stream, lambda s: True, "the uplink published after the bad codec runs", 120)
        elapsed = time.monotonic() - started
    print(f"12 runaway codec calls + 13 good uplinks handled in {elapsed:.1f} s")
    details = {r[0].minute: r[1] for r in db.execute("SELECT time, detail FROM rejects WHERE dev_eui = %s", (bad,))}
    assert len(details) == 12
    loops = [d for f_cnt, d in details.items() if f_cnt % 2 == 1]          # fPort 9, byte 1: endless loop
    hoards = [d for f_cnt, d in details.items() if f_cnt % 2 == 0]         # fPort 9, byte 2: allocates forever
    assert all("did not finish within" in d for d in loops), loops
    # out of memory, or — on a busy machine — out of time before the heap limit is reached: stopped either way
    assert all("memory limit" in d or "did not finish within" in d for d in hoards), hoards
    assert db.execute("SELECT count(*) FROM uplinks WHERE dev_eui = %s", (bad,)).fetchone() == (12,)
    assert db.execute("SELECT count(*) FROM readings WHERE dev_eui = %s", (good,)).fetchone() == (12 * 4,)
    assert svc.alive()
