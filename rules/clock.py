"""Clocks for the rules engine.

In production the engine's "now" is the wall clock. When Beffroi ingests a simulation played in accelerated
time, or a replay of last month, the readings' timestamps are not "now": a wall-clock engine would find every
device silent and every ``for`` duration meaningless. ``DataClock`` makes the engine live in the data's time
instead: "now" is the newest reading or position time committed so far (it never goes backwards), and the
wall clock until the first batch. Only the engine uses it; notification retries keep the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

__all__ = ["DataClock", "wall_clock"]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class DataClock:
    def __init__(self) -> None:
        self._newest: datetime | None = None

    def observe(self, times: Iterable[datetime]) -> None:
        newest = max(times, default=None)
        if newest is not None and (self._newest is None or newest > self._newest):
            self._newest = newest

    def __call__(self) -> datetime:
        return self._newest if self._newest is not None else wall_clock()
