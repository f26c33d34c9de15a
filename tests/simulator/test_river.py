"""River physics: the flood hydrograph keeps its parameters, and gauges measure what they should."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.physics.river import RainEvent, River, RiverParams, SubmersibleProbe, UltrasonicGauge

T0 = 1_760_000_000.0


def flood(**kw: float) -> RainEvent:
    values = {"start": T0 + 6 * 3600, "peak_m": 3.0, "rise_rate_m_per_h": 1.2, "recession_h": 10.0, "lag_h": 0.5}
    values.update(kw)
    return RainEvent(**values)


@pytest.mark.parametrize("rate", [0.3, 1.2, 4.0])
def test_rise_rate_matches_its_parameter(rate: float) -> None:
    event = flood(rise_rate_m_per_h=rate)
    river = River(RiverParams(daily_amplitude_m=0.0, events=(event,)))
    rise_h = event.peak_m / rate
    t_a = event.rise_start + 0.1 * rise_h * 3600
    t_b = event.rise_start + 0.9 * rise_h * 3600
    observed = (river.level(t_b) - river.level(t_a)) / ((t_b - t_a) / 3600)
    assert observed == pytest.approx(rate, rel=1e-9)


def test_rise_rate_holds_with_a_daily_cycle_within_its_amplitude() -> None:
    event = flood()
    river = River(RiverParams(daily_amplitude_m=0.05, events=(event,)))
    mid = event.rise_start + (event.peak_time - event.rise_start) / 2
    # the daily cycle adds at most amplitude * 2π/24 m/h
    assert river.rise_rate(mid) == pytest.approx(1.2, abs=0.05 * 2 * np.pi / 24 + 1e-6)


def test_peak_level_and_time_are_the_parameters() -> None:
    event = flood()
    river = River(RiverParams(base_level_m=0.8, daily_amplitude_m=0.0, events=(event,)))
    peak_t, peak = river.peak(T0, T0 + 3 * 86400)
    assert peak == pytest.approx(3.8)
    assert peak_t == pytest.approx(event.start + 0.5 * 3600 + 3.0 / 1.2 * 3600)


def test_recession_is_slow_and_monotonic() -> None:
    event = flood()
    river = River(RiverParams(daily_amplitude_m=0.0, events=(event,)))
    after = [river.level(event.peak_time + h * 3600) for h in range(0, 30)]
    assert after == sorted(after, reverse=True)
    # e-folding time: one recession time after the peak, the excess is peak/e
    assert river.level(event.peak_time + 10 * 3600) - 0.6 == pytest.approx(3.0 / np.e, rel=1e-6)
    # slower down than up: still above half the peak excess 5 hours later, reached in 1.25 h on the way up
    assert river.level(event.peak_time + 5 * 3600) - 0.6 > 1.5


def test_nothing_before_the_rain_reaches_the_gauge() -> None:
    event = flood()
    river = River(RiverParams(base_level_m=0.6, daily_amplitude_m=0.0, events=(event,)))
    assert river.level(event.start + 0.49 * 3600) == pytest.approx(0.6)


def test_ultrasonic_gauge_reads_height_minus_level_in_mm() -> None:
    gauge = UltrasonicGauge(mounting_height_m=5.0, noise_mm=0.0)
    assert gauge.measure(1.25, np.random.default_rng(0)) == {"distance": 3750}


def test_ultrasonic_gauge_cannot_see_inside_its_blind_zone() -> None:
    gauge = UltrasonicGauge(mounting_height_m=2.0, noise_mm=0.0, blind_zone_mm=280)
    assert gauge.measure(1.95, np.random.default_rng(0))["distance"] == 280


def test_submersible_probe_reads_depth_above_itself_never_negative() -> None:
    probe = SubmersibleProbe(probe_level_m=0.3, noise_m=0.0)
    rng = np.random.default_rng(0)
    assert probe.measure(2.0, rng) == {"water_level": 1.7}
    assert probe.measure(0.1, rng) == {"water_level": 0.0}


def test_gauge_noise_is_small_and_centred() -> None:
    gauge = UltrasonicGauge(mounting_height_m=4.0, noise_mm=4.0)
    rng = np.random.default_rng(1)
    readings = [gauge.measure(1.0, rng)["distance"] for _ in range(2000)]
    assert np.mean(readings) == pytest.approx(3000, abs=1)
    assert 3 < np.std(readings) < 5


def test_invalid_flood_is_refused() -> None:
    with pytest.raises(ValueError):
        flood(rise_rate_m_per_h=0)
