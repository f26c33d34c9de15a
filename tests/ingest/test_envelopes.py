"""The simulator's envelopes look like what ChirpStack v4 and TTS v3 really publish (quirks included)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from chirpstack_api import integration
from google.protobuf import json_format

from devices.base import Radio, Uplink
from simulator import envelopes as env

T = datetime(2025, 1, 15, 8, 30, 12, 345678, tzinfo=UTC)
UP = Uplink("24e124707c123456", T, 1234, 85, bytes.fromhex("0175 5c03 6734 01"), "sim",
            radio=Radio(rssi=-97, snr=5.2, gateways=2, gateway_id="7276ff002e0601aa", frequency=867_300_000, dr=5))


def _cs(uplink: Uplink = UP, **kw: object) -> dict:
    return json.loads(env.chirpstack_json_uplink(uplink, application_id="app-1", device_profile_name="milesight-am307",
                                                  **kw))  # type: ignore[arg-type]


def test_chirpstack_json_writes_timestamps_with_a_plus_00_00_offset() -> None:
    doc = _cs()
    assert doc["time"] == "2025-01-15T08:30:12.345678+00:00"
    assert doc["rxInfo"][0]["nsTime"].endswith("+00:00")


@pytest.mark.parametrize(("micro", "text"), [(0, "08:30:12+00:00"), (345000, "08:30:12.345+00:00"),
                                             (345678, "08:30:12.345678+00:00")])
def test_fractional_seconds_have_0_3_or_6_digits(micro: int, text: str) -> None:
    assert env.rfc3339(T.replace(microsecond=micro)).endswith(text)


def test_chirpstack_json_always_writes_integration_scalars_even_at_default() -> None:
    zero = Uplink("24e124707c123456", T, 0, 0, b"", "sim")
    doc = _cs(zero)
    assert doc["fCnt"] == 0 and doc["fPort"] == 0 and doc["confirmed"] is False and doc["data"] == ""
    assert doc["deviceInfo"]["tags"] == {} and doc["deviceInfo"]["deviceClassEnabled"] == "CLASS_A"
    assert "object" not in doc          # nested message unset: omitted, never null


def test_chirpstack_json_leaves_out_zero_values_of_gateway_messages() -> None:
    doc = _cs(Uplink("24e124707c123456", T, 8, 85, b"\x01", "sim"))   # fCnt 8 -> channel 0
    rx = doc["rxInfo"][0]
    assert "channel" not in rx and "board" not in rx and "rfChain" not in rx
    assert rx["crcStatus"] == "CRC_OK" and isinstance(rx["context"], str)


def test_chirpstack_object_numbers_are_doubles_and_nan_is_null() -> None:
    raw = env.chirpstack_json_uplink(UP, application_id="a", device_profile_name="p",
                                     object={"co2": 776, "t": float("nan"), "s": "ok"})
    assert b'"co2":776.0' in raw and b'"t":null' in raw and b'"s":"ok"' in raw


def test_chirpstack_float32_fields_print_like_rust() -> None:
    assert _cs()["rxInfo"][0]["snr"] == 5.2


def test_chirpstack_json_is_valid_protobuf_json_equal_to_the_binary_form() -> None:
    raw_json = env.chirpstack_json_uplink(UP, application_id="a", device_profile_name="p", object={"co2": 776})
    from_json = json_format.Parse(raw_json, integration.UplinkEvent(), ignore_unknown_fields=False)
    from_pb = integration.UplinkEvent.FromString(env.chirpstack_pb_uplink(UP, application_id="a",
                                                                           device_profile_name="p",
                                                                           object={"co2": 776}))
    assert from_json == from_pb


def test_status_event_has_all_five_scalars() -> None:
    doc = json.loads(env.chirpstack_json(env.chirpstack_status_event(
        UP.dev_eui, T, application_id="a", device_profile_name="p", battery_level=None)))
    assert doc["batteryLevelUnavailable"] is True and doc["externalPowerSource"] is False
    assert doc["batteryLevel"] == 0.0 and doc["margin"] == 7 and "deduplicationId" in doc


def test_log_event_has_no_deduplication_id_and_names_its_enums() -> None:
    doc = json.loads(env.chirpstack_json(env.chirpstack_log_event(
        UP.dev_eui, T, application_id="a", device_profile_name="p", code="UPLINK_F_CNT_RESET", level="WARNING")))
    assert "deduplicationId" not in doc and doc["code"] == "UPLINK_F_CNT_RESET" and doc["level"] == "WARNING"


def test_tts_uplink_omits_zero_fields_and_writes_uint64_as_strings() -> None:
    doc = json.loads(env.tts_uplink(Uplink("24e124707c123456", T, 0, 0, b"", "sim"), application_id="crues"))
    message = doc["uplink_message"]
    assert "f_port" not in message and "f_cnt" not in message and "frm_payload" not in message
    assert message["settings"]["frequency"] == "868100000"
    assert doc["end_device_ids"]["dev_eui"] == "24E124707C123456"
    assert doc["received_at"].endswith("Z") and "simulated" not in doc
    assert doc["correlation_ids"][0].startswith("as:up:")


def test_tts_uplink_can_be_marked_simulated() -> None:
    assert json.loads(env.tts_uplink(UP, application_id="x", simulated=True))["simulated"] is True


def test_topics_fill_the_configured_filters() -> None:
    assert env.chirpstack_topic("a1", "0011", "up") == "application/a1/device/0011/event/up"
    assert env.chirpstack_topic("a1", "0011", "up", template="t/x/application/+/device/+/event/+") == \
        "t/x/application/a1/device/0011/event/up"
    assert env.tts_topic("crues@ttn", "dev-1") == "v3/crues@ttn/devices/dev-1/up"
    with pytest.raises(ValueError):
        env.tts_topic("a", "b", template="v3/+/up")
