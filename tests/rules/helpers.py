"""Builders shared by the rules tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.kinds import KINDS
from rules.model import Condition, DeviceInfo, DeviceSeries, Point, Series, Severity, Track
from rules.params import Params

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def condition(kind: str, params: Mapping[str, Any], severity: Severity = Severity.WARNING) -> Condition:
    return KINDS[kind](Params(dict(params)), severity)


def series(quantity: str, samples: Sequence[tuple[float, float]], *, period_s: float | None = 600,
           last_seen: float | None = None, track: Sequence[tuple[float, float, float]] = ()) -> DeviceSeries:
    """``samples`` as (minutes after T0, value); ``track`` as (minutes, latitude, longitude)."""
    device = DeviceInfo("0011223344556677", "capteur", "p", "flood", "site", {}, period_s, T0)
    return DeviceSeries(
        device, {quantity: Series.of([(at(m), v) for m, v in samples])},
        Track(tuple(Point(at(m), la, lo) for m, la, lo in track)),
        None if last_seen is None else at(last_seen))
