"""Digital Matter Oyster (LoRaWAN) GPS asset tracker. Little-endian, four uplink fPorts.

Layouts (Digital Matter Oyster LoRaWAN integration guide, as summarised by the TTN device repository; facts only):

    fPort 1  position, 11 bytes: latitude int32 LE 1e-7°, longitude int32 LE 1e-7°, byte 8 = bit 0 in trip,
             bit 1 fix failed, bits 2-7 heading × 5.625°; byte 9 speed km/h; byte 10 battery × 0.025 V
    fPort 4  compact position, 9 bytes: latitude/longitude int24 LE × 256e-7°, byte 6 = bits 0-2 heading × 45°,
             bits 3-7 speed × 5 km/h; byte 7 battery × 0.025 V; byte 8 = bit 0 in trip, bit 1 fix failed, bit 2 man down
    fPort 2  downlink acknowledgement, 3 bytes: bit 7 accepted, bits 0-6 sequence; firmware major, minor
    fPort 3  statistics, 11 bytes: an LSB-first bit field (see STATS)

When the fix failed the position is the last known one: it goes under ``cached`` with a warning, so that it is
not stored as a new position.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

POSITION, ACK, STATS_PORT, COMPACT = 1, 2, 3, 4
LENGTHS = {POSITION: 11, ACK: 3, STATS_PORT: 11, COMPACT: 9}
BATTERY_STEP = 0.025          # V per count
HEADING_STEP = 5.625          # ° per count (6 bits)

# Statistics: (key, width in bits, multiplier), packed from bit 0 of byte 0 upwards.
STATS: tuple[tuple[str, int, int], ...] = (
    ("initialBatV", 4, 1), ("txCount", 11, 32), ("tripCount", 13, 32), ("gpsSuccesses", 10, 32),
    ("gpsFails", 8, 32), ("aveGpsFixS", 9, 1), ("aveGpsFailS", 9, 1), ("aveGpsFreshenS", 8, 1),
    ("wakeupsPerTrip", 7, 1), ("uptimeWeeks", 9, 1),
)


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def _volts(raw: int) -> float:
    return round(raw * BATTERY_STEP, 2)


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw & (1 << (bits - 1)) else raw


def _place(data: dict[str, Any], location: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    if data["fixFailed"]:
        data["cached"] = location
        warnings.append("fix failed: the position under 'cached' is the last known one")
    else:
        data.update(location)
    return {"data": data, "warnings": warnings, "errors": []}


def _position(b: bytes) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "position", "batV": _volts(b[10]), "inTrip": bool(b[8] & 1),
                            "fixFailed": bool(b[8] & 2), "manDown": None}   # no man-down sensor on this frame
    location = {
        "latitudeDeg": int.from_bytes(b[0:4], "little", signed=True) / 1e7,
        "longitudeDeg": int.from_bytes(b[4:8], "little", signed=True) / 1e7,
        "headingDeg": (b[8] >> 2) * HEADING_STEP,
        "speedKmph": b[9],
    }
    return _place(data, location, [])


def _compact(b: bytes) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "position", "batV": _volts(b[7]), "inTrip": bool(b[8] & 1),
                            "fixFailed": bool(b[8] & 2), "manDown": bool(b[8] & 4)}
    location = {
        "latitudeDeg": _signed(int.from_bytes(b[0:3], "little"), 24) * 256e-7,
        "longitudeDeg": _signed(int.from_bytes(b[3:6], "little"), 24) * 256e-7,
        "headingDeg": (b[6] & 0x07) * 45,
        "speedKmph": (b[6] >> 3) * 5,
    }
    return _place(data, location, [])


def _ack(b: bytes) -> dict[str, Any]:
    data = {"type": "downlink ack", "sequence": b[0] & 0x7F, "accepted": bool(b[0] & 0x80),
            "fwMaj": b[1], "fwMin": b[2]}
    return {"data": data, "warnings": [], "errors": []}


def _stats(b: bytes) -> dict[str, Any]:
    bits = int.from_bytes(b[0:11], "little")
    data: dict[str, Any] = {"type": "stats"}
    for key, width, multiplier in STATS:
        data[key] = (bits & ((1 << width) - 1)) * multiplier
        bits >>= width
    data["initialBatV"] = round(4.0 + 0.1 * data["initialBatV"], 1)
    return {"data": data, "warnings": [], "errors": []}


DECODERS = {POSITION: _position, ACK: _ack, STATS_PORT: _stats, COMPACT: _compact}


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    decode = DECODERS.get(fport)
    if decode is None:
        return _failure(f"unknown FPort {fport}: the Oyster uses fPort 1 (position), 2 (downlink ack), "
                        "3 (statistics) and 4 (compact position)")
    needed = LENGTHS[fport]
    if len(payload) < needed:
        return _failure(f"truncated frame: {len(payload)} byte(s) on fPort {fport}, the frame has {needed}")
    result = decode(bytes(payload))
    if len(payload) > needed:
        result["warnings"].append(f"{len(payload) - needed} byte(s) after the {needed}-byte frame ignored")
    return result


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """latitude/longitude (°), battery_voltage (V), speed (km/h), heading (°), motion (in trip) -> fPort 1 frame."""
    latitude = round(readings.get("latitude", 0.0) * 1e7)
    longitude = round(readings.get("longitude", 0.0) * 1e7)
    speed = round(readings.get("speed", 0.0))
    volts = round(readings.get("battery_voltage", 4.8) / BATTERY_STEP)
    heading = round(readings.get("heading", 0.0) / HEADING_STEP) % 64
    if not 0 <= speed <= 255 or not 0 <= volts <= 255:
        raise ValueError(f"Oyster frame cannot carry speed={speed} km/h or battery_voltage={volts * BATTERY_STEP} V")
    flags = (heading << 2) | (1 if readings.get("motion") else 0)
    frame = (latitude.to_bytes(4, "little", signed=True) + longitude.to_bytes(4, "little", signed=True)
             + bytes([flags, speed, volts]))
    return POSITION, frame
