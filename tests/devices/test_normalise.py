"""From decoder data to vocabulary readings, positions and derived values; odd decoder output never raises."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import pytest

from devices.derive import fill_from_distance, level_from_distance
from devices.profile import Profile, load_profile
from tests.devices.conftest import PROFILE, MakeModel

# A decoder that returns whatever the test put in the payload (as JSON), so each case states its data directly.
ECHO = textwrap.dedent('''\
    import json

    def decode_uplink(fport, payload, recv_time=None):
        return json.loads(payload.decode())
''')

BASE = PROFILE.split("readings:")[0]


def _profile(make_model: MakeModel, body: str) -> Profile:
    return load_profile(make_model(profile=BASE + textwrap.dedent(body), decoder=ECHO))


def _decode(profile: Profile, result: Any, params: dict[str, Any] | None = None) -> Any:
    import json

    return profile.decode(1, json.dumps(result).encode(), params or {}, None)


def _values(decoded: Any) -> dict[str, float]:
    return {r.quantity: r.value for r in decoded.readings}


READINGS = """\
    params:
      bin_depth_mm: {default: 1000, unit: mm}
      mount_offset_mm: {default: 100, unit: mm}
    readings:
      - {quantity: co2, path: sensors.0.co2}
      - {quantity: co2, path: co2_alarm.value}
      - {quantity: temperature, path: temp, scale: 0.1, offset: -40}
      - {quantity: occupancy, path: pir, map: {trigger: 1, idle: 0}}
      - {quantity: distance, path: Distance, parse: number}
      - {quantity: battery, path: battery}
      - {quantity: tilt, path: tilted}
    derive:
      - {quantity: fill_level, function: fill_from_distance, params: {depth: bin_depth_mm, offset: mount_offset_mm}}
"""

CASES = [
    # (decoder data, device params, expected readings, expected warning fragments)
    ({"sensors": [{"co2": 420}], "temp": 615}, {}, {"co2": 420, "temperature": 21.5}, []),
    ({"co2_alarm": {"value": 1350}}, {}, {"co2": 1350}, []),                      # second path for one quantity
    ({"sensors": [{"co2": 500}], "co2_alarm": {"value": 900}}, {}, {"co2": 500}, []),   # first present wins
    ({"sensors": [], "co2_alarm": None}, {}, {}, []),                              # absent or null: skipped
    ({"pir": "trigger", "tilted": True}, {}, {"occupancy": 1, "tilt": 1}, []),
    ({"pir": "moving"}, {}, {}, ["occupancy (pir): 'moving' is not a number"]),
    ({"battery": 255}, {}, {}, ["battery: 255 % outside physical bounds [0, 100]; not stored"]),
    ({"battery": "92"}, {}, {}, ["parse: number"]),                                # hint for the integrator
    ({"temp": [1, 2]}, {}, {}, ["temperature (temp): [1, 2] is not a number"]),
    ({"battery": float("nan")}, {}, {}, ["battery: nan is not a finite number"]),
    ({"Distance": "600 mm"}, {}, {"distance": 600, "fill_level": 50.0}, []),
    ({"Distance": "600 mm"}, {"bin_depth_mm": 2000}, {"distance": 600, "fill_level": 75.0}, []),
    ({"Distance": "50 mm"}, {}, {"distance": 50, "fill_level": 100.0}, []),         # above the rim: clamped
    ({"Distance": "2500 mm"}, {}, {"distance": 2500, "fill_level": 0.0}, []),       # beyond the bottom: clamped
    ({"Distance": "No Sensor"}, {}, {}, ["distance (Distance): 'No Sensor' is not a number"]),
    ({"Distance": "1200 mm"}, {"bin_depth_mm": 0}, {"distance": 1200},
     ["fill_level not derived by fill_from_distance: depth must be greater than 0"]),
    ({"Distance": "1200 mm"}, {"bin_depth_mm": "deep"}, {"distance": 1200},
     ["fill_level not derived: parameter bin_depth_mm is 'deep', not a number"]),
]


@pytest.mark.parametrize(("data", "params", "readings", "warnings"), CASES)
def test_readings_are_mapped_converted_and_checked(make_model: MakeModel, data: dict[str, Any],
                                                   params: dict[str, Any], readings: dict[str, float],
                                                   warnings: list[str]) -> None:
    profile = _profile(make_model, READINGS)
    decoded = _decode(profile, {"data": data}, params)
    assert decoded.errors == []
    assert _values(decoded) == pytest.approx(readings)
    for text in warnings:
        assert any(text in w for w in decoded.warnings), decoded.warnings
    if not warnings:
        assert decoded.warnings == []
    assert decoded.data == data or math.isnan(data.get("battery", 0))


LEVEL = """\
    params: {mounting_height_m: {unit: m, description: no default - each river sensor has its own}}
    readings: [{quantity: distance, path: d}]
    derive: [{quantity: water_level, function: level_from_distance, params: {height: mounting_height_m}}]
"""


@pytest.mark.parametrize(("params", "readings", "warning"), [
    ({"mounting_height_m": 3.5}, {"distance": 1200, "water_level": 2.3}, None),
    ({}, {"distance": 1200}, "water_level not derived: parameter mounting_height_m is not set for this device"),
    ({"mounting_height_m": 5000}, {"distance": 1200}, "water_level: 4998.8 m outside physical bounds [-100, 1000]; not stored"),
])
def test_water_level_comes_from_the_device_mounting_height(make_model: MakeModel, params: dict[str, Any],
                                                          readings: dict[str, float], warning: str | None) -> None:
    decoded = _decode(_profile(make_model, LEVEL), {"data": {"d": 1200}}, params)
    assert _values(decoded) == pytest.approx(readings)
    assert decoded.warnings == ([warning] if warning else [])


def test_a_read_quantity_wins_over_the_same_quantity_derived(make_model: MakeModel) -> None:
    profile = _profile(make_model, """\
        params: {depth: {default: 1000, unit: mm}}
        readings:
          - {quantity: distance, path: d}
          - {quantity: fill_level, path: fill}
        derive:
          - {quantity: fill_level, function: fill_from_distance, params: {depth: depth}}
    """)
    assert _values(_decode(profile, {"data": {"d": 900, "fill": 42}})) == {"distance": 900, "fill_level": 42}
    assert _values(_decode(profile, {"data": {"d": 900}})) == pytest.approx({"distance": 900, "fill_level": 10})


def test_a_derive_parameter_may_be_a_constant(make_model: MakeModel) -> None:
    profile = _profile(make_model, """\
        readings: [{quantity: distance, path: d}]
        derive: [{quantity: water_level, function: level_from_distance, params: {height: 2.5}}]
    """)
    assert _values(_decode(profile, {"data": {"d": 500}})) == {"distance": 500, "water_level": 2.0}


POSITION = """\
    readings: [{quantity: battery, path: battery}]
    position:
      latitude: gps.lat
      longitude: gps.lon
      altitude: {path: gps.alt_cm, scale: 0.01}
      accuracy: acc
"""


@pytest.mark.parametrize(("gps", "expected", "warning"), [
    ({"lat": 48.856613, "lon": 2.352222}, (48.856613, 2.352222, None, None), None),
    ({"lat": "48.856613", "lon": "2.352222", "alt_cm": 3550}, (48.856613, 2.352222, 35.5, None), None),
    ({"lat": 0, "lon": 0}, None, "no-fix"),
    ({"lat": 91.5, "lon": 2.3}, None, "position not stored: latitude (gps.lat) 91.5 outside [-90, 90]"),
    ({"lat": "n/a", "lon": 2.3}, None, "position not stored: latitude (gps.lat): 'n/a' is not a number"),
    ({"lat": 48.8, "lon": 2.3, "alt_cm": 10_000_000}, (48.8, 2.3, None, None), "position kept without it"),
    ({"lat": 48.8}, None, None),
])
def test_positions_come_from_the_position_paths(make_model: MakeModel, gps: dict[str, Any],
                                                expected: tuple[Any, ...] | None, warning: str | None) -> None:
    decoded = _decode(_profile(make_model, POSITION), {"data": {"gps": gps, "battery": 50}})
    if expected is None:
        assert decoded.positions == []
    else:
        (pos,) = decoded.positions
        assert (pos.latitude, pos.longitude, pos.altitude, pos.accuracy) == pytest.approx(expected)
    if warning:
        assert any(warning in w for w in decoded.warnings), decoded.warnings
    else:
        assert decoded.warnings == []
    assert _values(decoded) == {"battery": 50}


@pytest.mark.parametrize(("output", "error"), [
    ([1, 2], "decoder returned list, not {data, warnings, errors}"),
    ({"data": [1]}, "decoder data is list, not a mapping"),
    ({"data": {}, "errors": "bad frame"}, "bad frame"),
    ({"data": {"battery": 10}, "errors": ["unknown FPort 7"]}, "unknown FPort 7"),
])
def test_odd_decoder_output_becomes_an_error(make_model: MakeModel, output: Any, error: str) -> None:
    decoded = _decode(_profile(make_model, "readings: [{quantity: battery, path: battery}]\n"), output)
    assert any(error in e for e in decoded.errors), decoded.errors
    assert decoded.readings == []


def test_a_decoder_that_raises_gives_an_error_naming_the_profile(make_model: MakeModel) -> None:
    profile = _profile(make_model, "readings: []\n")
    decoded = profile.decode(1, b"\xff not json", {}, None)
    assert decoded.errors and decoded.errors[0].startswith("acme-t1: decoder raised UnicodeDecodeError")


def test_warnings_of_the_decoder_are_kept_before_the_normaliser_s(make_model: MakeModel) -> None:
    profile = _profile(make_model, "readings: [{quantity: battery, path: battery}]\n")
    decoded = _decode(profile, {"data": {"battery": 300}, "warnings": ["battery sensor fault"]})
    assert decoded.warnings[0] == "battery sensor fault"
    assert "outside physical bounds" in decoded.warnings[1]


def test_decoders_declaring_params_receive_the_device_values_over_the_defaults(make_model: MakeModel) -> None:
    decoder = "def decode_uplink(fport, payload, recv_time=None, params=None):\n" \
              "    return {'data': {'seen': dict(params)}, 'warnings': [], 'errors': []}\n"
    profile = load_profile(make_model(profile=PROFILE + "params: {gain: {default: 2}, zero: {default: 5}}\n",
                                      decoder=decoder))
    assert profile.decode(1, b"", {"gain": 3}).data == {"seen": {"gain": 3, "zero": 5}}


@pytest.mark.parametrize(("distance", "depth", "offset", "fill"), [
    (1000, 1000, 0, 0.0), (0, 1000, 0, 100.0), (500, 1000, 0, 50.0), (600, 1000, 100, 50.0),
    (1500, 1000, 0, 0.0), (50, 1000, 100, 100.0), (250, 1000, 0, 75.0),
])
def test_fill_from_distance(distance: float, depth: float, offset: float, fill: float) -> None:
    assert fill_from_distance(distance, depth, offset) == pytest.approx(fill)


def test_fill_from_distance_needs_a_positive_depth() -> None:
    with pytest.raises(ValueError, match="depth must be greater than 0"):
        fill_from_distance(100, 0)


@pytest.mark.parametrize(("distance", "height", "level"), [
    (2799, 2.0, -0.799), (1200, 3.5, 2.3), (0, 1.0, 1.0), (3500, 3.5, 0.0),
])
def test_level_from_distance(distance: float, height: float, level: float) -> None:
    assert level_from_distance(distance, height) == pytest.approx(level)
