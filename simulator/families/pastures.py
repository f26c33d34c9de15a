"""``pastures:`` - a fenced pasture, its flock and guard dogs, GPS collars, and a scripted escape.

    pastures:
      - name: coussoul-des-cabanes
        polygon: [[43.6001, 4.8102], [43.6050, 4.8230], [43.5990, 4.8301], [43.5941, 4.8160]]
        bedding: [43.5998, 4.8190]         # night spot (default: the pasture's centroid)
        altitude_m: 20
        flock: {sheep: 40, dogs: 2, spread_m: 20}              # FlockParams fields
        gps: {noise_m: 4, miss_probability: 0.05}              # GpsCollar fields
        collars:
          - {name: brebis, profile: dragino-lgt92, sheep: [0, 11], period: 15min}    # sheep 0..11 inclusive
          - {name: patou, profile: abeeway-compact-tracker, dogs: [0, 1]}
        escape: {at: "+1d10h", count: 12, breach: [43.6020, 4.8280], target: [43.6080, 4.8350]}

Collars are named ``<pasture>-<name>-<index>``; they are registered at the bedding spot.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.clock import local_hour
from simulator.families.common import BuildContext, FamilyBuild, SimDevice, make_spec
from simulator.geo import LocalFrame, Polygon
from simulator.physics.flock import Escape, Flock, FlockParams, GpsCollar
from simulator.scenario import Where, dataclass_kwargs

__all__ = ["build"]


def _point(value: Any, where: Where) -> tuple[float, float]:
    pair = where.items(value)
    if len(pair) != 2:
        raise where.error("a point is [latitude, longitude]")
    return float(pair[0]), float(pair[1])


def _flock(raw: dict[str, Any], where: Where, ctx: BuildContext, frame: LocalFrame) -> FlockParams:
    kwargs = dataclass_kwargs(FlockParams, (where / "flock").mapping(raw.get("flock", {})), where / "flock")
    if "bedding" in raw:
        kwargs["bedding"] = frame.to_xy(*_point(raw["bedding"], where / "bedding"))
    if "escape" in raw:
        at = where / "escape"
        esc = at.mapping(raw["escape"])
        for key in ("at", "count", "breach", "target"):
            if key not in esc:
                raise at.error(f"an escape needs {key}")
        kwargs["escape"] = at.convert(
            Escape, ctx.instant(esc["at"], at / "at"), int(esc["count"]),
            frame.to_xy(*_point(esc["breach"], at / "breach")), frame.to_xy(*_point(esc["target"], at / "target")),
            float(esc.get("speed_m_s", 0.5)))
    return where.convert(FlockParams, **kwargs)


def _members(collar: dict[str, Any], where: Where, params: FlockParams) -> list[str]:
    out = []
    for kind, size in (("sheep", params.sheep), ("dogs", params.dogs)):
        if kind in collar:
            first, last = (int(v) for v in (where / kind).items(collar[kind]))
            if not 0 <= first <= last < size:
                raise (where / kind).error(f"[first, last] must lie within 0..{size - 1}")
            out += [f"{'sheep' if kind == 'sheep' else 'dog'}:{n}" for n in range(first, last + 1)]
    if not out:
        raise where.error("a collar entry needs sheep: [first, last] and/or dogs: [first, last]")
    return out


def build(section: list[Any], where: Where, ctx: BuildContext) -> FamilyBuild:
    devices: list[SimDevice] = []
    flocks: dict[str, tuple[Flock, LocalFrame, dict[str, str]]] = {}
    for i, raw_pasture in enumerate(section):
        at = where / i
        raw = dict(at.mapping(raw_pasture))
        for key in ("name", "polygon", "collars"):
            if key not in raw:
                raise at.error(f"a pasture needs {key}")
        site = str(raw["name"])
        corners = [_point(p, at / "polygon" / k) for k, p in enumerate((at / "polygon").items(raw["polygon"]))]
        frame = LocalFrame(sum(p[0] for p in corners) / len(corners), sum(p[1] for p in corners) / len(corners))
        pasture = at.convert(Polygon.from_latlon, frame, corners)
        params = _flock(raw, at, ctx, frame)
        flock = at.convert(Flock, params, pasture, ctx.scenario.start, ctx.rng("flock", site), tz=ctx.scenario.tz)
        gps = (at / "gps").convert(GpsCollar, **dataclass_kwargs(
            GpsCollar, {"altitude_m": raw.get("altitude_m", 100.0), **(raw.get("gps") or {})}, at / "gps"))
        home = frame.to_latlon(*flock.bedding)
        collared: dict[str, str] = {}
        flocks[site] = (flock, frame, collared)
        for j, raw_collar in enumerate((at / "collars").items(raw["collars"])):
            here = at / "collars" / j
            collar = dict(here.mapping(raw_collar))
            for member in _members(collar, here, params):
                kind, _, n = member.partition(":")
                name = f"{site}-{collar.get('name', kind)}-{int(n):02d}"
                spec, codec = make_spec({**collar, "name": name}, here, ctx, site, name=name,
                                        tags={"family": "tracker", "animal": "dog" if kind == "dog" else "sheep"},
                                        defaults={"latitude": round(home[0], 6), "longitude": round(home[1], 6)})
                collared[name] = member
                devices.append(SimDevice(spec, codec, _measure(flock, member, gps, frame, codec.accepts),
                                         _locate(flock, member, frame)))

    def truth(until: float) -> dict[str, Any]:
        out: dict[str, Any] = {"pastures": {}}
        for site, (flock, frame, collared) in flocks.items():
            flock.advance_to(until)
            esc = flock.params.escape
            escaped_members = {f"sheep:{n}" for n in np.flatnonzero(flock.escaped)}
            out["pastures"][site] = {
                "polygon": [frame.to_latlon(x, y) for x, y in flock.pasture.vertices],
                "escape_time": esc.at if esc else None,
                "escape_started": flock.escape_centre is not None,
                "escaped_collars": sorted(name for name, m in collared.items() if m in escaped_members),
                "escaped_sheep": int(flock.escaped.sum()),
            }
        return out

    return FamilyBuild(devices, truth)


def _measure(flock: Flock, member: str, gps: GpsCollar, frame: LocalFrame, accepts: frozenset[str]) -> Any:
    def measure(t: float, rng: np.random.Generator) -> dict[str, float]:
        flock.advance_to(t)
        # Collars report motion (grazing by day, lying at night) and their own temperature (sun and fleece).
        hour = local_hour(t, flock.tz)
        out = {"motion": 1.0 if flock.is_day(t) else 0.0,
               "temperature": round(14.0 + 7.0 * math.cos(2 * math.pi * (hour - 15) / 24) + rng.normal(0, 0.5), 1)}
        fix = gps.measure(*flock.position(member), frame, rng)
        if fix is not None:   # no fix this time: the collar reports what it can without a position
            out.update(fix)
        return {k: v for k, v in out.items() if k in accepts}
    return measure


def _locate(flock: Flock, member: str, frame: LocalFrame) -> Any:
    def locate(t: float) -> tuple[float, float]:
        flock.advance_to(t)
        return frame.to_latlon(*flock.position(member))
    return locate
