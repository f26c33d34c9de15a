"""Milesight EM310-UDL (ultrasonic distance sensor with tilt detection) payload decoder and encoder.

Item 03/82 is the sensor-to-surface distance, uint16 little-endian in mm; item 04/00 is the accelerometer's
position state. The key is ``tilt`` ("normal"/"tilt") as in the TTN device-repository codec the test vectors
come from (the vendor's current codec calls it ``position``).
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
    scalar,
    u8,
    u16,
)

MODEL = "EM310-UDL"

# Same defaults as the profile's params (tests/devices check they agree): used only when the simulator gives a
# fill level instead of a distance.
DEFAULT_BIN_DEPTH_MM = 1000.0
DEFAULT_MOUNT_OFFSET_MM = 0.0

ITEMS: dict[tuple[int, int], Item] = {
    (0x01, 0x75): Item("battery", 1, scalar("battery", u8)),
    (0x03, 0x82): Item("distance", 2, scalar("distance", u16)),
    (0x04, 0x00): Item("position", 1, enum("tilt", {0: "normal", 1: "tilt"})),
}


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    """Return {"data", "warnings", "errors"} for one EM310-UDL uplink (fPort 85)."""
    return decode_items(fport, payload, ITEMS, MODEL)


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """Periodic frame from ``distance`` (mm) - or ``fill_level`` (%) with the default bin geometry -,
    ``tilt`` (0/1) and ``battery`` (%). Other quantities are ignored."""
    out = b""
    if "battery" in readings:
        out += encode_item(0x01, 0x75, pack("B", readings["battery"], 1, "battery"))
    distance = readings.get("distance")
    if distance is None and "fill_level" in readings:
        # inverse of fill_from_distance: fill = 100 * (depth - (distance - offset)) / depth
        distance = DEFAULT_MOUNT_OFFSET_MM + DEFAULT_BIN_DEPTH_MM * (1 - readings["fill_level"] / 100)
    if distance is not None:
        out += encode_item(0x03, 0x82, pack("H", distance, 1, "distance"))
    if "tilt" in readings:
        out += encode_item(0x04, 0x00, bytes((1 if readings["tilt"] else 0,)))
    if not out:
        raise ValueError(f"{MODEL}: none of the readings {sorted(readings)} is a quantity this device sends")
    return UPLINK_FPORT, out
