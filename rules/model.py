"""Value objects of the rules library: severities, a device's recent data, verdicts, the rule kind contract.

A rule kind parses its parameters once (``parse(params) -> Condition``), then ``Condition.evaluate(series, now)``
turns a device's recent data into a ``Verdict``. Kinds are pure: no I/O, no clock, no state of their own; the
engine owns alert state, and everything a kind needs arrives in ``DeviceSeries``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

__all__ = ["Severity", "Series", "Point", "Track", "DeviceInfo", "DeviceSeries", "Verdict", "Condition",
           "Status", "OK", "HOLD"]


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[str(text).upper()]
        except KeyError:
            raise ValueError(f"severity must be info, warning or critical, not {text!r}") from None


@dataclass(frozen=True, slots=True)
class Series:
    """Readings of one quantity, oldest first."""

    times: tuple[datetime, ...] = ()
    values: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.times)

    @property
    def last(self) -> tuple[datetime, float] | None:
        return (self.times[-1], self.values[-1]) if self.times else None

    @classmethod
    def of(cls, samples: Sequence[tuple[datetime, float]]) -> Series:
        ordered = sorted(samples, key=lambda s: s[0])
        return cls(tuple(t for t, _ in ordered), tuple(float(v) for _, v in ordered))


@dataclass(frozen=True, slots=True)
class Point:
    time: datetime
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Track:
    """Positions of one device, oldest first."""

    points: tuple[Point, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    dev_eui: str
    name: str = ""
    profile: str | None = None
    family: str | None = None
    site: str | None = None
    tags: Mapping[str, Any] = field(default_factory=dict)
    uplink_period_s: float | None = None     # expected period, from the device's profile
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeviceSeries:
    """What a kind sees of one device: readings per quantity over the kind's window, its track, when last heard."""

    device: DeviceInfo
    readings: Mapping[str, Series] = field(default_factory=dict)
    track: Track = field(default_factory=Track)
    last_seen: datetime | None = None

    def series(self, quantity: str) -> Series:
        return self.readings.get(quantity, Series())


Status = Literal["ok", "pending", "firing", "hold"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ok``: condition absent (an open alert resolves). ``pending``: present but not for long enough yet.
    ``firing``: present, at ``severity``. ``hold``: not enough information to change anything (the engine keeps
    whatever state the alert is in; hysteresis bands and missing data give this)."""

    status: Status
    severity: Severity | None = None
    value: float | None = None
    threshold: float | None = None
    since: datetime | None = None
    summary: str = ""                       # short, factual, language-neutral detail ("2.41 > 2.2")
    details: Mapping[str, Any] = field(default_factory=dict)


OK = Verdict("ok")
HOLD = Verdict("hold")


class Condition(Protocol):
    """A rule kind's parsed parameters; ``evaluate`` is pure."""

    @property
    def quantities(self) -> tuple[str, ...]:
        """Readings the kind reads (loaded over ``window``)."""

    @property
    def window(self) -> timedelta:
        """How far back the engine loads data for it."""

    @property
    def uses_positions(self) -> bool:
        """Loads the device's track over ``window``."""

    @property
    def on_tick(self) -> bool:
        """Must be re-evaluated on the periodic tick even without new data."""

    def evaluate(self, series: DeviceSeries, now: datetime) -> Verdict: ...


def max_severity(values: Sequence[Severity]) -> Severity | None:
    return max(values) if values else None


def duration_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"
