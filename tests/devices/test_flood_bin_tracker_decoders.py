"""Decoders of the flood, bin and tracker models: Dragino, Dingtek, Pepperl+Fuchs, Ellenex, Digital Matter, Abeeway.

- every case of each model's examples.yaml decodes as documented (data, error and warning texts, readings);
- no input - any bytes on any fPort, or a valid frame mutated, truncated or extended - makes a decoder raise, and
  the result always has ``data`` (a JSON-serialisable dict), ``warnings`` and ``errors`` (lists of str);
- encode_uplink → decode_uplink → profile mapping gives the simulator's readings back within the frame resolution.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.quantities import check_value

VENDORS = Path(__file__).resolve().parents[2] / "devices" / "vendors"
MODELS = {
    "dragino-ldds75": "dragino/ldds75",
    "dragino-lgt92": "dragino/lgt92",
    "dingtek-df703": "dingtek/df703",
    "pepperl-fuchs-wilsen-sonic-level": "pepperl_fuchs/wilsen_sonic_level",
    "ellenex-pls2-l": "ellenex/pls2_l",
    "digital-matter-oyster": "digital_matter/oyster",
    "abeeway-compact-tracker": "abeeway/compact_tracker",
}


def _load(model: str) -> ModuleType:
    path = VENDORS / MODELS[model] / "decoder.py"
    spec = importlib.util.spec_from_file_location(f"_fbt_{model.replace('-', '_')}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DECODERS = {model: _load(model) for model in MODELS}
PROFILES = {model: yaml.safe_load((VENDORS / folder / "profile.yaml").read_text()) for model, folder in MODELS.items()}
EXAMPLES = {model: yaml.safe_load((VENDORS / folder / "examples.yaml").read_text()) for model, folder in MODELS.items()}


# --- the profile mapping, applied by a small local helper until the framework's normaliser exists -----------------
_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _number(value: Any, parse: bool) -> float | None:
    if parse and isinstance(value, str):
        match = _NUMBER.match(value)
        return float(match.group(0)) if match else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def normalise(profile: dict[str, Any], data: dict[str, Any]) -> tuple[dict[str, float], dict[str, float] | None]:
    """profile ``readings:`` and ``position:`` applied to decoder data: (quantity → value, position or None)."""
    readings: dict[str, float] = {}
    for entry in profile.get("readings", []):
        value = _lookup(data, entry["path"])
        if value is None:
            continue
        if "map" in entry:
            value = entry["map"].get(value)
        number = _number(value, entry.get("parse") == "number")
        if number is None:
            continue
        number = number * entry.get("scale", 1) + entry.get("offset", 0)
        if check_value(entry["quantity"], number) is None:
            readings[entry["quantity"]] = number
    spec = profile.get("position")
    if not spec:
        return readings, None
    position = {key: _number(_lookup(data, path), True) for key, path in spec.items()}
    if position.get("latitude") is None or position.get("longitude") is None:
        return readings, None
    return readings, {key: value for key, value in position.items() if value is not None}


def same(expected: Any, actual: Any) -> bool:
    """Equal data: same keys and types, floats to 1e-9 (examples are written with the decoder's own rounding)."""
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and expected.keys() == actual.keys()
                and all(same(v, actual[k]) for k, v in expected.items()))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(same(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9)
    return bool(expected == actual)


def _payload(example: dict[str, Any]) -> bytes:
    return bytes.fromhex(str(example["hex"]).replace(" ", ""))


def _example_cases() -> list[Any]:
    return [pytest.param(model, example, id=f"{model}-{i}")
            for model, examples in EXAMPLES.items() for i, example in enumerate(examples)]


@pytest.mark.parametrize(("model", "example"), _example_cases())
def test_example_decodes_as_documented(model: str, example: dict[str, Any]) -> None:
    result = DECODERS[model].decode_uplink(example["fport"], _payload(example), example.get("recv_time"))
    for text in example.get("errors", []):
        assert any(text.lower() in e.lower() for e in result["errors"]), (text, result["errors"])
    if "errors" in example:
        assert result["errors"]
    else:
        assert not result["errors"], result["errors"]
        assert same(example["data"], result["data"]), f"\nexpected {example['data']}\nactual   {result['data']}"
    for text in example.get("warnings", []):
        assert any(text.lower() in w.lower() for w in result["warnings"]), (text, result["warnings"])
    if "readings" in example:
        readings, _ = normalise(PROFILES[model], result["data"])
        assert readings.keys() == example["readings"].keys(), readings
        for quantity, value in example["readings"].items():
            assert math.isclose(readings[quantity], value, rel_tol=1e-9, abs_tol=1e-9), (quantity, readings)


def test_every_model_documents_an_error_case() -> None:
    for model, examples in EXAMPLES.items():
        assert any("errors" in example for example in examples), model


def _assert_shape(result: Any) -> None:
    assert isinstance(result, dict) and set(result) >= {"data", "warnings", "errors"}
    assert isinstance(result["data"], dict)
    assert all(isinstance(w, str) for w in result["warnings"]) and isinstance(result["warnings"], list)
    assert all(isinstance(e, str) for e in result["errors"]) and isinstance(result["errors"], list)
    json.dumps(result["data"], allow_nan=False)   # stored as JSON: no NaN/inf, only plain types


@st.composite
def _mutated_frame(draw: st.DrawFn, model: str) -> tuple[int, bytes]:
    """A documented frame with random bytes replaced, then cut short or extended: reaches the deep branches."""
    example = draw(st.sampled_from(EXAMPLES[model]))
    frame = bytearray(_payload(example))
    for _ in range(draw(st.integers(0, 4))):
        if frame:
            frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 255))
    frame = frame[:draw(st.integers(0, len(frame)))] if draw(st.booleans()) else frame
    frame += draw(st.binary(max_size=6))
    return example["fport"], bytes(frame)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("model", list(MODELS))
@FUZZ
@given(data=st.data())
def test_decoder_never_raises_on_arbitrary_input(model: str, data: st.DataObject) -> None:
    fports = PROFILES[model]["fports"]
    fport = data.draw(st.sampled_from(fports) | st.integers(-(2**31), 2**31))
    payload = data.draw(st.binary(max_size=64))
    _assert_shape(DECODERS[model].decode_uplink(fport, payload))


@pytest.mark.parametrize("model", list(MODELS))
@FUZZ
@given(data=st.data())
def test_decoder_never_raises_on_damaged_frames(model: str, data: st.DataObject) -> None:
    fport, payload = data.draw(_mutated_frame(model))
    _assert_shape(DECODERS[model].decode_uplink(fport, payload))


# Round trips: a strategy of simulator readings per model, and the tolerance of each quantity (frame resolution).
LAT = st.floats(-89.9, 89.9)
LON = st.floats(-179.9, 179.9)
FLAG = st.sampled_from([0.0, 1.0])


def _maybe_position(readings: dict[str, float]) -> st.SearchStrategy[dict[str, float]]:
    """The readings alone, or with a position away from 0°, 0° (which devices use for "no fix")."""
    fix = st.tuples(LAT.filter(lambda v: abs(v) > 1e-3), LON).map(lambda p: {"latitude": p[0], "longitude": p[1]})
    return st.just(readings) | fix.map(lambda position: {**readings, **position})

ROUND_TRIPS: dict[str, tuple[st.SearchStrategy[dict[str, float]], dict[str, float]]] = {
    "dragino-ldds75": (
        st.fixed_dictionaries({"distance": st.integers(280, 7500).map(float),
                               "battery_voltage": st.floats(2.5, 3.7)}),
        {"distance": 0.5, "battery_voltage": 0.0005}),
    "dragino-lgt92": (
        st.fixed_dictionaries({"latitude": LAT, "longitude": LON, "battery_voltage": st.floats(2.5, 4.2),
                               "alarm": st.sampled_from([0.0, 1.0])},
                              optional={"altitude": st.floats(-327, 327), "hdop": st.floats(0.5, 2.5)})
        .filter(lambda r: abs(r["latitude"]) >= 1e-6 or abs(r["longitude"]) >= 1e-6),   # 0, 0 means "no fix"
        {"latitude": 5.1e-7, "longitude": 5.1e-7, "battery_voltage": 0.0005, "alarm": 0, "altitude": 0.005,
         "hdop": 0.005}),
    "dingtek-df703": (
        st.fixed_dictionaries({"distance": st.integers(0, 5000).map(float), "temperature": st.integers(-30, 90)
                               .map(float), "tilt_angle": st.integers(0, 180).map(float),
                               "fire": FLAG, "tilt": FLAG, "full_alarm": FLAG}).flatmap(_maybe_position),
        # float32 coordinates printed with 6 decimals: ulp/2 (7.6e-6° at 180°) + 5e-7 rounding
        {"distance": 0, "temperature": 0, "tilt_angle": 0, "fire": 0, "tilt": 0, "full_alarm": 0,
         "latitude": 1e-5, "longitude": 1e-5}),
    "pepperl-fuchs-wilsen-sonic-level": (
        st.fixed_dictionaries({"distance": st.integers(0, 10000).map(float), "temperature": st.floats(-40, 85),
                               "battery_voltage": st.floats(2.5, 3.9)}).flatmap(_maybe_position),
        # temperature: float32 then one decimal; battery in tenths of a volt
        {"distance": 0, "temperature": 0.0501, "battery_voltage": 0.0501, "latitude": 5.1e-7, "longitude": 5.1e-7}),
    "ellenex-pls2-l": (
        st.fixed_dictionaries({"water_level": st.floats(-32.7, 32.7), "battery_voltage": st.floats(2.5, 3.9)}),
        {"water_level": 0.0005, "battery_voltage": 0.0501}),
    "digital-matter-oyster": (
        st.fixed_dictionaries({"latitude": LAT, "longitude": LON, "battery_voltage": st.floats(3.0, 6.3),
                               "speed": st.integers(0, 255).map(float), "heading": st.floats(0, 359.99),
                               "motion": FLAG}),
        # battery: 0.025 V steps then 0.01 V rounding; heading: 5.625° steps
        {"latitude": 5.1e-8, "longitude": 5.1e-8, "battery_voltage": 0.0176, "speed": 0, "heading": 2.8125,
         "motion": 0}),
    "abeeway-compact-tracker": (
        st.fixed_dictionaries({"temperature": st.floats(-40, 80), "motion": FLAG, "alarm": FLAG},
                              optional={"gps_accuracy": st.floats(0, 990)}).flatmap(_maybe_position)
        .filter(lambda r: "latitude" in r or "gps_accuracy" not in r),     # accuracy only comes with a fix
        # temperature: 129/255 °C steps then 0.1 °C; coordinates: 24 bits of 1e-7° << 8; EHPE: 1000/255 m steps
        {"temperature": 0.31, "motion": 0, "alarm": 0, "gps_accuracy": 1.97, "latitude": 1.29e-5,
         "longitude": 1.29e-5}),
}


def _close(quantity: str, expected: float, actual: float, tolerance: float) -> bool:
    if quantity == "heading":   # an angle: 359.9° and 0° are 0.1° apart
        return abs((expected - actual + 180) % 360 - 180) <= tolerance + 1e-9
    return abs(expected - actual) <= tolerance + 1e-9


@pytest.mark.parametrize("model", list(ROUND_TRIPS))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_encode_then_decode_gives_the_readings_back(model: str, data: st.DataObject) -> None:
    strategy, tolerances = ROUND_TRIPS[model]
    readings = data.draw(strategy)
    fport, payload = DECODERS[model].encode_uplink(readings)
    assert fport in PROFILES[model]["fports"]
    result = DECODERS[model].decode_uplink(fport, payload)
    assert not result["errors"], (readings, payload.hex(), result)
    got, position = normalise(PROFILES[model], result["data"])
    if position is not None:
        got.update(position)
    for quantity, value in readings.items():
        assert quantity in got, (quantity, readings, result)
        assert _close(quantity, value, got[quantity], tolerances[quantity]), (quantity, value, got[quantity])


def test_round_trips_cover_every_model() -> None:
    assert set(ROUND_TRIPS) == set(MODELS)
