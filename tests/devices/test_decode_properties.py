"""Properties of Profile.decode over arbitrary input: it never raises, and nothing out of bounds is stored."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.base import Decoded
from devices.profile import Profile, load_profile
from devices.quantities import QUANTITIES
from devices.registry import ProfileRegistry
from tests.devices.conftest import PROFILE

REGISTRY = ProfileRegistry.load()
PYTHON_PROFILES = [p for p in REGISTRY if p.decoder_kind == "python"]


def _assert_storable(decoded: Decoded) -> None:
    assert isinstance(decoded, Decoded)
    for reading in decoded.readings:
        q = QUANTITIES[reading.quantity]
        assert q.minimum <= reading.value <= q.maximum, reading
    for position in decoded.positions:
        assert -90 <= position.latitude <= 90 and -180 <= position.longitude <= 180
    assert all(isinstance(t, str) for t in decoded.warnings + decoded.errors)
    if decoded.errors:
        assert decoded.readings == [] and decoded.positions == []


@pytest.mark.parametrize("profile", PYTHON_PROFILES, ids=[p.id for p in PYTHON_PROFILES])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fport=st.integers(0, 255), payload=st.binary(max_size=64),
       params=st.dictionaries(st.sampled_from(["bin_depth_mm", "mounting_height_m", "mount_offset_mm", "x"]),
                              st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=3),
                                        st.none(), st.booleans())))
def test_builtin_profiles_never_raise_and_store_only_bounded_values(profile: Profile, fport: int, payload: bytes,
                                                                     params: dict[str, Any]) -> None:
    _assert_storable(profile.decode(fport, payload, params, None))


ECHO = "import json\n\ndef decode_uplink(fport, payload, recv_time=None):\n    return json.loads(payload)\n"
JSON = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3), max_leaves=12)
KEYS = st.sampled_from(["data", "warnings", "errors", "a", "b"])


@pytest.fixture(scope="module")
def echo_profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    folder = tmp_path_factory.mktemp("echo")
    body = textwrap.dedent("""\
        params: {depth: {default: 1000, unit: mm}}
        readings:
          - {quantity: distance, path: a}
          - {quantity: temperature, path: b.0, scale: 0.1, map: {x: 1}}
          - {quantity: occupancy, path: a.b, parse: number}
        derive: [{quantity: fill_level, function: fill_from_distance, params: {depth: depth}}]
        position: {latitude: b.0, longitude: b.1, altitude: b.2}
    """)
    (folder / "profile.yaml").write_text(PROFILE.split("readings:")[0] + body)
    (folder / "decoder.py").write_text(ECHO)
    return load_profile(folder)


@settings(max_examples=300, deadline=None)
@given(output=st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=4),
                        st.fixed_dictionaries({"data": st.dictionaries(st.sampled_from(["a", "b"]), JSON)})),
       params=st.dictionaries(st.just("depth"), JSON))
def test_any_decoder_output_is_normalised_without_raising(echo_profile: Profile, output: Any,
                                                          params: dict[str, Any]) -> None:
    text = json.dumps(output, allow_nan=True).encode()
    _assert_storable(echo_profile.decode(1, text, params, None))


def test_the_echo_profile_does_produce_readings(echo_profile: Profile) -> None:
    # guards the property test above against testing nothing
    decoded = echo_profile.decode(1, json.dumps({"data": {"a": 600, "b": [45, 2.3, 35]}}).encode(), {}, None)
    assert {r.quantity: r.value for r in decoded.readings} == pytest.approx(
        {"distance": 600, "temperature": 4.5, "fill_level": 40.0})
    assert [(p.latitude, p.longitude, p.altitude) for p in decoded.positions] == [(45, 2.3, 35)]
