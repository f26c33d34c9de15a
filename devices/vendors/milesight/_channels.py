"""Milesight channel/type item format, shared by every Milesight LoRaWAN sensor.

An uplink (fPort 85) is a sequence of items ``[channel_id:1][channel_type:1][value:N]``; multi-byte values are
little-endian. The value length is not carried in the frame: it follows from (channel, type). So an unknown item
ends the decoding - the vendor codecs stop there too - and the rest of the frame is reported as ignored.
Channel 0xFF carries device attributes (versions, serial number, class) that the sensors send after a join.

Source: Milesight-IoT/SensorDecoders, per-model README tables (facts only, no code taken).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "UPLINK_FPORT", "Item", "ItemDecoder", "scalar", "enum", "decode_items", "encode_item", "pack",
    "u8", "u16", "s16", "u32",
]

UPLINK_FPORT = 85

# An item decoder receives the value bytes (exactly Item.length of them) and updates data/warnings in place.
ItemDecoder = Callable[[bytes, dict[str, Any], list[str]], None]


@dataclass(frozen=True, slots=True)
class Item:
    name: str          # human name, used in error texts
    length: int        # value length in bytes
    decode: ItemDecoder


def u8(b: bytes, offset: int = 0) -> int:
    return b[offset]


def u16(b: bytes, offset: int = 0) -> int:
    return int.from_bytes(b[offset:offset + 2], "little")


def s16(b: bytes, offset: int = 0) -> int:
    return int.from_bytes(b[offset:offset + 2], "little", signed=True)


def u32(b: bytes, offset: int = 0) -> int:
    return int.from_bytes(b[offset:offset + 4], "little")


def scalar(key: str, read: Callable[[bytes], int], divisor: int = 1) -> ItemDecoder:
    """An item whose value is one number: raw integer, or raw / divisor (kept an int when divisor is 1)."""

    def decode(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
        raw = read(value)
        data[key] = raw if divisor == 1 else raw / divisor

    return decode


def enum(key: str, labels: Mapping[int, str]) -> ItemDecoder:
    """A one-byte state; an undocumented state becomes "unknown" plus a warning (the vendor codecs' choice)."""

    def decode(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
        label = labels.get(value[0])
        if label is None:
            warnings.append(f"{key}: undocumented state {value[0]}; reported as 'unknown'")
            label = "unknown"
        data[key] = label

    return decode


def _version(key: str, minor_shift: int = 0) -> ItemDecoder:
    def decode(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
        data[key] = f"v{value[0]}.{value[1] >> minor_shift}"

    return decode


def _ipso_version(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
    data["ipso_version"] = f"v{value[0] >> 4}.{value[0] & 0x0F}"


def _serial(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
    data["sn"] = value.hex()


def _fixed(key: str, label: str) -> ItemDecoder:
    def decode(value: bytes, data: dict[str, Any], warnings: list[str]) -> None:
        data[key] = label

    return decode


# Device attributes common to the series (sent once after join / reboot), as in the vendor README tables.
ATTRIBUTES: dict[tuple[int, int], Item] = {
    (0xFF, 0x01): Item("protocol version", 1, _ipso_version),
    (0xFF, 0x09): Item("hardware version", 2, _version("hardware_version", minor_shift=4)),
    (0xFF, 0x0A): Item("firmware version", 2, _version("firmware_version")),
    (0xFF, 0x0B): Item("power on", 1, _fixed("device_status", "on")),
    (0xFF, 0x0F): Item("LoRaWAN class", 1, enum("lorawan_class", {0: "Class A", 1: "Class B", 2: "Class C",
                                                                   3: "Class CtoB"})),
    (0xFF, 0x16): Item("serial number", 8, _serial),
    (0xFF, 0xFE): Item("reset event", 1, _fixed("reset_event", "reset")),
    (0xFF, 0xFF): Item("TSL version", 2, _version("tsl_version")),
}


def _failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def decode_items(fport: int, payload: bytes, items: Mapping[tuple[int, int], Item], model: str) -> dict[str, Any]:
    """Decode a Milesight item sequence with the model's item table (device attributes are added)."""
    if fport != UPLINK_FPORT:
        return _failure(f"unexpected fPort {fport}: {model} uplinks use fPort {UPLINK_FPORT}")
    if not payload:
        return _failure(f"empty payload: a {model} uplink holds at least one channel item")
    table = {**ATTRIBUTES, **items}
    data: dict[str, Any] = {}
    warnings: list[str] = []
    pos = 0
    while pos < len(payload):
        if pos + 2 > len(payload):
            return _failure(f"truncated frame: a lone byte 0x{payload[pos]:02X} at offset {pos}, where an item "
                            "needs a channel byte and a type byte")
        channel, kind = payload[pos], payload[pos + 1]
        item = table.get((channel, kind))
        if item is None:
            text = (f"unknown {model} item {channel:02X}/{kind:02X} at offset {pos}: decoding stopped there, "
                    f"{len(payload) - pos} byte(s) ignored")
            if not data:
                return _failure(f"no known channel item: {text}")
            warnings.append(text)
            break
        start, end = pos + 2, pos + 2 + item.length
        if end > len(payload):
            return _failure(f"truncated frame: item {channel:02X}/{kind:02X} ({item.name}) needs {item.length} "
                            f"byte(s) at offset {start}, only {len(payload) - start} left")
        item.decode(bytes(payload[start:end]), data, warnings)
        pos = end
    return {"data": data, "warnings": warnings, "errors": []}


def pack(fmt: str, value: float, scale: float, what: str) -> bytes:
    """round(value × scale) packed little-endian with struct format *fmt*; ValueError names the reading."""
    raw = round(value * scale)
    try:
        return struct.pack("<" + fmt, raw)
    except struct.error:
        raise ValueError(f"{what}={value} is outside what the device can encode") from None


def encode_item(channel: int, kind: int, value: bytes) -> bytes:
    return bytes((channel, kind)) + value
