"""Envelope parsing: ChirpStack JSON / protobuf and TTS become the same Uplink; bad input becomes a typed reject."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from chirpstack_api import integration
from google.protobuf import json_format
from google.protobuf.message import Message

from devices.base import Radio, Uplink
from ingest.uplink import DeviceEvent, Ignored, Location, Reason, Rejected, Status, parse
from simulator import envelopes as env

T = datetime(2025, 1, 15, 8, 30, 12, 345678, tzinfo=UTC)
EUI = "24e124707c123456"
UP = Uplink(EUI, T, 1234, 85, bytes.fromhex("01755c0367340104686505"), "sim", dedup_id="5f1c2d3e-aaaa",
            radio=Radio(rssi=-97, snr=6.25, gateways=2, gateway_id="7276ff002e0601aa", frequency=867_300_000, dr=5))
CS_TOPIC = "application/8e7d/device/24e124707c123456/event/"

# Composed example of ../shared/formats/chirpstack-and-tts.md §1.3 (as ChirpStack writes it, plus an unknown field).
DOC_EXAMPLE = b"""{
  "deduplicationId": "5f1c2d3e-0a4b-4c6d-8e9f-112233445566", "time": "2025-01-15T08:30:12.345678912+00:00",
  "deviceInfo": {"tenantId": "0c9a", "tenantName": "Ville exemple", "applicationId": "8e7d",
    "applicationName": "ecoles-qai", "deviceProfileId": "3b2a", "deviceProfileName": "milesight-am307",
    "deviceName": "ecole-jaures-salle-12", "devEui": "24e124707c123456", "deviceClassEnabled": "CLASS_A",
    "tags": {"batiment": "ecole-jaures"}},
  "devAddr": "260b1a2c", "adr": true, "dr": 5, "fCnt": 1234, "fPort": 85, "confirmed": false,
  "data": "AXVcA2c0AQRoZQ==", "object": {"battery": 92.0, "temperature": 30.8, "humidity": 50.5},
  "rxInfo": [{"gatewayId": "7276ff002e0601aa", "uplinkId": 2890031, "nsTime": "2025-01-15T08:30:12.312+00:00",
    "rssi": -97, "snr": 6.25, "channel": 3, "context": "obLD1A==",
    "metadata": {"region_config_id": "eu868"}, "crcStatus": "CRC_OK"},
    {"gatewayId": "7276ff002e0601bb", "rssi": -80, "snr": 9.5}],
  "txInfo": {"frequency": 867300000, "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7,
    "codeRate": "CR_4_5"}}},
  "regionConfigId": "eu868", "someFutureField": {"x": 1}
}"""


def test_the_documented_chirpstack_example_parses_like_chirpstack_api_reads_it() -> None:
    got = parse(CS_TOPIC + "up", DOC_EXAMPLE)
    ref = json_format.Parse(DOC_EXAMPLE, integration.UplinkEvent(), ignore_unknown_fields=True)
    assert isinstance(got, Uplink)
    assert got.dev_eui == ref.device_info.dev_eui and got.f_cnt == ref.f_cnt and got.f_port == ref.f_port
    assert got.payload == ref.data and got.dedup_id == ref.deduplication_id
    assert got.time == ref.time.ToDatetime(tzinfo=UTC)          # 9 digits truncated to microseconds alike
    assert got.network_object == json_format.MessageToDict(ref.object)
    assert got.radio == Radio(rssi=-80, snr=9.5, gateways=2, gateway_id="7276ff002e0601bb", frequency=867300000, dr=5)
    assert got.device_name == "ecole-jaures-salle-12" and got.profile_hint == "milesight-am307"


def _envelopes() -> dict[str, tuple[str, bytes, bool]]:
    app, profile = "8e7d", "milesight-am307"
    return {
        "chirpstack-json": (CS_TOPIC + "up", env.chirpstack_json_uplink(UP, application_id=app,
                                                                        device_profile_name=profile), False),
        "chirpstack-pb": (CS_TOPIC + "up", env.chirpstack_pb_uplink(UP, application_id=app,
                                                                    device_profile_name=profile), False),
        "tts": ("v3/ecoles@ttn/devices/salle-12/up", env.tts_uplink(UP, application_id="ecoles"), True),
    }


@pytest.mark.parametrize("source", ["chirpstack-json", "chirpstack-pb", "tts"])
def test_every_format_yields_the_same_uplink(source: str) -> None:
    topic, payload, tts = _envelopes()[source]
    got = parse(topic, payload, tts=tts)
    assert isinstance(got, Uplink), got
    assert (got.dev_eui, got.time, got.f_cnt, got.f_port, got.payload, got.source) == \
        (EUI, T, 1234, 85, UP.payload, source)
    assert got.radio.gateway_id == "7276ff002e0601aa" and got.radio.snr == 6.25 and got.radio.rssi == -97
    assert got.radio.frequency == 867_300_000


def test_tts_absent_f_port_and_f_cnt_mean_zero_and_the_dev_eui_is_lowercased() -> None:
    got = parse("v3/a/devices/d/up", env.tts_uplink(Uplink(EUI, T, 0, 0, b"", "sim"), application_id="a"), tts=True)
    assert isinstance(got, Uplink) and got.f_cnt == 0 and got.f_port == 0 and got.payload == b""
    assert got.dev_eui == EUI and got.dedup_id is not None and got.dedup_id.startswith("as:up:")


def test_tts_simulated_uplinks_are_ignored() -> None:
    got = parse("v3/a/devices/d/up", env.tts_uplink(UP, application_id="a", simulated=True), tts=True)
    assert isinstance(got, Ignored)


@pytest.mark.parametrize("encode", [env.chirpstack_json, env.chirpstack_pb])
def test_status_events_give_battery_and_margin(encode: Callable[[Message], bytes]) -> None:
    msg = env.chirpstack_status_event(EUI, T, application_id="a", device_profile_name="p", margin=-3,
                                      battery_level=86.22)
    got = parse(CS_TOPIC + "status", encode(msg))
    assert isinstance(got, Status)
    assert got == Status(EUI, T, margin=-3, battery=86.22, external_power=False, source=got.source,
                         device_name=f"device-{EUI}", profile_hint="p")


def test_status_of_an_externally_powered_device_has_no_battery_level() -> None:
    msg = env.chirpstack_status_event(EUI, T, application_id="a", device_profile_name="p", external_power=True)
    got = parse(CS_TOPIC + "status", env.chirpstack_json(msg))
    assert isinstance(got, Status) and got.battery is None and got.external_power


@pytest.mark.parametrize("encode", [env.chirpstack_json, env.chirpstack_pb])
@pytest.mark.parametrize(("code", "recorded"), [("UPLINK_CODEC", True), ("UPLINK_F_CNT_RESET", True),
                                                ("UPLINK_F_CNT_RETRANSMISSION", True), ("DOWNLINK_GATEWAY", False),
                                                ("OTAA", False)])
def test_log_events_about_codecs_and_frame_counters_are_recorded(encode: Callable[[Message], bytes], code: str,
                                                                 recorded: bool) -> None:
    msg = env.chirpstack_log_event(EUI, T, application_id="a", device_profile_name="p", code=code,
                                   description="js error", context={"deduplication_id": "d1"})
    got = parse(CS_TOPIC + "log", encode(msg))
    if recorded:
        assert isinstance(got, DeviceEvent) and (got.kind, got.code, got.level) == ("log", code, "ERROR")
        assert got.context == {"deduplication_id": "d1"} and got.description == "js error"
    else:
        assert isinstance(got, Ignored)


def test_join_is_recorded_as_a_device_event() -> None:
    got = parse(CS_TOPIC + "join", env.chirpstack_pb(env.chirpstack_join_event(
        EUI, T, application_id="a", device_profile_name="p", dev_addr="01020304")))
    assert isinstance(got, DeviceEvent) and got.kind == "join" and got.context == {"dev_addr": "01020304"}


def test_location_events_give_a_position() -> None:
    doc = {"deduplicationId": "x", "time": "2025-01-15T08:30:12+00:00", "deviceInfo": {"devEui": EUI},
           "location": {"latitude": 44.5, "longitude": 3.2, "source": "GEO_RESOLVER_TDOA", "accuracy": 30.0}}
    got = parse(CS_TOPIC + "location", json.dumps(doc).encode())
    assert isinstance(got, Location) and (got.latitude, got.longitude, got.accuracy) == (44.5, 3.2, 30.0)


@pytest.mark.parametrize("event", ["ack", "txack", "integration", "brand-new-event"])
def test_other_event_types_are_ignored(event: str) -> None:
    assert isinstance(parse(CS_TOPIC + event, b'{"anything": 1}'), Ignored)
    assert isinstance(parse(CS_TOPIC + event, b"\x08\x01"), Ignored)


def _cs_doc(**changes: object) -> bytes:
    doc = json.loads(env.chirpstack_json_uplink(UP, application_id="a", device_profile_name="p"))
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    return json.dumps(doc).encode()


BAD = [
    ("not json", CS_TOPIC + "up", b"{not json", False, Reason.MALFORMED_JSON),
    ("invalid utf-8", CS_TOPIC + "up", b'{"a": "\xff\xfe"}', False, Reason.MALFORMED_JSON),
    ("json array", CS_TOPIC + "up", b"[1, 2]", False, Reason.MALFORMED_JSON),
    ("fCnt is text", CS_TOPIC + "up", _cs_doc(fCnt="many"), False, Reason.MALFORMED_JSON),
    ("fCnt is a boolean", CS_TOPIC + "up", _cs_doc(fCnt=True), False, Reason.MALFORMED_JSON),
    ("object is a list", CS_TOPIC + "up", _cs_doc(object=[1]), False, Reason.MALFORMED_JSON),
    ("no deviceInfo", CS_TOPIC + "up", _cs_doc(deviceInfo=...), False, Reason.MISSING_FIELD),
    ("no devEui", CS_TOPIC + "up", _cs_doc(deviceInfo={"deviceName": "x"}), False, Reason.MISSING_FIELD),
    ("no time", CS_TOPIC + "up", _cs_doc(time=...), False, Reason.MISSING_FIELD),
    ("short devEui", CS_TOPIC + "up", _cs_doc(deviceInfo={"devEui": "24e1"}), False, Reason.BAD_DEV_EUI),
    ("non-hex devEui", CS_TOPIC + "up", _cs_doc(deviceInfo={"devEui": "zz" * 8}), False, Reason.BAD_DEV_EUI),
    ("bad base64", CS_TOPIC + "up", _cs_doc(data="!!!"), False, Reason.INVALID_FIELD),
    ("bad time", CS_TOPIC + "up", _cs_doc(time="yesterday"), False, Reason.INVALID_FIELD),
    ("time without offset", CS_TOPIC + "up", _cs_doc(time="2025-01-15T08:30:12"), False, Reason.INVALID_FIELD),
    ("fPort 300", CS_TOPIC + "up", _cs_doc(fPort=300), False, Reason.INVALID_FIELD),
    ("negative fCnt", CS_TOPIC + "up", _cs_doc(fCnt=-1), False, Reason.INVALID_FIELD),
    ("protobuf garbage", CS_TOPIC + "up", b"\x0a\xff\xff\xff\xff\x0f", False, Reason.MALFORMED_PROTOBUF),
    ("protobuf without device", CS_TOPIC + "up", integration.UplinkEvent(f_cnt=3).SerializeToString(), False,
     Reason.MISSING_FIELD),
    ("tts not json", "v3/a/devices/d/up", b"\x00\x01", True, Reason.MALFORMED_JSON),
    ("tts no dev_eui", "v3/a/devices/d/up", b'{"end_device_ids": {"device_id": "d"}, "uplink_message": {}}', True,
     Reason.MISSING_FIELD),
    ("tts no uplink_message", "v3/a/devices/d/up", b'{"end_device_ids": {"dev_eui": "24E124707C123456"}}', True,
     Reason.MISSING_FIELD),
    ("tts frequency not a number", "v3/a/devices/d/up",
     json.dumps({"end_device_ids": {"dev_eui": EUI.upper()}, "uplink_message": {
         "received_at": "2025-01-15T08:30:12Z", "settings": {"frequency": "fast"}}}).encode(), True,
     Reason.MALFORMED_JSON),
]


@pytest.mark.parametrize(("topic", "payload", "tts", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_becomes_a_reject_with_its_reason(topic: str, payload: bytes, tts: bool, reason: Reason) -> None:
    got = parse(topic, payload, tts=tts)
    assert isinstance(got, Rejected), got
    assert got.reason == reason, got.detail


def test_a_reject_names_the_device_when_it_is_known() -> None:
    got = parse(CS_TOPIC + "up", _cs_doc(data="!!!"))
    assert isinstance(got, Rejected) and got.dev_eui == EUI


def test_oversized_messages_are_rejected_before_parsing() -> None:
    got = parse(CS_TOPIC + "up", b"{" + b" " * 100 + b"}", max_bytes=64)
    assert isinstance(got, Rejected) and got.reason == Reason.OVERSIZED


def test_uppercase_dev_eui_from_chirpstack_is_accepted_lowercased() -> None:
    doc = json.loads(_cs_doc())
    doc["deviceInfo"]["devEui"] = EUI.upper()
    got = parse(CS_TOPIC + "up", json.dumps(doc).encode())
    assert isinstance(got, Uplink) and got.dev_eui == EUI


def test_an_uplink_without_frm_payload_has_empty_bytes() -> None:
    got = parse(CS_TOPIC + "up", _cs_doc(data="", fPort=0))
    assert isinstance(got, Uplink) and got.payload == b"" and got.f_port == 0
    assert base64.b64encode(got.payload) == b""
