"""Decentlab DL-MBX (ultrasonic distance / level sensor) payload decoder and encoder.

Sensor groups of protocol v2 (see decentlab/_protocol.py): bit0 distance (mm) and number of valid samples,
bit1 battery voltage. The device takes 15 ultrasonic samples per measurement and discards the invalid ones
(datasheet); with no valid sample the distance word means nothing, so its value becomes null plus a warning
rather than a distance that would turn into a false water level (the vendor decoder passes the word through).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devices.vendors.decentlab._protocol import (
    MEASUREMENT_FPORT,
    Group,
    Value,
    decode_frame,
    encode_frame,
    word,
)

MODEL = "DL-MBX"
DEVICE_ID = 1                   # device id written by the encoder (simulated devices are told apart by DevEUI)
SAMPLES_PER_MEASUREMENT = 15
# Same default as the profile's mounting_height_m (tests/devices check they agree): used only when the
# simulator gives a water level instead of a distance.
DEFAULT_MOUNTING_HEIGHT_M = 2.0

GROUPS: tuple[Group, ...] = (
    Group(2, (Value("distance", "Distance", lambda x: x[0], "mm"),
              Value("number_of_valid_samples", "Number of valid samples", lambda x: x[1]))),
    Group(1, (Value("battery_voltage", "Battery voltage", lambda x: x[0] / 1000, "V"),)),
)


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    """Return {"data", "warnings", "errors"} for one DL-MBX uplink (fPort 1)."""
    result = decode_frame(fport, payload, GROUPS, MODEL)
    data = result["data"]
    if data.get("number_of_valid_samples", {}).get("value") == 0:
        result["warnings"].append(f"no valid ultrasonic sample: distance word {data['distance']['value']} "
                                  "discarded (no target in range, or an obstructed sensor)")
        data["distance"]["value"] = None
    return result


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """Measurement frame from ``distance`` (mm) - or ``water_level`` (m) with the default mounting height -
    and ``battery_voltage`` (V). Other quantities are ignored."""
    groups: dict[int, list[int]] = {}
    distance = readings.get("distance")
    if distance is None and "water_level" in readings:
        # inverse of level_from_distance: level = height - distance / 1000
        distance = (DEFAULT_MOUNTING_HEIGHT_M - readings["water_level"]) * 1000
    if distance is not None:
        groups[0] = [word(distance, "distance"), SAMPLES_PER_MEASUREMENT]
    if "battery_voltage" in readings:
        groups[1] = [word(readings["battery_voltage"] * 1000, "battery_voltage")]
    if not groups:
        raise ValueError(f"{MODEL}: none of the readings {sorted(readings)} is a quantity this device sends")
    return MEASUREMENT_FPORT, encode_frame(DEVICE_ID, groups)
