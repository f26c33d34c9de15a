"""Helpers shared by the Dragino decoders: the result shape, big-endian field access, JS-compatible rounding.

Dragino frames are fixed layouts of big-endian integers. The reference codecs (JavaScript) format some values with
``Number.prototype.toFixed``, which rounds the exact binary value half away from zero; ``to_fixed`` reproduces it
so the decoded strings match the reference byte for byte.
"""

from __future__ import annotations

import struct
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

__all__ = ["result", "failure", "u16", "s16", "s32", "to_fixed", "pack"]


def result(data: dict[str, Any], warnings: list[str], errors: list[str] | None = None) -> dict[str, Any]:
    return {"data": data, "warnings": warnings, "errors": errors or []}


def failure(text: str) -> dict[str, Any]:
    return {"data": {}, "warnings": [], "errors": [text]}


def u16(b: bytes, offset: int) -> int:
    return int.from_bytes(b[offset:offset + 2], "big")


def s16(b: bytes, offset: int) -> int:
    return int.from_bytes(b[offset:offset + 2], "big", signed=True)


def s32(b: bytes, offset: int) -> int:
    return int.from_bytes(b[offset:offset + 4], "big", signed=True)


def to_fixed(value: float, digits: int) -> str:
    """``value.toFixed(digits)`` as JavaScript computes it (half away from zero on the exact binary value)."""
    if value == 0:
        value = 0.0  # JavaScript prints -0 as "0.00"
    quantum = Decimal(1).scaleb(-digits)
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP, context=Context(prec=400)))


def pack(fmt: str, value: float, scale: float, what: str) -> bytes:
    """round(value × scale) packed big-endian with struct format *fmt*; ValueError names the reading."""
    raw = round(value * scale)
    try:
        return struct.pack(">" + fmt, raw)
    except struct.error:
        raise ValueError(f"{what}={value} is outside what the frame can carry") from None
