"""Decoders of the flood, bin and tracker models: Dragino, Dingtek, Pepperl+Fuchs, Ellenex, Digital Matter, Abeeway.

- every case of each model's examples.yaml passes the framework's checker (data, error and warning texts,
  normalised readings and positions);
- no input - any bytes on any fPort, or a valid frame mutated, truncated or extended - makes a decoder raise, and
  the result always has ``data`` (a JSON-serialisable dict), ``warnings`` and ``errors`` (lists of str);
- encode_uplink → decode_uplink → profile mapping gives the simulator's readings back within the frame resolution.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.check import check_folder
from devices.profile import Profile, load_profile

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
PROFILES: dict[str, Profile] = {model: load_profile(VENDORS / folder) for model, folder in MODELS.items()}
EXAMPLES = {model: yaml.safe_load((VENDORS / folder / "examples.yaml").read_text()) for model, folder in MODELS.items()}


def _payload(example: dict[str, Any]) -> bytes:
    return bytes.fromhex(str(example["hex"]).replace(" ", ""))


@pytest.mark.parametrize("model", list(MODELS))
def test_examples_decode_as_documented(model: str) -> None:
    """examples.yaml through the framework's checker: data, error/warning texts, readings and positions."""
    report = check_folder(VENDORS / MODELS[model])
    problems = report.problems + [f"[{r.example.index}] {r.example.description}: {p}"
                                  for r in report.results for p in r.problems]
    assert report.ok and report.results, "\n".join(problems)


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
    fports = list(PROFILES[model].fports)
    fport = data.draw(st.sampled_from(fports) | st.integers(-(2**31), 2**31))
    payload = data.draw(st.binary(max_size=64))
    _assert_shape(DECODERS[model].decode_uplink(fport, payload))


@pytest.mark.parametrize("model", list(MODELS))
@FUZZ
@given(data=st.data())
def test_decoder_never_raises_on_damaged_frames(model: str, data: st.DataObject) -> None:
    fport, payload = data.draw(_mutated_frame(model))
    _assert_shape(DECODERS[model].decode_uplink(fport, payload))
    # and the profile mapping copes with whatever the decoder made of it
    assert not any("cannot normalise" in e for e in PROFILES[model].decode(fport, payload).errors)


# Round trips: a strategy of simulator readings per model, and the tolerance of each quantity (frame resolution).
LAT = st.floats(-89.9, 89.9)
LON = st.floats(-179.9, 179.9)
FLAG = st.sampled_from([0.0, 1.0])


def _has_fix(readings: dict[str, float]) -> bool:
    """0°, 0° (to the encoding's resolution) is what trackers send for "no fix": it is never stored."""
    return abs(readings["latitude"]) >= 1e-4 or abs(readings["longitude"]) >= 1e-4


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
        .filter(_has_fix),
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
                               "motion": FLAG}).filter(_has_fix),
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
    fport, payload = PROFILES[model].encode(readings)
    assert fport in PROFILES[model].fports
    decoded = PROFILES[model].decode(fport, payload)
    assert not decoded.errors, (readings, payload.hex(), decoded)
    got = {r.quantity: r.value for r in decoded.readings}
    if decoded.positions:
        got.update(latitude=decoded.positions[0].latitude, longitude=decoded.positions[0].longitude)
        if decoded.positions[0].altitude is not None:
            got["altitude"] = decoded.positions[0].altitude
    for quantity, value in readings.items():
        assert quantity in got, (quantity, readings, decoded)
        assert _close(quantity, value, got[quantity], tolerances[quantity]), (quantity, value, got[quantity])


def test_round_trips_cover_every_model() -> None:
    assert set(ROUND_TRIPS) == set(MODELS)


def test_lgt92_encoder_keeps_the_position_when_the_altitude_does_not_fit() -> None:
    readings = {"latitude": 45.1885, "longitude": 5.7245, "altitude": 600.0, "hdop": 1.2, "battery_voltage": 3.6}
    decoded = PROFILES["dragino-lgt92"].decode(*PROFILES["dragino-lgt92"].encode(readings))
    assert [(p.latitude, p.longitude, p.altitude) for p in decoded.positions] == [(45.1885, 5.7245, None)]


def test_ldds75_out_of_range_codes_are_not_stored_as_distances() -> None:
    """0 mm (no probe) and 20 mm (invalid) would read as the river at the sensor face: a false flood alarm."""
    for raw in (0, 20):
        decoded = PROFILES["dragino-ldds75"].decode(2, bytes.fromhex("0d3b") + raw.to_bytes(2, "big") + bytes(4))
        assert not decoded.errors and decoded.warnings
        assert {r.quantity for r in decoded.readings} == {"battery_voltage"}
