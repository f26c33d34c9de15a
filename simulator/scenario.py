"""Scenario files: declarative YAML naming the network, the sites and their devices, events and faults.

A file has a header (``scenario``, ``description``, ``start``, ``duration``, ``timezone``), a ``network``
(application, tenant, gateways), optional ``faults``, and one section per family: ``schools``, ``rivers``,
``waste``, ``pastures`` (see ``simulator/families/``). Times inside a scenario are ISO date-times or offsets
from its start (``"+1d14h"``), so ``--start`` moves a whole scenario. Errors name the file and the key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from simulator.clock import parse_duration, parse_instant
from simulator.physics.faults import FaultParams
from simulator.radio import Gateway

__all__ = ["ScenarioError", "Scenario", "load_scenario", "scenario_path", "SCENARIO_DIR", "builtin_scenarios",
           "FAMILY_SECTIONS", "Where", "dataclass_kwargs"]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
FAMILY_SECTIONS = ("schools", "rivers", "waste", "pastures")


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Where:
    """Where in a scenario file a value comes from, for error messages (``file: rivers[0].gauges[1].name``)."""

    file: str
    path: str = ""

    def __truediv__(self, key: str | int) -> Where:
        step = f"[{key}]" if isinstance(key, int) else (f".{key}" if self.path else key)
        return Where(self.file, self.path + step)

    def error(self, message: str) -> ScenarioError:
        return ScenarioError(f"{self.file}: {self.path or '(top level)'}: {message}")

    def mapping(self, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(f"expected a mapping, got {type(value).__name__}")
        return value

    def items(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(f"expected a list, got {type(value).__name__}")
        return value

    def convert(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise self.error(str(exc)) from None


def dataclass_kwargs(cls: type, raw: Mapping[str, Any], where: Where,
                     convert: Mapping[str, Callable[[Any], Any]] | None = None) -> dict[str, Any]:
    """The keys of *raw* that are fields of dataclass *cls*, converted (durations, instants...) and typed."""
    names = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            continue
        here = where / key
        if convert and key in convert:
            value = here.convert(convert[key], value)
        elif isinstance(value, bool):
            pass
        elif names[key].type in ("float", float) and isinstance(value, int | float):
            value = float(value)
        elif names[key].type in ("int", int) and not isinstance(value, int):
            raise here.error(f"expected an integer, got {value!r}")
        out[key] = value
    return out


@dataclass(frozen=True)
class FaultRule:
    """Fault parameters applied to the devices whose name matches one of ``patterns`` (shell globs)."""

    patterns: tuple[str, ...]
    values: Mapping[str, Any]

    def matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    file: str
    start: float
    duration_s: float
    tz: ZoneInfo
    application: str
    tenant: str
    gateways: tuple[Gateway, ...]
    radio: Mapping[str, float]
    sections: Mapping[str, list[Any]]
    fault_rules: tuple[FaultRule, ...] = field(default_factory=tuple)

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    def where(self, path: str = "") -> Where:
        return Where(self.file, path)

    def instant(self, value: Any, where: Where) -> float:
        return where.convert(parse_instant, value, self.tz, self.start)

    def faults_for(self, device_name: str) -> FaultParams:
        """Merge the matching ``faults`` rules (later rules win) into one FaultParams."""
        merged: dict[str, Any] = {}
        for rule in self.fault_rules:
            if rule.matches(device_name):
                merged.update(rule.values)
        return FaultParams(**merged)

    def with_start(self, start: float) -> Scenario:
        """The same scenario starting at another instant (relative times follow; absolute ones stay)."""
        from dataclasses import replace

        return replace(self, start=start)


def _gateway(raw: Any, where: Where) -> Gateway:
    raw = where.mapping(raw)
    for key in ("name", "latitude", "longitude"):
        if key not in raw:
            raise where.error(f"a gateway needs {key}")
    gw_id = str(raw.get("id") or _gateway_eui(str(raw["name"])))
    if len(gw_id) != 16 or any(c not in "0123456789abcdef" for c in gw_id):
        raise (where / "id").error("a gateway id is 16 lowercase hex characters (its EUI)")
    return Gateway(gw_id, str(raw["name"]), float(raw["latitude"]), float(raw["longitude"]),
                   float(raw.get("altitude", 0.0)))


def _gateway_eui(name: str) -> str:
    import hashlib

    return "7276ff00" + hashlib.sha256(name.encode()).hexdigest()[:8]


def _fault_rules(raw: Any, where: Where, scenario_start: float, tz: ZoneInfo) -> tuple[FaultRule, ...]:
    known = {f.name for f in fields(FaultParams)}
    rules = []
    for i, item in enumerate(where.items(raw)):
        here = where / i
        item = dict(here.mapping(item))
        patterns = item.pop("devices", None)
        if patterns is None:
            raise here.error("a fault rule needs devices: (a name, a glob such as 'ecole-*', or a list)")
        patterns = (patterns,) if isinstance(patterns, str) else tuple(str(p) for p in patterns)
        unknown = set(item) - known
        if unknown:
            raise here.error(f"unknown fault parameter(s) {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for key, value in item.items():
            at = here / key
            if key == "reboots":
                values[key] = tuple(at.convert(parse_instant, v, tz, scenario_start) for v in at.items(value))
            elif key == "silences":
                windows = []
                for j, window in enumerate(at.items(value)):
                    w = at / j
                    window = w.mapping(window)
                    start = w.convert(parse_instant, window.get("from"), tz, scenario_start)
                    end = None if window.get("to") is None else w.convert(parse_instant, window["to"], tz,
                                                                          scenario_start)
                    windows.append((start, end))
                values[key] = tuple(windows)
            else:
                values[key] = at.convert(float, value)
        here.convert(FaultParams, **values)        # validate early, pointing at this rule
        rules.append(FaultRule(patterns, values))
    return tuple(rules)


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    where = Where(str(path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    raw = where.mapping(raw)
    known = {"scenario", "description", "start", "duration", "timezone", "network", "faults", *FAMILY_SECTIONS}
    unknown = set(raw) - known
    if unknown:
        raise where.error(f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    for key in ("scenario", "start", "duration", "network"):
        if key not in raw:
            raise where.error(f"missing {key}")
    try:
        tz = ZoneInfo(str(raw.get("timezone", "Europe/Paris")))
    except ZoneInfoNotFoundError:
        raise (where / "timezone").error(f"unknown time zone {raw.get('timezone')!r}") from None
    start = (where / "start").convert(parse_instant, raw["start"], tz)
    duration = (where / "duration").convert(parse_duration, raw["duration"])
    net = (where / "network").mapping(raw["network"])
    gateways = tuple(_gateway(g, where / "network" / "gateways" / i)
                     for i, g in enumerate((where / "network" / "gateways").items(net.get("gateways"))))
    if not gateways:
        raise (where / "network" / "gateways").error("at least one gateway is needed")
    sections = {name: (where / name).items(raw[name]) for name in FAMILY_SECTIONS if name in raw}
    if not sections:
        raise where.error(f"a scenario needs at least one of {', '.join(FAMILY_SECTIONS)}")
    return Scenario(
        name=str(raw["scenario"]),
        description=str(raw.get("description", "")).strip(),
        file=str(path),
        start=start,
        duration_s=duration,
        tz=tz,
        application=str(net.get("application", raw["scenario"])),
        tenant=str(net.get("tenant", "beffroi")),
        gateways=gateways,
        radio={k: float(v) for k, v in (where / "network" / "radio").mapping(net.get("radio", {})).items()},
        sections=sections,
        fault_rules=_fault_rules(raw.get("faults", []), where / "faults", start, tz),
    )


def builtin_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def scenario_path(name_or_path: str) -> Path:
    """A built-in scenario name (``flash-flood``) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    builtin = SCENARIO_DIR / f"{name_or_path}.yaml"
    if builtin.exists():
        return builtin
    raise ScenarioError(f"no scenario {name_or_path!r}: give a YAML path or one of "
                        f"{', '.join(builtin_scenarios())}")
