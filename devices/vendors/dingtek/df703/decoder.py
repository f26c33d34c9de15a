"""Dingtek DF703 waste bin sensor: ultrasonic level, temperature (fire), tilt (fall), optional GPS. fPort 3.

Frame (DF702/DF703 LoRaWAN protocol, facts only): ``80 .. .. <type> <length> <fields> .. 81``

    byte 0     0x80 head            byte 3  data type: 0x01 heartbeat, 0x02 alarm, 0x03 parameters
    byte 4     frame length (0x11 = 17 without GPS, 0x19 = 25 with GPS or for parameters); last byte 0x81

Measurement (heartbeat/alarm) fields, with ``g`` = 8 when the frame carries GPS and 0 otherwise:

    bytes 5-6        distance from the sensor to the waste, uint16 BE, mm  -> level
    bytes 8-11       (GPS frames) longitude, float32 little-endian
    bytes 12-15      (GPS frames) latitude, float32 little-endian
    byte 8+g         temperature, °C                                       -> temperature
    bytes 9-10 +g    tilt angle: byte 10+g degrees, negative when the low nibble of byte 9+g is set -> angle
    byte 11+g        high nibble level (full) alarm, low nibble fire alarm
    byte 12+g        high nibble fall (tilt) alarm, low nibble low-battery alarm
    bytes 13-14 +g   frame counter, uint16 BE

Parameters: firmware (bytes 5-6, major.minor), upload interval h (7), detection interval min (8), level alarm
threshold cm (9), fire threshold °C (10), tilt threshold ° (11), fall detection enabled (12), work mode (14).
"""

from __future__ import annotations

import math
import struct
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

UPLINK_FPORT = 3
HEAD, TAIL = 0x80, 0x81
HEARTBEAT, ALARM, PARAMETERS = 0x01, 0x02, 0x03
PLAIN_LENGTH, GPS_LENGTH = 17, 25


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def _to_fixed(value: float, digits: int) -> str:
    """JavaScript ``toFixed``: the reference codec prints coordinates this way."""
    quantum = Decimal(1).scaleb(-digits)
    return str(Decimal(value if value else 0.0).quantize(quantum, rounding=ROUND_HALF_UP, context=Context(prec=400)))


def _coordinates(frame: bytes, data: dict[str, Any], warnings: list[str]) -> None:
    longitude, latitude = struct.unpack_from("<ff", frame, 8)
    if not (math.isfinite(latitude) and math.isfinite(longitude)) or abs(latitude) > 90 or abs(longitude) > 180:
        warnings.append(f"GPS field holds no valid coordinate ({frame[8:16].hex()}); position left out")
        return
    if latitude == 0 and longitude == 0:
        warnings.append("GPS has no fix (latitude and longitude are 0); position left out")
        return
    # Strings with 6 decimals, as the reference codec outputs them (it also uses an approximate float32 formula,
    # off by up to ~1e-5°; this decoder reads the float32 exactly).
    data["longitude"] = _to_fixed(longitude, 6)
    data["latitude"] = _to_fixed(latitude, 6)


def _measurement(frame: bytes, data: dict[str, Any], warnings: list[str]) -> None:
    g = 8 if len(frame) == GPS_LENGTH else 0
    data["level"] = int.from_bytes(frame[5:7], "big")
    if g:
        _coordinates(frame, data, warnings)
    alarms, health = frame[11 + g], frame[12 + g]
    data["alarmLevel"] = bool(alarms >> 4)
    data["alarmFire"] = bool(alarms & 0x0F)
    data["alarmFall"] = bool(health >> 4)
    data["alarmBattery"] = bool(health & 0x0F)
    magnitude = frame[10 + g]
    data["angle"] = -magnitude if frame[9 + g] & 0x0F and magnitude else magnitude
    data["temperature"] = int.from_bytes(frame[8 + g:9 + g], "big", signed=True)
    data["frameCounter"] = int.from_bytes(frame[13 + g:15 + g], "big")


def _parameters(frame: bytes, data: dict[str, Any]) -> None:
    data["firmware"] = f"{frame[5]}.{frame[6]}"
    data["uploadInterval"] = frame[7]
    data["detectInterval"] = frame[8]
    data["levelThreshold"] = frame[9]
    data["fireThreshold"] = frame[10]
    data["fallThreshold"] = frame[11]
    data["fallEnable"] = bool(frame[12])
    data["workMode"] = frame[14]


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    if fport != UPLINK_FPORT:
        return _failure(f"unknown FPort {fport}: the DF703 sends every uplink on fPort {UPLINK_FPORT}")
    size = len(payload)
    if size < 5:
        return _failure(f"truncated frame: {size} byte(s), a DF703 frame has a 5-byte header")
    if payload[0] != HEAD:
        return _failure(f"not a DF703 frame: first byte 0x{payload[0]:02X}, expected 0x80")
    declared, kind = payload[4], payload[3]
    if declared != size:
        return _failure(f"frame length mismatch: header says {declared} bytes, received {size} (truncated frame?)")
    if payload[-1] != TAIL:
        return _failure(f"not a DF703 frame: last byte 0x{payload[-1]:02X}, expected 0x81")
    data: dict[str, Any] = {}
    warnings: list[str] = []
    if kind == PARAMETERS and size == GPS_LENGTH:
        _parameters(payload, data)
    elif kind in (HEARTBEAT, ALARM) and size in (PLAIN_LENGTH, GPS_LENGTH):
        _measurement(payload, data, warnings)
    else:
        return _failure(f"unknown DF703 frame: data type 0x{kind:02X} with length {size}")
    return {"data": data, "warnings": warnings, "errors": []}


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """distance (mm), temperature (°C), tilt_angle (°), fire/tilt/full_alarm flags, optional latitude/longitude.

    With a position the 25-byte GPS heartbeat is sent (coordinates as float32, ~1e-5° at most).
    """
    gps = "latitude" in readings and "longitude" in readings
    level = round(readings.get("distance", 800.0))
    temperature = round(readings.get("temperature", 20.0))
    angle = round(readings.get("tilt_angle", 0.0))
    if not 0 <= level <= 0xFFFF or not -128 <= temperature <= 127 or not -255 <= angle <= 255:
        raise ValueError(f"DF703 cannot carry distance={level} mm, temperature={temperature} °C, angle={angle}°")
    body = level.to_bytes(2, "big") + (b"\x01" if gps else b"\x00")
    if gps:
        body += struct.pack("<ff", readings["longitude"], readings["latitude"])
    body += bytes([
        temperature & 0xFF, 0x01 if angle < 0 else 0x00, abs(angle),
        (0x10 if readings.get("full_alarm") else 0) | (0x01 if readings.get("fire") else 0),
        0x10 if readings.get("tilt") else 0,
    ]) + b"\x00\x01\x00"                                     # frame counter 1, reserved byte
    length = 5 + len(body) + 1
    return UPLINK_FPORT, bytes([HEAD, 0x00, 0x01, HEARTBEAT, length]) + body + bytes([TAIL])
