"""Pacing: simulated time divided by the speed, never ahead of what was sent; a readable progress line."""

from __future__ import annotations

import io
import math

import pytest

from simulator.engine import Message
from simulator.player import Progress, play

T0 = 1_760_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def messages(offsets: list[float]) -> list[Message]:
    return [Message(T0 + o, "t", b"{}", "0000000000000001") for o in offsets]


def test_speed_600_plays_ten_minutes_per_second() -> None:
    clock = FakeClock()
    sent_at: list[float] = []
    result = play(messages([0, 600, 1200, 6000]), lambda m: sent_at.append(clock.now - 100), speed=600,
                  sim_start=T0, clock=clock, sleep=clock.sleep)
    assert sent_at == pytest.approx([0, 1, 2, 10])
    assert result.messages == 4 and result.wall_s == pytest.approx(10)


def test_a_late_player_does_not_sleep() -> None:
    clock = FakeClock()

    def slow_send(m: Message) -> None:
        clock.now += 5                       # a broker slower than the schedule

    play(messages([0, 60, 120]), slow_send, speed=60, sim_start=T0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_max_speed_never_sleeps() -> None:
    clock = FakeClock()
    result = play(messages([0, 3600, 86400]), lambda m: None, speed=math.inf, sim_start=T0, clock=clock,
                  sleep=clock.sleep)
    assert clock.sleeps == [] and result.messages == 3


def test_progress_line_shows_time_count_and_rate() -> None:
    out = io.StringIO()
    progress = Progress(T0, T0 + 3600, stream=out)
    line = progress.line(T0 + 1800, 1234, 56.7)
    assert "50%" in line and "1 234" in line and "56.7 msg/s" in line and "sim 2025-10-09" in line
    progress.update(T0 + 1800, 1234, 56.7, force=True)
    assert out.getvalue().endswith("\n")


def test_zero_speed_is_refused() -> None:
    with pytest.raises(ValueError):
        play([], lambda m: None, speed=0, sim_start=T0)


def test_a_finite_speed_run_lasts_until_its_end_even_when_quiet() -> None:
    clock = FakeClock()
    out = io.StringIO()
    result = play(messages([60]), lambda m: None, speed=1, sim_start=T0, sim_end=T0 + 600,
                  progress=Progress(T0, T0 + 600, stream=out, interval_s=0), clock=clock, sleep=clock.sleep)
    assert result.wall_s == pytest.approx(600) and result.messages == 1
    assert max(clock.sleeps) <= 1.0                          # slices, so the progress line keeps moving
    assert len(out.getvalue().splitlines()) > 500
