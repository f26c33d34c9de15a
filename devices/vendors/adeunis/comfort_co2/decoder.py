"""Adeunis Comfort CO2 (CO2, temperature, humidity; button and dry contact) decoder and encoder.

Frame codes (see adeunis/_frames.py for the shared layout): 0x6a periodic data - groups of temperature (int16
/10 degC), humidity (uint8 %), CO2 (uint16 ppm), newest first; 0x6b threshold alarm; 0x30 daily summary;
0x10 application configuration; plus the generic 0x1f, 0x20, 0x33, 0x37, 0x51, 0x52 frames.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devices.vendors.adeunis._frames import GENERIC_FRAMES, Frame, FrameError, decode_frame, s16, u16

MODEL = "Comfort CO2"
UPLINK_FPORT = 1
_GROUP = 5          # bytes per sample in a 0x6a frame
_DEG = "\u00b0C"


def _data(b: bytes) -> dict[str, Any]:
    samples = len(b) - 2
    if samples <= 0 or samples % _GROUP:
        raise FrameError(f"{samples} data byte(s), expected a positive multiple of {_GROUP} "
                         "(temperature 2, humidity 1, CO2 2 per sample)")
    offsets = range(2, len(b), _GROUP)
    return {
        "decodingInfo": "values: [t=0, t-1, t-2, ...]",
        "temperature": {"unit": _DEG, "values": [s16(b, o) / 10 for o in offsets]},
        "humidity": {"unit": "%", "values": [b[o + 2] for o in offsets]},
        "co2": {"unit": "ppm", "values": [u16(b, o + 3) for o in offsets]},
    }


def _alarm(b: bytes) -> dict[str, Any]:
    def state(bit: int) -> str:
        return "active" if b[2] & bit else "inactive"

    return {
        "alarmTemperature": {"alarmStatus": state(0x10), "temperature": {"unit": _DEG, "value": s16(b, 3) / 10}},
        "alarmHumidity": {"alarmStatus": state(0x01), "humidity": {"unit": "%", "value": b[5]}},
        "alarmCo2": {"alarmStatus": state(0x20), "co2": {"unit": "ppm", "value": s16(b, 6)}},
    }


def _daily(b: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {
        "icone": b[2],
        "qaiRedDuration": {"unit": "min", "value": b[3] * 10},
        "temperatureMax": {"unit": _DEG, "value": s16(b, 4) / 10},
        "co2Max": {"unit": "ppm", "value": u16(b, 6)},
        "humidityMax": {"unit": "%", "value": b[8]},
        "temperatureMin": {"unit": _DEG, "value": s16(b, 9) / 10},
    }
    if len(b) == 19:
        out.update({
            "co2Min": {"unit": "ppm", "value": u16(b, 11)},
            "humidityMin": {"unit": "%", "value": b[13]},
            "temperatureAverage": {"unit": _DEG, "value": s16(b, 14) / 10},
            "co2Average": {"unit": "ppm", "value": u16(b, 16)},
            "humidityAverage": {"unit": "%", "value": b[18]},
        })
    return out


def _configuration(b: bytes) -> dict[str, Any]:
    sampling, per_record, per_send = u16(b, 8), u16(b, 6), u16(b, 4)
    out: dict[str, Any] = {
        "dailyFrameActivated": u16(b, 2) != 0,
        "numberOfHistorizationBeforeSending": per_send,
        "numberOfSamplingBeforeHistorization": per_record,
        "samplingPeriod": {"unit": "s", "value": sampling * 2},
        "redundantSamples": b[10],
        "calculatedPeriodRecording": {"unit": "s", "value": sampling * per_record * 2},
        "calculatedSendingPeriod": {"unit": "s", "value": sampling * per_record * per_send * 2},
    }
    if len(b) == 13:
        out["blackOutDuration"] = {"unit": "h", "value": b[11]}
        out["blackOutStartTime"] = {"unit": "h", "value": b[12]}
    return out


FRAMES: dict[int, Frame] = {
    **GENERIC_FRAMES,
    0x10: Frame("0x10 Comfort CO2 configuration", _configuration, frozenset({11, 13})),
    0x30: Frame("0x30 Comfort CO2 Daily frame", _daily, frozenset({11, 19}), timestamped=True),
    0x6A: Frame("0x6a Comfort CO2 data", _data, None, timestamped=True),
    0x6B: Frame("0x6b Comfort CO2 alarm", _alarm, frozenset({8}), timestamped=True),
}


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    """Return {"data", "warnings", "errors"} for one Comfort CO2 uplink (frame code in byte 0, any port)."""
    return decode_frame(fport, payload, FRAMES, MODEL)


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """One-sample 0x6a data frame from temperature (degC), humidity (%) and co2 (ppm), all three required
    (the device always sends them together). Other quantities are ignored."""
    missing = [q for q in ("temperature", "humidity", "co2") if q not in readings]
    if missing:
        raise ValueError(f"{MODEL} sends temperature, humidity and co2 together; missing: {', '.join(missing)}")
    try:
        sample = (round(readings["temperature"] * 10).to_bytes(2, "big", signed=True)
                  + round(readings["humidity"]).to_bytes(1, "big")
                  + round(readings["co2"]).to_bytes(2, "big"))
    except OverflowError:
        raise ValueError(f"{MODEL}: a reading is outside what the device can encode: {readings}") from None
    return UPLINK_FPORT, bytes((0x6A, 0x00)) + sample
