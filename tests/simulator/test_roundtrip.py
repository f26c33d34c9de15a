"""Encoders round trip through the production decode path: what the simulator measures is what Beffroi
reads back, for every device model the built-in scenarios use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.codecs import codec_for
from simulator.engine import Simulation
from simulator.scenario import builtin_scenarios, load_scenario, scenario_path

# Resolution of the frames (and a little more): what a value may differ by after encode + decode.
TOLERANCE = {
    "co2": 1, "temperature": 0.6, "humidity": 0.5, "pressure": 0.11, "light": 1, "motion_count": 0,
    "tvoc": 1, "tvoc_ppb": 1, "tvoc_index": 1, "battery": 1, "battery_voltage": 0.05, "distance": 1,
    "water_level": 0.011, "tilt": 0, "tilt_angle": 1, "fire": 0, "full_alarm": 0, "occupancy": 0, "motion": 0,
    "hdop": 0.011, "gps_accuracy": 4, "light_level": 0, "altitude": 0.1, "alarm": 0,
}
COORDINATE_TOLERANCE = 3e-5


def cases() -> list[tuple[str, Simulation]]:
    return [(name, Simulation(load_scenario(scenario_path(name)), seed=3)) for name in builtin_scenarios()]


@pytest.mark.parametrize("name, sim", cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_measured_quantity_survives_encode_and_decode(name: str, sim: Simulation) -> None:
    rng = np.random.default_rng(0)
    checked: set[str] = set()
    for k in range(1, 9):
        t = sim.scenario.start + k * 3 * 3600 + 1800
        for device in sim.devices:
            readings = device.measure(t, rng)
            assert readings is not None
            readings = {**readings, "battery": 77.0, "battery_voltage": 3.52}
            f_port, payload = device.codec.encode(readings)
            decoded = device.codec.decode(f_port, payload, device.spec.params)
            assert not decoded.errors, (device.spec.name, decoded.errors)
            got = {r.quantity: r.value for r in decoded.readings}
            for quantity, value in readings.items():
                if quantity in got:
                    assert math.isclose(got[quantity], value, abs_tol=TOLERANCE[quantity] + 1e-9), \
                        (device.spec.name, quantity, value, got[quantity])
                    checked.add(f"{device.spec.profile}:{quantity}")
            if "latitude" in readings:
                assert decoded.positions, (device.spec.name, "position lost")
                pos = decoded.positions[0]
                assert abs(pos.latitude - readings["latitude"]) < COORDINATE_TOLERANCE
                assert abs(pos.longitude - readings["longitude"]) < COORDINATE_TOLERANCE
                checked.add(f"{device.spec.profile}:position")
    profiles = {d.spec.profile for d in sim.devices}
    assert all(any(c.startswith(p + ":") for c in checked) for p in profiles), "a profile was never checked"


def test_ultrasonic_flood_gauges_give_back_the_river_level() -> None:
    sim = Simulation(load_scenario(scenario_path("flash-flood")), seed=1)
    truth = sim.truth()["rivers"]["vidourle"]
    t = truth["peak_time"]
    rng = np.random.default_rng(0)
    for device in sim.devices:
        if device.spec.site != "vidourle" or "distance" not in device.codec.accepts:
            continue
        delay = {"vidourle-pont-romain": 0, "vidourle-pont-de-villevieille": 1200}[device.spec.name]
        readings = device.measure(t + delay, rng)
        assert readings is not None
        f_port, payload = device.codec.encode({**readings, "battery_voltage": 3.6})
        decoded = device.codec.decode(f_port, payload, device.spec.params)
        level = {r.quantity: r.value for r in decoded.readings}["water_level"]
        assert level == pytest.approx(truth["peak_level_m"], abs=0.02), device.spec.name


@pytest.mark.parametrize("profile", ["milesight-am307", "decentlab-dl-iam", "elsys-ers-co2", "dragino-ldds75",
                                     "milesight-em500-swl", "decentlab-dl-mbx", "milesight-em310-udl",
                                     "dingtek-df703", "dragino-lgt92", "digital-matter-oyster",
                                     "abeeway-compact-tracker"])
def test_the_required_device_models_have_encoders(profile: str) -> None:
    assert codec_for(profile).profile.can_encode


def test_bin_sensors_give_back_the_fill_level() -> None:
    scenario = load_scenario(scenario_path("waste-round"))
    t = scenario.start + 2 * 86400 + 15 * 3600
    sim = Simulation(scenario, seed=2, until=t)
    rng = np.random.default_rng(0)
    measured = {d.spec.name: (d, d.measure(t, rng)) for d in sim.devices}
    truth = sim.truth()["bins"]                       # bins as they are at t
    compared = 0
    for name, (device, readings) in measured.items():
        assert readings is not None
        if readings.get("tilt"):
            continue                      # lid open or knocked over: the distance means nothing
        f_port, payload = device.codec.encode({**readings, "battery": 80.0})
        decoded = device.codec.decode(f_port, payload, device.spec.params)
        fill = {r.quantity: r.value for r in decoded.readings}["fill_level"]
        assert fill == pytest.approx(truth[name]["fill_pct"], abs=4.0), name
        compared += 1
    assert compared > 10
