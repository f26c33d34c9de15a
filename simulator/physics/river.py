"""River level: a base flow with a daily cycle plus flash-flood hydrographs, and the gauges that measure it.

A flash flood on a small Mediterranean or piedmont catchment rises in an hour or two and recedes over a day;
the hydrograph here keeps the two numbers a flood-warning officer reasons with as parameters:

- the rising limb climbs at ``rise_rate_m_per_h`` until the event's ``peak_m`` (above the base flow) is reached,
  i.e. ``peak_m / rise_rate_m_per_h`` hours after the rain's ``start`` (plus ``lag_h``, the catchment's response
  time);
- the recession is exponential with e-folding time ``recession_h`` (slow: the soil drains for hours).

Levels are pure functions of time (no state, no randomness), so the ground truth - peak level and time - is
known exactly; only the gauges add noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["RainEvent", "RiverParams", "River", "UltrasonicGauge", "SubmersibleProbe"]


@dataclass(frozen=True, slots=True)
class RainEvent:
    """One storm's flood wave. ``start`` is the rain's onset (POSIX s); the water starts rising ``lag_h`` later."""

    start: float
    peak_m: float
    rise_rate_m_per_h: float
    recession_h: float = 8.0
    lag_h: float = 0.5

    def __post_init__(self) -> None:
        if self.peak_m <= 0 or self.rise_rate_m_per_h <= 0 or self.recession_h <= 0 or self.lag_h < 0:
            raise ValueError("rain event: peak_m, rise_rate_m_per_h and recession_h must be > 0, lag_h >= 0")

    @property
    def rise_start(self) -> float:
        return self.start + self.lag_h * 3600

    @property
    def peak_time(self) -> float:
        return self.rise_start + self.peak_m / self.rise_rate_m_per_h * 3600

    def excess(self, t: float) -> float:
        """Level above base flow caused by this event at time *t* (m)."""
        if t <= self.rise_start:
            return 0.0
        if t <= self.peak_time:
            return self.rise_rate_m_per_h * (t - self.rise_start) / 3600
        return self.peak_m * math.exp(-(t - self.peak_time) / 3600 / self.recession_h)


@dataclass(frozen=True, slots=True)
class RiverParams:
    """``base_level_m``: mean level above the gauge zero at base flow. ``daily_amplitude_m``: half-swing of the
    daily cycle (evapotranspiration, upstream hydro-power releases) peaking at ``daily_peak_hour`` UTC."""

    base_level_m: float = 0.6
    daily_amplitude_m: float = 0.04
    daily_peak_hour: float = 18.0
    events: tuple[RainEvent, ...] = ()


class River:
    def __init__(self, params: RiverParams) -> None:
        self.params = params

    def base_level(self, t: float) -> float:
        p = self.params
        hour = (t % 86400) / 3600
        return p.base_level_m + p.daily_amplitude_m * math.cos(2 * math.pi * (hour - p.daily_peak_hour) / 24)

    def level(self, t: float) -> float:
        """Water level above the gauge zero (m) at time *t*."""
        return self.base_level(t) + sum(e.excess(t) for e in self.params.events)

    def rise_rate(self, t: float, dt: float = 60.0) -> float:
        """Observed rate of change (m/h) around *t*."""
        return (self.level(t + dt / 2) - self.level(t - dt / 2)) / dt * 3600

    def peak(self, start: float, end: float, step_s: float = 30.0) -> tuple[float, float]:
        """(time, level) of the highest water in [start, end], searched on a fine grid then refined at the
        events' analytic peak times (which is where a flood peak lies)."""
        candidates = [t for t in (e.peak_time for e in self.params.events) if start <= t <= end]
        grid = np.arange(start, end + step_s, step_s)
        best_t = max(grid, key=self.level) if len(grid) else start
        candidates.append(float(best_t))
        t = max(candidates, key=self.level)
        return t, self.level(t)


@dataclass(frozen=True, slots=True)
class UltrasonicGauge:
    """A distance sensor looking down at the water from ``mounting_height_m`` above the gauge zero (e.g. under a
    bridge deck). It measures ``distance = height − level`` in mm, with ``noise_mm`` of ripple and echo jitter,
    and cannot see closer than ``blind_zone_mm`` or further than ``max_range_mm``."""

    mounting_height_m: float = 4.0
    noise_mm: float = 4.0
    blind_zone_mm: float = 280.0
    max_range_mm: float = 7500.0

    def measure(self, level_m: float, rng: np.random.Generator) -> dict[str, float]:
        distance = (self.mounting_height_m - level_m) * 1000 + rng.normal(0, self.noise_mm)
        return {"distance": round(min(self.max_range_mm, max(self.blind_zone_mm, distance)))}


@dataclass(frozen=True, slots=True)
class SubmersibleProbe:
    """A hydrostatic probe lying ``probe_level_m`` above the gauge zero; it reports the water depth above itself
    (m), never negative (dry probe reads 0), with ``noise_m`` of pressure noise."""

    probe_level_m: float = 0.0
    noise_m: float = 0.005

    def measure(self, level_m: float, rng: np.random.Generator) -> dict[str, float]:
        depth = max(0.0, level_m - self.probe_level_m + rng.normal(0, self.noise_m))
        return {"water_level": round(depth, 2)}
