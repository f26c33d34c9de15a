"""Device faults: battery decay, silences, reboots, duplicates, garbage."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.physics.faults import DeviceFaults, FaultParams, battery_voltage

T0 = 1_700_000_000.0


def faults(**kw: object) -> DeviceFaults:
    return DeviceFaults(FaultParams(**kw), T0, np.random.default_rng(0))  # type: ignore[arg-type]


def test_battery_only_goes_down() -> None:
    f = faults(battery_start_pct=80, battery_drain_pct_per_day=0.5, battery_drain_pct_per_uplink=0.01)
    levels = []
    for k in range(200):
        t = T0 + k * 3600
        f.next_f_cnt(t)
        levels.append(f.battery(t)["battery"])
    assert levels[0] == pytest.approx(80, abs=0.1)
    assert levels == sorted(levels, reverse=True) and levels[-1] < 76


def test_voltage_is_flat_then_falls_when_nearly_empty() -> None:
    assert battery_voltage(100) == pytest.approx(3.65)
    assert battery_voltage(50) - battery_voltage(20) < 0.1
    assert battery_voltage(1) < 3.35
    assert battery_voltage(0) == pytest.approx(3.0)


def test_a_flat_battery_silences_the_device() -> None:
    f = faults(battery_start_pct=1.0, battery_drain_pct_per_day=1.0)
    assert not f.silent(T0 + 0.5 * 86400)
    assert f.silent(T0 + 1.01 * 86400)


def test_silence_windows() -> None:
    f = faults(silences=((T0 + 100, T0 + 200), (T0 + 1000, None)))
    assert [f.silent(T0 + dt) for dt in (50, 150, 250, 999, 5000)] == [False, True, False, False, True]


def test_reboot_resets_the_frame_counter() -> None:
    f = faults(reboots=(T0 + 3600,))
    before = [f.next_f_cnt(T0 + k * 600) for k in range(6)]
    after = [f.next_f_cnt(T0 + 3600 + k * 600) for k in range(3)]
    assert before == list(range(before[0], before[0] + 6))
    assert after == [0, 1, 2]


def test_duplicates_and_garbage_at_their_probability() -> None:
    f = faults(duplicate_probability=0.2, garbage_probability=0.1)
    copies = [f.deliveries() for _ in range(5000)]
    payload = b"\x01\x75\x5c"
    garbled = [f.garble(payload) is not payload for _ in range(5000)]
    assert set(copies) == {1, 2} and 0.17 < copies.count(2) / 5000 < 0.23
    assert 0.08 < sum(garbled) / 5000 < 0.12


def test_healthy_by_default() -> None:
    f = faults()
    payload = b"\x01"
    assert all(f.deliveries() == 1 for _ in range(100))
    assert all(f.garble(payload) is payload for _ in range(100))
    assert not f.silent(T0 + 30 * 86400)


def test_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match="duplicate_probability"):
        FaultParams(duplicate_probability=1.5)
