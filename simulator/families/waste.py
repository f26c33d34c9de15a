"""``waste:`` - collection rounds and their bins, with fill-level sensors.

    waste:
      - name: centre-ville                  # the round; BinParams fields here are defaults for its bins
        collection_weekdays: [1, 4]         # Tuesday and Friday
        collection_hour: 6.5
        missed_collections: ["+3d"]         # the Friday round does not come (dates, or offsets from start)
        bins:
          - {name: marche, use: market, profile: dingtek-df703, count: 4, latitude: 43.6, longitude: 3.88,
             spread_m: 60, bin_depth_mm: 1200, mount_offset_mm: 50, daily_fill_pct: 30}
          - {name: square, use: park, profile: milesight-em310-udl, latitude: 43.61, longitude: 3.87,
             events: [{kind: fire, at: "+2d21h", duration: 2h}]}

Devices are named ``<round>-<bin>``; ``bin_depth_mm`` and ``mount_offset_mm`` are the sensor geometry (and
the device's params, from which the backend derives the fill level).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.clock import parse_date, parse_duration
from simulator.families.common import BuildContext, FamilyBuild, SimDevice, device_entries, make_spec
from simulator.physics.bins import BinEvent, BinParams, BinSensor, WasteBin
from simulator.scenario import Where, dataclass_kwargs

__all__ = ["build"]


def _params(raw: dict[str, Any], where: Where, ctx: BuildContext) -> BinParams:
    tz, origin = ctx.scenario.tz, ctx.scenario.start
    kwargs = dataclass_kwargs(BinParams, raw, where, {
        "collection_weekdays": lambda v: tuple(int(d) for d in v),
        "missed_collections": lambda v: tuple(parse_date(d, tz, origin) for d in v),
        "events": lambda v: tuple(
            BinEvent(str(e["kind"]), ctx.instant(e["at"], where / "events"),
                     parse_duration(e.get("duration", "1h"))) for e in v),
    })
    return where.convert(BinParams, **kwargs)


def _measure(bin_: WasteBin, sensor: BinSensor, accepts: frozenset[str]) -> Any:
    def measure(t: float, rng: np.random.Generator) -> dict[str, float]:
        fill = bin_.advance_to(t)
        readings = sensor.measure(fill, bin_.condition(t), rng)
        return {k: v for k, v in readings.items() if k in accepts and k != "fill_level"}
    return measure


def build(section: list[Any], where: Where, ctx: BuildContext) -> FamilyBuild:
    devices: list[SimDevice] = []
    bins: dict[str, tuple[str, WasteBin]] = {}
    for i, raw_round in enumerate(section):
        at = where / i
        round_ = dict(at.mapping(raw_round))
        if "name" not in round_:
            raise at.error("a collection round needs a name")
        site = str(round_["name"])
        defaults = {k: v for k, v in round_.items() if k not in ("name", "bins")}
        for j, raw_bin in enumerate((at / "bins").items(round_.get("bins"))):
            for entry, here in device_entries(raw_bin, at / "bins" / j, ctx):
                merged = {**defaults, **entry}
                name = f"{site}-{entry['name']}"
                spec, codec = make_spec(merged, here, ctx, site, name=name,
                                        tags={"family": "bin", "use": str(merged.get("use", "residential"))},
                                        defaults={"wall_loss_db": 6.0})
                sensor = here.convert(BinSensor, **dataclass_kwargs(BinSensor, merged, here))
                params = _params(merged, here, ctx)
                bin_ = WasteBin(params, ctx.scenario.start, ctx.rng("bin", name), tz=ctx.scenario.tz,
                                initial_fill_pct=merged.get("initial_fill_pct"))
                bins[name] = (site, bin_)
                for key in ("bin_depth_mm", "mount_offset_mm"):
                    if key in codec.param_names and key not in spec.params:
                        from dataclasses import replace

                        spec = replace(spec, params={**spec.params, key: getattr(sensor, key)})
                devices.append(SimDevice(spec, codec, _measure(bin_, sensor, codec.accepts)))

    def truth(until: float) -> dict[str, Any]:
        for _, b in bins.values():
            b.advance_to(until)
        return {"bins": {name: {
            "round": site, "fill_pct": round(b.fill_pct, 2), "overflow_l": round(b.overflow_l, 1),
            "full_since": b.full_since,
            "collections": [{"time": t, "before_pct": round(before, 2), "after_pct": round(after, 2)}
                            for t, before, after in b.collections],
        } for name, (site, b) in bins.items()}}

    return FamilyBuild(devices, truth)
