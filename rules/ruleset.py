"""Rules as loaded from files: which devices a rule selects, its kind's parsed condition, severity and route.

    rules:
      - id: crue-montee-rapide
        title: Montée rapide du niveau d'eau
        select: {family: flood, site: [pont-mairie, lavoir], tags: {zone: nord}}
        kind: rate_of_change
        params: {quantity: water_level, rise: 0.20, within: 15m}
        severity: critical
        route: crue

``select`` keys: ``family``, ``profile``, ``site`` (one value or a list), ``tags`` (every key/value must match),
``devices`` (DevEUIs). All given keys must match; an empty ``select`` matches every device.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rules.kinds import KINDS
from rules.model import Condition, DeviceInfo, Severity
from rules.params import ParamError, Params
from rules.yamlmarks import ConfigFileError, line_of

__all__ = ["Selector", "Rule", "parse_rule"]

_RULE_KEYS = {"id", "title", "description", "select", "kind", "params", "severity", "route"}
_SELECT_KEYS = {"family", "profile", "site", "tags", "devices"}


@dataclass(frozen=True, slots=True)
class Selector:
    families: frozenset[str] | None = None
    profiles: frozenset[str] | None = None
    sites: frozenset[str] | None = None
    devices: frozenset[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def matches(self, device: DeviceInfo) -> bool:
        if self.devices is not None and device.dev_eui not in self.devices:
            return False
        if self.families is not None and device.family not in self.families:
            return False
        if self.profiles is not None and device.profile not in self.profiles:
            return False
        if self.sites is not None and device.site not in self.sites:
            return False
        return all(str(device.tags.get(k)) == v for k, v in self.tags.items())

    def as_matchers(self) -> dict[str, Any]:
        return {k: sorted(v) for k, v in (("family", self.families), ("profile", self.profiles),
                                          ("site", self.sites), ("dev_eui", self.devices)) if v is not None}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    kind: str
    condition: Condition
    severity: Severity
    route: str
    selector: Selector
    description: str = ""
    file: str = ""
    line: int = 0

    def __hash__(self) -> int:
        return hash(self.id)


def _values(raw: Mapping[str, Any], key: str, file: str) -> frozenset[str] | None:
    if key not in raw:
        return None
    value = raw[key]
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in items):
        raise ConfigFileError(file, line_of(raw, key), f"select.{key}: expected a name or a list of names")
    return frozenset(str(v).lower() if key == "devices" else str(v) for v in items)


def _selector(raw: Any, file: str, at: int | None) -> Selector:
    if raw is None:
        return Selector()
    if not isinstance(raw, Mapping):
        raise ConfigFileError(file, at, "select: expected a mapping (family, profile, site, tags, devices)")
    for key in raw:
        if key not in _SELECT_KEYS:
            raise ConfigFileError(file, line_of(raw, key), f"select.{key}: unknown selector; known: "
                                  + ", ".join(sorted(_SELECT_KEYS)))
    tags = raw.get("tags", {})
    if not isinstance(tags, Mapping):
        raise ConfigFileError(file, line_of(raw, "tags"), "select.tags: expected a mapping of tag: value")
    families = _values(raw, "family", file)
    if families is not None and not families <= {"co2", "flood", "bin", "tracker"}:
        raise ConfigFileError(file, line_of(raw, "family"), "select.family: families are co2, flood, bin, tracker")
    return Selector(families, _values(raw, "profile", file), _values(raw, "site", file),
                    _values(raw, "devices", file), {str(k): str(v) for k, v in tags.items()})


def parse_rule(raw: Any, file: str, line: int | None) -> Rule:
    """One entry of a ``rules:`` list; every problem raises ConfigFileError(file, line, reason)."""
    if not isinstance(raw, Mapping):
        raise ConfigFileError(file, line, "a rule must be a mapping with id, kind, params, severity, route")
    for key in raw:
        if key not in _RULE_KEYS:
            raise ConfigFileError(file, line_of(raw, key), f"unknown rule key {key!r}; known: "
                                  + ", ".join(sorted(_RULE_KEYS)))
    for key in ("id", "kind", "route"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigFileError(file, line_of(raw, key) if key in raw else line,
                                  f"rule needs {key!r} (a non-empty string)")
    rule_id = raw["id"]
    where = f"rule {rule_id}"
    if raw["kind"] not in KINDS:
        raise ConfigFileError(file, line_of(raw, "kind"), f"{where}: unknown kind {raw['kind']!r}; known: "
                              + ", ".join(sorted(KINDS)))
    try:
        severity = Severity.parse(raw.get("severity", "warning"))
    except ValueError as exc:
        raise ConfigFileError(file, line_of(raw, "severity"), f"{where}: {exc}") from None
    try:
        condition = KINDS[raw["kind"]](Params(raw.get("params"), "params"), severity)
    except ParamError as exc:
        at = line_of(exc.container, exc.key) or line_of(raw, "params") or line
        raise ConfigFileError(file, at, f"{where}: {exc.reason}") from None
    return Rule(
        id=rule_id, title=str(raw.get("title", rule_id)), kind=raw["kind"], condition=condition,
        severity=severity, route=raw["route"], selector=_selector(raw.get("select"), file, line_of(raw, "select")),
        description=str(raw.get("description", "")), file=file, line=line or 0,
    )
