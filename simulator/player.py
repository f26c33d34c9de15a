"""Pacing simulated time against the wall clock, with a progress line.

At ``speed`` N one wall-clock second plays N simulated seconds (``--speed 600``: ten minutes per second;
``1``: real time; ``inf``: as fast as the broker acknowledges). A player that falls behind (slow broker) does
not sleep until it has caught up, so simulated time never runs ahead of what was sent.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO
from zoneinfo import ZoneInfo

from simulator.clock import PARIS, local
from simulator.engine import Message

__all__ = ["play", "Progress", "PlayResult"]


@dataclass(frozen=True, slots=True)
class PlayResult:
    messages: int
    wall_s: float
    last_sim_time: float

    @property
    def rate(self) -> float:
        return self.messages / self.wall_s if self.wall_s > 0 else 0.0


class Progress:
    """``[████████░░░░] 67%  sim 2025-10-14 08:40  msgs 2 113  412.5 msg/s`` on stderr, redrawn in place at
    most every ``interval_s`` (one line per update when stderr is not a terminal)."""

    def __init__(self, start: float, end: float, stream: TextIO | None = None, interval_s: float = 0.5,
                 width: int = 24, tz: ZoneInfo = PARIS) -> None:
        self.start, self.end = start, end
        self.tz = tz
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.width = width
        self._last = -math.inf
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, sim_time: float, messages: int, rate: float) -> str:
        span = max(1.0, self.end - self.start)
        done = min(1.0, max(0.0, (sim_time - self.start) / span))
        filled = round(done * self.width)
        bar = "█" * filled + "░" * (self.width - filled)
        when = local(sim_time, self.tz).strftime("%Y-%m-%d %H:%M")
        return f"[{bar}] {done:4.0%}  sim {when}  msgs {messages:,}  {rate:,.1f} msg/s".replace(",", " ")

    def update(self, sim_time: float, messages: int, rate: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        text = self.line(sim_time, messages, rate)
        self.stream.write(("\r" + text + "\x1b[K") if self._tty else text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def play(messages: Iterable[Message], send: Callable[[Message], None], *, speed: float, sim_start: float,
         sim_end: float | None = None, progress: Progress | None = None,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> PlayResult:
    """Send every message at its simulated time divided by *speed*, then (at a finite speed) wait for
    *sim_end* so that a real-time run lasts as long as it says; returns what was sent and how fast."""
    if speed <= 0:
        raise ValueError("speed must be greater than 0 (use inf for as fast as possible)")
    wall0 = clock()
    count = 0

    def wait_for(sim_time: float) -> None:
        # Sleep in slices so the progress line keeps moving in real-time mode (minutes between messages).
        while (delay := wall0 + (sim_time - sim_start) / speed - clock()) > 0:
            sleep(min(delay, 1.0))
            if progress is not None:
                elapsed = clock() - wall0
                progress.update(min(sim_time, sim_start + elapsed * speed), count, count / elapsed)

    sim_time = sim_start
    for message in messages:
        sim_time = message.sim_time
        if math.isfinite(speed):
            wait_for(sim_time)
        send(message)
        count += 1
        if progress is not None:
            elapsed = clock() - wall0
            progress.update(sim_time, count, count / elapsed if elapsed > 0 else 0.0)
    if sim_end is not None and math.isfinite(speed):
        wait_for(sim_end)
        sim_time = max(sim_time, sim_end)
    elapsed = clock() - wall0
    if progress is not None:
        progress.update(sim_time, count, count / elapsed if elapsed > 0 else 0.0, force=True)
        progress.close()
    return PlayResult(count, elapsed, sim_time)
