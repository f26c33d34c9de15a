"""Flock: cohesive, inside its fence until the scripted escape; grazing by day, bedded down at night."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.clock import parse_instant
from simulator.geo import LocalFrame, Polygon
from simulator.physics.flock import Escape, Flock, FlockParams, GpsCollar

START = parse_instant("2025-04-14T00:00")
# A 1 km x 700 m pentagon, in local metres
PASTURE = Polygon([(-500, -350), (450, -380), (520, 300), (0, 380), (-480, 250)])
BREACH = (500.0, 100.0)            # on the east fence
TARGET = (800.0, 200.0)            # outside


def make(escape_at: float | None = None, seed: int = 5, **kw: object) -> Flock:
    escape = Escape(escape_at, 12, BREACH, TARGET, 0.5) if escape_at else None
    params = FlockParams(sheep=40, dogs=2, escape=escape, **kw)  # type: ignore[arg-type]
    return Flock(params, PASTURE, START, np.random.default_rng(seed))


def everyone(flock: Flock) -> np.ndarray:
    return np.vstack([flock.sheep_positions(), flock.dog_positions()])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flock_stays_inside_its_pasture_until_the_escape(seed: int) -> None:
    escape_at = START + 33 * 3600
    flock = make(escape_at, seed=seed)
    t = START
    while t < escape_at:
        t += 600
        flock.advance_to(t)
        assert all(PASTURE.contains(x, y) for x, y in everyone(flock)), f"outside at +{(t - START) / 3600:.1f} h"


def test_escapees_end_up_outside_the_others_stay_in() -> None:
    escape_at = START + 33 * 3600
    flock = make(escape_at)
    flock.advance_to(escape_at + 3 * 3600)
    sheep = flock.sheep_positions()
    out = [not PASTURE.contains(x, y) for x, y in sheep]
    assert flock.escaped.sum() == 12
    assert all(o for o, e in zip(out, flock.escaped, strict=True) if e)
    assert not any(o for o, e in zip(out, flock.escaped, strict=True) if not e)
    assert all(PASTURE.contains(x, y) for x, y in flock.dog_positions())     # the dogs stay with the flock
    # the escapees gathered near the target
    centre = sheep[flock.escaped].mean(axis=0)
    assert np.hypot(*(centre - np.array(TARGET))) < 60


def test_the_flock_moves_together() -> None:
    flock = make()
    for hour in (10, 14, 17):
        flock.advance_to(START + hour * 3600)
        sheep = flock.sheep_positions()
        spread = np.hypot(*(sheep - sheep.mean(axis=0)).T)
        assert np.median(spread) < 3 * flock.params.spread_m


def test_the_flock_grazes_by_day_and_beds_down_at_night() -> None:
    flock = make(graze_speed_m_s=0.05)
    flock.advance_to(START + 16 * 3600)           # afternoon: grazing somewhere
    day_spread = np.std(flock.sheep_positions(), axis=0).mean()
    flock.advance_to(START + 27 * 3600)           # 03:00 next night
    night = flock.sheep_positions()
    assert np.hypot(*(night.mean(axis=0) - np.array(flock.bedding))) < 10
    assert np.std(night, axis=0).mean() < day_spread


def test_gps_collar_is_noisy_and_sometimes_misses() -> None:
    frame = LocalFrame(43.6, 4.86)
    collar = GpsCollar(noise_m=4.0, miss_probability=0.1)
    rng = np.random.default_rng(0)
    fixes = [collar.measure(100.0, 50.0, frame, rng) for _ in range(2000)]
    got = [f for f in fixes if f is not None]
    assert 0.05 < 1 - len(got) / len(fixes) < 0.15
    errors = [np.hypot(*np.subtract(frame.to_xy(f["latitude"], f["longitude"]), (100.0, 50.0))) for f in got]
    assert 3 < np.median(errors) < 8              # Rayleigh median ≈ 1.18 σ


def test_bedding_outside_the_pasture_is_refused() -> None:
    with pytest.raises(ValueError, match="bedding"):
        Flock(FlockParams(bedding=(2000.0, 0.0)), PASTURE, START, np.random.default_rng(0))
