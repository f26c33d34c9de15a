"""Expand a panel's SQL the way Grafana does before PostgreSQL sees it, so tests can run the real query.

Three stages, in Grafana's order:

1. the browser's template service replaces variables — ``$var``, ``${var}``, ``${var:format}``, ``[[var]]`` — and
   the built-ins ``$__interval``, ``$__interval_ms``, ``$__range_s``, ``$__range_ms``, ``$__from``, ``$__to``. A
   variable without an explicit format goes through the SQL data source's own quoting: multi-value or *All*
   variables become a list of quoted literals, a single-value one is inserted with quotes doubled. *All*
   (``$__all``) becomes the custom all value verbatim when the variable has one, else every option;
2. the server's SQL engine replaces ``$__interval_ms``, ``$__interval``, ``$__unixEpochFrom()``,
   ``$__unixEpochTo()`` (already gone after stage 1 in practice);
3. the PostgreSQL macro engine replaces ``$__name(args)``: ``$__timeFilter``, ``$__timeFrom``, ``$__timeTo``,
   ``$__timeGroup``/``$__timeGroupAlias`` (``time_bucket`` when the data source has the TimescaleDB flag, else an
   epoch floor), ``$__time``, ``$__timeEpoch``, the ``$__unixEpoch*`` family. Arguments end at the first ``)``,
   as in Grafana, so a macro cannot take a parenthesised expression; an unknown macro is an error.

Written from Grafana's PostgreSQL data source documentation and its macro tests (Grafana 11.x).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["MacroError", "TimeRange", "Variable", "expand", "interpolate_variables", "interpolate_macros",
           "grafana_interval", "format_interval", "ALL"]

ALL = "$__all"


class MacroError(ValueError):
    """The SQL uses a macro Grafana does not know, or gives it wrong arguments."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time range bounds must be timezone-aware")
        if self.end < self.start:
            raise ValueError("time range ends before it starts")

    @classmethod
    def last(cls, span: timedelta, now: datetime | None = None) -> TimeRange:
        end = now or datetime.now(UTC)
        return cls(end - span, end)


@dataclass(frozen=True)
class Variable:
    """A template variable's definition and current selection (``values``; ``(ALL,)`` for *All*)."""

    name: str
    values: tuple[str, ...] = (ALL,)
    multi: bool = True
    include_all: bool = True
    all_value: str | None = None
    options: tuple[str, ...] = field(default=())
    texts: Mapping[str, str] = field(default_factory=dict)   # value → display text, for the ``text`` format

    @property
    def is_all(self) -> bool:
        return bool(self.values) and self.values[0] == ALL


def expand(sql: str, *, time_range: TimeRange, interval: timedelta,
           variables: Mapping[str, Variable] | Sequence[Variable] = (), timescaledb: bool = False) -> str:
    """The SQL Grafana would send to PostgreSQL for this panel at this time range and interval."""
    if not isinstance(variables, Mapping):
        variables = {v.name: v for v in variables}
    sql = interpolate_variables(sql, variables, time_range=time_range, interval=interval)
    sql = _interpolate_globals(sql, time_range, interval)
    return interpolate_macros(sql, time_range, timescaledb=timescaledb)


# --- stage 1: template variables (browser) -------------------------------------------------------------------

_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


def interpolate_variables(sql: str, variables: Mapping[str, Variable], *, time_range: TimeRange,
                          interval: timedelta) -> str:
    builtins = _builtins(time_range, interval)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in builtins:
            return _builtin(name, fmt, builtins[name], time_range)
        variable = variables.get(name)
        if variable is None:
            return match.group(0)  # not a variable (e.g. a macro name): left for the server
        if variable.is_all:
            if variable.all_value is not None and fmt not in ("text", "queryparam"):
                return interpolate_variables(variable.all_value, variables, time_range=time_range,
                                             interval=interval)
            values: list[str] = list(variable.options)
            return _format(values, fmt, variable, ["All"])
        texts = [variable.texts.get(value, value) for value in variable.values]
        if variable.multi:
            return _format(list(variable.values), fmt, variable, texts)
        return _format(variable.values[0] if variable.values else "", fmt, variable, texts)

    return _VARIABLE.sub(replace, sql)


def _builtins(time_range: TimeRange, interval: timedelta) -> dict[str, int | str]:
    span = time_range.end - time_range.start
    return {
        "__interval": format_interval(interval),
        "__interval_ms": int(interval / timedelta(milliseconds=1)),
        "__range_s": int(span.total_seconds()),
        "__range_ms": int(span / timedelta(milliseconds=1)),
        "__range": format_interval(span),
        "__from": _epoch_ms(time_range.start),
        "__to": _epoch_ms(time_range.end),
    }


def _builtin(name: str, fmt: str | None, value: int | str, time_range: TimeRange) -> str:
    if name in ("__from", "__to") and fmt:
        when = time_range.start if name == "__from" else time_range.end
        if fmt == "date:iso" or fmt == "date":
            return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if fmt == "date:seconds":
            return str(int(when.timestamp()))
        raise MacroError(f"unsupported format {fmt!r} for ${name}")
    return str(value)


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format(value: str | list[str], fmt: str | None, variable: Variable, texts: list[str]) -> str:
    values = value if isinstance(value, list) else [value]
    if fmt is None:
        # the SQL data source's interpolateVariable
        if isinstance(value, list) or variable.multi or variable.include_all:
            return ",".join(_quote_literal(v) for v in values)
        return value.replace("'", "''")
    if fmt == "sqlstring":
        return ",".join(_quote_literal(v) for v in values)
    if fmt in ("csv", "raw"):
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "text":
        return " + ".join(texts)
    raise MacroError(f"unsupported variable format {fmt!r} for ${variable.name}")


# --- stage 2: the SQL engine's global substitutions (server) ----------------------------------------------------

def _interpolate_globals(sql: str, time_range: TimeRange, interval: timedelta) -> str:
    sql = sql.replace("$__interval_ms", str(int(interval / timedelta(milliseconds=1))))
    sql = sql.replace("$__interval", _go_format_interval(interval))
    sql = sql.replace("$__unixEpochFrom()", str(int(time_range.start.timestamp())))
    return sql.replace("$__unixEpochTo()", str(int(time_range.end.timestamp())))


# --- stage 3: PostgreSQL macros (server) ----------------------------------------------------------------------

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")


def interpolate_macros(sql: str, time_range: TimeRange, *, timescaledb: bool = False) -> str:
    original = sql

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__timeGroup":
            # Grafana < 5.3 compatibility: a comma right after the macro means the alias was wanted
            end = original.find(match.group(0))
            if end >= 0 and original[end + len(match.group(0)):end + len(match.group(0)) + 1] == ",":
                name = "__timeGroupAlias"
        args = [a.strip(" ") for a in match.group(2).split(",")]
        return _macro(name, args, time_range, timescaledb)

    return _MACRO.sub(replace, sql)


def _macro(name: str, args: list[str], tr: TimeRange, timescaledb: bool) -> str:
    column = args[0] if args and args[0] else ""
    needs_column = {"__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter", "__unixEpochNanoFilter"}
    if name in needs_column and not column:
        raise MacroError(f"missing time column argument for macro {name}")
    start, end = tr.start.astimezone(UTC), tr.end.astimezone(UTC)
    if name == "__time":
        return f'{column} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {column}) as "time"'
    if name == "__timeFilter":
        return f"{column} BETWEEN '{_rfc3339(start)}' AND '{_rfc3339(end)}'"
    if name == "__timeFrom":
        return f"'{_rfc3339(start)}'"
    if name == "__timeTo":
        return f"'{_rfc3339(end)}'"
    if name in ("__timeGroup", "__timeGroupAlias", "__unixEpochGroup", "__unixEpochGroupAlias"):
        if len(args) < 2:
            raise MacroError(f"macro {name} needs time column and interval and optional fill value")
        seconds = parse_interval(args[1].strip("'")).total_seconds()
        if name.startswith("__unixEpoch"):
            group = f"floor(({column})/{_go_float(seconds)})*{_go_float(seconds)}"
        elif timescaledb:
            group = f"time_bucket('{seconds:.3f}s',{column})"
        else:
            group = f"floor(extract(epoch from {column})/{_go_float(seconds)})*{_go_float(seconds)}"
        return group + (' AS "time"' if name.endswith("Alias") else "")
    if name == "__unixEpochFilter":
        return f"{column} >= {int(start.timestamp())} AND {column} <= {int(end.timestamp())}"
    if name == "__unixEpochNanoFilter":
        return f"{column} >= {_nanos(start)} AND {column} <= {_nanos(end)}"
    if name == "__unixEpochNanoFrom":
        return str(_nanos(start))
    if name == "__unixEpochNanoTo":
        return str(_nanos(end))
    raise MacroError(f"unknown macro {name!r}")


# --- intervals and times, formatted as Grafana formats them -------------------------------------------------

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400, "y": 365 * 86400}
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)$")


def parse_interval(text: str) -> timedelta:
    """gtime.ParseInterval: '5m', '1h', '30s', '100ms', '1d', '1w', '1M', '1y' (calendar units approximated)."""
    match = _INTERVAL.match(text.strip())
    if not match:
        raise MacroError(f"error parsing interval {text}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def format_interval(interval: timedelta) -> str:
    """The browser's text for an interval (rangeutil.secondsToHms): '1m', '30s', '2h', '7d', '500ms'."""
    seconds = interval.total_seconds()
    for unit, size in (("y", 31536000), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count = int(seconds // size)
        if count:
            return f"{count}{unit}"
        seconds %= size
    millis = int(interval.total_seconds() * 1000)
    return f"{millis}ms" if millis else "1ms"


def _go_format_interval(interval: timedelta) -> str:
    # gtime.FormatInterval (server side): the largest whole unit
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if interval.total_seconds() >= size:
            return f"{int(interval.total_seconds() // size)}{unit}"
    millis = int(interval.total_seconds() * 1000)
    return f"{millis}ms" if millis else "1ms"


_ROUND = ((15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
          (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
          (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
          (2700000, 1800000), (5400000, 3600000), (9000000, 7200000), (16200000, 10800000),
          (24300000, 21600000), (64800000, 43200000), (129600000, 86400000), (604800000, 86400000),
          (1814400000, 604800000), (3628800000, 2592000000))


def grafana_interval(span: timedelta, max_data_points: int = 1000, min_interval: timedelta | None = None) -> timedelta:
    """The ``$__interval`` Grafana picks for a range drawn with at most ``max_data_points`` points (roundInterval)."""
    raw_ms = span / timedelta(milliseconds=1) / max_data_points
    if min_interval is not None:
        raw_ms = max(raw_ms, min_interval / timedelta(milliseconds=1))
    for limit, rounded in _ROUND:
        if raw_ms < limit:
            return timedelta(milliseconds=rounded)
    return timedelta(milliseconds=31536000000)


def _go_float(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _rfc3339(when: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: no fractional part when whole, else trailing zeros trimmed."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += ("." + f"{when.microsecond:06d}").rstrip("0")
    return text + "Z"


def _epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _nanos(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
