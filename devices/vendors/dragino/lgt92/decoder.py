"""Dragino LGT-92 GPS tracker, firmware 1.6.x position frames (fPort 2).

Layout (Dragino LGT-92 user manual, facts only):

    bytes 0-3   latitude, int32 BE / 1e6 °
    bytes 4-7   longitude, int32 BE / 1e6 °
    byte  8     bit 6 alarm (SOS button); bits 5-0 with byte 9: battery, mV (14 bits)
    byte  10    bits 7-6 motion-detection mode (Disable/Move/Collide/User), bit 5 LED on, bits 4-0 firmware - 160
    bytes 11-14 (15-byte frames) roll and pitch, int16 BE / 100 °
    bytes 15-17 (18-byte frames) HDOP (/100) and altitude (int16 BE / 100 m)

Latitude and longitude both zero mean the GPS found no fix; 0x0FFFFFFF in both means the firmware switched the GPS
off because the battery is too low. In both cases the position is left out, with a warning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devices.vendors.dragino._common import failure, pack, result, s16, s32, u16

UPLINK_FPORT = 2
BASE_LENGTH = 11
MOTION_LENGTH = 15      # + roll, pitch
FULL_LENGTH = 18        # + HDOP, altitude
GPS_OFF = 0x0FFFFFFF
MOTION_MODES = ("Disable", "Move", "Collide", "User")
FIRMWARE_BASE = 160


def _position(payload: bytes, data: dict[str, Any], warnings: list[str]) -> None:
    lat_raw, lon_raw = s32(payload, 0), s32(payload, 4)
    if lat_raw == 0 and lon_raw == 0:
        warnings.append("GPS failed to obtain location (latitude and longitude are 0)")
        return
    if lat_raw == GPS_OFF and lon_raw == GPS_OFF:
        warnings.append("GPS switched off by the firmware: battery too low to get a fix")
        return
    latitude, longitude = lat_raw / 1e6, lon_raw / 1e6
    if abs(latitude) > 90 or abs(longitude) > 180:
        warnings.append(f"position {latitude}, {longitude} is not a valid coordinate; left out")
        return
    data["latitude"] = latitude
    data["longitude"] = longitude


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    if fport != UPLINK_FPORT:
        return failure(f"unknown FPort {fport}: the LGT-92 sends its positions on fPort {UPLINK_FPORT}")
    size = len(payload)
    if size < BASE_LENGTH:
        return failure(f"truncated frame: {size} byte(s), an LGT-92 position frame has at least {BASE_LENGTH}")
    data: dict[str, Any] = {}
    warnings: list[str] = []
    _position(payload, data, warnings)
    data["ALARM_status"] = bool(payload[8] & 0x40)
    data["BatV"] = (u16(payload, 8) & 0x3FFF) / 1000
    flags = payload[10]
    data["MD"] = MOTION_MODES[flags >> 6]
    data["LON"] = bool(flags & 0x20)
    data["FW"] = FIRMWARE_BASE + (flags & 0x1F)
    if size >= MOTION_LENGTH:
        data["Roll"] = s16(payload, 11) / 100
        data["Pitch"] = s16(payload, 13) / 100
    if size >= FULL_LENGTH:
        data["HDOP"] = payload[15] / 100
        data["Altitude"] = s16(payload, 16) / 100
    if size not in (BASE_LENGTH, MOTION_LENGTH, FULL_LENGTH):
        known = max(n for n in (BASE_LENGTH, MOTION_LENGTH, FULL_LENGTH) if n <= size)
        warnings.append(f"unexpected frame length {size}: decoded as a {known}-byte frame, "
                        f"{size - known} byte(s) ignored")
    return result(data, warnings)


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """latitude/longitude (°), battery_voltage (V), alarm (0/1), optional altitude (m) and hdop -> a position frame.

    With altitude or hdop the 18-byte frame is sent (roll and pitch 0). Its altitude field is int16 centimetres
    and HDOP one byte of hundredths: when they cannot be carried (above 327.67 m, HDOP above 2.55) the 11-byte frame
    is sent instead, so the position still gets through. Latitude and longitude both 0 read back as "no fix".
    """
    battery = pack("H", readings.get("battery_voltage", 3.6), 1000, "battery_voltage")
    if u16(battery, 0) > 0x3FFF:
        raise ValueError(f"battery_voltage={readings.get('battery_voltage')} is outside what the frame can carry")
    status = u16(battery, 0) | (0x4000 if readings.get("alarm", 0) else 0)
    frame = (pack("i", readings.get("latitude", 0.0), 1e6, "latitude")
             + pack("i", readings.get("longitude", 0.0), 1e6, "longitude")
             + status.to_bytes(2, "big")
             + bytes([(1 << 6) | 0x20 | 4]))                  # motion mode "Move", LED on, firmware 1.6.4
    if "altitude" in readings or "hdop" in readings:
        try:
            extension = (b"\x00" * 4 + pack("B", readings.get("hdop", 1.0), 100, "hdop")
                         + pack("h", readings.get("altitude", 0.0), 100, "altitude"))
        except ValueError:
            extension = b""
        frame += extension
    return UPLINK_FPORT, frame
