"""Dragino LDDS75 ultrasonic distance sensor, firmware 1.1.4 measurement frame (fPort 2, 8 bytes).

Layout (Dragino LDDS75 user manual and dragino-end-node-decoder LDDS75 V1.1.4, facts only):

    bytes 0-1  battery, uint16 BE & 0x3FFF, mV        -> Bat (V)
    bytes 2-3  distance to the target, uint16 BE, mm  -> Distance, "<n> mm" as the reference codec prints it
    byte  4    interrupt flag (1 = uplink triggered by the interrupt pin)
    bytes 5-6  DS18B20 probe temperature, int16 BE / 10 °C -> TempC_DS18B20, two-decimal string
    byte  7    sensor flag (1 = ultrasonic probe detected)

Distance 0 means no probe is connected and 20 an invalid reading (target out of range); both would read as a real
water surface 0-20 mm under the sensor - a false flood - so they are reported as text plus a warning and the
``parse: number`` mapping in profile.yaml does not turn them into a distance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devices.vendors.dragino._common import failure, pack, result, s16, to_fixed, u16

UPLINK_FPORT = 2
FRAME_LENGTH = 8
NO_SENSOR = 0
INVALID_READING = 20


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    if fport != UPLINK_FPORT:
        return failure(f"unknown FPort {fport}: the LDDS75 sends its measurements on fPort {UPLINK_FPORT}")
    if len(payload) < FRAME_LENGTH:
        return failure(f"truncated frame: {len(payload)} byte(s), the LDDS75 measurement frame has {FRAME_LENGTH}")
    warnings: list[str] = []
    if len(payload) > FRAME_LENGTH:
        warnings.append(f"{len(payload) - FRAME_LENGTH} byte(s) after the 8-byte measurement frame ignored")

    distance = u16(payload, 2)
    if distance == NO_SENSOR:
        distance_text = "No Sensor"
        warnings.append("distance 0: no ultrasonic probe detected; no distance reported")
    elif distance == INVALID_READING:
        distance_text = "Invalid Reading"
        warnings.append("distance 20: invalid reading (target out of range or inside the blind zone)")
    else:
        distance_text = f"{distance} mm"

    data = {
        "Bat": (u16(payload, 0) & 0x3FFF) / 1000,
        "Distance": distance_text,
        "Interrupt_flag": payload[4],
        "TempC_DS18B20": to_fixed(s16(payload, 5) / 10, 2),
        "Sensor_flag": payload[7],
    }
    return result(data, warnings)


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """distance (mm), battery_voltage (V) and optionally temperature (°C) -> an 8-byte measurement frame.

    A distance of 0 or 20 mm would be read back as the "no sensor" / "invalid reading" codes.
    """
    distance = readings.get("distance", 1500.0)
    battery = readings.get("battery_voltage", 3.3)
    temperature = readings.get("temperature", 0.0)
    battery_field = pack("H", battery, 1000, "battery_voltage")
    if u16(battery_field, 0) > 0x3FFF:
        raise ValueError(f"battery_voltage={battery} is outside what the frame can carry (max 16.383 V)")
    frame = (battery_field + pack("H", distance, 1, "distance") + b"\x00"
             + pack("h", temperature, 10, "temperature") + b"\x01")
    return UPLINK_FPORT, frame
