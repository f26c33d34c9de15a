"""Adeunis frame format, shared by the Adeunis LoRaWAN sensors (facts from the Adeunis codec library).

Byte 0 is the frame code, byte 1 the status byte: bits 7-5 frame counter, bit 3 configuration inconsistency,
bit 2 timestamp present, bit 1 low battery, bit 0 configuration done. When the timestamp bit is set, data frames
end with a uint32 big-endian count of seconds since 2013-01-01T00:00:00 UTC. The port is not used for decoding.
Output follows the vendor codec as wrapped by the TTN device repository: ``{"bytes": {"type", "status", ...}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Frame", "GENERIC_FRAMES", "decode_frame", "status_byte", "EPOCH"]

EPOCH = datetime(2013, 1, 1, tzinfo=UTC)

Parser = Callable[[bytes], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Frame:
    type: str                       # the vendor's frame label, e.g. "0x6a Comfort CO2 data"
    parse: Parser                   # frame (timestamp removed) -> fields
    lengths: frozenset[int] | None  # accepted lengths (timestamp excluded); None: the parser checks
    timestamped: bool = False       # a data frame that carries the trailing timestamp when the status says so


class FrameError(ValueError):
    """The frame's body does not match its frame code; the text says how."""


def status_byte(status: int) -> dict[str, Any]:
    return {
        "frameCounter": (status & 0xE0) >> 5,
        # bit 2 means "timestamp" on these products; the vendor codec reports no hardware error bit (always false)
        "hardwareError": False,
        "lowBattery": bool(status & 0x02),
        "configurationDone": bool(status & 0x01),
        "configurationInconsistency": bool(status & 0x08),
        "timestamp": bool(status & 0x04),
    }


def u16(b: bytes, offset: int) -> int:
    return int.from_bytes(b[offset:offset + 2], "big")


def s16(b: bytes, offset: int) -> int:
    return int.from_bytes(b[offset:offset + 2], "big", signed=True)


def u32(b: bytes, offset: int) -> int:
    return int.from_bytes(b[offset:offset + 4], "big")


def timestamp_text(seconds: int) -> str:
    # the vendor codec prints Date.toJSON() without its "Z": UTC, milliseconds always .000
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000")


_DEBOUNCE_MS = (0, 10, 20, 500, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 40000, 60000, 300000, 600000)
_INPUT_TYPES = {0: "deactivated", 1: "highEdge", 2: "lowEdge", 3: "bothEdges"}
_REQUEST_STATUS = {1: "success", 2: "successNoUpdate", 3: "errorCoherency", 4: "errorInvalidRegister",
                   5: "errorInvalidValue", 6: "errorTruncatedValue", 7: "errorAccesNotAllowed"}


def _input_config(b: bytes, offset: int) -> dict[str, Any]:
    return {"type": _INPUT_TYPES.get(b[offset] & 0x0F, ""),
            "debouncingPeriod": {"unit": "ms", "value": _DEBOUNCE_MS[(b[offset] & 0xF0) >> 4]},
            "threshold": u16(b, offset + 1)}


def _digital_input_config(b: bytes) -> dict[str, Any]:
    return {"digitalInput1": _input_config(b, 2), "digitalInput2": _input_config(b, 5)}


def _network_config(b: bytes) -> dict[str, Any]:
    if len(b) == 4:
        return {"loraAdr": bool(b[2] & 0x01), "loraProvisioningMode": "ABP" if b[3] == 0 else "OTAA",
                "loraDutycyle": "activated" if b[2] & 0x04 else "deactivated",
                "loraClassMode": "CLASS C" if b[2] & 0x20 else "CLASS A"}
    out: dict[str, Any] = {"sigfoxRetry": b[2] & 0x03}
    if len(b) == 5:
        out["sigfoxDownlinkPeriod"] = {"unit": "m", "value": s16(b, 3)}
    return out


def _register_status(b: bytes) -> dict[str, Any]:
    return {"requestStatus": _REQUEST_STATUS.get(b[2], "errorOtherReason"), "registerId": u16(b, 3)}


def _software_version(b: bytes) -> dict[str, Any]:
    return {"appVersion": f"{b[2]}.{b[3]}.{b[4]}", "rtuVersion": f"{b[5]}.{b[6]}.{b[7]}"}


def _input_alarm(b: bytes) -> dict[str, Any]:
    return {"state": {"previousFrame": bool(b[2] >> 1 & 1), "current": bool(b[2] & 1)},
            "counter": {"global": u32(b, 3), "instantaneous": u16(b, 7)}}


GENERIC_FRAMES: dict[int, Frame] = {
    0x1F: Frame("0x1f digital input configuration", _digital_input_config, frozenset({8})),
    0x20: Frame("0x20 Configuration", _network_config, frozenset({3, 4, 5})),
    0x33: Frame("0x33 Set register status", _register_status, frozenset({5})),
    0x37: Frame("0x37 Software version", _software_version, frozenset({8})),
    0x51: Frame("0x51 digital input 1 alarm", _input_alarm, frozenset({9}), timestamped=True),
    0x52: Frame("0x52 digital input 2 alarm", _input_alarm, frozenset({9}), timestamped=True),
}


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def decode_frame(fport: int, payload: bytes, frames: Mapping[int, Frame], model: str) -> dict[str, Any]:
    """Decode one uplink with the model's frame table."""
    if not 1 <= fport <= 223:
        return _failure(f"fPort {fport} is not an application port (1-223)")
    if len(payload) < 2:
        return _failure(f"truncated frame: {len(payload)} byte(s), a frame holds at least a code and a status")
    payload = bytes(payload)
    frame = frames.get(payload[0])
    if frame is None:
        return _failure(f"unsupported frame code 0x{payload[0]:02x} for {model}")
    status = status_byte(payload[1])
    body, stamp = payload, None
    if frame.timestamped and status["timestamp"]:
        if len(payload) < 6:
            return _failure(f"truncated frame: {frame.type} announces a timestamp but has {len(payload)} bytes")
        body, stamp = payload[:-4], timestamp_text(u32(payload, len(payload) - 4))
    if frame.lengths is not None and len(body) not in frame.lengths:
        expected = " or ".join(str(n) for n in sorted(frame.lengths))
        return _failure(f"{frame.type}: {len(body)} bytes (without timestamp), expected {expected}")
    try:
        fields = frame.parse(body)
    except FrameError as exc:
        return _failure(f"{frame.type}: {exc}")
    content: dict[str, Any] = {"type": frame.type, "status": status}
    if stamp is not None:
        content["timestamp"] = stamp
    content.update(fields)
    return {"data": {"bytes": content}, "warnings": [], "errors": []}
