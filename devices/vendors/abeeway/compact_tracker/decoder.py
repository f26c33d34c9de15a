"""Abeeway Compact Tracker, Asset Tracker 2.x firmware (AT2): uplinks on fPort 18, big-endian.

Common header (Abeeway Trackers Reference Guide, AT2, "Uplink messages"; facts only):

    byte 0  message type (0x03 position, 0x0A event, 0x05 heartbeat, ... see MESSAGE_TYPES)
    byte 1  status: bits 7-5 tracking mode, bit 4 SOS/user alert, bit 3 app state, bit 2 moving since the last
            uplink, bit 1 periodic position, bit 0 position on demand
    byte 2  battery (0 charging, 255 unknown, otherwise the reported level)
    byte 3  temperature, condensed: -44 + v × 129/255 °C (the reference driver rounds to 0.1 °C)
    byte 4  bits 7-4 acknowledgement token, bits 3-0 option (the raw position type in position messages)

GPS fix (type 0x03, option 0): byte 5 age (v × 8 s), bytes 6-8 latitude and 9-11 longitude as the top 24 bits of
an int32 in 1e-7 °, byte 12 EHPE (horizontal accuracy, v × 1000/255 m). Extended position (type 0x0E, option 0):
bytes 5-6 age in s, bytes 8-11 and 12-15 full int32 coordinates. Event (type 0x0A): byte 5 event type.
Wi-Fi and BLE positions carry access-point or beacon identifiers, not coordinates: they need a location solver and
are reported without a position. Frame pending (type 0x00) is two bytes: type and acknowledgement token.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

UPLINK_FPORT = 18
FRAME_PENDING, POSITION, HEARTBEAT, MISC, EVENT, EXTENDED_POSITION = 0x00, 0x03, 0x05, 0x07, 0x0A, 0x0E
HEADER_LENGTH = 5

MESSAGE_TYPES = {
    0x00: "FRAME_PENDING", 0x03: "POSITION_MESSAGE", 0x04: "ENERGY_STATUS", 0x05: "HEARTBEAT", 0x09: "SHUTDOWN",
    0x0A: "EVENT", 0x0B: "DATA_SCAN_COLLECTION", 0x0C: "PROXIMITY_DETECTION", 0x0E: "EXTENDED_POSITION_MESSAGE",
    0x0F: "DEBUG",
}
MISC_TAGS = {1: "ACTIVITY_STATUS", 2: "CONFIGURATION", 3: "SHOCK_DETECTION", 4: "ACTIVITY_STATUS", 5: "BLE_MAC"}
TRACKING_MODES = ("STAND_BY", "MOTION_TRACKING", "PERMANENT_TRACKING", "MOTION_START_END_TRACKING",
                  "ACTIVITY_TRACKING", "OFF")
POSITION_TYPES = ("GPS", "GPS_TIMEOUT", "ENCRYPTED_WIFI_BSSIDS", "WIFI_TIMEOUT", "WIFI_FAILURE", "XGPS_DATA",
                  "XGPS_DATA_WITH_GPS_SW_TIME", "BLE_BEACON_SCAN", "BLE_BEACON_FAILURE", "WIFI_BSSIDS_WITH_NO_CYPHER",
                  "BLE_BEACON_SCAN_SHORT_ID", "BLE_BEACON_SCAN_LONG_ID")
EVENT_TYPES = ("GEOLOC_START", "MOTION_START", "MOTION_END", "BLE_CONNECTED", "BLE_DISCONNECTED", "TEMPERATURE_ALERT",
               "BLE_BOND_DELETED", "SOS_MODE_START", "SOS_MODE_END", "ANGLE_DETECTION", "GEOFENCING")
TIMEOUT_CAUSES = ("USER_TIMEOUT", "T0_TIMEOUT", "T1_TIMEOUT")
TEMPERATURE_LOW, TEMPERATURE_STEP = -44.0, 129 / 255
EHPE_STEP = 1000 / 255        # m per count
AGE_STEP = 8                  # s per count


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def _round(value: float, digits: int) -> float:
    """``Math.round(value × 10^digits) / 10^digits``, the reference driver's rounding (halves go up)."""
    scale = 10 ** digits
    return math.floor(value * scale + 0.5) / scale


def _named(names: tuple[str, ...], index: int) -> str:
    return names[index] if index < len(names) else "UNKNOWN"


def _header(b: bytes) -> dict[str, Any]:
    mode = _named(TRACKING_MODES, b[1] >> 5)
    return {
        "ackToken": b[4] >> 4,
        "appState": (b[1] >> 3) & 1,
        "batteryLevel": b[2],
        "batteryStatus": {0: "CHARGING", 255: "UNKNOWN"}.get(b[2], "OPERATING"),
        "deviceConfiguration": {"mode": mode},
        "dynamicMotionState": "MOVING" if b[1] & 0x04 else "STATIC",
        "onDemand": bool(b[1] & 0x01),
        "periodicPosition": bool(b[1] & 0x02),
        "sosFlag": (b[1] >> 4) & 1,
        "temperatureMeasure": _round(TEMPERATURE_LOW + b[3] * TEMPERATURE_STEP, 1),
        "trackingMode": mode,
    }


def _coordinates(data: dict[str, Any], latitude: float, longitude: float, warnings: list[str]) -> None:
    if abs(latitude) > 90 or abs(longitude) > 180:
        warnings.append(f"GPS position {latitude}, {longitude} is not a valid coordinate; left out")
        return
    data["gpsLatitude"] = latitude
    data["gpsLongitude"] = longitude


def _position(b: bytes, data: dict[str, Any], warnings: list[str]) -> str | None:
    kind = b[4] & 0x0F
    data["rawPositionType"] = _named(POSITION_TYPES, kind)
    if kind == 0:
        if len(b) < 13:
            return f"truncated frame: a GPS fix needs 13 bytes, received {len(b)}"
        data["age"] = b[5] * AGE_STEP
        _coordinates(data, int.from_bytes(b[6:9] + b"\x00", "big", signed=True) / 1e7,
                     int.from_bytes(b[9:12] + b"\x00", "big", signed=True) / 1e7, warnings)
        data["horizontalAccuracy"] = _round(b[12] * EHPE_STEP, 2)
    elif kind == 1:
        if len(b) < 10:
            return f"truncated frame: a GPS timeout needs 10 bytes, received {len(b)}"
        data["timeoutCause"] = _named(TIMEOUT_CAUSES, b[5])
        data["bestSatellitesCN"] = [round(v * 50 / 255) for v in b[6:10]]   # C/N0, dBHz
        warnings.append("GPS timeout: no position in this uplink")
    else:
        warnings.append(f"{data['rawPositionType']} position: identifiers only, a location solver is needed; "
                        "no position decoded")
    return None


def _extended_position(b: bytes, data: dict[str, Any], warnings: list[str]) -> str | None:
    kind = b[4] & 0x0F
    data["rawPositionType"] = _named(POSITION_TYPES, kind)
    if kind != 0:
        warnings.append(f"{data['rawPositionType']} extended position: no GPS coordinates decoded")
        return None
    if len(b) < 16:
        return f"truncated frame: an extended GPS fix needs 16 bytes, received {len(b)}"
    data["age"] = int.from_bytes(b[5:7], "big")
    _coordinates(data, int.from_bytes(b[8:12], "big", signed=True) / 1e7,
                 int.from_bytes(b[12:16], "big", signed=True) / 1e7, warnings)
    return None


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    """``recv_time`` is accepted for the driver's interface; none of the decoded messages depends on it."""
    if fport != UPLINK_FPORT:
        return _failure(f"unknown FPort {fport}: Asset Tracker 2 uplinks use fPort {UPLINK_FPORT}")
    b = bytes(payload)
    if not b:
        return _failure("empty payload")
    if b[0] == FRAME_PENDING:
        if len(b) < 2:
            return _failure("truncated frame: a frame-pending message has 2 bytes")
        return {"data": {"messageType": "FRAME_PENDING", "ackToken": b[1], "payload": b.hex()},
                "warnings": [], "errors": []}
    if len(b) < HEADER_LENGTH:
        return _failure(f"truncated frame: {len(b)} byte(s), the common header has {HEADER_LENGTH}")
    data = _header(b)
    data["payload"] = b.hex()
    warnings: list[str] = []
    problem: str | None = None
    if b[0] == MISC and len(b) > 5 and (b[5] & 0x07) in MISC_TAGS:
        data["messageType"] = MISC_TAGS[b[5] & 0x07]
    else:
        data["messageType"] = MESSAGE_TYPES.get(b[0], "UNKNOWN")
    if data["messageType"] == "UNKNOWN":
        warnings.append(f"message type 0x{b[0]:02X} is not decoded; common header only")
    elif b[0] == POSITION:
        problem = _position(b, data, warnings)
    elif b[0] == EXTENDED_POSITION:
        problem = _extended_position(b, data, warnings)
    elif b[0] == EVENT:
        if len(b) < 6:
            problem = f"truncated frame: an event message needs 6 bytes, received {len(b)}"
        else:
            data["eventType"] = _named(EVENT_TYPES, b[5])
    if problem:
        return _failure(problem)
    return {"data": data, "warnings": warnings, "errors": []}


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """temperature (°C), motion and alarm (0/1), latitude/longitude (°), gps_accuracy (m) -> GPS fix message.

    Without a position a heartbeat (header only) is sent. Resolution: 0.51 °C, 2.56e-5 °, 3.9 m.
    """
    temperature = round((readings.get("temperature", 20.0) - TEMPERATURE_LOW) / TEMPERATURE_STEP)
    battery = round(readings.get("battery", 90))
    if not 0 <= temperature <= 255 or not 0 <= battery <= 255:
        raise ValueError("temperature must be within -44..85 °C and battery within 0..255 for an AT2 header")
    status = ((2 << 5) | (0x10 if readings.get("alarm") else 0) | 0x08
              | (0x04 if readings.get("motion") else 0) | 0x02)          # permanent tracking, periodic position
    if "latitude" not in readings or "longitude" not in readings:
        return UPLINK_FPORT, bytes([HEARTBEAT, status, battery, temperature, 0x00])
    ehpe = round(readings.get("gps_accuracy", 10.0) / EHPE_STEP)
    if not 0 <= ehpe <= 255:
        raise ValueError(f"gps_accuracy={readings.get('gps_accuracy')} m is beyond the 1000 m an AT2 fix carries")
    frame = bytes([POSITION, status, battery, temperature, 0x00, 0x00])
    for value in (readings["latitude"], readings["longitude"]):
        frame += round(value * 1e7 / 256).to_bytes(3, "big", signed=True)
    return UPLINK_FPORT, frame + bytes([ehpe])
