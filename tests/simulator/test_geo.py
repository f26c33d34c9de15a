"""Local geometry used by the flock and the radio model."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.geo import LocalFrame, Polygon, distance_m

SHAPE = Polygon([(0, 0), (100, 0), (100, 100), (50, 40), (0, 100)])     # concave


def test_contains_many_agrees_with_contains() -> None:
    points = np.random.default_rng(0).uniform(-20, 120, size=(2000, 2))
    expected = [SHAPE.contains(float(x), float(y)) for x, y in points]
    assert SHAPE.contains_many(points).tolist() == expected
    assert not SHAPE.contains(50, 60) and SHAPE.contains(50, 30)     # the notch is outside


def test_local_frame_round_trips_and_matches_haversine() -> None:
    frame = LocalFrame(43.6, 4.86)
    lat, lon = frame.to_latlon(800.0, -600.0)
    assert frame.to_xy(lat, lon) == pytest.approx((800.0, -600.0), abs=1e-6)
    assert distance_m(43.6, 4.86, lat, lon) == pytest.approx(1000.0, rel=1e-3)


def test_distance_to_edge_and_margin() -> None:
    square = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)])
    assert square.distance_to_edge(50, 10) == pytest.approx(10)
    assert square.inside_by(50, 50, 40) and not square.inside_by(50, 10, 20)
    assert square.centroid() == pytest.approx((50, 50))
