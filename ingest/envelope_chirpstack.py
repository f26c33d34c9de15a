"""ChirpStack v4 integration events, JSON and binary protobuf, → ``Uplink`` / ``Status`` / ``DeviceEvent`` /
``Location`` (or ``Ignored``; problems raise ``FieldError``, which ``ingest.uplink.parse`` turns into a reject).

JSON follows the protobuf JSON mapping as ChirpStack writes it (lowerCamelCase names, ``+00:00`` timestamps,
``bytes`` as base64, enums as names). Unknown fields are ignored in both encodings, so a newer ChirpStack that adds
fields keeps working; unknown event types are ``Ignored``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chirpstack_api import integration
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from devices.base import Uplink
from ingest.envelope_json import load_object
from ingest.messages import (
    RECORDED_LOG_CODES,
    DeviceEvent,
    FieldError,
    Ignored,
    Location,
    Parsed,
    Reason,
    Status,
    best_radio,
    check_dev_eui,
    float32,
)

__all__ = ["parse_json", "parse_protobuf", "HANDLED_EVENTS"]

JSON_SOURCE = "chirpstack-json"
PB_SOURCE = "chirpstack-pb"
HANDLED_EVENTS = ("up", "status", "log", "join", "location")
_U32 = 2**32 - 1

# --------------------------------------------------------------------------------------------- JSON


def _field(doc: dict[str, Any], key: str, kind: type, dev_eui: str | None) -> Any:
    """An optional field of an exact JSON type (the JSON reader gives exact types, and a boolean is not a number)."""
    value = doc.get(key)
    if value is not None and type(value) is not kind:
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: expected {kind.__name__}, got {type(value).__name__}",
                         dev_eui)
    return value


def _int(doc: dict[str, Any], key: str, dev_eui: str | None, *, low: int = 0, high: int = _U32) -> int:
    """An integer field; absent means 0 (protobuf default). Numeric strings and integral floats are accepted,
    as the protobuf JSON mapping allows them."""
    value = doc.get(key, 0)
    if isinstance(value, bool):
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: expected a number, got a boolean", dev_eui)
    try:
        number = int(value) if isinstance(value, (int, str)) else value
        if isinstance(number, float):
            if not number.is_integer():
                raise ValueError(value)
            number = int(number)
        if not isinstance(number, int):
            raise TypeError(value)
    except (ValueError, TypeError):
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: {str(value)[:40]!r} is not an integer", dev_eui) from None
    if not low <= number <= high:
        raise FieldError(Reason.INVALID_FIELD, f"{key}: {number} outside [{low}, {high}]", dev_eui)
    return number


def _float(doc: dict[str, Any], key: str, dev_eui: str | None) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: expected a number, got {type(value).__name__}", dev_eui)
    return float(value)


def parse_time(value: Any, key: str, dev_eui: str | None) -> datetime:
    """An RFC 3339 timestamp with an offset (``Z`` or ``+00:00``, up to 9 fractional digits) → aware UTC."""
    if value is None:
        raise FieldError(Reason.MISSING_FIELD, f"{key} is missing", dev_eui)
    if not isinstance(value, str):
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: expected a string, got {type(value).__name__}", dev_eui)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(Reason.INVALID_FIELD, f"{key}: {value[:40]!r} is not an RFC 3339 time", dev_eui) from None
    if parsed.tzinfo is None:
        raise FieldError(Reason.INVALID_FIELD, f"{key}: {value[:40]!r} has no UTC offset", dev_eui)
    return parsed.astimezone(UTC)


def parse_base64(value: Any, key: str, dev_eui: str | None) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise FieldError(Reason.MALFORMED_JSON, f"{key}: expected a base64 string", dev_eui)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(Reason.INVALID_FIELD, f"{key}: not valid base64", dev_eui) from None


def _json_device(doc: dict[str, Any]) -> tuple[str, str | None, str | None]:
    info = doc.get("deviceInfo")
    if info is None:
        raise FieldError(Reason.MISSING_FIELD, "deviceInfo is missing")
    if not isinstance(info, dict):
        raise FieldError(Reason.MALFORMED_JSON, "deviceInfo: expected an object")
    if info.get("devEui") in (None, ""):
        raise FieldError(Reason.MISSING_FIELD, "deviceInfo.devEui is missing")
    dev_eui = check_dev_eui(info["devEui"])
    name = _field(info, "deviceName", str, dev_eui) or None
    profile = _field(info, "deviceProfileName", str, dev_eui) or None
    return dev_eui, name, profile


def _json_up(doc: dict[str, Any]) -> Uplink:
    dev_eui, name, profile = _json_device(doc)
    rx_info = _field(doc, "rxInfo", list, dev_eui) or []
    gateways: list[tuple[str | None, float | None, float | None]] = []
    for rx in rx_info:
        if not isinstance(rx, dict):
            raise FieldError(Reason.MALFORMED_JSON, "rxInfo: expected a list of objects", dev_eui)
        gateways.append((_field(rx, "gatewayId", str, dev_eui), _float(rx, "rssi", dev_eui),
                         _float(rx, "snr", dev_eui)))
    tx_info = _field(doc, "txInfo", dict, dev_eui) or {}
    frequency = _int(tx_info, "frequency", dev_eui) if "frequency" in tx_info else None
    obj = _field(doc, "object", dict, dev_eui)
    return Uplink(
        dev_eui=dev_eui,
        time=parse_time(doc.get("time"), "time", dev_eui),
        f_cnt=_int(doc, "fCnt", dev_eui),
        f_port=_int(doc, "fPort", dev_eui, high=255),
        payload=parse_base64(doc.get("data"), "data", dev_eui),
        source=JSON_SOURCE,
        dedup_id=_field(doc, "deduplicationId", str, dev_eui) or None,
        radio=best_radio(gateways, frequency, _int(doc, "dr", dev_eui, high=15) if "dr" in doc else None),
        device_name=name,
        profile_hint=profile,
        network_object=obj,
    )


def _json_status(doc: dict[str, Any]) -> Status:
    dev_eui, name, profile = _json_device(doc)
    external = bool(_field(doc, "externalPowerSource", bool, dev_eui))
    unavailable = bool(_field(doc, "batteryLevelUnavailable", bool, dev_eui))
    level = _float(doc, "batteryLevel", dev_eui)
    return Status(dev_eui, parse_time(doc.get("time"), "time", dev_eui),
                  margin=_int(doc, "margin", dev_eui, low=-(2**31), high=2**31 - 1),
                  battery=None if external or unavailable else (level or 0.0), external_power=external,
                  source=JSON_SOURCE, device_name=name, profile_hint=profile)


def _json_log(doc: dict[str, Any]) -> Parsed:
    code = _field(doc, "code", str, None) or "UNKNOWN"
    level = _field(doc, "level", str, None) or "INFO"
    if code not in RECORDED_LOG_CODES:
        return Ignored(f"chirpstack log {level} {code}")
    dev_eui, name, profile = _json_device(doc)
    context = _field(doc, "context", dict, dev_eui) or {}
    return DeviceEvent(dev_eui, parse_time(doc.get("time"), "time", dev_eui), "log", code, JSON_SOURCE,
                       level=level, description=_field(doc, "description", str, dev_eui) or "",
                       context={str(k): str(v) for k, v in context.items()}, device_name=name,
                       profile_hint=profile)


def _json_join(doc: dict[str, Any]) -> DeviceEvent:
    dev_eui, name, profile = _json_device(doc)
    dev_addr = _field(doc, "devAddr", str, dev_eui) or ""
    return DeviceEvent(dev_eui, parse_time(doc.get("time"), "time", dev_eui), "join", "JOIN", JSON_SOURCE,
                       level="INFO", description=f"joined, DevAddr {dev_addr}", context={"dev_addr": dev_addr},
                       device_name=name, profile_hint=profile)


def _json_location(doc: dict[str, Any]) -> Location:
    dev_eui, name, profile = _json_device(doc)
    loc = _field(doc, "location", dict, dev_eui)
    if not loc or "latitude" not in loc or "longitude" not in loc:
        raise FieldError(Reason.MISSING_FIELD, "location.latitude/longitude is missing", dev_eui)
    return Location(dev_eui, parse_time(doc.get("time"), "time", dev_eui),
                    latitude=_float(loc, "latitude", dev_eui) or 0.0, longitude=_float(loc, "longitude", dev_eui) or 0.0,
                    altitude=_float(loc, "altitude", dev_eui), accuracy=_float(loc, "accuracy", dev_eui),
                    source=JSON_SOURCE, device_name=name, profile_hint=profile)


_JSON: dict[str, Callable[[dict[str, Any]], Parsed]] = {
    "up": _json_up, "status": _json_status, "log": _json_log, "join": _json_join, "location": _json_location,
}


def parse_json(event: str, payload: bytes) -> Parsed:
    handler = _JSON.get(event)
    if handler is None:
        return Ignored(f"chirpstack event {event}")
    return handler(load_object(payload))

# --------------------------------------------------------------------------------------------- protobuf


def _pb_device(msg: Any) -> tuple[str, str | None, str | None]:
    if not msg.HasField("device_info") or not msg.device_info.dev_eui:
        raise FieldError(Reason.MISSING_FIELD, "device_info.dev_eui is missing")
    info = msg.device_info
    return check_dev_eui(info.dev_eui), info.device_name or None, info.device_profile_name or None


def _pb_time(msg: Any, dev_eui: str) -> datetime:
    if not msg.HasField("time"):
        raise FieldError(Reason.MISSING_FIELD, "time is missing", dev_eui)
    try:
        return msg.time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise FieldError(Reason.INVALID_FIELD, "time is out of range", dev_eui) from None


def _pb_up(msg: integration.UplinkEvent) -> Uplink:
    dev_eui, name, profile = _pb_device(msg)
    if msg.f_port > 255:
        raise FieldError(Reason.INVALID_FIELD, f"f_port: {msg.f_port} outside [0, 255]", dev_eui)
    gateways = [(rx.gateway_id or None, float(rx.rssi), float32(rx.snr)) for rx in msg.rx_info]
    frequency = msg.tx_info.frequency if msg.HasField("tx_info") else None
    obj = json_format.MessageToDict(msg.object) if msg.HasField("object") else None
    return Uplink(dev_eui=dev_eui, time=_pb_time(msg, dev_eui), f_cnt=msg.f_cnt, f_port=msg.f_port,
                  payload=bytes(msg.data), source=PB_SOURCE, dedup_id=msg.deduplication_id or None,
                  radio=best_radio(gateways, frequency, msg.dr), device_name=name, profile_hint=profile,
                  network_object=obj)


def _pb_status(msg: integration.StatusEvent) -> Status:
    dev_eui, name, profile = _pb_device(msg)
    external, unavailable = msg.external_power_source, msg.battery_level_unavailable
    return Status(dev_eui, _pb_time(msg, dev_eui), margin=msg.margin,
                  battery=None if external or unavailable else float32(msg.battery_level), external_power=external,
                  source=PB_SOURCE, device_name=name, profile_hint=profile)


def _pb_log(msg: integration.LogEvent) -> Parsed:
    code = integration.LogCode.Name(msg.code) if msg.code in integration.LogCode.values() else str(msg.code)
    level = integration.LogLevel.Name(msg.level) if msg.level in integration.LogLevel.values() else str(msg.level)
    if code not in RECORDED_LOG_CODES:
        return Ignored(f"chirpstack log {level} {code}")
    dev_eui, name, profile = _pb_device(msg)
    return DeviceEvent(dev_eui, _pb_time(msg, dev_eui), "log", code, PB_SOURCE, level=level,
                       description=msg.description, context=dict(msg.context), device_name=name,
                       profile_hint=profile)


def _pb_join(msg: integration.JoinEvent) -> DeviceEvent:
    dev_eui, name, profile = _pb_device(msg)
    return DeviceEvent(dev_eui, _pb_time(msg, dev_eui), "join", "JOIN", PB_SOURCE, level="INFO",
                       description=f"joined, DevAddr {msg.dev_addr}", context={"dev_addr": msg.dev_addr},
                       device_name=name, profile_hint=profile)


def _pb_location(msg: integration.LocationEvent) -> Location:
    dev_eui, name, profile = _pb_device(msg)
    if not msg.HasField("location"):
        raise FieldError(Reason.MISSING_FIELD, "location is missing", dev_eui)
    loc = msg.location
    return Location(dev_eui, _pb_time(msg, dev_eui), latitude=loc.latitude, longitude=loc.longitude,
                    altitude=loc.altitude or None, accuracy=float32(loc.accuracy) if loc.accuracy else None,
                    source=PB_SOURCE, device_name=name, profile_hint=profile)


_PB: dict[str, tuple[type[Message], Callable[[Any], Parsed]]] = {
    "up": (integration.UplinkEvent, _pb_up),
    "status": (integration.StatusEvent, _pb_status),
    "log": (integration.LogEvent, _pb_log),
    "join": (integration.JoinEvent, _pb_join),
    "location": (integration.LocationEvent, _pb_location),
}


def parse_protobuf(event: str, payload: bytes) -> Parsed:
    entry = _PB.get(event)
    if entry is None:
        return Ignored(f"chirpstack event {event}")
    cls, handler = entry
    try:
        msg = cls.FromString(payload)
    except (DecodeError, ValueError) as exc:
        raise FieldError(Reason.MALFORMED_PROTOBUF, f"not a {cls.DESCRIPTOR.full_name}: {exc}") from None
    return handler(msg)
