"""What every family builder shares: the build context, simulated devices, and device entries of a scenario.

A device entry is a mapping with ``name``, ``profile``, ``latitude``, ``longitude`` and optionally ``period``
(default: the profile's uplink period), ``dev_eui``, ``tags``, ``wall_loss_db``, and ``count`` with
``spread_m`` to stand for several identical devices scattered around the point (``name-01``, ``name-02``...).
Keys naming a profile parameter (``mounting_height_m``, ``bin_depth_mm``...) become the device's params.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.codecs import Codec, CodecError, codec_for
from simulator.fleet import DeviceSpec, derive_dev_eui
from simulator.geo import LocalFrame
from simulator.scenario import Scenario, Where

__all__ = ["BuildContext", "SimDevice", "FamilyBuild", "device_entries", "make_spec", "noisy"]

Measure = Callable[[float, np.random.Generator], "dict[str, float] | None"]


@dataclass(frozen=True)
class BuildContext:
    scenario: Scenario
    seed: int

    def rng(self, *key: str) -> np.random.Generator:
        """A generator of its own for each named thing, so adding a device does not shift everyone's dice."""
        digest = hashlib.sha256("/".join(key).encode()).digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest[:8], "big")])

    def instant(self, value: Any, where: Where) -> float:
        return self.scenario.instant(value, where)


@dataclass
class SimDevice:
    """A device in play: who it is, its codec, how it measures at time t (None: nothing to send), and where it
    is (trackers move; others stay at their registered spot)."""

    spec: DeviceSpec
    codec: Codec
    measure: Measure
    locate: Callable[[float], tuple[float, float]] | None = None

    def location(self, t: float) -> tuple[float, float]:
        return self.locate(t) if self.locate else (self.spec.latitude, self.spec.longitude)


@dataclass
class FamilyBuild:
    """The devices of a family section, and its ground truth up to a given instant (JSON-ready)."""

    devices: list[SimDevice]
    truth: Callable[[float], dict[str, Any]]


def noisy(rng: np.random.Generator, value: float, sigma: float, step: float) -> float:
    """*value* plus Gaussian sensor noise, quantised to the sensor's resolution *step*."""
    return round((value + float(rng.normal(0, sigma))) / step) * step


def device_entries(raw: Any, where: Where, ctx: BuildContext) -> Iterator[tuple[Mapping[str, Any], Where]]:
    """Expand ``count:`` entries into one mapping per device, with a name suffix and a scattered position."""
    entry = where.mapping(raw)
    for key in ("name", "profile"):
        if key not in entry:
            raise where.error(f"a device needs {key}")
    count = int(entry.get("count", 1))
    if count < 1:
        raise (where / "count").error("count must be at least 1")
    if count == 1:
        yield entry, where
        return
    rng = ctx.rng("scatter", str(entry["name"]))
    frame = LocalFrame(float(entry["latitude"]), float(entry["longitude"]))
    spread = float(entry.get("spread_m", 100.0))
    for i in range(count):
        angle, radius = rng.uniform(0, 2 * math.pi), spread * math.sqrt(rng.uniform(0, 1))
        lat, lon = frame.to_latlon(radius * math.cos(angle), radius * math.sin(angle))
        one = dict(entry, name=f"{entry['name']}-{i + 1:02d}", latitude=round(lat, 6), longitude=round(lon, 6))
        one.pop("count")
        one.pop("dev_eui", None)
        yield one, where


def make_spec(entry: Mapping[str, Any], where: Where, ctx: BuildContext, site: str, *,
              name: str | None = None, tags: Mapping[str, str] | None = None,
              defaults: Mapping[str, Any] | None = None) -> tuple[DeviceSpec, Codec]:
    """The DeviceSpec and codec of one device entry (after ``device_entries``); *defaults* are fallbacks for
    keys the entry does not set (e.g. a school's coordinates for its rooms)."""
    from simulator.clock import parse_duration

    merged = {**(defaults or {}), **entry}
    profile = str(merged["profile"])
    try:
        codec = codec_for(profile)
    except CodecError as exc:
        raise (where / "profile").error(str(exc)) from None
    for key in ("latitude", "longitude"):
        if key not in merged:
            raise where.error(f"a device needs {key} (or its site's)")
    full_name = name or str(merged["name"])
    period = (where / "period").convert(parse_duration, merged.get("period", _default_period(codec)))
    params = {k: merged[k] for k in sorted(codec.param_names) if k in merged}
    all_tags = {"scenario": ctx.scenario.name, **(tags or {}),
                **{str(k): str(v) for k, v in (merged.get("tags") or {}).items()}}
    dev_eui = str(merged.get("dev_eui") or derive_dev_eui(ctx.scenario.name, full_name, profile)).lower()
    try:
        spec = DeviceSpec(full_name, dev_eui, profile, site, float(merged["latitude"]), float(merged["longitude"]),
                          period, all_tags, params, float(merged.get("wall_loss_db", 0.0)))
    except ValueError as exc:
        raise where.error(str(exc)) from None
    return spec, codec


def _default_period(codec: Codec) -> float:
    return float(getattr(codec.profile, "uplink_period_s", 600) or 600)
