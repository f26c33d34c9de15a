"""What an envelope parser makes of one MQTT message besides an ``Uplink``: typed rejects, ignored events,
device status, network events and network-solved locations. The reason codes are documented in
``ingest/uplink.py``."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from devices.base import Radio, Uplink

__all__ = [
    "Reason", "Rejected", "Ignored", "Status", "DeviceEvent", "Location", "Parsed", "best_radio",
    "RECORDED_LOG_CODES", "check_dev_eui", "FieldError", "float32",
]


class Reason(StrEnum):
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_PROTOBUF = "malformed_protobuf"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    BAD_DEV_EUI = "bad_dev_eui"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_DISABLED = "device_disabled"
    NO_PROFILE = "no_profile"
    DECODE_ERROR = "decode_error"
    OUT_OF_RANGE = "out_of_range"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str
    dev_eui: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    what: str          # e.g. "event txack", "simulated uplink", "log INFO OTAA"


@dataclass(frozen=True, slots=True)
class Status:
    """ChirpStack ``status`` event: the device's DevStatusAns (battery %, link margin)."""

    dev_eui: str
    time: datetime
    margin: int
    battery: float | None          # None when external power or unavailable
    external_power: bool
    source: str
    device_name: str | None = None
    profile_hint: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A network-server event that is not data (``log`` codec / frame-counter problems, ``join``)."""

    dev_eui: str
    time: datetime
    kind: str                      # log | join
    code: str
    source: str
    level: str | None = None
    description: str = ""
    context: dict[str, str] = field(default_factory=dict)
    device_name: str | None = None
    profile_hint: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """ChirpStack ``location`` event: a position solved by the network (geolocation resolver)."""

    dev_eui: str
    time: datetime
    latitude: float
    longitude: float
    altitude: float | None
    accuracy: float | None
    source: str
    device_name: str | None = None
    profile_hint: str | None = None


Parsed = Uplink | Status | DeviceEvent | Location | Ignored | Rejected

# ChirpStack log codes worth keeping per device: decoding and frame-counter trouble. The others (downlink
# queue, gateway scheduling, relay) say nothing about the measurements.
RECORDED_LOG_CODES = frozenset({
    "UPLINK_CODEC", "UPLINK_F_CNT_RESET", "UPLINK_F_CNT_RETRANSMISSION", "UPLINK_MIC", "F_CNT_DOWN",
})

_DEV_EUI = re.compile(r"^[0-9a-fA-F]{16}$")


class FieldError(Exception):
    """Raised inside the format parsers; ``parse`` turns it into a ``Rejected``."""

    def __init__(self, reason: Reason, detail: str, dev_eui: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.dev_eui = dev_eui


def check_dev_eui(value: Any) -> str:
    """Return the DevEUI in lowercase, or raise FieldError(bad_dev_eui)."""
    if not isinstance(value, str) or not _DEV_EUI.match(value):
        raise FieldError(Reason.BAD_DEV_EUI, f"DevEUI {str(value)[:40]!r} is not 16 hexadecimal characters")
    return value.lower()


def best_radio(candidates: Sequence[tuple[str | None, float | None, float | None]], frequency: int | None,
               dr: int | None) -> Radio:
    """Radio metadata of the gateway that heard the frame best: highest SNR, then highest RSSI.

    ``candidates`` are (gateway_id, rssi, snr) per receiving gateway.
    """
    best: tuple[str | None, float | None, float | None] | None = None
    best_key = (float("-inf"), float("-inf"))
    for cand in candidates:
        key = (cand[2] if cand[2] is not None else float("-inf"), cand[1] if cand[1] is not None else float("-inf"))
        if best is None or key > best_key:
            best, best_key = cand, key
    if best is None:
        return Radio(gateways=0, frequency=frequency, dr=dr)
    return Radio(rssi=best[1], snr=best[2], gateways=len(candidates), gateway_id=best[0], frequency=frequency,
                 dr=dr)


def float32(value: float) -> float:
    """The shortest decimal reading back as the same float32: protobuf ``float`` fields (SNR, battery level) then
    compare equal whether they came as binary protobuf or as the JSON ChirpStack prints from the same f32."""
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return value
