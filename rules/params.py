"""Reading a rule's parameters with errors that point at the offending key (and so at its file and line).

A kind's ``parse`` takes a ``Params`` reader, asks for each parameter with its type and bounds, then calls
``done()`` which rejects unknown keys (a misspelt ``clear`` must not silently disable hysteresis).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from devices.quantities import QUANTITIES

__all__ = ["ParamError", "Params", "parse_duration"]

_MISSING: Any = object()
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$")
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


class ParamError(Exception):
    """A parameter is missing or wrong. ``container``/``key`` locate it (the loader turns that into a line)."""

    def __init__(self, container: Any, key: Any, reason: str) -> None:
        self.container = container
        self.key = key
        self.reason = reason
        super().__init__(reason)


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d``, ``1w`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (write e.g. 90s, 15m, 2h, 1d)")
        seconds = float(match[1]) * _UNIT_S[match[2]]
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return timedelta(seconds=seconds)


class Params:
    def __init__(self, raw: Any, where: str = "params") -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ParamError(raw, None, f"{where} must be a mapping of parameters")
        self.raw = raw
        self.where = where
        self._used: set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self._used.add(key)
        if key not in self.raw:
            if default is _MISSING:
                raise ParamError(self.raw, None, f"{self.where}: missing parameter {key!r}")
            return default
        return self.raw[key]

    def fail(self, key: str | None, reason: str) -> ParamError:
        return ParamError(self.raw, key, f"{self.where}.{key}: {reason}" if key else f"{self.where}: {reason}")

    def number(self, key: str, default: Any = _MISSING, *, minimum: float | None = None,
               maximum: float | None = None, positive: bool = False) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(key, f"must be greater than 0, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be at least {minimum:g}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.fail(key, f"must be at most {maximum:g}, got {value!r}")
        return float(value)

    def optional_number(self, key: str, *, positive: bool = False) -> float | None:
        return self.number(key, positive=positive) if self.has(key) else self.get(key, None)

    def duration(self, key: str, default: Any = _MISSING, *, positive: bool = False) -> timedelta:
        value = self.get(key, default)
        if isinstance(value, timedelta):
            return value
        try:
            delta = parse_duration(value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None
        if positive and delta <= timedelta(0):
            raise self.fail(key, "must be longer than 0")
        return delta

    def choice(self, key: str, choices: Sequence[str], default: Any = _MISSING) -> str:
        value = self.get(key, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def quantity(self, key: str = "quantity", default: Any = _MISSING) -> str:
        value = self.get(key, default)
        if value not in QUANTITIES:
            raise self.fail(key, f"unknown quantity {value!r} (see devices/quantities.py)")
        return str(value)

    def sub(self, key: str, default: Any = _MISSING) -> Params:
        value = self.get(key, default)
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a mapping")
        return Params(value, f"{self.where}.{key}")

    def items(self, key: str, default: Any = _MISSING) -> list[Params]:
        value = self.get(key, default)
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a non-empty list")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise ParamError(value, i, f"{self.where}.{key}[{i}]: must be a mapping")
            out.append(Params(item, f"{self.where}.{key}[{i}]"))
        return out

    def coordinates(self, key: str, minimum_points: int) -> list[tuple[float, float]]:
        """A list of ``[latitude, longitude]`` pairs."""
        value = self.get(key)
        if not isinstance(value, list) or len(value) < minimum_points:
            raise self.fail(key, f"must be a list of at least {minimum_points} [latitude, longitude] pairs")
        out = []
        for i, pair in enumerate(value):
            ok = (isinstance(pair, list) and len(pair) == 2 and all(isinstance(c, int | float) for c in pair)
                  and -90 <= pair[0] <= 90 and -180 <= pair[1] <= 180)
            if not ok:
                raise ParamError(value, i, f"{self.where}.{key}[{i}]: expected [latitude, longitude], got {pair!r}")
            out.append((float(pair[0]), float(pair[1])))
        return out

    def done(self) -> None:
        unknown = [k for k in self.raw if k not in self._used]
        if unknown:
            raise self.fail(str(unknown[0]), "unknown parameter (misspelt?)")
