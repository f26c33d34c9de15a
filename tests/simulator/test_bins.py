"""Bin fill: bounded, emptied by rounds, overflowing when a round is missed; incidents reach the sensor."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.clock import local, parse_instant
from simulator.physics.bins import BinEvent, BinParams, BinSensor, WasteBin

MONDAY = parse_instant("2025-06-02T00:00")


def run(params: BinParams, days: float = 7, seed: int = 0, initial: float | None = 10.0,
        step_s: float = 300.0) -> tuple[WasteBin, list[tuple[float, float]]]:
    b = WasteBin(params, MONDAY, np.random.default_rng(seed), step_s=step_s, initial_fill_pct=initial)
    series = []
    for k in range(int(days * 86400 / 600)):
        t = MONDAY + k * 600
        series.append((t, b.advance_to(t)))
    return b, series


@settings(max_examples=25, deadline=None)
@given(daily=st.floats(0, 300), use=st.sampled_from(["residential", "market", "park", "school", "glass"]),
       seed=st.integers(0, 2**16), initial=st.floats(0, 100))
def test_fill_never_leaves_0_to_100(daily: float, use: str, seed: int, initial: float) -> None:
    _, series = run(BinParams(use=use, daily_fill_pct=daily), days=4, seed=seed, initial=initial)
    assert all(0.0 <= fill <= 100.0 for _, fill in series)


def test_fill_drops_at_each_collection() -> None:
    b, series = run(BinParams(collection_weekdays=(1, 4), collection_hour=6.0, daily_fill_pct=30))
    assert [local(t).strftime("%a %H:%M") for t, _, _ in b.collections] == ["Tue 06:00", "Fri 06:00"]
    for t, before, after in b.collections:
        assert before > 20 and after <= 2.0
        just_before = max(f for tt, f in series if t - 900 <= tt < t)
        just_after = min(f for tt, f in series if t < tt <= t + 900)
        assert just_after < just_before - 15


def test_missed_collection_makes_the_bin_overflow() -> None:
    usual = {"collection_weekdays": (0, 3), "collection_hour": 5.5, "daily_fill_pct": 18, "day_to_day_sigma": 0.0}
    b, series = run(BinParams(**usual, missed_collections=(date(2025, 6, 5),)))  # type: ignore[arg-type]
    assert len(b.collections) == 1                         # Monday only, Thursday missed
    assert b.full_since is not None and b.overflow_l > 0
    assert max(f for _, f in series) == 100.0
    kept, kept_series = run(BinParams(**usual))  # type: ignore[arg-type]
    assert len(kept.collections) == 2
    assert kept.overflow_l == 0 and max(f for _, f in kept_series) < 100.0


def test_market_bins_fill_on_market_days() -> None:
    b, series = run(BinParams(use="market", collection_weekdays=(), daily_fill_pct=10, day_to_day_sigma=0.0),
                    days=3, initial=0.0)
    by_day = {}
    for t, fill in series:
        by_day[local(t).strftime("%a")] = fill
    gained_tuesday = by_day["Tue"] - by_day["Mon"]
    gained_wednesday = by_day["Wed"] - by_day["Tue"]       # market day
    assert gained_wednesday > 5 * gained_tuesday


def test_nothing_arrives_at_night() -> None:
    b, series = run(BinParams(collection_weekdays=()), days=1)
    night = [f for t, f in series if local(t).hour < 5]
    assert max(night) == min(night)


def test_scripted_incidents_show_on_the_sensor() -> None:
    fire = BinEvent("fire", MONDAY + 3600, 1800)
    b = WasteBin(BinParams(events=(fire,), lid_open_per_day=0.0), MONDAY, np.random.default_rng(0),
                 initial_fill_pct=50)
    sensor = BinSensor(bin_depth_mm=1000, mount_offset_mm=100, noise_mm=0.0)
    rng = np.random.default_rng(0)
    calm = sensor.measure(50.0, b.condition(MONDAY), rng)
    burning = sensor.measure(50.0, b.condition(MONDAY + 4000), rng)
    assert calm["distance"] == 600 and calm["fire"] == 0 and calm["tilt"] == 0
    assert burning["fire"] == 1 and burning["temperature"] > 60
    tipped = sensor.measure(50.0, {"lid_open": False, "tilt": True, "fire": False}, rng)
    assert tipped["tilt"] == 1 and tipped["tilt_angle"] > 45


def test_sensor_distance_follows_fill() -> None:
    sensor = BinSensor(bin_depth_mm=1200, mount_offset_mm=50, noise_mm=0.0)
    ok = {"lid_open": False, "tilt": False, "fire": False}
    rng = np.random.default_rng(0)
    assert sensor.measure(0.0, ok, rng)["distance"] == 1250
    assert sensor.measure(100.0, ok, rng)["distance"] == 50
    assert sensor.measure(75.0, ok, rng)["distance"] == 350


def test_unknown_use_or_incident_is_refused() -> None:
    with pytest.raises(ValueError, match="use"):
        BinParams(use="casino")
    with pytest.raises(ValueError, match="kind"):
        BinEvent("flood", 0.0)
