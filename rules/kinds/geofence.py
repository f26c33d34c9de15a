"""geofence: positions against a polygon (inside / outside, enter / leave) or a line (closer than a buffer).

    params: {mode: outside, polygon: [[45.1, 6.1], [45.1, 6.2], [45.2, 6.2]]}          # flock left its pasture
    params: {mode: leave, polygon: [...], event_window: 1h}                         # the crossing itself
    params: {mode: near_line, line: [[45.1, 6.1], [45.15, 6.2]], buffer_m: 150, clear_m: 200}   # near a trail

Plain geometry on a local equirectangular projection (metres around the point): exact enough for pastures and
trails a few kilometres across, and no GIS library to install. ``inside``/``outside``/``near_line`` are states
(they resolve when the condition ends); ``enter``/``leave`` fire on a crossing seen within ``event_window`` and
resolve once the window has passed without a new one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.model import HOLD, DeviceSeries, Point, Severity, Verdict
from rules.params import Params

__all__ = ["parse", "Geofence", "inside_polygon", "distance_to_line_m"]

EARTH_RADIUS_M = 6_371_008.8
LatLon = tuple[float, float]


def _project(origin: LatLon, point: LatLon) -> tuple[float, float]:
    """Metres east/north of ``origin``."""
    lat0 = math.radians(origin[0])
    x = math.radians(point[1] - origin[1]) * EARTH_RADIUS_M * math.cos(lat0)
    y = math.radians(point[0] - origin[0]) * EARTH_RADIUS_M
    return x, y


def inside_polygon(point: LatLon, polygon: Sequence[LatLon]) -> bool:
    """Ray casting (even-odd rule) in the projected plane."""
    xy = [_project(point, v) for v in polygon]
    inside = False
    j = len(xy) - 1
    for i in range(len(xy)):
        (xi, yi), (xj, yj) = xy[i], xy[j]
        if (yi > 0) != (yj > 0):
            x_cross = xi + (0 - yi) * (xj - xi) / (yj - yi)
            if x_cross > 0:
                inside = not inside
        j = i
    return inside


def distance_to_line_m(point: LatLon, line: Sequence[LatLon]) -> float:
    """Shortest distance in metres from the point to a polyline."""
    xy = [_project(point, v) for v in line]
    best = math.inf
    for (ax, ay), (bx, by) in zip(xy, xy[1:], strict=False):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best


@dataclass(frozen=True, slots=True)
class Geofence:
    mode: str
    severity: Severity
    polygon: tuple[LatLon, ...] = ()
    line: tuple[LatLon, ...] = ()
    buffer_m: float = 0.0
    clear_m: float = 0.0
    event_window: timedelta = timedelta(hours=1)
    max_age: timedelta = timedelta(hours=24)
    quantities: tuple[str, ...] = ()
    uses_positions: bool = True
    on_tick: bool = True      # enter/leave events expire with time

    @property
    def window(self) -> timedelta:
        return self.max_age

    def _inside(self, p: Point) -> bool:
        return inside_polygon((p.latitude, p.longitude), self.polygon)

    def evaluate(self, series: DeviceSeries, now: datetime) -> Verdict:
        points = [p for p in series.track.points if now - p.time <= self.max_age]
        if not points:
            return HOLD
        last = points[-1]
        where = {"latitude": last.latitude, "longitude": last.longitude}
        if self.mode in ("inside", "outside"):
            inside = self._inside(last)
            if inside == (self.mode == "inside"):
                return Verdict("firing", self.severity, summary=f"position {self.mode} the zone", details=where)
            return Verdict("ok", details=where)
        if self.mode == "near_line":
            distance = distance_to_line_m((last.latitude, last.longitude), self.line)
            details = {**where, "distance_m": round(distance, 1)}
            if distance < self.buffer_m:
                return Verdict("firing", self.severity, distance, self.buffer_m,
                               summary=f"{distance:.0f} m from the line (< {self.buffer_m:g} m)", details=details)
            if distance >= self.clear_m:
                return Verdict("ok", value=distance, threshold=self.buffer_m, details=details)
            return HOLD
        # enter / leave: the latest crossing in the wanted direction, if recent enough
        entering = self.mode == "enter"
        crossed_at = None
        for before, after in zip(points, points[1:], strict=False):
            if not self._inside(before) and self._inside(after) and entering:
                crossed_at = after.time
            elif self._inside(before) and not self._inside(after) and not entering:
                crossed_at = after.time
        if crossed_at is not None and now - crossed_at <= self.event_window:
            return Verdict("firing", self.severity, since=crossed_at,
                           summary=f"{'entered' if entering else 'left'} the zone", details=where)
        return Verdict("ok", details=where)


def parse(p: Params, severity: Severity) -> Geofence:
    mode = p.choice("mode", ("inside", "outside", "enter", "leave", "near_line"))
    max_age = p.duration("max_age", timedelta(hours=24), positive=True)
    if mode == "near_line":
        line = p.coordinates("line", 2)
        buffer_m = p.number("buffer_m", positive=True)
        clear_m = p.number("clear_m", buffer_m)
        if clear_m < buffer_m:
            raise p.fail("clear_m", f"must be at least buffer_m ({buffer_m:g})")
        p.done()
        return Geofence(mode, severity, line=tuple(line), buffer_m=buffer_m, clear_m=clear_m, max_age=max_age)
    polygon = p.coordinates("polygon", 3)
    event_window = p.duration("event_window", timedelta(hours=1), positive=True)
    p.done()
    return Geofence(mode, severity, polygon=tuple(polygon), event_window=event_window,
                    max_age=max(max_age, event_window))
