"""``schools:`` - schools with classrooms, one CO2 sensor per room.

    schools:
      - name: ecole-jean-jaures
        latitude: 45.7640
        longitude: 4.8357
        timetable: {wednesday: morning, holidays: [[2025-04-12, 2025-04-27]], public_holidays: [2025-04-21]}
        outdoor_temperature_c: 9          # any RoomParams field here is a default for the school's rooms
        rooms:
          - {name: cp, profile: milesight-am307, volume_m3: 165, pupils: 22}
          - {name: cm2, profile: elsys-ers-co2, pupils: 28, window_at_break_probability: 0.8}

Devices are named ``<school>-<room>``; rooms stand at the school's coordinates unless they give their own.
Classroom sensors are indoors: ``wall_loss_db`` defaults to 12 dB.
"""

from __future__ import annotations

from datetime import time
from typing import Any

import numpy as np

from simulator.clock import parse_date
from simulator.families.common import BuildContext, FamilyBuild, SimDevice, device_entries, make_spec, noisy
from simulator.physics.classroom import Classroom, RoomParams, Timetable
from simulator.scenario import Where, dataclass_kwargs

__all__ = ["build"]


def _time(value: Any) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def _timetable(raw: Any, where: Where, ctx: BuildContext) -> Timetable:
    raw = where.mapping(raw or {})
    tz, origin = ctx.scenario.tz, ctx.scenario.start
    kwargs: dict[str, Any] = {}
    if "wednesday" in raw:
        kwargs["wednesday"] = str(raw["wednesday"])
    for key in ("morning", "afternoon"):
        if key in raw:
            pair = (where / key).items(raw[key])
            kwargs[key] = tuple((where / key).convert(_time, v) for v in pair)
    if "breaks" in raw:
        kwargs["breaks"] = tuple(tuple((where / "breaks").convert(_time, v) for v in pair)
                                 for pair in (where / "breaks").items(raw["breaks"]))
    if "holidays" in raw:
        kwargs["holidays"] = tuple(
            (parse_date(a, tz, origin), parse_date(b, tz, origin))
            for a, b in ((where / "holidays").items(raw["holidays"])))
    if "public_holidays" in raw:
        kwargs["public_holidays"] = tuple(parse_date(d, tz, origin)
                                          for d in (where / "public_holidays").items(raw["public_holidays"]))
    return where.convert(Timetable, **kwargs)


def _measure(room: Classroom, accepts: frozenset[str]) -> Any:
    def measure(t: float, rng: np.random.Generator) -> dict[str, float]:
        room.advance_to(t)
        r = room.readings()
        co2 = r["co2"]
        out = {
            # NDIR sensors: ±(30 ppm + 3 %) accuracy; the noise between two readings is smaller.
            "co2": max(0.0, noisy(rng, co2, 8 + 0.01 * co2, 1)),
            "temperature": noisy(rng, r["temperature"], 0.05, 0.1),
            "humidity": min(100.0, max(0.0, noisy(rng, r["humidity"], 0.3, 0.5))),
            "pressure": noisy(rng, r["pressure"], 0.2, 0.1),
            "occupancy": r["occupancy"],
            "motion_count": float(rng.poisson(25)) if r["occupancy"] else 0.0,
            "light": max(0.0, noisy(rng, r["light"], 10, 1)),
            "light_level": r["light_level"],
            "tvoc": max(0.0, noisy(rng, 80 + 0.1 * (co2 - 420), 10, 1)),
            "tvoc_ppb": max(0.0, noisy(rng, 40 + 0.05 * (co2 - 420), 5, 1)),
            "tvoc_index": min(500.0, max(0.0, noisy(rng, 50 + 0.05 * (co2 - 420), 3, 1))),
        }
        return {k: v for k, v in out.items() if k in accepts}
    return measure


def build(section: list[Any], where: Where, ctx: BuildContext) -> FamilyBuild:
    devices: list[SimDevice] = []
    rooms: dict[str, Classroom] = {}
    for i, raw_school in enumerate(section):
        at = where / i
        school = at.mapping(raw_school)
        if "name" not in school:
            raise at.error("a school needs a name")
        site = str(school["name"])
        timetable = _timetable(school.get("timetable"), at / "timetable", ctx)
        for j, raw_room in enumerate((at / "rooms").items(school.get("rooms"))):
            for entry, here in device_entries(raw_room, at / "rooms" / j, ctx):
                name = f"{site}-{entry['name']}"
                spec, codec = make_spec(entry, here, ctx, site, name=name,
                                        tags={"family": "co2", "room": str(entry["name"])},
                                        defaults={"latitude": school.get("latitude"),
                                                  "longitude": school.get("longitude"), "wall_loss_db": 12.0,
                                                  **{k: v for k, v in school.items() if k == "period"}})
                overrides = {k: v for k, v in {**school, **entry}.items() if k != "timetable"}
                params = here.convert(RoomParams, timetable=timetable,
                                      **dataclass_kwargs(RoomParams, overrides, here))
                room = Classroom(params, ctx.scenario.start, ctx.rng("room", name), tz=ctx.scenario.tz)
                rooms[name] = room
                devices.append(SimDevice(spec, codec, _measure(room, codec.accepts)))

    def truth(until: float) -> dict[str, Any]:
        for room in rooms.values():
            room.advance_to(until)
        return {"rooms": {name: {"peak_co2_ppm": round(room.peak_co2[1], 1), "peak_co2_time": room.peak_co2[0],
                                 "volume_m3": room.params.volume_m3, "pupils": room.params.pupils}
                          for name, room in rooms.items()}}

    return FamilyBuild(devices, truth)
