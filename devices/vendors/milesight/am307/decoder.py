"""Milesight AM307 (7-in-1 indoor air quality, e-ink) payload decoder and encoder.

Data keys follow the TTN device-repository codec (am307l.js): ``tvoc`` is the raw uint16 of item 08/7D
(the vendor now documents it as IAQ index × 100, the profile scales it). Items of the sister model AM319
(HCHO, PM, O3, beep) are decoded too, as the vendor codec does, so one frame format serves both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devices.vendors.milesight._channels import (
    UPLINK_FPORT,
    Item,
    decode_items,
    encode_item,
    enum,
    pack,
    s16,
    scalar,
    u8,
    u16,
    u32,
)

MODEL = "AM307"
_PIR = {0: "idle", 1: "trigger"}


def _history(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
    # 16-byte record stored while the device was offline: timestamp (unix s) then the periodic readings.
    record = {
        "timestamp": u32(value, 0),
        "temperature": s16(value, 4) / 10,
        "humidity": u16(value, 6) / 2,
        "pir": _PIR.get(value[8], "unknown"),
        "light_level": value[9],
        "co2": u16(value, 10),
        "tvoc": u16(value, 12),
        "pressure": u16(value, 14) / 10,
    }
    data.setdefault("history", []).append(record)


ITEMS: dict[tuple[int, int], Item] = {
    (0x01, 0x75): Item("battery", 1, scalar("battery", u8)),
    (0x03, 0x67): Item("temperature", 2, scalar("temperature", s16, 10)),
    (0x04, 0x68): Item("humidity", 1, scalar("humidity", u8, 2)),
    (0x05, 0x00): Item("PIR", 1, enum("pir", _PIR)),
    (0x06, 0xCB): Item("light level", 1, scalar("light_level", u8)),
    (0x07, 0x7D): Item("CO2", 2, scalar("co2", u16)),
    (0x08, 0x7D): Item("TVOC (IAQ)", 2, scalar("tvoc", u16)),
    (0x08, 0xE6): Item("TVOC (ug/m3)", 2, scalar("tvoc_ugm3", u16)),
    (0x09, 0x73): Item("pressure", 2, scalar("pressure", u16, 10)),
    (0x0A, 0x7D): Item("HCHO", 2, scalar("hcho", u16, 100)),
    (0x0B, 0x7D): Item("PM2.5", 2, scalar("pm2_5", u16)),
    (0x0C, 0x7D): Item("PM10", 2, scalar("pm10", u16)),
    (0x0D, 0x7D): Item("O3", 2, scalar("o3", u16, 100)),
    (0x0E, 0x01): Item("beep", 1, enum("beep", {0: "no", 1: "yes"})),
    (0x20, 0xCE): Item("history record", 16, _history),
}


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    """Return {"data", "warnings", "errors"} for one AM307 uplink (fPort 85)."""
    return decode_items(fport, payload, ITEMS, MODEL)


# quantity → (channel, type, struct format, scale): the items of the periodic frame, in the device's order.
_ENCODED: tuple[tuple[str, int, int, str, float], ...] = (
    ("battery", 0x01, 0x75, "B", 1),
    ("temperature", 0x03, 0x67, "h", 10),
    ("humidity", 0x04, 0x68, "B", 2),
    ("occupancy", 0x05, 0x00, "B", 1),
    ("light_level", 0x06, 0xCB, "B", 1),
    ("co2", 0x07, 0x7D, "H", 1),
    ("tvoc_index", 0x08, 0x7D, "H", 100),
    ("tvoc", 0x08, 0xE6, "H", 1),
    ("pressure", 0x09, 0x73, "H", 10),
)


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """Periodic frame holding the given quantities; quantities the AM307 does not measure are ignored."""
    out = b""
    for quantity, channel, kind, fmt, scale in _ENCODED:
        if quantity in readings:
            value = (1 if readings[quantity] else 0) if quantity == "occupancy" else readings[quantity]
            out += encode_item(channel, kind, pack(fmt, value, scale, quantity))
    if not out:
        raise ValueError(f"{MODEL}: none of the readings {sorted(readings)} is a quantity this device sends")
    return UPLINK_FPORT, out
