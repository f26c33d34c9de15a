"""Property tests of every envelope parser through its one entry point, ``ingest.uplink.parse``.

Promise (issue 9, bad input): whatever bytes arrive on a subscribed topic, ``parse`` returns — it never raises —
and what it returns is either usable (an ``Uplink``/``Status``/``DeviceEvent``/``Location`` whose fields hold what
the writer's columns accept), deliberately ``Ignored``, or a ``Rejected`` with a reason code from the closed set
and a detail an operator can read.

Random bytes rarely get past the first check, so most strategies start from a real envelope (built by
``simulator.envelopes``) and damage it: a field replaced by arbitrary JSON, bytes flipped or cut in a protobuf.
The table-driven cases of ``tests/ingest/test_uplink.py`` pin exact reasons; these look for crashes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devices.base import Radio, Uplink
from ingest.uplink import DeviceEvent, Ignored, Location, Reason, Rejected, Status, parse
from simulator import envelopes as env

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENTS = ("up", "status", "log", "join", "location", "ack", "txack", "integration", "", "x" * 300)
CS_TOPIC = "application/8e7d/device/24e124707c123456/event/"
TTS_TOPIC = "v3/ecoles@ttn/devices/salle-12/up"
T = datetime(2025, 1, 15, 8, 30, 12, 345678, tzinfo=UTC)
UP = Uplink("24e124707c123456", T, 1234, 85, bytes.fromhex("01755c0367340104686505"), "sim",
            radio=Radio(rssi=-97, snr=6.25, gateways=2, gateway_id="7276ff002e0601aa", frequency=867_300_000, dr=5))
KW: dict[str, Any] = {"application_id": "8e7d", "device_profile_name": "milesight-am307"}


def _valid_pb(event: str) -> bytes:
    builders: dict[str, Any] = {
        "up": lambda: env.chirpstack_uplink_event(UP, object={"co2": 812.0, "nested": {"a": [1.0, "b"]}}, **KW),
        "status": lambda: env.chirpstack_status_event(UP.dev_eui, T, **KW),
        "log": lambda: env.chirpstack_log_event(UP.dev_eui, T, context={"deduplication_id": "x"}, **KW),
        "join": lambda: env.chirpstack_join_event(UP.dev_eui, T, **KW),
    }
    return env.chirpstack_pb(builders[event]())


def _valid_json(event: str) -> dict[str, Any]:
    if event == "location":
        doc = json.loads(env.chirpstack_json(env.chirpstack_join_event(UP.dev_eui, T, **KW)))
        doc["location"] = {"latitude": 44.5, "longitude": 6.1, "altitude": 1800.0, "source": "GEO_RESOLVER_TDOA",
                           "accuracy": 20.0}
        return dict(doc)
    return dict(json.loads(env.chirpstack_json(_pb_message(event))))


def _pb_message(event: str) -> Any:
    from chirpstack_api import integration

    cls = {"up": integration.UplinkEvent, "status": integration.StatusEvent, "log": integration.LogEvent,
           "join": integration.JoinEvent}[event]
    return cls.FromString(_valid_pb(event))


def _valid_tts() -> dict[str, Any]:
    return dict(json.loads(env.tts_uplink(UP, application_id="ecoles", decoded_payload={"co2": 812},
                                          version_ids={"brand_id": "milesight", "model_id": "am307"})))


# Arbitrary JSON values, including the awkward ones: huge and negative integers, floats at the edges, strings
# that look like numbers, times, base64 or DevEUIs, and nesting.
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) |
           st.text(max_size=30) |
           st.sampled_from(["", "0", "-1", "1e400", "NaN", "868100000", "2025-01-15T08:30:12Z", "2025-13-45T99:99Z",
                            "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59.999999999+14:00", "AXVcA2c0AQRoZQ==",
                            "!!!", "24E124707C123456", "24e124707c12345'; DROP TABLE readings;--",
                            "../../etc/passwd\x00", "\ud7ff", "UPLINK_CODEC", "ERROR"]))
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4) |
                    st.dictionaries(st.text(max_size=12), children, max_size=4), max_leaves=12)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside a JSON document (objects and lists), the root excluded."""
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out.append(prefix + (key,))
        out.extend(_paths(value, prefix + (key,)))
    return out


@st.composite
def damaged_json(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A real envelope with one to three fields replaced by arbitrary JSON, or removed."""
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(JSON)
    return json.dumps(doc).encode()


def check_outcome(got: object) -> None:
    """What the writer will be handed is storable, or a reject it can store."""
    assert isinstance(got, (Uplink, Status, DeviceEvent, Location, Ignored, Rejected)), repr(got)
    if isinstance(got, Rejected):
        assert isinstance(got.reason, Reason)
        assert isinstance(got.detail, str) and got.detail.strip()
        assert len(got.detail) < 2000, "detail must stay readable, not echo the whole message"
        assert got.dev_eui is None or (len(got.dev_eui) == 16 and got.dev_eui == got.dev_eui.lower())
        return
    if isinstance(got, Ignored):
        assert got.what
        return
    assert len(got.dev_eui) == 16 and all(c in "0123456789abcdef" for c in got.dev_eui)
    assert got.time.tzinfo is not None and got.time.utcoffset() is not None
    if isinstance(got, Uplink):
        assert 0 <= got.f_port <= 255 and 0 <= got.f_cnt <= 2**32 - 1
        assert isinstance(got.payload, bytes)
        assert got.network_object is None or isinstance(got.network_object, dict)
        json.dumps(got.network_object)      # goes into a jsonb column / the decoder input as is
    if isinstance(got, Location):
        assert isinstance(got.latitude, float) and isinstance(got.longitude, float)


@FUZZ
@given(payload=st.binary(max_size=512), event=st.sampled_from(EVENTS), tts=st.booleans())
@example(payload=b"[" * 50_000 + b"]" * 50_000, event="up", tts=False)
@example(payload=b'{"a":' * 20_000 + b"1" + b"}" * 20_000, event="up", tts=True)
@example(payload=b"\x00" * 10, event="up", tts=False)
@example(payload=b"{\xff}", event="status", tts=False)
def test_arbitrary_bytes_never_raise_out_of_parse(payload: bytes, event: str, tts: bool) -> None:
    check_outcome(parse(TTS_TOPIC if tts else CS_TOPIC + event, payload, tts=tts, max_bytes=None))


@FUZZ
@given(doc=JSON, event=st.sampled_from(EVENTS), tts=st.booleans())
def test_arbitrary_json_never_raises_out_of_parse(doc: Any, event: str, tts: bool) -> None:
    payload = json.dumps(doc).encode()
    got = parse(TTS_TOPIC if tts else CS_TOPIC + event, payload, tts=tts)
    check_outcome(got)
    if not isinstance(doc, dict) and tts:
        assert isinstance(got, Rejected) and got.reason == Reason.MALFORMED_JSON
    elif not isinstance(doc, dict) and event in ("up", "status", "log", "join", "location"):
        # ChirpStack encodings are sniffed: only '{'/'[' is JSON, a bare scalar is tried as protobuf (where
        # b"-1000" happens to be a valid LogEvent with no code: ignored)
        assert isinstance(got, (Rejected, Ignored)), got


@pytest.mark.parametrize("event", ["up", "status", "log", "join", "location"])
@FUZZ
@given(data=st.data())
def test_damaged_chirpstack_json_never_raises(event: str, data: st.DataObject) -> None:
    check_outcome(parse(CS_TOPIC + event, data.draw(damaged_json(_valid_json(event)))))


@FUZZ
@given(data=st.data())
def test_damaged_tts_uplinks_never_raise(data: st.DataObject) -> None:
    check_outcome(parse(TTS_TOPIC, data.draw(damaged_json(_valid_tts())), tts=True))


@pytest.mark.parametrize("event", ["up", "status", "log", "join"])
@FUZZ
@given(data=st.data())
def test_damaged_chirpstack_protobuf_never_raises(event: str, data: st.DataObject) -> None:
    frame = bytearray(_valid_pb(event))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(frame) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if action == "flip":
            frame[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del frame[at:]
        elif action == "insert":
            frame[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del frame[at]
        if not frame:
            frame = bytearray(b"\x08")
    check_outcome(parse(CS_TOPIC + event, bytes(frame)))


@pytest.mark.parametrize("event", ["up", "status", "log", "join", "location"])
def test_the_valid_envelopes_the_fuzzers_start_from_are_accepted(event: str) -> None:
    # without this, a broken base envelope would make every damaged variant a trivial reject
    got = parse(CS_TOPIC + event, json.dumps(_valid_json(event)).encode())
    assert not isinstance(got, (Rejected, Ignored)), got
    if event != "location":
        assert not isinstance(parse(CS_TOPIC + event, _valid_pb(event)), (Rejected, Ignored))
    assert isinstance(parse(TTS_TOPIC, json.dumps(_valid_tts()).encode(), tts=True), Uplink)


@pytest.mark.parametrize(("name", "payload", "tts"), [
    ("nested arrays", b"[" * 100_000 + b"]" * 100_000, False),
    ("nested objects", b'{"deviceInfo":' * 5_000 + b"{}" + b"}" * 5_000, False),
    ("nested object field", b'{"object":' + b'{"a":' * 3_000 + b"1" + b"}" * 3_001, False),
    ("nested tts", b'{"uplink_message":' + b"[" * 3_000 + b"]" * 3_000 + b"}", True),
])
def test_deeply_nested_json_is_a_malformed_json_reject(name: str, payload: bytes, tts: bool) -> None:
    """A small message nested thousands deep (recursion in the JSON reader) is refused, not a crash."""
    got = parse(TTS_TOPIC if tts else CS_TOPIC + "up", payload, tts=tts, max_bytes=1_000_000)
    assert isinstance(got, Rejected), got
    assert got.reason == Reason.MALFORMED_JSON and "nest" in got.detail


@pytest.mark.parametrize("eui", ["24e124707c12345'", "../../../etc/pass", "24e1247%7c123456", "24e124707c12345\x00",
                                 "24e124707c123456; DROP TABLE", "24e124707c12345/", "２４e124707c123456"[:16]])
def test_a_dev_eui_with_sql_or_path_characters_is_a_bad_dev_eui_reject(eui: str) -> None:
    doc = _valid_json("up")
    doc["deviceInfo"]["devEui"] = eui
    got = parse(CS_TOPIC + "up", json.dumps(doc).encode())
    assert isinstance(got, Rejected) and got.reason == Reason.BAD_DEV_EUI, got
    tts = _valid_tts()
    tts["end_device_ids"]["dev_eui"] = eui
    got = parse(TTS_TOPIC, json.dumps(tts).encode(), tts=True)
    assert isinstance(got, Rejected) and got.reason == Reason.BAD_DEV_EUI, got


def test_a_10_mb_message_is_rejected_as_oversized_without_being_read() -> None:
    class Untouchable(bytes):
        """Fails the test if the parser looks at the content (only its length may be taken)."""

        def __getitem__(self, key: Any) -> Any:
            raise AssertionError("an oversized message was parsed")

        def lstrip(self, *args: Any) -> Any:
            raise AssertionError("an oversized message was parsed")

    got = parse(CS_TOPIC + "up", Untouchable(b"{" + b" " * (10 * 2**20) + b"}"), max_bytes=65_536)
    assert isinstance(got, Rejected) and got.reason == Reason.OVERSIZED
    assert "65536" in got.detail
