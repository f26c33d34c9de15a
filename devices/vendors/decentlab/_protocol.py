"""Decentlab protocol v2 frames, shared by every Decentlab LoRaWAN sensor.

Layout (all multi-byte fields big-endian): byte 0 protocol version (2); bytes 1-2 device id; bytes 3-4 sensor-group
flags (bit i set = group i present); then, for each present group in bit order, its 16-bit words. Each model
defines its groups (word count, and how the words become named values). Output follows the vendor decoders
(decentlab/decentlab-decoders, facts only): plain ``protocol_version`` and ``device_id``, and one
``{displayName, unit, value}`` object per value, ``unit`` omitted when the value has none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PROTOCOL_VERSION", "MEASUREMENT_FPORT", "Value", "Group", "decode_frame", "encode_frame", "word"]

PROTOCOL_VERSION = 2
MEASUREMENT_FPORT = 1
_HEADER = 5


@dataclass(frozen=True, slots=True)
class Value:
    name: str                                    # output key
    display_name: str
    convert: Callable[[Sequence[int]], float]    # group words -> value
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    words: int
    values: tuple[Value, ...]


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def decode_frame(fport: int, payload: bytes, groups: Sequence[Group], model: str) -> dict[str, Any]:
    """Decode one protocol-v2 measurement frame with the model's sensor groups."""
    if not 1 <= fport <= 223:
        return _failure(f"fPort {fport} is not an application port (1-223); {model} measurements use fPort "
                        f"{MEASUREMENT_FPORT}")
    warnings: list[str] = []
    if fport != MEASUREMENT_FPORT:
        warnings.append(f"unexpected fPort {fport}: {model} measurements use fPort {MEASUREMENT_FPORT}; "
                        "decoded anyway")
    if not payload:
        return _failure("empty payload")
    if payload[0] != PROTOCOL_VERSION:
        return _failure(f"protocol version {payload[0]} doesn't match v{PROTOCOL_VERSION}")
    if len(payload) < _HEADER:
        return _failure(f"truncated frame: {len(payload)} byte(s), the header alone needs {_HEADER}")
    flags = int.from_bytes(payload[3:5], "big")
    data: dict[str, Any] = {"protocol_version": payload[0], "device_id": int.from_bytes(payload[1:3], "big")}
    pos = _HEADER
    for bit, group in enumerate(groups):
        if not flags >> bit & 1:
            continue
        end = pos + 2 * group.words
        if end > len(payload):
            return _failure(f"truncated frame: sensor group {bit} ({group.values[0].display_name}) needs "
                            f"{2 * group.words} bytes at offset {pos}, only {len(payload) - pos} left")
        words = [int.from_bytes(payload[i:i + 2], "big") for i in range(pos, end, 2)]
        pos = end
        for value in group.values:
            entry: dict[str, Any] = {"displayName": value.display_name, "value": value.convert(words)}
            if value.unit is not None:
                entry["unit"] = value.unit
            data[value.name] = entry
    unknown = flags >> len(groups)
    if unknown:
        bits = [len(groups) + i for i in range(16 - len(groups)) if unknown >> i & 1]
        warnings.append(f"flag bit(s) {bits} set, but {model} defines sensor groups 0-{len(groups) - 1} only; "
                        "their data is ignored")
    if pos < len(payload):
        warnings.append(f"{len(payload) - pos} byte(s) after the last announced sensor group ignored")
    return {"data": data, "warnings": warnings, "errors": []}


def word(value: float, what: str) -> int:
    """A value rounded into one unsigned 16-bit word; ValueError names the reading when it does not fit."""
    raw = round(value)
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"{what}={value} is outside what the device can encode")
    return raw


def encode_frame(device_id: int, groups: Mapping[int, Sequence[int]]) -> bytes:
    """Frame announcing the given groups (bit -> its words), in bit order."""
    flags = 0
    body = b""
    for bit in sorted(groups):
        flags |= 1 << bit
        body += b"".join(w.to_bytes(2, "big") for w in groups[bit])
    return bytes((PROTOCOL_VERSION,)) + device_id.to_bytes(2, "big") + flags.to_bytes(2, "big") + body
