"""A flock of collared sheep with guard dogs, inside a fenced pasture, and one scripted escape.

The flock has a centre that *grazes* by day (a slow correlated random walk that turns back before the fence)
and walks to its *bedding* spot at dusk to lie down for the night. Each animal stays near the centre through
an Ornstein–Uhlenbeck pull (cohesion): its offset relaxes towards 0 with time constant ``cohesion_s`` and a
stationary spread of ``spread_m`` by day, ``night_spread_m`` at night. Guard dogs (patous) circle the flock at
``dog_distance_m``. Nobody crosses the fence - until the scripted escape, when part of the flock walks through a
breach to a point outside and grazes there.

All positions are in metres in the pasture's local frame (see ``simulator.geo``); ``GpsCollar`` turns them into
noisy fixes, sometimes missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from simulator.clock import PARIS, local_hour
from simulator.geo import LocalFrame, Polygon

__all__ = ["Escape", "FlockParams", "Flock", "GpsCollar"]


@dataclass(frozen=True, slots=True)
class Escape:
    """At ``at`` (POSIX s), the ``count`` sheep nearest ``breach`` (a gap in the fence) walk through it to
    ``target`` (outside) at ``speed_m_s``, and stay there grazing."""

    at: float
    count: int
    breach: tuple[float, float]
    target: tuple[float, float]
    speed_m_s: float = 0.5


@dataclass(frozen=True, slots=True)
class FlockParams:
    """- ``sheep``, ``dogs``: animals in the flock (each may or may not wear a collar).
    - ``graze_speed_m_s``: drift of the flock's centre while grazing (0.03 m/s ≈ 100 m/h);
      ``turn_rate_rad``: heading noise per √s; ``walk_speed_m_s``: when walking to the bedding spot.
    - ``spread_m`` / ``night_spread_m``: standard deviation of an animal's distance to the centre, per axis;
      ``cohesion_s``: how fast a stray animal is pulled back.
    - ``dog_distance_m``: radius at which the dogs patrol; ``fence_margin_m``: how far from the fence the centre
      keeps (so the spread flock stays inside).
    - ``day_start_hour`` / ``day_end_hour``: grazing hours, local time; ``bedding``: night spot (local metres,
      default the pasture's centroid).
    """

    sheep: int = 40
    dogs: int = 2
    graze_speed_m_s: float = 0.03
    turn_rate_rad: float = 0.02
    walk_speed_m_s: float = 0.4
    spread_m: float = 20.0
    night_spread_m: float = 6.0
    cohesion_s: float = 600.0
    dog_distance_m: float = 45.0
    fence_margin_m: float = 70.0
    day_start_hour: float = 7.0
    day_end_hour: float = 20.5
    bedding: tuple[float, float] | None = None
    escape: Escape | None = None


class Flock:
    """The flock in a pasture, stepped on a fixed grid. ``positions()`` gives every animal's true position."""

    def __init__(self, params: FlockParams, pasture: Polygon, start: float, rng: np.random.Generator,
                 step_s: float = 60.0, tz: ZoneInfo = PARIS) -> None:
        self.params = params
        self.pasture = pasture
        self.rng = rng
        self.step_s = step_s
        self.tz = tz
        self.t = start
        self.bedding = params.bedding or pasture.centroid()
        if not pasture.contains(*self.bedding):
            raise ValueError("the flock's bedding spot is outside its pasture")
        self.centre = np.array(self.bedding, dtype=float)
        self.heading = float(rng.uniform(0, 2 * math.pi))
        self.offsets = rng.normal(0, params.night_spread_m, size=(params.sheep, 2))
        self.dog_angles = rng.uniform(0, 2 * math.pi, size=params.dogs)
        self.escaped = np.zeros(params.sheep, dtype=bool)
        self.escape_centre: np.ndarray | None = None
        self._escape_leg = 0            # 0: to the breach, 1: to the target, 2: arrived

    def advance_to(self, t: float) -> None:
        while self.t + self.step_s <= t:
            self._step(self.step_s)

    def is_day(self, t: float) -> bool:
        hour = local_hour(t, self.tz)
        return self.params.day_start_hour <= hour < self.params.day_end_hour

    def _move_centre(self, dt: float, day: bool) -> None:
        p = self.params
        if not day:
            to_bed = np.array(self.bedding) - self.centre
            dist = float(np.hypot(*to_bed))
            if dist > 1.0:
                self.centre += to_bed / dist * min(dist, p.walk_speed_m_s * dt)
            return
        self.heading += float(self.rng.normal(0, p.turn_rate_rad * math.sqrt(dt)))
        for _ in range(8):
            step = p.graze_speed_m_s * dt * np.array([math.cos(self.heading), math.sin(self.heading)])
            candidate = self.centre + step
            if self.pasture.inside_by(float(candidate[0]), float(candidate[1]), p.fence_margin_m):
                self.centre = candidate
                return
            # Near the fence: turn back towards the middle of the pasture, with some randomness.
            cx, cy = self.pasture.centroid()
            self.heading = math.atan2(cy - self.centre[1], cx - self.centre[0]) + float(self.rng.normal(0, 0.6))

    def _move_escape(self, dt: float) -> None:
        esc = self.params.escape
        assert esc is not None and self.escape_centre is not None
        goal = np.array(esc.breach if self._escape_leg == 0 else esc.target, dtype=float)
        to_goal = goal - self.escape_centre
        dist = float(np.hypot(*to_goal))
        reach = esc.speed_m_s * dt
        if self._escape_leg < 2:
            if dist <= reach:
                self.escape_centre = goal
                self._escape_leg += 1
            else:
                self.escape_centre = self.escape_centre + to_goal / dist * reach

    def _start_escape(self) -> None:
        esc = self.params.escape
        assert esc is not None
        count = min(esc.count, self.params.sheep)
        # The sheep grazing nearest the breach find it and go through; the rest of the flock stays.
        distances = np.hypot(*(self.centre + self.offsets - np.array(esc.breach)).T)
        self.escaped[np.argsort(distances, kind="stable")[:count]] = True
        self.escape_centre = self.centre.copy()

    def _step(self, dt: float) -> None:
        p = self.params
        day = self.is_day(self.t)
        esc = p.escape
        if esc is not None and self.escape_centre is None and self.t >= esc.at:
            self._start_escape()
        self._move_centre(dt, day)
        if self.escape_centre is not None:
            self._move_escape(dt)
        spread = p.spread_m if day else p.night_spread_m
        k = dt / p.cohesion_s
        noise = self.rng.normal(0, spread * math.sqrt(2 * k), size=self.offsets.shape)
        self.offsets += -self.offsets * k + noise
        # Escapees walking in file keep close together; once arrived they spread out and graze again.
        if self.escape_centre is not None and self._escape_leg < 2:
            self.offsets[self.escaped] *= 0.5
        self._keep_inside()
        self.dog_angles += self.rng.normal(0.002 * dt, 0.01 * math.sqrt(dt), size=self.dog_angles.shape)
        self.t += dt

    def _keep_inside(self) -> None:
        """The fence holds: an animal whose new position would be outside is pulled back towards the centre."""
        for _ in range(10):
            outside = ~self.pasture.contains_many(self.centre + self.offsets) & ~self.escaped
            if not outside.any():
                return
            self.offsets[outside] *= 0.5
        self.offsets[~self.pasture.contains_many(self.centre + self.offsets) & ~self.escaped] = 0.0

    def sheep_positions(self) -> np.ndarray:
        pos = self.centre + self.offsets
        if self.escape_centre is not None:
            pos[self.escaped] = self.escape_centre + self.offsets[self.escaped]
        return pos

    def dog_positions(self) -> np.ndarray:
        p = self.params
        out = np.empty((p.dogs, 2))
        for j, angle in enumerate(self.dog_angles):
            radius = p.dog_distance_m
            for _ in range(10):
                x, y = self.centre + radius * np.array([math.cos(angle), math.sin(angle)])
                if self.pasture.contains(float(x), float(y)):
                    break
                radius *= 0.6
            out[j] = (x, y)
        return out

    def position(self, member: str) -> tuple[float, float]:
        """``"sheep:3"`` or ``"dog:0"`` → its (x, y) now."""
        kind, _, index = member.partition(":")
        i = int(index)
        if kind == "sheep":
            x, y = self.sheep_positions()[i]
        elif kind == "dog":
            x, y = self.dog_positions()[i]
        else:
            raise ValueError(f"flock member must be sheep:<n> or dog:<n>, not {member!r}")
        return float(x), float(y)


@dataclass(frozen=True, slots=True)
class GpsCollar:
    """A GPS collar: horizontal noise ``noise_m`` (per axis), a fix missed with ``miss_probability`` (canopy,
    animal lying on the antenna), altitude ``altitude_m`` ± a few metres."""

    noise_m: float = 4.0
    miss_probability: float = 0.05
    altitude_m: float = 600.0

    def measure(self, x: float, y: float, frame: LocalFrame, rng: np.random.Generator) -> dict[str, float] | None:
        if rng.random() < self.miss_probability:
            return None
        nx, ny = rng.normal(0, self.noise_m, size=2)
        lat, lon = frame.to_latlon(x + nx, y + ny)
        hdop = float(round(0.8 + abs(rng.normal(0, 0.4)), 1))
        return {
            "latitude": round(lat, 6),
            "longitude": round(lon, 6),
            "altitude": round(self.altitude_m + rng.normal(0, 3), 1),
            "hdop": hdop,
            "gps_accuracy": round(hdop * self.noise_m, 1),
            "satellites": float(rng.integers(5, 12)),
        }
