"""Pepperl+Fuchs WILSEN.sonic.level: records ``[length:1][UUID:2][data:length-2]``, big-endian, fPort 1.

Record UUIDs (WILSEN.sonic.level manual, chapter "Description of the Payload"; facts only):

    0B01 proxx        uint16  proximity (distance sensor → surface), cm
    0B02 proxx_mm     uint16  proximity, mm
    0B06 fillinglvl   uint8   fill level %, computed by the device from its app-configured empty/full distances
    0B07 amplitude    uint8   echo amplitude
    0201 temp         float32 temperature °C (the reference codec rounds it to one decimal)
    5101 battery_vol  uint8   battery voltage, tenths of a volt
    5001 latitude     int32   1e-6 °            5002 longitude int32 1e-6 °
    2A25 serial_nr    ASCII   serial number
    3101 lora_count   uint16  LoRa transmissions      3102 gps_count uint16  GPS acquisitions
    3103 us_sensor_count uint32 ultrasonic measurements

The device sends three payloads: 1 (sensor data), 2 (sensor data + GPS), 3 (serial number and counters).
Configuration acknowledgements (UUIDs Fxxx) are skipped with a warning.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

UPLINK_FPORT = 1

Reader = Callable[[bytes], Any]


def _uint(value: bytes) -> int:
    return int.from_bytes(value, "big")


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big", signed=True)


def _round(value: float, digits: int) -> float:
    """``parseFloat(value.toFixed(digits))`` as the reference codec computes it (half away from zero)."""
    exact = Decimal(value)   # every float is a finite decimal; a wide context keeps float32 extremes exact
    return float(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=Context(prec=400)))


def _temperature(value: bytes) -> float | None:
    number: float = struct.unpack(">f", value)[0]
    return _round(number, 1) if math.isfinite(number) else None


def _coordinate(limit: float) -> Reader:
    def read(value: bytes) -> float | None:
        number = _int(value) / 1e6
        return number if abs(number) <= limit else None
    return read


def _ascii(value: bytes) -> str:
    return value.split(b"\x00", 1)[0].decode("latin-1")


# UUID -> (data key, value size in bytes, reader returning the value or None when it is not a valid value)
RECORDS: dict[int, tuple[str, int, Reader]] = {
    0x0B01: ("proxx", 2, _uint),
    0x0B02: ("proxx_mm", 2, _uint),
    0x0B06: ("fillinglvl", 1, _uint),
    0x0B07: ("amplitude", 1, _uint),
    0x0201: ("temp", 4, _temperature),
    0x5101: ("battery_vol", 1, lambda v: _uint(v) / 10),
    0x5001: ("latitude", 4, _coordinate(90)),
    0x5002: ("longitude", 4, _coordinate(180)),
    0x2A25: ("serial_nr", 1, _ascii),          # 1 = at least one character
    0x3101: ("lora_count", 2, _uint),
    0x3102: ("gps_count", 2, _uint),
    0x3103: ("us_sensor_count", 4, _uint),
}


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    if fport != UPLINK_FPORT:
        return _failure(f"unknown FPort {fport}: the WILSEN.sonic.level sends its payloads on fPort {UPLINK_FPORT}")
    if not payload:
        return _failure("empty payload: a WILSEN.sonic.level uplink holds at least one record")
    data: dict[str, Any] = {"payload": payload.hex().upper()}
    warnings: list[str] = []
    pos = 0
    while pos < len(payload):
        length = payload[pos]
        end = pos + 1 + length
        if length < 2 or end > len(payload):
            problem = (f"record at offset {pos} announces {length} byte(s), "
                       + ("too short for a UUID" if length < 2 else f"only {len(payload) - pos - 1} left"))
            if len(data) == 1:
                return _failure(f"truncated frame: {problem}")
            warnings.append(f"{problem}; the rest of the frame is ignored")
            break
        uuid = int.from_bytes(payload[pos + 1:pos + 3], "big")
        value = bytes(payload[pos + 3:end])
        pos = end
        record = RECORDS.get(uuid)
        if record is None:
            warnings.append(f"record 0x{uuid:04X} is not decoded (configuration acknowledgement or unknown)")
            continue
        key, size, read = record
        if len(value) < size:
            warnings.append(f"record 0x{uuid:04X} ({key}) has {len(value)} data byte(s), needs {size}; skipped")
            continue
        decoded = read(value if key == "serial_nr" else value[:size])
        if decoded is None:
            warnings.append(f"record 0x{uuid:04X} ({key}) holds no valid value ({value.hex()}); skipped")
            continue
        data[key] = decoded
    return {"data": data, "warnings": warnings, "errors": []}


def _record(uuid: int, value: bytes) -> bytes:
    return bytes([len(value) + 2]) + uuid.to_bytes(2, "big") + value


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """distance (mm), temperature (°C), battery_voltage (V), optional latitude/longitude -> payload 1 or 2."""
    distance, volts = round(readings.get("distance", 1000.0)), round(readings.get("battery_voltage", 3.6) * 10)
    if not 0 <= distance <= 0xFFFF or not 0 <= volts <= 0xFF:
        raise ValueError(f"WILSEN frame cannot carry distance={distance} mm or battery_voltage={volts / 10} V")
    frame = (_record(0x0B02, distance.to_bytes(2, "big"))
             + _record(0x0201, struct.pack(">f", readings.get("temperature", 15.0)))
             + _record(0x5101, bytes([volts])))
    if "latitude" in readings and "longitude" in readings:
        frame += (_record(0x5001, round(readings["latitude"] * 1e6).to_bytes(4, "big", signed=True))
                  + _record(0x5002, round(readings["longitude"] * 1e6).to_bytes(4, "big", signed=True)))
    return UPLINK_FPORT, frame
