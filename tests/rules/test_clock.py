from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rules.clock import DataClock


def test_data_clock_follows_the_newest_data_and_never_goes_back() -> None:
    clock = DataClock()
    before = datetime.now(UTC)
    assert clock() >= before  # wall clock until data arrives
    t0 = datetime(2025, 4, 28, 8, 0, tzinfo=UTC)
    clock.observe([t0, t0 + timedelta(minutes=5)])
    assert clock() == t0 + timedelta(minutes=5)
    clock.observe([t0])  # an older, late batch does not move time backwards
    assert clock() == t0 + timedelta(minutes=5)
    clock.observe([])
    assert clock() == t0 + timedelta(minutes=5)
    clock.observe([t0 + timedelta(hours=1)])
    assert clock() == t0 + timedelta(hours=1)
