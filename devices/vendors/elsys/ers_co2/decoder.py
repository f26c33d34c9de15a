"""Elsys ERS CO2 (indoor CO2, temperature, humidity, light, PIR motion) payload decoder and encoder.

Elsys sensors share one payload format: a list of ``[type:1][value:n]`` items, big-endian, whose length follows
from the type. Type codes and lengths are those of the Elsys payload documentation as listed by the TTN
device-repository codec (vendor/elsys/elsys.js); output keys are that codec's. An unknown type ends the decoding,
as in the reference codec, and the rest of the frame is reported as ignored. The port is not used for decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

MODEL = "ERS CO2"
UPLINK_FPORT = 5        # Elsys default application port (configurable over NFC)

Reader = Callable[[bytes], dict[str, Any]]


def _int(key: str, size: int, signed: bool = False, divisor: int = 1) -> tuple[int, Reader]:
    def read(v: bytes) -> dict[str, Any]:
        raw = int.from_bytes(v, "big", signed=signed)
        return {key: raw if divisor == 1 else raw / divisor}

    return size, read


def _ints(keys: tuple[str, ...], size: int, signed: bool, divisor: int = 1) -> tuple[int, Reader]:
    def read(v: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, key in enumerate(keys):
            raw = int.from_bytes(v[i * size:(i + 1) * size], "big", signed=signed)
            out[key] = raw if divisor == 1 else raw / divisor
        return out

    return size * len(keys), read


def _grideye(v: bytes) -> dict[str, Any]:
    return {"grideye": [v[0] + b / 10.0 for b in v[1:65]]}


# type -> (value length, reader). 32-bit values are signed: the reference codec builds them with JS bit
# operators, which yield signed 32-bit integers.
TYPES: dict[int, tuple[int, Reader]] = {
    0x01: _int("temperature", 2, signed=True, divisor=10),
    0x02: _int("humidity", 1),
    0x03: _ints(("x", "y", "z"), 1, signed=True),
    0x04: _int("light", 2),
    0x05: _int("motion", 1),
    0x06: _int("co2", 2),
    0x07: _int("vdd", 2),
    0x08: _int("analog1", 2),
    0x09: _ints(("lat", "long"), 3, signed=False),
    0x0A: _int("pulse1", 2),
    0x0B: _int("pulseAbs", 4, signed=True),
    0x0C: _int("externalTemperature", 2, signed=True, divisor=10),
    0x0D: _int("digital", 1),
    0x0E: _int("distance", 2),
    0x0F: _int("accMotion", 1),
    0x10: _ints(("irInternalTemperature", "irExternalTemperature"), 2, signed=True, divisor=10),
    0x11: _int("occupancy", 1),
    0x12: _int("waterleak", 1),
    0x13: (65, _grideye),
    0x14: _int("pressure", 4, signed=True, divisor=1000),
    0x15: _ints(("soundPeak", "soundAvg"), 1, signed=False),
    0x16: _int("pulse2", 2),
    0x17: _int("pulseAbs2", 4, signed=True),
    0x18: _int("analog2", 2),
    0x19: _int("externalTemperature2", 2, signed=True, divisor=10),
    0x1A: _int("digital2", 1),
    0x1B: _int("analogUv", 4, signed=True),
    0x1C: _int("tvoc", 2),
}


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def _merge(data: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key == "externalTemperature2" and key in data:
            # several probes on the second input: the reference codec turns the value into a list
            previous = data[key]
            data[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            data[key] = value


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    """Return {"data", "warnings", "errors"} for one ERS CO2 uplink (any application port)."""
    if not 1 <= fport <= 223:
        return _failure(f"fPort {fport} is not an application port (1-223)")
    if not payload:
        return _failure("empty payload")
    data: dict[str, Any] = {}
    warnings: list[str] = []
    pos = 0
    while pos < len(payload):
        kind = payload[pos]
        spec = TYPES.get(kind)
        if spec is None:
            text = (f"unknown Elsys type 0x{kind:02X} at offset {pos}: decoding stopped there, "
                    f"{len(payload) - pos} byte(s) ignored")
            if not data:
                return _failure(f"no known Elsys type: {text}")
            warnings.append(text)
            break
        size, read = spec
        if pos + 1 + size > len(payload):
            return _failure(f"truncated frame: type 0x{kind:02X} needs {size} byte(s) at offset {pos + 1}, "
                            f"only {len(payload) - pos - 1} left")
        _merge(data, read(bytes(payload[pos + 1:pos + 1 + size])))
        pos += 1 + size
    return {"data": data, "warnings": warnings, "errors": []}


def _field(kind: int, value: float, size: int, signed: bool, what: str) -> bytes:
    raw = round(value)
    try:
        return bytes((kind,)) + raw.to_bytes(size, "big", signed=signed)
    except OverflowError:
        raise ValueError(f"{what}={value} is outside what the device can encode") from None


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """Frame from temperature, humidity, light, motion_count, co2 and battery_voltage (V); others ignored."""
    r = readings
    out = b""
    if "temperature" in r:
        out += _field(0x01, r["temperature"] * 10, 2, True, "temperature")
    if "humidity" in r:
        out += _field(0x02, r["humidity"], 1, False, "humidity")
    if "light" in r:
        out += _field(0x04, r["light"], 2, False, "light")
    if "motion_count" in r:
        out += _field(0x05, r["motion_count"], 1, False, "motion_count")
    if "co2" in r:
        out += _field(0x06, r["co2"], 2, False, "co2")
    if "battery_voltage" in r:
        out += _field(0x07, r["battery_voltage"] * 1000, 2, False, "battery_voltage")
    if not out:
        raise ValueError(f"{MODEL}: none of the readings {sorted(r)} is a quantity this device sends")
    return UPLINK_FPORT, out
