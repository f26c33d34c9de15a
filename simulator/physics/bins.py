"""Waste-bin fill: waste arrives at a rate that depends on the bin's use, the weekday and the hour; rounds empty
the bin; a missed round makes it overflow; lids get left open, bins get knocked over, and now and then one
catches fire.

The fill level is the fraction of the bin's volume occupied (0–100 %). It never exceeds 100 %: waste thrown in
a full bin ends up beside it, and is counted in ``overflow_l`` (litres on the pavement) - the figure the
cleaning service cares about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np

from simulator.clock import PARIS, local

__all__ = ["USE_PROFILES", "BinParams", "WasteBin", "BinEvent", "BinSensor"]

# Relative arrival rate of waste by weekday (Mon..Sun) and the hours when people use the bin, per use.
USE_PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, float]]] = {
    "residential": ((1.0, 0.9, 0.9, 0.9, 1.0, 1.2, 1.3), (6.0, 22.0)),
    "market": ((0.3, 0.3, 2.5, 0.3, 0.3, 3.0, 0.5), (7.0, 14.0)),        # markets on Wednesday and Saturday
    "park": ((0.6, 0.6, 1.0, 0.6, 0.8, 1.8, 2.2), (9.0, 21.0)),
    "school": ((1.3, 1.3, 0.6, 1.3, 1.3, 0.1, 0.1), (8.0, 17.0)),
    "glass": ((0.7, 0.7, 0.8, 0.8, 1.0, 1.5, 1.6), (9.0, 21.0)),
}


@dataclass(frozen=True, slots=True)
class BinEvent:
    """A scripted incident: ``kind`` is ``lid_open`` (lid left open), ``tilt`` (bin knocked over) or ``fire``;
    it lasts ``duration_s`` from ``at``."""

    kind: str
    at: float
    duration_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.kind not in ("lid_open", "tilt", "fire"):
            raise ValueError(f"bin event kind must be lid_open, tilt or fire, not {self.kind!r}")

    def active(self, t: float) -> bool:
        return self.at <= t < self.at + self.duration_s


@dataclass(frozen=True, slots=True)
class BinParams:
    """- ``use``: one of ``USE_PROFILES`` (weekday and hour profile of arrivals).
    - ``volume_l``: container volume; ``daily_fill_pct``: mean % of the volume filled per day at weekday
      factor 1 (a 660 L residential bin typically fills 20–35 %/day).
    - ``day_to_day_sigma``: log-normal spread of a day's amount around the mean.
    - ``collection_weekdays``: 0=Monday..6=Sunday; ``collection_hour``: local time of the round;
      ``missed_collections``: dates when the round does not come (strike, broken truck).
    - ``residual_pct``: what stays in the bin after emptying.
    - ``lid_open_per_day``: rate of random lid-left-open incidents (mean ``lid_open_minutes``).
    - ``events``: scripted incidents (fires, knock-overs).
    """

    use: str = "residential"
    volume_l: float = 660.0
    daily_fill_pct: float = 25.0
    day_to_day_sigma: float = 0.25
    collection_weekdays: tuple[int, ...] = (0, 3)
    collection_hour: float = 6.0
    missed_collections: tuple[date, ...] = ()
    residual_pct: float = 2.0
    lid_open_per_day: float = 0.05
    lid_open_minutes: float = 90.0
    events: tuple[BinEvent, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.use not in USE_PROFILES:
            raise ValueError(f"bin use must be one of {', '.join(USE_PROFILES)}, not {self.use!r}")
        if any(not 0 <= d <= 6 for d in self.collection_weekdays):
            raise ValueError("collection_weekdays are 0 (Monday) to 6 (Sunday)")


class WasteBin:
    """One container stepped on a fixed grid. ``fill_pct`` stays within [0, 100]; ``collections`` records
    (time, fill before, fill after) for each emptying, ``overflow_l`` the waste left beside the bin."""

    def __init__(self, params: BinParams, start: float, rng: np.random.Generator, step_s: float = 300.0,
                 initial_fill_pct: float | None = None, tz: ZoneInfo = PARIS) -> None:
        self.params = params
        self.rng = rng
        self.step_s = step_s
        self.tz = tz
        self.t = start
        self.fill_pct = float(rng.uniform(5, 40)) if initial_fill_pct is None else initial_fill_pct
        self.overflow_l = 0.0
        self.full_since: float | None = None
        self.collections: list[tuple[float, float, float]] = []
        self._day: date | None = None
        self._day_factor = 1.0
        self._lid_open_until = float("-inf")

    def advance_to(self, t: float) -> float:
        while self.t + self.step_s <= t:
            self._step(self.step_s)
        return self.fill_pct

    def _arrival_pct_per_h(self, t: float) -> float:
        """Mean filling rate now, in % of the volume per hour."""
        p = self.params
        here = local(t, self.tz)
        if here.date() != self._day:
            # One draw per day: some days are busier than others.
            self._day = here.date()
            self._day_factor = float(self.rng.lognormal(-p.day_to_day_sigma ** 2 / 2, p.day_to_day_sigma))
        weekday_factors, (open_h, close_h) = USE_PROFILES[p.use]
        hour = here.hour + here.minute / 60
        if not open_h <= hour < close_h:
            return 0.0
        return p.daily_fill_pct * weekday_factors[here.weekday()] * self._day_factor / (close_h - open_h)

    def _collection_due(self, t: float, dt: float) -> bool:
        p = self.params
        here = local(t, self.tz)
        if here.weekday() not in p.collection_weekdays or here.date() in p.missed_collections:
            return False
        hour = here.hour + here.minute / 60 + here.second / 3600
        return hour <= p.collection_hour < hour + dt / 3600

    def _step(self, dt: float) -> None:
        p = self.params
        if self._collection_due(self.t, dt):
            after = min(self.fill_pct, p.residual_pct)
            self.collections.append((self.t, self.fill_pct, after))
            self.fill_pct = after
            self.full_since = None
        added = self._arrival_pct_per_h(self.t) * dt / 3600
        room = 100.0 - self.fill_pct
        if added > room:
            self.overflow_l += (added - room) / 100 * p.volume_l
            if self.full_since is None:
                self.full_since = self.t + dt
        self.fill_pct = min(100.0, self.fill_pct + added)
        if self.rng.random() < 1 - math.exp(-p.lid_open_per_day * dt / 86400):
            self._lid_open_until = self.t + 60 * max(5.0, self.rng.exponential(p.lid_open_minutes))
        self.t += dt

    def condition(self, t: float) -> dict[str, bool]:
        """Incidents in force at *t*: lid open, knocked over, on fire."""
        active = {e.kind for e in self.params.events if e.active(t)}
        return {"lid_open": "lid_open" in active or t < self._lid_open_until,
                "tilt": "tilt" in active, "fire": "fire" in active}


@dataclass(frozen=True, slots=True)
class BinSensor:
    """An ultrasonic sensor under the lid, ``mount_offset_mm`` above the rim of a bin ``bin_depth_mm`` deep.

    It reads the distance to the waste surface with ``noise_mm`` of jitter. With the lid open it looks at the
    sky or a wall (a long, meaningless distance) and its accelerometer reports tilt; a knocked-over bin reads
    tilt too. During a fire the temperature soars."""

    bin_depth_mm: float = 1000.0
    mount_offset_mm: float = 0.0
    noise_mm: float = 8.0

    def measure(self, fill_pct: float, condition: dict[str, bool], rng: np.random.Generator) -> dict[str, float]:
        distance = self.mount_offset_mm + self.bin_depth_mm * (1 - fill_pct / 100) + rng.normal(0, self.noise_mm)
        tilted = condition["lid_open"] or condition["tilt"]
        if tilted:
            distance = float(rng.uniform(1500, 4000))
        readings = {
            "distance": float(round(max(30.0, distance))),
            "fill_level": fill_pct,
            "tilt": 1.0 if tilted else 0.0,
            "tilt_angle": float(rng.uniform(60, 100)) if tilted else float(abs(rng.normal(0, 2))),
            "fire": 1.0 if condition["fire"] else 0.0,
            "temperature": float(rng.uniform(70, 95)) if condition["fire"] else 14.0 + rng.normal(0, 0.5),
            "full_alarm": 1.0 if fill_pct >= 90 else 0.0,
        }
        return readings
