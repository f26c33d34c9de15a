"""Small-area geometry: a local metric frame around a reference point, polygons, distances.

Pastures and towns are a few kilometres wide, so an equirectangular projection around a reference point is
accurate to well under a metre there and keeps the flock model in plain metres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EARTH_RADIUS_M", "LocalFrame", "Polygon", "distance_m"]

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """East/north metres around (``lat0``, ``lon0``)."""

    lat0: float
    lon0: float

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        x = math.radians(lon - self.lon0) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))
        y = math.radians(lat - self.lat0) * EARTH_RADIUS_M
        return x, y

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        lat = self.lat0 + math.degrees(y / EARTH_RADIUS_M)
        lon = self.lon0 + math.degrees(x / (EARTH_RADIUS_M * math.cos(math.radians(self.lat0))))
        return lat, lon


class Polygon:
    """A simple polygon in a local metric frame (vertices in order, not closed)."""

    def __init__(self, vertices: Sequence[tuple[float, float]]) -> None:
        if len(vertices) < 3:
            raise ValueError("a polygon needs at least 3 vertices")
        self.vertices = [(float(x), float(y)) for x, y in vertices]

    @classmethod
    def from_latlon(cls, frame: LocalFrame, points: Sequence[Sequence[float]]) -> Polygon:
        return cls([frame.to_xy(float(lat), float(lon)) for lat, lon in points])

    def contains(self, x: float, y: float) -> bool:
        """Even-odd ray casting."""
        inside = False
        vs = self.vertices
        j = len(vs) - 1
        for i in range(len(vs)):
            xi, yi = vs[i]
            xj, yj = vs[j]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside

    def contains_many(self, points: np.ndarray) -> np.ndarray:
        """``contains`` for an (n, 2) array of points at once (the flock checks every animal every step)."""
        x, y = points[:, 0], points[:, 1]
        inside = np.zeros(len(points), dtype=bool)
        vs = self.vertices
        j = len(vs) - 1
        for i in range(len(vs)):
            xi, yi = vs[i]
            xj, yj = vs[j]
            if yi != yj:
                crosses = ((yi > y) != (yj > y)) & (x < (xj - xi) * (y - yi) / (yj - yi) + xi)
                inside ^= crosses
            j = i
        return inside

    def distance_to_edge(self, x: float, y: float) -> float:
        best = math.inf
        vs = self.vertices
        for i in range(len(vs)):
            (ax, ay), (bx, by) = vs[i], vs[(i + 1) % len(vs)]
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            u = 0.0 if length2 == 0 else max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / length2))
            best = min(best, math.hypot(x - (ax + u * dx), y - (ay + u * dy)))
        return best

    def inside_by(self, x: float, y: float, margin: float) -> bool:
        """Inside and at least *margin* metres from every edge."""
        return self.contains(x, y) and self.distance_to_edge(x, y) >= margin

    def centroid(self) -> tuple[float, float]:
        """Area centroid (shoelace)."""
        a = cx = cy = 0.0
        vs = self.vertices
        for i in range(len(vs)):
            (x0, y0), (x1, y1) = vs[i], vs[(i + 1) % len(vs)]
            cross = x0 * y1 - x1 * y0
            a += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
        if a == 0:
            return sum(x for x, _ in vs) / len(vs), sum(y for _, y in vs) / len(vs)
        return cx / (3 * a), cy / (3 * a)
