"""Classroom air: CO2 follows occupancy on the French timetable and decays to the outdoor level when empty."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from simulator.clock import parse_instant
from simulator.physics.classroom import Classroom, RoomParams, Timetable

MONDAY = parse_instant("2025-03-10T00:00")          # a school Monday (zone A, no holiday)
CLOSED = {"window_at_break_probability": 0.0, "window_in_lesson_per_h": 0.0}


def at(day: int, hhmm: str) -> float:
    h, m = hhmm.split(":")
    return MONDAY + day * 86400 + int(h) * 3600 + int(m) * 60


def room(**overrides: object) -> Classroom:
    return Classroom(RoomParams(**{**CLOSED, **overrides}), MONDAY, np.random.default_rng(3))  # type: ignore[arg-type]


def co2_at(r: Classroom, t: float) -> float:
    return r.advance_to(t).co2_ppm


def test_co2_rises_in_an_occupied_closed_room() -> None:
    r = room()
    before = co2_at(r, at(0, "08:29"))
    samples = [co2_at(r, at(0, f"{h:02d}:{m:02d}")) for h, m in ((8, 45), (9, 0), (9, 30), (9, 55))]
    assert before == pytest.approx(420, abs=1)
    assert samples == sorted(samples) and samples[-1] > 1500


def test_co2_decays_towards_outdoor_level_when_empty() -> None:
    r = room()
    evening = co2_at(r, at(0, "16:40"))
    later = [co2_at(r, at(0, hhmm)) for hhmm in ("18:00", "20:00", "23:00")]
    night = co2_at(r, at(1, "06:00"))
    assert evening > 1500
    assert later == sorted(later, reverse=True)
    assert night == pytest.approx(420, abs=15)
    assert night >= 420 - 1e-9            # never below outdoor air


def test_steady_state_matches_the_mass_balance() -> None:
    # 25 pupils + 1 adult in 180 m3 at 0.7 ACH: C_eq = 420 + G·1e6/(λV)
    p = RoomParams(**CLOSED)  # type: ignore[arg-type]
    g = 25 * p.pupil_emission_m3_h + p.adult_emission_m3_h
    expected = p.outdoor_co2_ppm + g * 1e6 / (p.air_change_closed_h * p.volume_m3)
    # a long lesson: the morning session 08:30-11:45 without breaks; look near its end
    r = Classroom(RoomParams(**CLOSED, timetable=Timetable(breaks=())), MONDAY,  # type: ignore[arg-type]
                  np.random.default_rng(1))
    reached = co2_at(r, at(0, "11:44"))
    gap = expected - 420
    assert reached < expected
    assert reached > 420 + gap * (1 - np.exp(-0.7 * 3.2)) - 30     # within the exponential approach


@pytest.mark.parametrize("label, t", [
    ("Wednesday afternoon", at(2, "14:30")),
    ("Saturday", at(5, "10:00")),
    ("lunch", at(0, "12:30")),
    ("morning break", at(0, "10:05")),
])
def test_nobody_in_class_outside_the_timetable(label: str, t: float) -> None:
    assert room().scheduled_occupants(t) == 0, label


def test_wednesday_morning_is_a_school_morning() -> None:
    assert room().scheduled_occupants(at(2, "09:30")) == 26


def test_holidays_and_public_holidays_leave_the_room_empty() -> None:
    tt = Timetable(holidays=((date(2025, 3, 10), date(2025, 3, 11)),), public_holidays=(date(2025, 3, 13),))
    r = Classroom(RoomParams(**CLOSED, timetable=tt), MONDAY, np.random.default_rng(0))  # type: ignore[arg-type]
    assert r.scheduled_occupants(at(0, "09:30")) == 0        # holiday
    assert r.scheduled_occupants(at(3, "09:30")) == 0        # public holiday (Thursday)
    assert r.scheduled_occupants(at(4, "09:30")) == 26       # Friday, back to school
    assert co2_at(r, at(1, "16:00")) == pytest.approx(420, abs=1)


def test_four_day_week_has_no_wednesday_class() -> None:
    tt = Timetable(wednesday="off")
    r = Classroom(RoomParams(timetable=tt), MONDAY, np.random.default_rng(0))
    assert r.scheduled_occupants(at(2, "09:30")) == 0


def test_opening_the_windows_drops_co2() -> None:
    closed = room()
    aired = room(window_in_lesson_per_h=30.0, window_open_minutes=15.0)   # windows opened all the time
    assert co2_at(aired, at(0, "11:30")) < co2_at(closed, at(0, "11:30")) - 500


def test_occupants_warm_and_humidify_the_room() -> None:
    r = room()
    r.advance_to(at(0, "08:25"))
    t0, h0 = r.state.temperature_c, r.state.humidity_pct
    r.advance_to(at(0, "11:40"))
    assert r.state.temperature_c > t0 + 1.0
    assert r.state.humidity_pct > h0 + 3.0


def test_same_seed_same_day() -> None:
    params = RoomParams()
    a = Classroom(params, MONDAY, np.random.default_rng(7))
    b = Classroom(params, MONDAY, np.random.default_rng(7))
    series_a = [a.advance_to(at(0, "00:00") + k * 900).co2_ppm for k in range(96)]
    series_b = [b.advance_to(at(0, "00:00") + k * 900).co2_ppm for k in range(96)]
    assert series_a == series_b


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="volume_m3"):
        RoomParams(volume_m3=0)
    with pytest.raises(ValueError, match="wednesday"):
        Timetable(wednesday="afternoon")
