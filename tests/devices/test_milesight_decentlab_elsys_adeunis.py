"""Milesight, Decentlab, Elsys and Adeunis models: examples, robustness, encoder round trips, profile sanity.

Each model folder's examples.yaml is run through its decoder (data, errors, warnings) and through the profile
framework (devices/profile.py: normalised and derived readings with the default params); the decoders must
survive arbitrary bytes on any fPort; encode -> decode -> normalise gives the readings back.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import devices.vendors
from devices.profile import Profile, load_profile
from devices.quantities import QUANTITIES

VENDORS = Path(devices.vendors.__file__).parent
VECTORS = Path(__file__).resolve().parents[1] / "vectors"
MODELS = {
    "milesight-am307": "milesight/am307",
    "milesight-em500-swl": "milesight/em500_swl",
    "milesight-em310-udl": "milesight/em310_udl",
    "decentlab-dl-iam": "decentlab/dl_iam",
    "decentlab-dl-mbx": "decentlab/dl_mbx",
    "elsys-ers-co2": "elsys/ers_co2",
    "adeunis-comfort-co2": "adeunis/comfort_co2",
}
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decoder(profile_id: str) -> ModuleType:
    return importlib.import_module("devices.vendors." + MODELS[profile_id].replace("/", ".") + ".decoder")


def _profile(profile_id: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((VENDORS / MODELS[profile_id] / "profile.yaml").read_text())
    return loaded


def _examples(profile_id: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load((VENDORS / MODELS[profile_id] / "examples.yaml").read_text())
    return loaded


def _payload(example: dict[str, Any]) -> bytes:
    assert isinstance(example["hex"], str), "quote hex strings: YAML reads 0175 as an octal number"
    return bytes.fromhex(example["hex"].replace(" ", ""))


@functools.cache
def _loaded(profile_id: str) -> Profile:
    """The model as the service loads it: validated profile.yaml, decoder, normaliser."""
    return load_profile(VENDORS / MODELS[profile_id])


def _readings(profile_id: str, fport: int, payload: bytes) -> dict[str, float]:
    """Normalised readings (mapped and derived with the default params) of one uplink."""
    decoded = _loaded(profile_id).decode(fport, payload)
    assert not decoded.errors, decoded.errors
    return {r.quantity: r.value for r in decoded.readings}


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and expected.keys() == actual.keys()
                and all(_same(v, actual[k]) for k, v in expected.items()))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(_same(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9)
    return bool(expected == actual)


def _check_shape(result: Any) -> None:
    assert isinstance(result, dict) and set(result) == {"data", "warnings", "errors"}
    assert isinstance(result["data"], dict)
    for key in ("warnings", "errors"):
        assert isinstance(result[key], list) and all(isinstance(t, str) and t for t in result[key])
    if result["errors"]:
        assert result["data"] == {}, "a failed decode must not hand half-decoded data on"
    json.dumps(result["data"], allow_nan=False)   # storable as JSON: no bytes, no NaN


# --- examples -------------------------------------------------------------------------------------------------

EXAMPLES = [pytest.param(pid, ex, id=f"{pid}-{i}") for pid in MODELS for i, ex in enumerate(_examples(pid))]


@pytest.mark.parametrize(("profile_id", "example"), EXAMPLES)
def test_example_decodes_as_documented(profile_id: str, example: dict[str, Any]) -> None:
    result = _decoder(profile_id).decode_uplink(example["fport"], _payload(example))
    _check_shape(result)
    if "errors" in example:
        assert result["errors"], f"expected errors {example['errors']}, got {result}"
        for text in example["errors"]:
            assert any(text.lower() in e.lower() for e in result["errors"]), (text, result["errors"])
        return
    assert not result["errors"], result["errors"]
    assert _same(example["data"], result["data"]), f"\nexpected {example['data']}\nactual   {result['data']}"
    expected_warnings = example.get("warnings", [])
    assert len(result["warnings"]) == len(expected_warnings), result["warnings"]
    for text in expected_warnings:
        assert any(text.lower() in w.lower() for w in result["warnings"]), (text, result["warnings"])
    if "readings" in example:
        readings = _readings(profile_id, example["fport"], _payload(example))
        assert _same(example["readings"], readings), f"\nexpected {example['readings']}\nactual   {readings}"


@pytest.mark.parametrize("profile_id", MODELS)
def test_every_shared_vector_is_also_an_example(profile_id: str) -> None:
    documented = {(ex["fport"], _payload(ex)) for ex in _examples(profile_id)}
    for vector in json.loads((VECTORS / f"{profile_id}.json").read_text())["examples"]:
        assert (vector["fPort"], bytes.fromhex(vector["bytes_hex"])) in documented, vector["description"]


@pytest.mark.parametrize("profile_id", MODELS)
def test_every_model_documents_an_error_case(profile_id: str) -> None:
    assert any("errors" in ex for ex in _examples(profile_id))


# --- robustness -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile_id", MODELS)
@FUZZ
@given(fport=st.integers(0, 255), payload=st.binary(max_size=96))
def test_decoder_never_raises_on_arbitrary_bytes(profile_id: str, fport: int, payload: bytes) -> None:
    _check_shape(_decoder(profile_id).decode_uplink(fport, payload))


@pytest.mark.parametrize("profile_id", MODELS)
@FUZZ
@given(draw=st.data())
def test_decoder_never_raises_on_damaged_real_frames(profile_id: str, draw: st.DataObject) -> None:
    # random bytes rarely get past a header; damaging real frames exercises the inner paths
    good = [ex for ex in _examples(profile_id) if "errors" not in ex]
    example = draw.draw(st.sampled_from(good))
    frame = bytearray(_payload(example))
    cut = draw.draw(st.integers(0, len(frame)))
    flips = draw.draw(st.lists(st.tuples(st.integers(0, max(len(frame) - 1, 0)), st.integers(0, 255)),
                               max_size=3))
    for index, value in flips:
        if index < len(frame):
            frame[index] = value
    damaged = bytes(frame[:cut]) + draw.draw(st.binary(max_size=24))
    _check_shape(_decoder(profile_id).decode_uplink(example["fport"], damaged))


# --- encoder round trips --------------------------------------------------------------------------------------

def _q(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _i(lo: int, hi: int) -> st.SearchStrategy[float]:
    return st.integers(lo, hi).map(float)


# quantity -> (realistic values, decode tolerance = half the encoding step, plus float noise)
ROUND_TRIPS: dict[str, tuple[dict[str, st.SearchStrategy[float]], dict[str, st.SearchStrategy[float]],
                             dict[str, float]]] = {
    # profile id: (required readings, optional readings, tolerances)
    "milesight-am307": ({}, {"co2": _i(350, 10000), "temperature": _q(-20, 60), "humidity": _q(0, 100),
                             "pressure": _q(850, 1100), "tvoc_index": _q(0, 5), "tvoc": _i(0, 60000),
                             "light_level": _i(0, 5), "occupancy": _i(0, 1), "battery": _i(0, 100)},
                        {"temperature": 0.05, "humidity": 0.25, "pressure": 0.05, "tvoc_index": 0.005}),
    "milesight-em500-swl": ({}, {"water_level": _q(0, 200), "battery": _i(0, 100)}, {"water_level": 0.005}),
    "milesight-em310-udl": ({}, {"distance": _q(0, 4500), "tilt": _i(0, 1), "battery": _i(0, 100)},
                            {"distance": 0.5}),
    "decentlab-dl-iam": ({}, {"battery_voltage": _q(2.0, 3.3), "pressure": _q(850, 1100), "light": _q(0, 20000),
                              "co2": _i(0, 10000), "motion_count": _i(0, 5000), "tvoc_ppb": _i(0, 60000)},
                         {"battery_voltage": 0.0005, "pressure": 0.01, "light": 0.78,
                          "temperature": 0.0014, "humidity": 0.0008}),
    "decentlab-dl-mbx": ({}, {"distance": _q(300, 10000), "battery_voltage": _q(2.0, 3.3)},
                         {"distance": 0.5, "battery_voltage": 0.0005}),
    "elsys-ers-co2": ({}, {"temperature": _q(-20, 60), "humidity": _q(0, 100), "light": _q(0, 60000),
                           "motion_count": _i(0, 255), "co2": _i(0, 10000), "battery_voltage": _q(2.5, 3.7)},
                      {"temperature": 0.05, "humidity": 0.5, "light": 0.5, "battery_voltage": 0.0005}),
    "adeunis-comfort-co2": ({"temperature": _q(-20, 60), "humidity": _q(0, 100), "co2": _i(0, 10000)}, {},
                            {"temperature": 0.05, "humidity": 0.5}),
}


def _realistic(profile_id: str) -> st.SearchStrategy[dict[str, float]]:
    required, optional, _ = ROUND_TRIPS[profile_id]
    base = st.fixed_dictionaries(required, optional=optional)
    if profile_id == "decentlab-dl-iam":   # temperature and humidity travel in one sensor group
        pair: st.SearchStrategy[dict[str, float]] = st.one_of(
            st.just({}), st.fixed_dictionaries({"temperature": _q(-20, 60), "humidity": _q(0, 100)}))
        base = st.tuples(base, pair).map(lambda t: {**t[0], **t[1]})
    return base.filter(bool)


def _assert_round_trip(profile_id: str, sent: dict[str, float], received: dict[str, float]) -> None:
    tolerances = ROUND_TRIPS[profile_id][2]
    assert set(sent) <= set(received), (sent, received)
    for quantity, value in sent.items():
        assert abs(received[quantity] - value) <= tolerances.get(quantity, 0) + 1e-9, (quantity, value, received)


@pytest.mark.parametrize("profile_id", MODELS)
@FUZZ
@given(draw=st.data())
def test_encode_then_decode_gives_the_readings_back(profile_id: str, draw: st.DataObject) -> None:
    sent = draw.draw(_realistic(profile_id))
    profile = _loaded(profile_id)
    fport, payload = profile.encode(sent)
    assert fport in profile.fports
    decoded = profile.decode(fport, payload)
    assert not decoded.errors and not decoded.warnings, decoded
    _assert_round_trip(profile_id, sent, {r.quantity: r.value for r in decoded.readings})


@pytest.mark.parametrize(("profile_id", "quantity", "lo", "hi", "tolerance"), [
    ("milesight-em310-udl", "fill_level", 0, 100, 0.05),      # 1 mm step over the 1000 mm default bin
    ("decentlab-dl-mbx", "water_level", -8.0, 1.7, 0.0005),   # 1 mm step
])
@FUZZ
@given(draw=st.data())
def test_derived_quantity_round_trips_through_the_default_params(
        profile_id: str, quantity: str, lo: float, hi: float, tolerance: float, draw: st.DataObject) -> None:
    value = draw.draw(_q(lo, hi))
    derived = _readings(profile_id, *_loaded(profile_id).encode({quantity: value}))
    assert abs(derived[quantity] - value) <= tolerance + 1e-9, (value, derived)  # half a step, float noise aside


@pytest.mark.parametrize(("profile_id", "readings", "message"), [
    ("milesight-am307", {"co2": 70000}, "co2=70000"),
    ("milesight-am307", {"rssi": -80}, "none of the readings"),
    ("milesight-em500-swl", {"water_level": -0.5}, "water_level"),
    ("decentlab-dl-iam", {"temperature": 21.0}, "together"),
    ("decentlab-dl-mbx", {"water_level": 5.0}, "distance"),              # above the 2 m mounting height
    ("elsys-ers-co2", {"humidity": 300}, "humidity"),
    ("adeunis-comfort-co2", {"co2": 600, "temperature": 20.0}, "missing: humidity"),
])
def test_encoder_refuses_readings_it_cannot_encode(
        profile_id: str, readings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _decoder(profile_id).encode_uplink(readings)


# --- profiles -------------------------------------------------------------------------------------------------

REQUIRED = {"id", "vendor", "model", "family", "description", "lorawan_class", "uplink_period_s", "fports",
            "decoder", "datasheet", "readings"}


@pytest.mark.parametrize("profile_id", MODELS)
def test_profile_is_complete_and_uses_the_vocabulary(profile_id: str) -> None:
    folder = VENDORS / MODELS[profile_id]
    assert _loaded(profile_id).id == profile_id          # the framework's validation passes
    profile = _profile(profile_id)
    assert REQUIRED <= set(profile), REQUIRED - set(profile)
    assert f"id: {profile_id}\n" in (folder / "profile.yaml").read_text()   # how test_vectors.py finds it
    assert profile["family"] in {"co2", "flood", "bin", "tracker"}
    assert profile["lorawan_class"] in {"A", "B", "C"}
    assert (folder / profile["decoder"]).is_file() and (folder / "README.md").is_file()
    assert (folder / "__init__.py").is_file() and (folder.parent / "__init__.py").is_file()
    params = profile.get("params") or {}
    for entry in profile["readings"]:
        assert entry["quantity"] in QUANTITIES, entry
    for entry in profile.get("derive", []):
        assert entry["quantity"] in QUANTITIES and set(entry["params"].values()) <= set(params), entry


@pytest.mark.parametrize(("profile_id", "constants"), [
    ("milesight-em310-udl",
     {"bin_depth_mm": "DEFAULT_BIN_DEPTH_MM", "mount_offset_mm": "DEFAULT_MOUNT_OFFSET_MM"}),
    ("decentlab-dl-mbx", {"mounting_height_m": "DEFAULT_MOUNTING_HEIGHT_M"}),
])
def test_encoder_defaults_match_the_profile_params(profile_id: str, constants: dict[str, str]) -> None:
    params = _profile(profile_id)["params"]
    module = _decoder(profile_id)
    for param, constant in constants.items():
        assert getattr(module, constant) == params[param]["default"], param
