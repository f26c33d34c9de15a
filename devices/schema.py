"""Reading and validating ``profile.yaml`` into plain spec objects (no decoder is loaded here).

Every problem raises ``ProfileError`` naming the file, the line when it can be found, and the field in the form
``readings[2].quantity``: an integrator must be able to fix a profile from the message alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devices.derive import FUNCTIONS
from devices.quantities import QUANTITIES

__all__ = ["ProfileError", "ProfileSpec", "ParamSpec", "FieldSpec", "ReadingSpec", "PositionSpec", "DeriveSpec",
           "FAMILIES", "read_profile_spec", "load_yaml"]

FAMILIES = ("co2", "flood", "bin", "tracker")
LORAWAN_CLASSES = ("A", "B", "C")
PARSERS = ("number",)
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PARAM = re.compile(r"^[a-z][a-z0-9_]*$")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ProfileError(Exception):
    """A device profile is invalid. The message names the file and the field (and the line when known)."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    default: Any                # None: no default, every device must set it
    unit: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where a number sits in the decoder's data and how to turn it into the vocabulary's unit."""

    path: str
    scale: float = 1.0
    offset: float = 0.0
    map: Mapping[Any, float] | None = None
    parse: str | None = None


@dataclass(frozen=True, slots=True)
class ReadingSpec:
    quantity: str
    field: FieldSpec


@dataclass(frozen=True, slots=True)
class PositionSpec:
    latitude: FieldSpec
    longitude: FieldSpec
    altitude: FieldSpec | None = None
    accuracy: FieldSpec | None = None


@dataclass(frozen=True, slots=True)
class DeriveSpec:
    quantity: str
    function: str
    params: Mapping[str, str | float]    # function parameter -> profile parameter name, or a constant


@dataclass(frozen=True)
class ProfileSpec:
    path: Path
    id: str
    vendor: str
    model: str
    family: str
    lorawan_class: str
    uplink_period_s: int
    fports: tuple[int, ...]
    decoder: str
    description: str = ""
    datasheet: str = ""
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    readings: tuple[ReadingSpec, ...] = ()
    position: PositionSpec | None = None
    derive: tuple[DeriveSpec, ...] = ()


def load_yaml(path: Path) -> tuple[Any, str]:
    """Parse a YAML file, turning syntax errors into ProfileError with the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_Loader), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ProfileError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


class _Checker:
    """Builds error messages that point at a field (and its line, found lazily only when reporting)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def error(self, where: tuple[str | int, ...], problem: str) -> ProfileError:
        name = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(where))
        line = _line_of(self.text, where)
        loc = f"{self.path}:{line}" if line else str(self.path)
        return ProfileError(f"{loc}: {name or 'profile'}: {problem}")

    def mapping(self, value: Any, where: tuple[str | int, ...], known: tuple[str, ...],
                required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"must be a mapping, got {_kind(value)}")
        for key in value:
            if key not in known:
                raise self.error((*where, str(key)), f"unknown field; known fields: {', '.join(known)}")
        for key in required:
            if key not in value:
                raise self.error((*where, key), "is required")
        return value

    def string(self, value: Any, where: tuple[str | int, ...], *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.error(where, f"must be {'a' if empty else 'a non-empty'} text (quote it), got {_kind(value)}")
        return value

    def number(self, value: Any, where: tuple[str | int, ...]) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(where, f"must be a number, got {_kind(value)}")
        return float(value)


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def _line_of(text: str, where: tuple[str | int, ...]) -> int | None:
    """1-based line of the node at *where* (or of its nearest existing parent) in the YAML text."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in where:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            if found is None:
                key = next((k for k, _ in node.value if k.value == str(part)), None)
                return key.start_mark.line + 1 if key is not None else line
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


TOP_FIELDS = ("id", "vendor", "model", "family", "description", "lorawan_class", "uplink_period_s", "fports",
              "decoder", "datasheet", "params", "readings", "position", "derive")
REQUIRED = ("id", "vendor", "model", "family", "lorawan_class", "uplink_period_s", "fports", "decoder")
FIELD_KEYS = ("path", "scale", "offset", "map", "parse")


def read_profile_spec(path: Path) -> ProfileSpec:
    """Load and validate one ``profile.yaml``; raise ProfileError on the first problem found."""
    raw, text = load_yaml(path)
    c = _Checker(path, text)
    doc = c.mapping(raw, (), TOP_FIELDS, REQUIRED)
    profile_id = c.string(doc["id"], ("id",))
    if not _ID.match(profile_id):
        raise c.error(("id",), f"{profile_id!r} must be <vendor>-<model> in lowercase letters, digits and dashes")
    family = doc["family"]
    if family not in FAMILIES:
        raise c.error(("family",), f"{family!r} is not one of {', '.join(FAMILIES)}")
    if doc["lorawan_class"] not in LORAWAN_CLASSES:
        raise c.error(("lorawan_class",), f"{doc['lorawan_class']!r} is not one of {', '.join(LORAWAN_CLASSES)}")
    period = doc["uplink_period_s"]
    if isinstance(period, bool) or not isinstance(period, int) or period <= 0:
        raise c.error(("uplink_period_s",), f"must be a whole number of seconds greater than 0, got {_kind(period)}")
    params = _params(c, doc.get("params"))
    return ProfileSpec(
        path=path, id=profile_id, vendor=c.string(doc["vendor"], ("vendor",)),
        model=c.string(doc["model"], ("model",)), family=family, lorawan_class=doc["lorawan_class"],
        uplink_period_s=period, fports=_fports(c, doc["fports"]), decoder=_decoder(c, doc["decoder"], path.parent),
        description=c.string(doc.get("description", ""), ("description",), empty=True),
        datasheet=c.string(doc.get("datasheet", ""), ("datasheet",), empty=True),
        params=params, readings=_readings(c, doc.get("readings")),
        position=_position(c, doc.get("position")), derive=_derive(c, doc.get("derive"), params),
    )


def _fports(c: _Checker, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise c.error(("fports",), f"must be a non-empty list of fPorts, got {_kind(value)}")
    for i, port in enumerate(value):
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 223:
            raise c.error(("fports", i), f"must be an application fPort 1..223, got {_kind(port)}")
    if len(set(value)) != len(value):
        raise c.error(("fports",), "lists an fPort twice")
    return tuple(value)


def _decoder(c: _Checker, value: Any, folder: Path) -> str:
    name = c.string(value, ("decoder",))
    if "/" in name or "\\" in name or not name.endswith((".py", ".js")):
        raise c.error(("decoder",), f"{name!r} must be a .py or .js file name in the profile's own folder")
    if not (folder / name).is_file():
        raise c.error(("decoder",), f"file {folder / name} does not exist")
    return name


def _params(c: _Checker, value: Any) -> dict[str, ParamSpec]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise c.error(("params",), f"must be a mapping of parameter name to {{default, unit, description}}, "
                                   f"got {_kind(value)}")
    out = {}
    for name, spec in value.items():
        where: tuple[str | int, ...] = ("params", str(name))
        if not isinstance(name, str) or not _PARAM.match(name):
            raise c.error(where, "parameter names are lowercase identifiers (letters, digits, _)")
        spec = c.mapping(spec, where, ("default", "unit", "description"))
        default = spec.get("default")
        if default is not None and not isinstance(default, (int, float, str, bool)):
            raise c.error((*where, "default"), f"must be a number, text or boolean, got {_kind(default)}")
        unit = spec.get("unit")
        out[name] = ParamSpec(name, default, None if unit is None else c.string(unit, (*where, "unit")),
                              c.string(spec.get("description", ""), (*where, "description"), empty=True))
    return out


def _field(c: _Checker, value: Any, where: tuple[str | int, ...], keys: tuple[str, ...] = FIELD_KEYS,
           extra: dict[str, Any] | None = None) -> FieldSpec:
    spec = {"path": value} if isinstance(value, str) else c.mapping(value, where, keys, ("path",))
    path = c.string(spec["path"], (*where, "path"))
    if any(not part for part in path.split(".")):
        raise c.error((*where, "path"), f"{path!r} has an empty component (write a.b.0.c)")
    scale = c.number(spec.get("scale", 1.0), (*where, "scale"))
    if scale == 0:
        raise c.error((*where, "scale"), "must not be 0")
    mapping = spec.get("map")
    if mapping is not None:
        if not isinstance(mapping, dict) or not mapping:
            raise c.error((*where, "map"), f"must be a non-empty mapping of decoded value to number, got "
                                           f"{_kind(mapping)}")
        for key, number in mapping.items():
            c.number(number, (*where, "map", str(key)))
    parse = spec.get("parse")
    if parse is not None and parse not in PARSERS:
        raise c.error((*where, "parse"), f"{parse!r} is not one of {', '.join(PARSERS)}")
    return FieldSpec(path, scale, c.number(spec.get("offset", 0.0), (*where, "offset")), mapping, parse)


def _quantity(c: _Checker, value: Any, where: tuple[str | int, ...]) -> str:
    if value not in QUANTITIES:
        raise c.error(where, f"unknown quantity {value!r}; the vocabulary (devices/quantities.py) has: "
                             f"{', '.join(sorted(QUANTITIES))}")
    return str(value)


def _readings(c: _Checker, value: Any) -> tuple[ReadingSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise c.error(("readings",), f"must be a list of {{quantity, path, ...}}, got {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        where: tuple[str | int, ...] = ("readings", i)
        item = c.mapping(item, where, ("quantity", *FIELD_KEYS), ("quantity", "path"))
        quantity = _quantity(c, item["quantity"], (*where, "quantity"))
        out.append(ReadingSpec(quantity, _field(c, {k: v for k, v in item.items() if k != "quantity"}, where)))
    return tuple(out)


def _position(c: _Checker, value: Any) -> PositionSpec | None:
    if value is None:
        return None
    doc = c.mapping(value, ("position",), ("latitude", "longitude", "altitude", "accuracy"),
                    ("latitude", "longitude"))
    fields = {k: _field(c, v, ("position", k)) for k, v in doc.items()}
    return PositionSpec(fields["latitude"], fields["longitude"], fields.get("altitude"), fields.get("accuracy"))


def _derive(c: _Checker, value: Any, params: Mapping[str, ParamSpec]) -> tuple[DeriveSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise c.error(("derive",), f"must be a list of {{quantity, function, params}}, got {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        where: tuple[str | int, ...] = ("derive", i)
        item = c.mapping(item, where, ("quantity", "function", "params"), ("quantity", "function"))
        quantity = _quantity(c, item["quantity"], (*where, "quantity"))
        fn = FUNCTIONS.get(item["function"])
        if fn is None:
            raise c.error((*where, "function"), f"unknown function {item['function']!r}; known: "
                                                f"{', '.join(sorted(FUNCTIONS))}")
        given = item.get("params") or {}
        if not isinstance(given, dict):
            raise c.error((*where, "params"), f"must map function parameters to profile parameters, "
                                              f"got {_kind(given)}")
        for arg, unit in fn.params.items():
            if arg not in given:
                if arg in fn.optional:
                    continue
                raise c.error((*where, "params", arg), f"is required by {item['function']} (a parameter in {unit})")
            source = given[arg]
            if isinstance(source, str):
                if source not in params:
                    raise c.error((*where, "params", arg), f"names {source!r}, which is not declared under params:")
                declared = params[source].unit
                if declared != unit:
                    raise c.error(("params", source, "unit"), f"must be {unit!r} for {item['function']}'s {arg}, "
                                                              f"got {declared!r}")
            else:
                c.number(source, (*where, "params", arg))
        for arg in given:
            if arg not in fn.params:
                raise c.error((*where, "params", str(arg)), f"{item['function']} has no parameter {arg!r}; it "
                                                            f"takes {', '.join(fn.params)}")
        out.append(DeriveSpec(quantity, item["function"], dict(given)))
    return tuple(out)
