"""Ellenex PLS2-L submersible level transmitter: 8-byte measurement frame on fPort 15.

Layout (Ellenex PLS2-L device definition and codec of the TTN device repository; facts only):

    bytes 3-4  level, int16 BE (negative values possible: the probe reads below its zero)
    byte  7    battery voltage, tenths of a volt (0x22 = 3.4 V)
    bytes 0-2 and 5-6 are not decoded by the reference codec (sensor type/status and temperature in other
    Ellenex transmitters; undocumented here).

The level is the transmitter's raw count, whose unit depends on the range ordered; the profile reads it as
millimetres of water column (see README).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

UPLINK_FPORT = 15
FRAME_LENGTH = 8


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    if fport != UPLINK_FPORT:
        return _failure(f"Unknown FPort: please use fPort {UPLINK_FPORT} (uplink received on fPort {fport})")
    if len(payload) != FRAME_LENGTH:
        return _failure(f"Invalid uplink payload: length is not 8 byte (received {len(payload)})")
    data = {
        "level": int.from_bytes(payload[3:5], "big", signed=True),
        "batteryVoltage": round(payload[7] / 10, 1),   # one decimal, as the reference codec prints it
    }
    return {"data": data, "warnings": [], "errors": []}


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """water_level (m, read back in mm steps) and battery_voltage (V, 0.1 V steps) -> an 8-byte frame."""
    level = round(readings.get("water_level", 0.5) * 1000)
    volts = round(readings.get("battery_voltage", 3.6) * 10)
    if not -0x8000 <= level <= 0x7FFF or not 0 <= volts <= 0xFF:
        raise ValueError(f"PLS2-L frame cannot carry water_level={level / 1000} m or battery_voltage={volts / 10} V")
    # Bytes 0-2 and 5-6 as a real unit sends them in the repository example; the decoder ignores them.
    return UPLINK_FPORT, b"\x01\xe8\x00" + level.to_bytes(2, "big", signed=True) + b"\x00\x00" + bytes([volts])
