"""Milesight EM500-SWL (submersible water level probe) payload decoder and encoder.

Item 03/77 is the water depth above the probe, uint16 little-endian in cm. The key is ``distance`` as in the TTN
device-repository codec the test vectors come from (other revisions say ``level``, the vendor now says
``depth``). The vendor documents two sentinels, 0xFFFF (collection failed) and 0xFFFD (out of range): they
would read as 655 m of water, so they become ``distance_error`` plus a warning instead of a depth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devices.vendors.milesight._channels import (
    UPLINK_FPORT,
    Item,
    decode_items,
    encode_item,
    pack,
    scalar,
    u8,
    u16,
    u32,
)

MODEL = "EM500-SWL"
_SENTINELS = {0xFFFF: "collection failed", 0xFFFD: "out of range"}


def _depth(raw: int, target: dict[str, Any], warnings: list[str], where: str) -> None:
    fault = _SENTINELS.get(raw)
    if fault is None:
        target["distance"] = raw
    else:
        target["distance_error"] = fault
        warnings.append(f"{where}: probe reports '{fault}' (0x{raw:04X}); no depth")


def _level(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
    _depth(u16(value), data, warnings, "water depth")


def _history(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
    record: dict[str, Any] = {"timestamp": u32(value, 0)}
    _depth(u16(value, 4), record, warnings, "history record")
    data.setdefault("history", []).append(record)


ITEMS: dict[tuple[int, int], Item] = {
    (0x01, 0x75): Item("battery", 1, scalar("battery", u8)),
    (0x03, 0x77): Item("water depth", 2, _level),
    (0x20, 0xCE): Item("history record", 6, _history),
}


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    """Return {"data", "warnings", "errors"} for one EM500-SWL uplink (fPort 85)."""
    return decode_items(fport, payload, ITEMS, MODEL)


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """Periodic frame from ``water_level`` (m above the probe) and ``battery`` (%); others are ignored."""
    out = b""
    if "battery" in readings:
        out += encode_item(0x01, 0x75, pack("B", readings["battery"], 1, "battery"))
    if "water_level" in readings:
        level_cm = round(readings["water_level"] * 100)
        if level_cm in _SENTINELS:
            raise ValueError(f"water_level={readings['water_level']} collides with a fault code of the probe")
        out += encode_item(0x03, 0x77, pack("H", level_cm, 1, "water_level"))
    if not out:
        raise ValueError(f"{MODEL}: none of the readings {sorted(readings)} is a quantity this device sends")
    return UPLINK_FPORT, out
