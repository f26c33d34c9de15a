"""The envelope JSON reader (orjson where it agrees with ``json.loads``) gives exactly what ``json.loads`` gave.

``reference`` below is the reader as it was before orjson: every input must come out the same — the same object
(compared by ``repr``, which tells ``1`` from ``1.0``, ``0.0`` from ``-0.0``, shows ``nan``/``inf`` and key order),
or the same reject reason and detail, or the same ``RecursionError``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.envelope_json import load_object, orjson_reads_alike
from ingest.messages import FieldError, Reason
from simulator import envelopes as env

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(payload: bytes) -> dict[str, Any]:
    """``envelope_chirpstack.parse_json`` / ``envelope_tts.parse`` before orjson, up to the handler."""
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise FieldError(Reason.MALFORMED_JSON, f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise FieldError(Reason.MALFORMED_JSON, f"expected a JSON object, got {type(doc).__name__}")
    return doc


def outcome(read: Any, payload: bytes) -> tuple[str, ...]:
    try:
        doc = read(payload)
    except FieldError as exc:
        return ("reject", str(exc.reason), exc.detail, repr(exc.dev_eui))
    except RecursionError:
        return ("recursion",)
    return ("object", repr(doc))


def assert_same(payload: bytes) -> None:
    assert outcome(load_object, payload) == outcome(reference, payload)


def as_object(payload: bytes) -> bytes:
    """Inside an object, so that documents get past the not-an-object check and their values are compared."""
    return b'{"v":' + payload + b"}"


# Inputs orjson refuses or reads differently, found by trying them (orjson 3.13): each must come out as before.
AWKWARD = [
    b'{"a":1,"a":2,"b":3}', b"1e400", b"-1e400", b"1e-400", b"-0", b"-0.0", b'"\\ud800"', b'"\\udc00\\ud800"',
    b'"\\ud83d\\ude00"', b"\xef\xbb\xbf{}", b"NaN", b"Infinity", b"-Infinity", b"18446744073709551615",
    b"18446744073709551616", b"-9223372036854775808", b"-9223372036854775809", b"9999999999999999999",
    b"-9999999999999999999", b"123456789012345678901234567890", b"1" * 400, b"1e309", b"1.7976931348623157e309",
    b"4.9e-324", b"2.4703282292062328e-324", b'"\x7f"', b'"\x1f"', b'"\\u0000"', b"01", b"1.", b".5", b"[1,]",
    b'{"a":1,}', b"\t[]\r\n", b"{}\x0c", b"{}\x00", b"\xed\xa0\x80", b'"\xed\xa0\x80"', b'"\xc0\x80"',
    b'"\xf4\x90\x80\x80"', b'"\xef\xbf\xbf"', '{"é": "ü"}'.encode("utf-16"), '{"a": 1}'.encode("utf-16-le"),
    '{"a": 1}'.encode("utf-16-be"), '{"a": 1}'.encode("utf-32"), '{"a": 1}'.encode("utf-8-sig"), b"", b" ",
    b"0.1000000000000000055511151231257827021181583404541015625", b"1E2", b"1e+2", b"-1.5E-3",
]


@pytest.mark.parametrize("payload", AWKWARD + [as_object(p) for p in AWKWARD])
def test_inputs_orjson_refuses_or_reads_differently_come_out_as_before(payload: bytes) -> None:
    assert_same(payload)


@pytest.mark.parametrize("depth", [10, 200, 255, 256, 300, 600, 1000, 1023, 1024, 1025, 5000])
def test_deep_nesting_comes_out_as_before(depth: int) -> None:
    assert_same(b'{"v":' + b"[" * depth + b"]" * depth + b"}")
    assert_same(b'{"v":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}")


def test_integers_beyond_64_bits_stay_exact_integers() -> None:
    # orjson 3.13 reads them as floats; json.loads as exact ints, which the field checks rely on
    assert load_object(b'{"fCnt": 18446744073709551616}') == {"fCnt": 18446744073709551616}
    assert type(load_object(b'{"fCnt": -9223372036854775809}')["fCnt"]) is int


def test_real_envelopes_take_the_fast_path() -> None:
    """Without this the guards could send every message the slow way and the tests above would still pass."""
    from simulator.load import LoadGenerator, LoadPlan

    gen = LoadGenerator(LoadPlan(devices=200, rate=float("inf"), duration_s=3600, topic_prefix="x", seed=11))
    for _ in range(500):
        payload = gen.next(round(time.time(), 6))[1]
        assert orjson_reads_alike(payload), payload[:200]
        assert_same(payload)
    from tests.badinput.test_envelope_properties import UP, _valid_tts
    tts = json.dumps(_valid_tts()).encode()
    assert orjson_reads_alike(tts)
    assert_same(tts)
    assert orjson_reads_alike(env.chirpstack_json_uplink(UP, application_id="a", device_profile_name="p"))


@FUZZ
@given(payload=st.binary(max_size=256))
@example(payload=b"{\xff}")
def test_arbitrary_bytes_come_out_as_before(payload: bytes) -> None:
    assert_same(payload)
    assert_same(as_object(payload))


# JSON-like text: the grammar's tokens, the awkward numbers and strings above, whitespace JSON does and does not
# allow, and stray characters, glued in any order.
TOKENS = st.sampled_from([
    "{", "}", "[", "]", ",", ":", '"', "\\", '"a"', '"b"', '"\\ud800"', '"\\udfff"', '"\\ud83d\\ude00"',
    '"\\u00e9"', "\\u", '"\\n"', '"\\x"', "true", "false", "null", "NaN", "Infinity", "-Infinity", "-", "+", "0",
    "-0", "01", "1.", ".5", "1e", "1e400", "-1e400", "1E-400", "18446744073709551616", "-9223372036854775809",
    "9" * 19, "9" * 25, "1.5", "2.2250738585072011e-308", "4.9e-324", "1.7976931348623157e308", "1e+2", " ", "\t",
    "\n", "\r", "\x0c", "\x0b", "\xa0", "\u2028", "\x00", "\x1f", "\x7f", "é", "\ufeff", "\ud800",
]) | st.text(max_size=3) | st.integers(-(2**70), 2**70).map(str) | st.floats().map(repr)


@FUZZ
@given(parts=st.lists(TOKENS, max_size=24), wrap=st.booleans(), encoding=st.sampled_from(
    ["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"]))
def test_json_like_text_comes_out_as_before(parts: list[str], wrap: bool, encoding: str) -> None:
    text = "".join(parts)
    payload = text.encode(encoding, "surrogatepass")
    assert_same(as_object(payload) if wrap and encoding == "utf-8" else payload)


# Valid documents of every shape, written by json.dumps in its different styles (NaN and Infinity included,
# integers of any size, lone surrogates escaped or raw), so that most of them are accepted and their values compared.
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.integers(-(2**64), 2**64) | st.floats() |
    st.text(st.characters(exclude_categories=[]) | st.sampled_from(["\ud800", "\udfff", "\x00", "\u2028"]),
            max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=16)


@FUZZ
@given(doc=st.dictionaries(st.text(max_size=6), VALUES, max_size=5), ensure_ascii=st.booleans(),
       compact=st.booleans(), indent=st.sampled_from([None, 0, 2, "\t"]))
def test_valid_documents_come_out_as_before(doc: dict[str, Any], ensure_ascii: bool, compact: bool,
                                            indent: int | str | None) -> None:
    text = json.dumps(doc, ensure_ascii=ensure_ascii, indent=indent,
                      separators=(",", ":") if compact else None)
    assert_same(text.encode("utf-8", "surrogatepass"))
