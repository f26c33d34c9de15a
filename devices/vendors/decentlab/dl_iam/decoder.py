"""Decentlab DL-IAM (indoor ambiance monitor: CO2, TVOC, PIR, T/RH, pressure, light) decoder and encoder.

Sensor groups of protocol v2 (see decentlab/_protocol.py), from the vendor's DL-IAM decoder tables:
bit0 battery, bit1 air temperature/humidity (SHT), bit2 barometric pressure, bit3 ambient light (visible+IR, IR,
illuminance), bit4 CO2 (value, sensor status, raw IR), bit5 PIR activity counter, bit6 total VOC.
"""

from __future__ import annotations

from collections.abc import Sequence
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

MODEL = "DL-IAM"
DEVICE_ID = 1          # device id written by the encoder (simulated devices are told apart by DevEUI)
_LUX_PER_COUNT = 1.5504


def _illuminance(x: Sequence[int]) -> float:
    return max(max(1.0 * x[0] - 1.64 * x[1], 0.59 * x[0] - 0.86 * x[1]), 0) * _LUX_PER_COUNT


GROUPS: tuple[Group, ...] = (
    Group(1, (Value("battery_voltage", "Battery voltage", lambda x: x[0] / 1000, "V"),)),
    Group(2, (Value("air_temperature", "Air temperature", lambda x: 175 * x[0] / 65535 - 45, "°C"),
              Value("air_humidity", "Air humidity", lambda x: 100 * x[1] / 65535, "%"))),
    Group(1, (Value("barometric_pressure", "Barometric pressure", lambda x: x[0] * 2, "Pa"),)),
    Group(2, (Value("ambient_light_visible_infrared", "Ambient light (visible + infrared)", lambda x: x[0]),
              Value("ambient_light_infrared", "Ambient light (infrared)", lambda x: x[1]),
              Value("illuminance", "Illuminance", _illuminance, "lx"))),
    Group(3, (Value("co2_concentration", "CO2 concentration", lambda x: x[0] - 32768, "ppm"),
              Value("co2_sensor_status", "CO2 sensor status", lambda x: x[1]),
              Value("raw_ir_reading", "Raw IR reading", lambda x: x[2]))),
    Group(1, (Value("activity_counter", "Activity counter", lambda x: x[0]),)),
    Group(1, (Value("total_voc", "Total VOC", lambda x: x[0], "ppb"),)),
)


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    """Return {"data", "warnings", "errors"} for one DL-IAM uplink (fPort 1)."""
    result = decode_frame(fport, payload, GROUPS, MODEL)
    status = result["data"].get("co2_sensor_status", {}).get("value")
    if status:
        result["warnings"].append(f"CO2 sensor status {status} (not 0): the CO2 value may be unreliable")
    return result


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """Measurement frame from battery_voltage (V), temperature+humidity (together), pressure (hPa), light (lx),
    co2 (ppm), motion_count and tvoc_ppb. Quantities the DL-IAM does not measure are ignored."""
    r = readings
    groups: dict[int, list[int]] = {}
    if "battery_voltage" in r:
        groups[0] = [word(r["battery_voltage"] * 1000, "battery_voltage")]
    if ("temperature" in r) != ("humidity" in r):
        raise ValueError(f"{MODEL} sends temperature and humidity together: give both or neither")
    if "temperature" in r:
        groups[1] = [word((r["temperature"] + 45) * 65535 / 175, "temperature"),
                     word(r["humidity"] * 65535 / 100, "humidity")]
    if "pressure" in r:
        groups[2] = [word(r["pressure"] * 100 / 2, "pressure")]
    if "light" in r:
        # with no infrared count the illuminance is simply visible_counts x 1.5504
        groups[3] = [word(r["light"] / _LUX_PER_COUNT, "light"), 0]
    if "co2" in r:
        groups[4] = [word(r["co2"] + 32768, "co2"), 0, 0]
    if "motion_count" in r:
        groups[5] = [word(r["motion_count"], "motion_count")]
    if "tvoc_ppb" in r:
        groups[6] = [word(r["tvoc_ppb"], "tvoc_ppb")]
    if not groups:
        raise ValueError(f"{MODEL}: none of the readings {sorted(r)} is a quantity this device sends")
    return MEASUREMENT_FPORT, encode_frame(DEVICE_ID, groups)
