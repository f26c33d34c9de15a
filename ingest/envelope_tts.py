"""The Things Stack v3 ``ApplicationUp`` uplink (JSON, original snake_case names) → ``Uplink``.

TTS omits every zero-valued field: ``f_port``/``f_cnt`` absent mean 0, ``confirmed`` absent means false. uint64
values are strings (``settings.frequency: "868100000"``). The DevEUI is uppercase in the body. Console-simulated
uplinks (``"simulated": true``) are ignored: they are not measurements.
"""

from __future__ import annotations

from typing import Any

from devices.base import Uplink
from ingest.envelope_chirpstack import parse_base64, parse_time
from ingest.envelope_json import load_object
from ingest.messages import FieldError, Ignored, Parsed, Reason, best_radio, check_dev_eui

__all__ = ["parse", "SOURCE"]

SOURCE = "tts"
_U32 = 2**32 - 1


def _obj(doc: dict[str, Any], key: str, dev_eui: str | None) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: expected an object", dev_eui)
    return value


def _number(value: Any, key: str, dev_eui: str | None, *, integer: bool = False) -> Any:
    """A JSON number, or a numeric string (uint64/int64 fields are strings in the protobuf JSON mapping)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: expected a number, got a boolean", dev_eui)
    try:
        if integer:
            number = int(value) if isinstance(value, (int, str)) else None
            if number is None and isinstance(value, float) and value.is_integer():
                number = int(value)
            if number is None:
                raise ValueError(value)
            return number
        return float(value)
    except (TypeError, ValueError):
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: {str(value)[:40]!r} is not a number", dev_eui) from None


def _dedup_id(doc: dict[str, Any]) -> str | None:
    ids = doc.get("correlation_ids")
    if isinstance(ids, list):
        for item in ids:
            if isinstance(item, str) and item.startswith("as:up:"):
                return item
    return None


def _profile_hint(message: dict[str, Any]) -> str | None:
    version = message.get("version_ids")
    if isinstance(version, dict) and version.get("brand_id") and version.get("model_id"):
        return f"{version['brand_id']}/{version['model_id']}"
    return None


def parse(payload: bytes) -> Parsed:
    doc = load_object(payload)
    if doc.get("simulated") is True:
        return Ignored("tts simulated uplink")
    ids = _obj(doc, "end_device_ids", None)
    if not ids.get("dev_eui"):
        raise FieldError(Reason.MISSING_FIELD, "end_device_ids.dev_eui is missing")
    dev_eui = check_dev_eui(ids["dev_eui"])
    if "uplink_message" not in doc:
        raise FieldError(Reason.MISSING_FIELD, "uplink_message is missing", dev_eui)
    up = _obj(doc, "uplink_message", dev_eui)

    # null means the default (0) in the protobuf JSON mapping, like an absent field
    f_port = _number(up.get("f_port"), "f_port", dev_eui, integer=True) or 0
    f_cnt = _number(up.get("f_cnt"), "f_cnt", dev_eui, integer=True) or 0
    if not 0 <= f_port <= 255:
        raise FieldError(Reason.INVALID_FIELD, f"f_port: {f_port} outside [0, 255]", dev_eui)
    if not 0 <= f_cnt <= _U32:
        raise FieldError(Reason.INVALID_FIELD, f"f_cnt: {f_cnt} outside [0, {_U32}]", dev_eui)

    gateways: list[tuple[str | None, float | None, float | None]] = []
    rx_metadata = up.get("rx_metadata") or []
    if not isinstance(rx_metadata, list):
        raise FieldError(Reason.MALFORMED_JSON, "rx_metadata: expected a list", dev_eui)
    for rx in rx_metadata:
        if not isinstance(rx, dict):
            raise FieldError(Reason.MALFORMED_JSON, "rx_metadata: expected a list of objects", dev_eui)
        gw = _obj(rx, "gateway_ids", dev_eui)
        gateway = gw.get("eui") or gw.get("gateway_id")
        gateways.append((str(gateway).lower() if gateway else None, _number(rx.get("rssi"), "rssi", dev_eui),
                         _number(rx.get("snr"), "snr", dev_eui)))
    settings = _obj(up, "settings", dev_eui)
    frequency = _number(settings.get("frequency"), "settings.frequency", dev_eui, integer=True)
    dr = _number(settings.get("data_rate_index"), "settings.data_rate_index", dev_eui, integer=True)

    decoded = up.get("decoded_payload")
    if decoded is not None and not isinstance(decoded, dict):
        raise FieldError(Reason.MALFORMED_JSON, "decoded_payload: expected an object", dev_eui)
    received = up.get("received_at") or doc.get("received_at")
    device_name = ids.get("device_id") if isinstance(ids.get("device_id"), str) else None
    return Uplink(
        dev_eui=dev_eui,
        time=parse_time(received, "uplink_message.received_at", dev_eui),
        f_cnt=f_cnt,
        f_port=f_port,
        payload=parse_base64(up.get("frm_payload"), "frm_payload", dev_eui),
        source=SOURCE,
        dedup_id=_dedup_id(doc),
        radio=best_radio(gateways, frequency, dr),
        device_name=device_name,
        profile_hint=_profile_hint(up),
        network_object=decoded,
    )
