"""``rivers:`` - rivers with flood events, watched by level gauges.

    rivers:
      - name: vidourle
        base_level_m: 0.8            # RiverParams fields
        daily_amplitude_m: 0.03
        floods:
          - {start: "+1d03h", peak_m: 3.2, rise_rate_m_per_h: 1.5, recession_h: 10, lag_h: 0.5}
        gauges:
          - {name: pont-de-sommieres, profile: dragino-ldds75, latitude: 43.78, longitude: 4.09,
             mounting_height_m: 6.0, period: 5min}
          - {name: quai, profile: milesight-em500-swl, latitude: 43.78, longitude: 4.09,
             probe_level_m: 0.0, travel_time: 20min}

A gauge whose profile reports ``distance`` is an ultrasonic sensor above the water (``mounting_height_m``,
also written to the device's params so the backend derives the level); otherwise it is a submersible probe
(``probe_level_m``). ``travel_time`` delays the flood wave for gauges downstream. Devices are named
``<river>-<gauge>``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.clock import parse_duration
from simulator.families.common import BuildContext, FamilyBuild, SimDevice, device_entries, make_spec
from simulator.physics.river import RainEvent, River, RiverParams, SubmersibleProbe, UltrasonicGauge
from simulator.scenario import Where, dataclass_kwargs

__all__ = ["build"]


def _river(raw: dict[str, Any], where: Where, ctx: BuildContext) -> River:
    events = []
    for k, ev in enumerate((where / "floods").items(raw.get("floods", []))):
        here = where / "floods" / k
        ev = here.mapping(ev)
        if "start" not in ev:
            raise here.error("a flood needs a start")
        kwargs = dataclass_kwargs(RainEvent, ev, here)
        kwargs["start"] = ctx.instant(ev["start"], here / "start")
        events.append(here.convert(RainEvent, **kwargs))
    params = where.convert(RiverParams, events=tuple(events),
                           **dataclass_kwargs(RiverParams, {k: v for k, v in raw.items() if k != "events"}, where))
    return River(params)


def build(section: list[Any], where: Where, ctx: BuildContext) -> FamilyBuild:
    devices: list[SimDevice] = []
    rivers: dict[str, River] = {}
    gauges: dict[str, tuple[str, float, Any]] = {}
    for i, raw_river in enumerate(section):
        at = where / i
        raw = dict(at.mapping(raw_river))
        if "name" not in raw:
            raise at.error("a river needs a name")
        site = str(raw["name"])
        river = rivers[site] = _river(raw, at, ctx)
        for j, raw_gauge in enumerate((at / "gauges").items(raw.get("gauges"))):
            for entry, here in device_entries(raw_gauge, at / "gauges" / j, ctx):
                name = f"{site}-{entry['name']}"
                spec, codec = make_spec(entry, here, ctx, site, name=name, tags={"family": "flood"},
                                        defaults={"wall_loss_db": 3.0})
                delay = (here / "travel_time").convert(parse_duration, entry.get("travel_time", 0))
                sensor: UltrasonicGauge | SubmersibleProbe
                if "distance" in codec.accepts:
                    ultrasonic = here.convert(UltrasonicGauge, **dataclass_kwargs(UltrasonicGauge, entry, here))
                    if "mounting_height_m" in codec.param_names:
                        spec = _with_param(spec, "mounting_height_m", ultrasonic.mounting_height_m)
                    sensor = ultrasonic
                else:
                    sensor = here.convert(SubmersibleProbe, **dataclass_kwargs(SubmersibleProbe, entry, here))
                gauges[name] = (site, delay, sensor)
                devices.append(SimDevice(spec, codec, _measure(river, sensor, delay)))
    start = ctx.scenario.start

    def truth(end: float) -> dict[str, Any]:
        out: dict[str, Any] = {"rivers": {}, "gauges": {}}
        for site, river in rivers.items():
            peak_t, peak_level = river.peak(start, end)
            out["rivers"][site] = {
                "peak_level_m": round(peak_level, 4), "peak_time": peak_t,
                "base_level_m": river.params.base_level_m,
                "floods": [{"start": e.start, "rise_start": e.rise_start, "peak_time": e.peak_time,
                            "peak_m": e.peak_m, "rise_rate_m_per_h": e.rise_rate_m_per_h,
                            "recession_h": e.recession_h} for e in river.params.events]}
        for name, (site, delay, sensor) in gauges.items():
            peak_t, peak_level = rivers[site].peak(start - delay, end - delay)
            if isinstance(sensor, SubmersibleProbe):        # a probe reports the depth above itself
                peak_level -= sensor.probe_level_m
            out["gauges"][name] = {"river": site, "peak_level_m": round(peak_level, 4),
                                   "peak_time": peak_t + delay, "kind": type(sensor).__name__}
        return out

    return FamilyBuild(devices, truth)


def _with_param(spec: Any, key: str, value: float) -> Any:
    from dataclasses import replace

    return replace(spec, params={**spec.params, key: value})


def _measure(river: River, sensor: UltrasonicGauge | SubmersibleProbe, delay: float) -> Any:
    def measure(t: float, rng: np.random.Generator) -> dict[str, float]:
        return sensor.measure(river.level(t - delay), rng)
    return measure
