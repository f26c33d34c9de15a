"""An envelope's JSON text → its top-level object, read by orjson where orjson and ``json.loads`` agree.

orjson reads an uplink envelope in a third of the time ``json.loads`` takes, but the two do not accept the same
documents nor read them identically, and a reject's reason and detail are part of what Beffroi stores. So
``json.loads`` stays the definition, and orjson is only a faster way to reach the same result:

* whatever orjson refuses (NaN/Infinity literals, numbers beyond a double, lone surrogates, a UTF-8 BOM,
  UTF-16/32 text, invalid UTF-8, orjson's own depth limit...) is read again by ``json.loads``, which then accepts
  it or raises the exception — hence the reject detail — it always raised;
* what orjson accepts but reads differently is kept away from it beforehand: integers beyond 64 bits (orjson
  returns a float, ``json.loads`` an exact int) are ruled out by refusing any run of 19 digits, and nesting that
  ``json.loads`` would refuse with a ``RecursionError`` (its limit is Python's recursion limit minus the caller's
  stack, below orjson's 1 024) by refusing 256 or more ``{``/``[`` bytes. Both tests are on the raw bytes and
  over-approximate (digits or brackets inside strings count too), which only sends more messages the slow way.

Everything else orjson accepts is valid UTF-8 RFC 8259 JSON, which both read to equal values: same types, same
correctly rounded floats, same last-wins duplicate keys in first-seen order. ``tests/ingest/test_envelope_json.py``
compares the two on arbitrary bytes and JSON-like text.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from ingest.messages import FieldError, Reason

__all__ = ["load_object", "orjson_reads_alike"]

_UNREAD = object()

# Digits → "0" and "{" → "[": one pass gives the shape both guards look at.
_SHAPE = bytes.maketrans(b"0123456789{", b"0000000000[")
# The longest integer that fits 64 bits either way has 19 digits (-9223372036854775808; 18446744073709551615
# has 20), so any integer orjson would turn into a float has at least 19.
_LONG_NUMBER = b"0" * 19
# Far below json.loads' nesting limit (about 1 000 minus the caller's stack depth, by default).
_MAX_OPENINGS = 256


def orjson_reads_alike(payload: bytes) -> bool:
    """Whether orjson, if it accepts *payload*, reads what ``json.loads`` reads (the two guards above)."""
    if not isinstance(payload, (bytes, bytearray)):     # json.loads refuses a memoryview; orjson would not
        return False
    shape = payload.translate(_SHAPE)
    return shape.count(b"[") < _MAX_OPENINGS and _LONG_NUMBER not in shape


def load_object(payload: bytes) -> dict[str, Any]:
    """The envelope's top-level JSON object, or ``FieldError(MALFORMED_JSON)`` with ``json.loads``' message.

    ``RecursionError`` from ``json.loads`` propagates, as it did: ``ingest.uplink.parse`` turns it into a reject."""
    doc: Any = _UNREAD
    if orjson_reads_alike(payload):
        try:
            doc = orjson.loads(payload)
        except Exception:      # noqa: BLE001 - any refusal, RecursionError included: json.loads decides
            pass
    if doc is _UNREAD:
        try:
            doc = json.loads(payload)
        except ValueError as exc:      # includes UnicodeDecodeError
            raise FieldError(Reason.MALFORMED_JSON, f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise FieldError(Reason.MALFORMED_JSON, f"expected a JSON object, got {type(doc).__name__}")
    return doc
