"""Simulated time: parsing of scenario times and durations, and local (French) calendar queries.

Simulated instants are plain floats (POSIX seconds, UTC) so the physics stays cheap and exact; calendars
(school timetable, collection rounds, day and night) are evaluated in the scenario's time zone, by default
Europe/Paris, because that is where the timetable lives (a lesson at 08:30 is 08:30 local, summer or winter).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["PARIS", "parse_duration", "parse_instant", "parse_date", "to_datetime", "local", "local_hour",
           "iso_utc", "day_start", "add_days"]

PARIS = ZoneInfo("Europe/Paris")

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d|w)?")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?\s*(?:ms|sec|min|s|m|h|d|w)?\s*)+$")
_UNITS = {"ms": 0.001, "s": 1, "sec": 1, None: 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str | int | float) -> float:
    """``"10min"``, ``"1.5h"``, ``"3d"``, ``"1d14h30min"``, ``"90s"`` or a number of seconds → seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a duration (examples: 90s, 10min, 1.5h, 3d, 1d14h)")
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    if not text or not _DURATION.match(text):
        raise ValueError(f"{value!r} is not a duration (examples: 90s, 10min, 1.5h, 3d, 1d14h)")
    return sum(float(n) * _UNITS[unit or None] for n, unit in _PART.findall(text))


def parse_instant(value: str | datetime | date, tz: ZoneInfo = PARIS, origin: float | None = None) -> float:
    """An ISO date-time (local to *tz* when it has no offset) → POSIX seconds. With an *origin*, ``"+1d14h"``
    means that long after it (scenario files use relative times so that ``--start`` moves everything)."""
    if isinstance(value, str) and value.strip().startswith("+"):
        if origin is None:
            raise ValueError(f"{value!r} is relative but there is no start time to count from")
        return origin + parse_duration(value.strip()[1:])
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date-time (example: 2025-03-10T08:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.timestamp()


def parse_date(value: str | date, tz: ZoneInfo = PARIS, origin: float | None = None) -> date:
    """An ISO date, or ``"+3d"`` counted from *origin* (the local date that far after it)."""
    if isinstance(value, str) and value.strip().startswith("+"):
        return local(parse_instant(value, tz, origin), tz).date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date (example: 2025-02-15)") from None


def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def local(t: float, tz: ZoneInfo = PARIS) -> datetime:
    return datetime.fromtimestamp(t, tz)


def local_hour(t: float, tz: ZoneInfo = PARIS) -> float:
    """Hour of day as a float (13.5 = 13:30), local time."""
    dt = local(t, tz)
    return dt.hour + dt.minute / 60 + dt.second / 3600


def iso_utc(t: float) -> str:
    return to_datetime(t).isoformat()


def day_start(t: float, tz: ZoneInfo = PARIS) -> float:
    """Local midnight of the day holding *t*."""
    dt = local(t, tz)
    return datetime(dt.year, dt.month, dt.day, tzinfo=tz).timestamp()


def add_days(d: date, n: int) -> date:
    return d + timedelta(days=n)
