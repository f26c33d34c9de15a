"""Classroom air: occupancy on a French school timetable, CO2 from a well-mixed mass balance, temperature and
humidity drifting with occupancy and ventilation.

CO2 (one well-mixed zone, the standard model behind the French "indice ICONE" studies)::

    V dC/dt = G·1e6 − Q·(C − C_out)        G: CO2 emitted by occupants (m³/h), Q = λ·V (m³/h)

Over a step where occupancy and the air-change rate λ are constant the solution is exact:
``C(t+dt) = C_eq + (C − C_eq)·exp(−λ·dt)`` with ``C_eq = C_out + G·1e6/(λ·V)``. An occupied closed room
therefore rises towards ``C_eq`` (typically 2000–3000 ppm for 25 pupils in 180 m³ at 0.7 air change per hour)
and an empty one decays towards ``C_out``.

Window opening multiplies ventilation: teachers air the room at breaks (with a probability) and now and then
during lessons (a Poisson rate), for a few minutes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from simulator.clock import PARIS, local

__all__ = ["Timetable", "RoomParams", "Classroom", "ClassroomState"]


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True, slots=True)
class Timetable:
    """When pupils are in the room. Defaults: a French primary school on the four-and-a-half-day week.

    ``wednesday`` is ``"morning"`` (classes until ``morning_end``, afternoon off, the common case since 2013),
    ``"off"`` (four-day week) or ``"full"``. Saturdays and Sundays are off. ``holidays`` are inclusive date
    ranges (zone A/B/C school holidays), ``public_holidays`` single days (jours fériés).
    During ``breaks`` (récréations) and lunch the pupils are out of the room.
    """

    morning: tuple[time, time] = (time(8, 30), time(11, 45))
    afternoon: tuple[time, time] = (time(13, 30), time(16, 30))
    breaks: tuple[tuple[time, time], ...] = ((time(10, 0), time(10, 15)), (time(15, 0), time(15, 15)))
    wednesday: str = "morning"
    holidays: tuple[tuple[date, date], ...] = ()
    public_holidays: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        if self.wednesday not in ("morning", "off", "full"):
            raise ValueError(f"timetable.wednesday must be morning, off or full, not {self.wednesday!r}")

    @functools.lru_cache(maxsize=64)  # noqa: B019 - few timetables, few days; they live as long as the run
    def school_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self.public_holidays:
            return False
        if any(start <= day <= end for start, end in self.holidays):
            return False
        return not (day.weekday() == 2 and self.wednesday == "off")

    def in_class(self, dt: datetime) -> bool:
        """True while pupils sit in the room (lesson time, not break, not lunch) at local time *dt*."""
        if not self.school_day(dt.date()):
            return False
        m = dt.hour * 60 + dt.minute
        sessions = [self.morning]
        if not (dt.weekday() == 2 and self.wednesday == "morning"):
            sessions.append(self.afternoon)
        if not any(_minutes(a) <= m < _minutes(b) for a, b in sessions):
            return False
        return not any(_minutes(a) <= m < _minutes(b) for a, b in self.breaks)

    def at_break_start(self, here: datetime, dt_s: float) -> bool:
        """True when a break or the end of a session begins in [here, here+dt) on a school day (windows get
        opened)."""
        if not self.school_day(here.date()):
            return False
        m0 = here.hour * 60 + here.minute + here.second / 60
        starts = [_minutes(a) for a, _ in self.breaks] + [_minutes(self.morning[1]), _minutes(self.afternoon[1])]
        return any(m0 <= s < m0 + dt_s / 60 for s in starts)


@dataclass(frozen=True, slots=True)
class RoomParams:
    """Physical parameters of one classroom. Defaults: a 60 m² room, 3 m ceiling, 25 pupils aged 8–10.

    - ``volume_m3``: air volume of the room.
    - ``pupils``: pupils present during lessons; ``adults``: teachers and assistants.
    - ``pupil_emission_m3_h`` / ``adult_emission_m3_h``: CO2 exhaled per person (≈ 0.012 m³/h for a seated
      child, 0.018 for an adult, i.e. 3.4 and 5 L/s·10⁻³).
    - ``air_change_closed_h``: air changes per hour with windows closed (infiltration + any ventilation);
      ``air_change_open_h`` with windows open.
    - ``outdoor_co2_ppm``: background outdoor concentration.
    - ``window_at_break_probability``: chance that the windows are opened at a break or end of session;
      ``window_in_lesson_per_h``: rate of openings during lessons; ``window_open_minutes``: mean duration.
    - ``heating_setpoint_c`` (school hours 07:00–17:00 on school days) and ``setback_c`` (otherwise),
      ``thermal_time_constant_h``; ``occupant_heating_c``: how much a full class warms the room;
      ``outdoor_temperature_c`` (daily mean) and ``outdoor_daily_swing_c``.
    - ``humidity_base_pct``, ``occupant_humidity_pct``: relative humidity empty / added by a full class.
    """

    volume_m3: float = 180.0
    pupils: int = 25
    adults: int = 1
    pupil_emission_m3_h: float = 0.012
    adult_emission_m3_h: float = 0.018
    air_change_closed_h: float = 0.7
    air_change_open_h: float = 6.0
    outdoor_co2_ppm: float = 420.0
    window_at_break_probability: float = 0.5
    window_in_lesson_per_h: float = 0.15
    window_open_minutes: float = 10.0
    heating_setpoint_c: float = 20.0
    setback_c: float = 16.0
    thermal_time_constant_h: float = 2.0
    occupant_heating_c: float = 2.0
    outdoor_temperature_c: float = 8.0
    outdoor_daily_swing_c: float = 4.0
    humidity_base_pct: float = 45.0
    occupant_humidity_pct: float = 12.0
    timetable: Timetable = field(default_factory=Timetable)

    def __post_init__(self) -> None:
        for name in ("volume_m3", "air_change_closed_h", "air_change_open_h", "thermal_time_constant_h"):
            if getattr(self, name) <= 0:
                raise ValueError(f"room parameter {name} must be greater than 0")


@dataclass(slots=True)
class ClassroomState:
    co2_ppm: float
    temperature_c: float
    humidity_pct: float
    occupants: int = 0
    window_open_until: float = float("-inf")

    def window_open(self, t: float) -> bool:
        return t < self.window_open_until


class Classroom:
    """One room, stepped forward on a fixed grid (``step_s``). Randomness (window openings, small sensor-free
    fluctuations) comes only from the injected generator, so a seed gives the same day every time."""

    def __init__(self, params: RoomParams, start: float, rng: np.random.Generator, step_s: float = 60.0,
                 tz: ZoneInfo = PARIS) -> None:
        self.params = params
        self.rng = rng
        self.step_s = step_s
        self.tz = tz
        self.t = start
        self.state = ClassroomState(params.outdoor_co2_ppm, params.setback_c, params.humidity_base_pct)
        self.peak_co2 = (start, self.state.co2_ppm)

    def advance_to(self, t: float) -> ClassroomState:
        while self.t + self.step_s <= t:
            self._step(self.step_s)
        return self.state

    def scheduled_occupants(self, t: float) -> int:
        p = self.params
        return p.pupils + p.adults if p.timetable.in_class(local(t, self.tz)) else 0

    def air_change(self, t: float) -> float:
        p = self.params
        return p.air_change_open_h if self.state.window_open(t) else p.air_change_closed_h

    def _maybe_open_window(self, here: datetime, dt: float) -> None:
        p, s, t = self.params, self.state, self.t
        opened = False
        if p.timetable.at_break_start(here, dt):
            opened = self.rng.random() < p.window_at_break_probability
        elif s.occupants:
            opened = self.rng.random() < 1 - math.exp(-p.window_in_lesson_per_h * dt / 3600)
        if opened:
            minutes = self.rng.exponential(p.window_open_minutes)
            s.window_open_until = max(s.window_open_until, t + 60 * max(2.0, minutes))

    def _outdoor_temperature(self, here: datetime) -> float:
        p = self.params
        hour = here.hour + here.minute / 60
        return p.outdoor_temperature_c + p.outdoor_daily_swing_c / 2 * math.cos(2 * math.pi * (hour - 15) / 24)

    def _step(self, dt: float) -> None:
        p, s = self.params, self.state
        here = local(self.t, self.tz)
        s.occupants = p.pupils + p.adults if p.timetable.in_class(here) else 0
        self._maybe_open_window(here, dt)
        lam = self.air_change(self.t)
        pupils = min(s.occupants, p.pupils)
        adults = s.occupants - pupils
        emission = pupils * p.pupil_emission_m3_h + adults * p.adult_emission_m3_h
        c_eq = p.outdoor_co2_ppm + emission * 1e6 / (lam * p.volume_m3)
        decay = math.exp(-lam * dt / 3600)
        s.co2_ppm = c_eq + (s.co2_ppm - c_eq) * decay

        # Temperature and humidity relax towards a target set by heating, occupants and open windows.
        heated = p.timetable.school_day(here.date()) and 7 <= here.hour < 17
        full = s.occupants / max(1, p.pupils + p.adults)
        target_t = (p.heating_setpoint_c if heated else p.setback_c) + p.occupant_heating_c * full
        target_h = p.humidity_base_pct + p.occupant_humidity_pct * full
        tau_h = p.thermal_time_constant_h
        if s.window_open(self.t):
            target_t = 0.5 * target_t + 0.5 * self._outdoor_temperature(here)
            target_h = p.humidity_base_pct - 5
            tau_h = 0.25
        k = 1 - math.exp(-dt / 3600 / tau_h)
        s.temperature_c += (target_t - s.temperature_c) * k + self.rng.normal(0, 0.01)
        s.humidity_pct += (target_h - s.humidity_pct) * k + self.rng.normal(0, 0.05)
        s.humidity_pct = min(100.0, max(0.0, s.humidity_pct))
        self.t += dt
        if s.co2_ppm > self.peak_co2[1]:
            self.peak_co2 = (self.t, s.co2_ppm)

    def readings(self) -> dict[str, float]:
        """What a room sensor would measure now, before sensor noise (added by the device, not the room)."""
        s = self.state
        # Slow synoptic pressure swing (a few hPa over days) so the series is not a flat line.
        pressure = 1013.0 + 6.0 * math.sin(2 * math.pi * self.t / (5 * 86400))
        return {
            "co2": s.co2_ppm,
            "temperature": s.temperature_c,
            "humidity": s.humidity_pct,
            "occupancy": 1.0 if s.occupants else 0.0,
            "pressure": pressure,
            "light": 450.0 if s.occupants else 40.0,
            "light_level": 3.0 if s.occupants else 1.0,
        }
