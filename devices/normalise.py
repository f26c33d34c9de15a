"""From a decoder's vendor-shaped ``data`` to vocabulary readings, positions and derived values.

This runs once per uplink, so everything that can be decided at load time is: paths are split into tuples, the
quantity bounds are looked up once, and the common case (a number at a one-level path, in bounds) costs a dict
lookup and two comparisons. Anything unusable becomes a warning naming the quantity; nothing here raises on odd
decoder output.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from devices.base import Decoded, PositionValue, ReadingValue
from devices.derive import FUNCTIONS
from devices.quantities import check_value, quantity
from devices.schema import DeriveSpec, FieldSpec, ParamSpec, PositionSpec, ReadingSpec

__all__ = ["Field", "Normaliser"]

_MISSING: Any = object()
# leading number of a text such as "2799 mm" or " -1.50"; the unit that may follow is ignored
_LEADING_NUMBER = re.compile(r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


# ReadingValue is a frozen slotted dataclass whose __init__ goes through object.__setattr__ per field: on the hot
# path, filling its slots directly halves the cost of each reading (values here are already validated).
_new_reading = ReadingValue.__new__
_set_quantity = getattr(ReadingValue, "quantity").__set__  # noqa: B009 - the slot descriptor, not a value
_set_value = getattr(ReadingValue, "value").__set__  # noqa: B009


def _reading(name: str, value: float) -> ReadingValue:
    reading = _new_reading(ReadingValue)
    _set_quantity(reading, name)
    _set_value(reading, value)
    return reading


class _NotANumber(Exception):
    pass


class Field:
    """A compiled ``FieldSpec``: finds the value in ``data`` and converts it to a float in canonical units."""

    __slots__ = ("label", "first", "rest", "scale", "offset", "affine", "map", "parse_number", "lo", "hi", "plain")

    def __init__(self, label: str, spec: FieldSpec, bounds_of: str, *, numeric_text: bool = False) -> None:
        parts = spec.path.split(".")
        self.label = label if label == spec.path else f"{label} ({spec.path})"
        self.first = parts[0]
        self.rest = tuple((p, int(p) if p.lstrip("-").isdigit() else None) for p in parts[1:])
        self.scale = spec.scale
        self.offset = spec.offset
        self.affine = spec.scale != 1.0 or spec.offset != 0.0
        self.map = dict(spec.map) if spec.map else None
        self.parse_number = numeric_text or spec.parse == "number"
        q = quantity(bounds_of)
        self.lo, self.hi = q.minimum, q.maximum
        # the common case, a number at a one-level path used as is, is handled inline by Normaliser.apply
        self.plain = not self.rest and not self.affine and self.map is None

    def lookup(self, data: Mapping[str, Any]) -> Any:
        """The raw value at the path, or ``_MISSING`` when any step is absent (or null)."""
        cur = data.get(self.first, _MISSING)
        for key, index in self.rest:
            if cur is _MISSING:
                return cur
            if isinstance(cur, dict):
                cur = cur.get(key, _MISSING)
            elif index is not None and isinstance(cur, list) and -len(cur) <= index < len(cur):
                cur = cur[index]
            else:
                return _MISSING
        return _MISSING if cur is None else cur

    def convert(self, raw: Any) -> float:
        value = raw
        if self.map is not None:
            try:
                value = self.map.get(value, value)
            except TypeError:      # unhashable (a list or dict where a scalar was expected)
                pass
        if self.parse_number and isinstance(value, str):
            match = _LEADING_NUMBER.match(value)
            if match is None:
                raise _NotANumber(f"{self.label}: {raw!r} is not a number; not stored")
            value = float(match.group())
        if isinstance(value, bool):
            value = int(value)
        elif not isinstance(value, (int, float)):
            hint = " (add map: or parse: number to the profile)" if isinstance(value, str) else ""
            raise _NotANumber(f"{self.label}: {raw!r} is not a number{hint}; not stored")
        return value * self.scale + self.offset if self.affine else float(value)


class Normaliser:
    """Applies a profile's ``readings``, ``position`` and ``derive`` sections to a decoded ``data`` mapping."""

    def __init__(self, readings: tuple[ReadingSpec, ...], position: PositionSpec | None,
                 derive: tuple[DeriveSpec, ...], params: Mapping[str, ParamSpec]) -> None:
        self._readings = tuple((r.quantity, Field(r.quantity, r.field, r.quantity)) for r in readings)
        # position fields always read numbers out of text: reference codecs often print coordinates ("48.8566")
        self._position = None if position is None else (
            Field("latitude", position.latitude, "latitude", numeric_text=True),
            Field("longitude", position.longitude, "longitude", numeric_text=True),
            None if position.altitude is None else Field("altitude", position.altitude, "altitude", numeric_text=True),
            None if position.accuracy is None else Field("accuracy", position.accuracy, "gps_accuracy",
                                                         numeric_text=True))
        self._derive = tuple((d.quantity, FUNCTIONS[d.function], tuple(d.params.items()), d.function,
                              quantity(d.quantity).minimum, quantity(d.quantity).maximum) for d in derive)
        self._defaults = {p.name: p.default for p in params.values() if p.default is not None}

    def apply(self, data: Mapping[str, Any], params: Mapping[str, Any], out: Decoded) -> None:
        values: dict[str, float] = {}
        warnings = out.warnings
        for name, fld in self._readings:
            if name in values:          # several paths for one quantity: the first present one wins
                continue
            if fld.plain:
                value = data.get(fld.first)
                if value is None:
                    continue
                kind = value.__class__
                if kind is float:
                    pass
                elif kind is int:
                    value = float(value)
                else:
                    try:
                        value = fld.convert(value)
                    except _NotANumber as exc:
                        warnings.append(str(exc))
                        continue
            else:
                raw = fld.lookup(data)
                if raw is _MISSING:
                    continue
                try:
                    value = fld.convert(raw)
                except _NotANumber as exc:
                    warnings.append(str(exc))
                    continue
            if fld.lo <= value <= fld.hi:
                values[name] = value
            else:
                warnings.append(check_value(name, value) or f"{name}: {value!r} rejected")
        if self._derive:
            self._derived(values, params, warnings)
        if values:
            out.readings = [_reading(q, v) for q, v in values.items()]
        if self._position is not None:
            self._positions(data, out)

    def _derived(self, values: dict[str, float], params: Mapping[str, Any], warnings: list[str]) -> None:
        merged = {**self._defaults, **params} if params else self._defaults
        for name, fn, sources, fn_name, lo, hi in self._derive:
            if name in values:          # the decoder measured it directly; that value wins
                continue
            inputs = [values.get(q) for q in fn.inputs]
            if None in inputs:
                continue
            kwargs: dict[str, float] = {}
            for arg, source in sources:
                if not isinstance(source, str):
                    kwargs[arg] = float(source)
                    continue
                given = merged.get(source)
                if isinstance(given, bool) or not isinstance(given, (int, float)):
                    problem = "is not set for this device" if given is None else f"is {given!r}, not a number"
                    warnings.append(f"{name} not derived: parameter {source} {problem}")
                    break
                kwargs[arg] = float(given)
            else:
                try:
                    value = fn.function(*inputs, **kwargs)
                except (ArithmeticError, ValueError) as exc:
                    warnings.append(f"{name} not derived by {fn_name}: {exc}")
                    continue
                if lo <= value <= hi:
                    values[name] = value
                else:
                    warnings.append(check_value(name, value) or f"{name}: {value!r} rejected")

    def _positions(self, data: Mapping[str, Any], out: Decoded) -> None:
        assert self._position is not None
        lat_f, lon_f, alt_f, acc_f = self._position
        raw_lat, raw_lon = lat_f.lookup(data), lon_f.lookup(data)
        if raw_lat is _MISSING or raw_lon is _MISSING:
            return
        try:
            lat, lon = lat_f.convert(raw_lat), lon_f.convert(raw_lon)
        except _NotANumber as exc:
            out.warnings.append(f"position not stored: {exc}")
            return
        for value, fld in ((lat, lat_f), (lon, lon_f)):
            if not (fld.lo <= value <= fld.hi):
                out.warnings.append(f"position not stored: {fld.label} {value!r} outside [{fld.lo:g}, {fld.hi:g}]")
                return
        if lat == 0.0 and lon == 0.0:
            # trackers without a fix commonly send 0/0 ("null island"): storing it would draw a false track
            out.warnings.append("position not stored: 0, 0 is a tracker's no-fix value")
            return
        out.positions.append(PositionValue(lat, lon, self._optional(alt_f, data, out),
                                           self._optional(acc_f, data, out)))

    @staticmethod
    def _optional(fld: Field | None, data: Mapping[str, Any], out: Decoded) -> float | None:
        if fld is None:
            return None
        raw = fld.lookup(data)
        if raw is _MISSING:
            return None
        try:
            value = fld.convert(raw)
        except _NotANumber as exc:
            out.warnings.append(str(exc))
            return None
        if fld.lo <= value <= fld.hi and math.isfinite(value):
            return value
        out.warnings.append(f"{fld.label}: {value!r} outside [{fld.lo:g}, {fld.hi:g}]; position kept without it")
        return None
