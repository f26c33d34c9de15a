"""SQL fragments shared by the boards.

Panel SQL holds no value typed by a user other than Grafana template variables, which Grafana quotes itself
(``${var:sqlstring}``). Multi-value variables use the custom "all" value ``'__all'`` so that choosing *All* does not
expand to a long list, and still matches devices whose column is NULL.

Resolution follows the panel's interval (``$__interval_ms``, set by Grafana from the time range and the panel
width) *and* the time range (``$__unixEpochTo() - $__unixEpochFrom()``, in seconds), the coarser of the two:

* ``readings_1h`` when the interval is one hour or more, or the range longer than two days;
* ``readings_15m`` when the interval is 15 minutes or more, or the range longer than one day;
* raw ``readings`` otherwise: a day or less at an interval under 15 minutes.

Why the range: Grafana's interval is the range divided by the panel's width in pixels, so a full-width panel
over a week asks for 5 minutes and would read every raw reading of the week (250 rooms x 1 008 CO2 readings:
2.5 s with a year of data), for a line no finer than the hourly one at that width. Cut-offs: a day of raw
readings keeps the peaks of each class period (and is at most 1 440 points per series for a sensor reporting
every minute); up to two days, quarter-hours (192 points per series); beyond, hours (168 points per series for
a week; longer ranges are grouped by ``$__interval`` to about one point per pixel anyway). The two-day edge is
exclusive so that the Flood board's default *Last 2 days* keeps quarter-hour rise rates.

The three branches of one UNION ALL are guarded by constant predicates (Grafana substitutes numbers for the
macros), so PostgreSQL only runs the one that applies. The rollups have the same columns on both storage
flavours (continuous aggregates on TimescaleDB; on plain PostgreSQL, tables the rollup refresher merges every few
seconds, `ingest/rollups.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ALL_VALUE", "any_of", "devices_cte", "points_cte", "last_value_cte", "quote", "series_name",
           "weighted_avg", "SILENT_FACTOR", "source_for"]

ALL_VALUE = "'__all'"

# A device is "silent" when nothing arrived for this many uplink periods (the no-data rule's default factor).
SILENT_FACTOR = 3

# Interval thresholds (ms) at which a coarser source is used: 15 minutes and one hour.
_MS_15M = 15 * 60 * 1000
_MS_1H = 60 * 60 * 1000
# Range thresholds (s) beyond which a coarser source is used: one day and two days.
_RANGE_15M_S = 86_400
_RANGE_1H_S = 2 * 86_400

# The guards of the three branches, as SQL over Grafana's macros.
_RANGE = "($__unixEpochTo() - $__unixEpochFrom())"
_HOURLY = f"($__interval_ms >= {_MS_1H} OR {_RANGE} > {_RANGE_1H_S})"
_QUARTERLY = f"($__interval_ms >= {_MS_15M} OR {_RANGE} > {_RANGE_15M_S})"


def source_for(range_s: float, interval_ms: float) -> str:
    """The table ``points_cte`` reads for a time range (seconds) and interval (ms): its guards, in Python."""
    if interval_ms >= _MS_1H or range_s > _RANGE_1H_S:
        return "readings_1h"
    if interval_ms >= _MS_15M or range_s > _RANGE_15M_S:
        return "readings_15m"
    return "readings"


def quote(text: str) -> str:
    """A SQL string literal for a constant written in this code (never for user input)."""
    return "'" + text.replace("'", "''") + "'"


def any_of(column: str, variable: str) -> str:
    """``column`` matches the multi-value variable, or the variable is set to All."""
    values = f"${{{variable}:sqlstring}}"
    return f"({ALL_VALUE} IN ({values}) OR {column} IN ({values}))"


def devices_cte(*, families: Sequence[str] = (), variables: Sequence[str] = ("site", "family", "device"),
                name: str = "dev") -> str:
    """``dev``: the enabled devices the dashboard variables select, with their family and uplink period.

    Building and room come from the device tags (``building``, ``room``) and fall back to the site and the
    device name, so a device without tags still appears once, under its own name.
    """
    filters = ["d.status <> 'disabled'"]
    if families:
        filters.append(f"coalesce(p.family, 'unassigned') IN ({', '.join(quote(f) for f in families)})")
    column = {"site": "d.site", "family": "coalesce(p.family, 'unassigned')", "device": "d.dev_eui",
              "station": "d.dev_eui", "bin": "d.dev_eui", "room": "d.dev_eui",
              "building": "coalesce(d.tags->>'building', d.site)", "flock": "coalesce(d.tags->>'flock', d.name)",
              "team": "coalesce(d.tags->>'team', '')"}
    for var in variables:
        filters.append(any_of(column[var], var))
    where = "\n      AND ".join(filters)
    return f"""{name} AS (
    SELECT d.dev_eui, d.name, d.site, coalesce(p.family, 'unassigned') AS family,
           coalesce(p.uplink_period_s, 3600) AS period_s, d.latitude, d.longitude, d.tags, d.params,
           coalesce(d.tags->>'building', d.site, '') AS building, coalesce(d.tags->>'room', d.name) AS room
    FROM devices d
    LEFT JOIN device_profiles p ON p.id = d.profile
    WHERE {where}
)"""


def points_cte(quantities: Sequence[str], *, devices: str = "dev", name: str = "pts") -> str:
    """``pts(time, dev_eui, quantity, avg, min, max, n)``: readings at the resolution the range and interval
    need (module docstring); ``n`` is the number of readings a row stands for."""
    qs = ", ".join(quote(q) for q in quantities)
    return f"""{name} AS (
    SELECT r.time, r.dev_eui, r.quantity, r.value AS avg, r.value AS min, r.value AS max, 1::bigint AS n
    FROM readings r JOIN {devices} USING (dev_eui)
    WHERE NOT {_QUARTERLY} AND r.quantity IN ({qs}) AND $__timeFilter(r.time)
    UNION ALL
    SELECT a.bucket, a.dev_eui, a.quantity, a.avg, a.min, a.max, a.count
    FROM readings_15m a JOIN {devices} USING (dev_eui)
    WHERE {_QUARTERLY} AND NOT {_HOURLY} AND a.quantity IN ({qs}) AND $__timeFilter(a.bucket)
    UNION ALL
    SELECT a.bucket, a.dev_eui, a.quantity, a.avg, a.min, a.max, a.count
    FROM readings_1h a JOIN {devices} USING (dev_eui)
    WHERE {_HOURLY} AND a.quantity IN ({qs}) AND $__timeFilter(a.bucket)
)"""


def series_name(expression: str) -> str:
    """A time-series panel's ``metric`` column: *expression* compared byte by byte.

    Such a panel groups by (time, metric) and Grafana needs its rows in time order, so PostgreSQL sorts by both; at
    the hundreds of rows sharing each timestamp most comparisons reach the name. Under the database's linguistic
    collation each is a ``strcoll`` call, and the week of CO2 for 250 rooms spent 10-40 % of its server time there
    (docs/performance.md, "Queries"). Grouping only needs equal names to be equal; Grafana orders the legend
    itself."""
    return f'({expression}) COLLATE "C" AS metric'


def weighted_avg(alias: str = "p") -> str:
    """The mean of a group of ``pts`` rows, weighting rollup buckets by how many readings they hold."""
    return f"sum({alias}.avg * {alias}.n) / nullif(sum({alias}.n), 0)"


def last_value_cte(quantities: Sequence[str], *, devices: str = "dev", name: str = "last",
                   within: str = "7 days") -> str:
    """``last(dev_eui, quantity, value, time)``: each selected device's latest reading of each quantity.

    One index probe per device and quantity (primary key order), looking back at most ``within``.
    """
    qs = ", ".join(f"({quote(q)})" for q in quantities)
    return f"""{name} AS (
    SELECT d.dev_eui, q.quantity, r.value, r.time
    FROM {devices} d
    CROSS JOIN (VALUES {qs}) AS q(quantity)
    JOIN LATERAL (
        SELECT value, time FROM readings
        WHERE dev_eui = d.dev_eui AND quantity = q.quantity AND time > now() - interval '{within}'
        ORDER BY time DESC LIMIT 1
    ) r ON true
)"""
