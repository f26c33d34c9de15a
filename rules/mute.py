"""When not to notify: weekly schedules (quiet hours per severity) and silences (maintenance windows).

A schedule is a list of windows such as ``"mon-fri 08:00-17:30"`` or ``"daily 07:00-22:00"`` in the local
timezone (Europe/Paris by default); a window ending before it starts runs past midnight. Notifications outside
a severity's schedule are not dropped: they wait for the next opening (``Schedule.next_open``).

A silence matches alerts by any of ``rule``, ``dev_eui``, ``site``, ``family``, ``profile``, ``severity`` (every
given key must match; a list means any of its values) between ``starts`` and ``ends``. A silenced alert is still
tracked and audited; it is only not notified, and is notified when the silence ends if still unacknowledged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["Window", "Schedule", "Silence", "parse_window", "SILENCE_KEYS"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")
SILENCE_KEYS = ("rule", "dev_eui", "site", "family", "profile", "severity")


def _days(spec: str) -> frozenset[int]:
    if spec in ("daily", "everyday", "all"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in _DAYS or b not in _DAYS:
                raise ValueError(f"unknown day in {part!r} (use mon..sun)")
            i, j = _DAYS.index(a), _DAYS.index(b)
            out.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part in _DAYS:
            out.add(_DAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r} (use mon..sun, ranges like mon-fri, or daily)")
    return frozenset(out)


def _clock(text: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours == 24 and minutes == 0:
        return time(23, 59, 59, 999999)
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"{text!r} is not a time of day")
    return time(hours, minutes)


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        t, day = local.time(), local.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= t < self.end
        # overnight: the part after midnight belongs to the previous day's window
        return (day in self.days and t >= self.start) or ((day - 1) % 7 in self.days and t < self.end)


def parse_window(text: str) -> Window:
    match = _WINDOW.match(str(text).lower())
    if not match:
        raise ValueError(f"{text!r} is not a window like 'mon-fri 08:00-17:30'")
    return Window(_days(match["days"]), _clock(match["start"]), _clock(match["end"]))


@dataclass(frozen=True, slots=True)
class Schedule:
    windows: tuple[Window, ...]
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        return any(w.contains(local) for w in self.windows)

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when open, else the next instant a window opens (within the coming week)."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.tz)
        candidates = []
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            for w in self.windows:
                if day.weekday() in w.days:
                    start = datetime.combine(day, w.start, self.tz)
                    if start > local:
                        candidates.append(start)
        return min(candidates) if candidates else at


@dataclass(frozen=True, slots=True)
class Silence:
    matchers: Mapping[str, Any]
    starts: datetime
    ends: datetime
    comment: str = ""
    created_by: str = "file"
    id: int | None = None

    def active(self, at: datetime) -> bool:
        return self.starts <= at < self.ends

    def matches(self, attributes: Mapping[str, Any], at: datetime) -> bool:
        if not self.active(at):
            return False
        for key, wanted in self.matchers.items():
            values = wanted if isinstance(wanted, list | tuple) else [wanted]
            if str(attributes.get(key)) not in {str(v) for v in values}:
                return False
        return True


def silenced(silences: Iterable[Silence], attributes: Mapping[str, Any], at: datetime) -> Silence | None:
    return next((s for s in silences if s.matches(attributes, at)), None)
