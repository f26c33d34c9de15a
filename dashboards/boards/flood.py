"""Flood: water level per station against its vigilance thresholds, how fast it rises, a map of the stations.

A station's thresholds are device parameters (``devices.params``), in metres above the gauge zero:
``vigilance_yellow_m``, ``vigilance_orange_m``, ``vigilance_red_m`` (the Vigicrues colours). A station without
them still shows its level, without lines and in blue on the map.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import variables as v
from dashboards.boards.common import new_board
from dashboards.panels import colour_override, geomap_panel, markers_layer, table_panel, time_series
from dashboards.sql import devices_cte, last_value_cte, points_cte, series_name

UID = "beffroi-flood"

LEVELS = (("yellow", "vigilance_yellow_m"), ("orange", "vigilance_orange_m"), ("red", "vigilance_red_m"))


def param(name: str, alias: str = "d") -> str:
    """A numeric device parameter, NULL when absent or not a number (a typo must not break the panel)."""
    return f"CASE WHEN jsonb_typeof({alias}.params->'{name}') = 'number' THEN ({alias}.params->>'{name}')::float8 END"


DEV = devices_cte(families=("flood",), variables=("site", "station"))

# 0 below yellow (or no thresholds), 1 yellow, 2 orange, 3 red; -1 no level in the last day.
VIGILANCE = f"""CASE WHEN l.value IS NULL THEN -1
            WHEN l.value >= {param('vigilance_red_m')} THEN 3
            WHEN l.value >= {param('vigilance_orange_m')} THEN 2
            WHEN l.value >= {param('vigilance_yellow_m')} THEN 1
            ELSE 0 END"""

VIGILANCE_STEPS = ((None, "#8F8F8F"), (0, "green"), (1, "yellow"), (2, "orange"), (3, "red"))

MAP_SQL = f"""
WITH {DEV},
{last_value_cte(('water_level',), within='1 day')}
SELECT d.name AS station, d.latitude, d.longitude, l.value AS level, l.time AS measured,
       {VIGILANCE} AS vigilance
FROM dev d
LEFT JOIN last l USING (dev_eui)
WHERE d.latitude IS NOT NULL
"""

# The highest level in each interval (for a flood the peak matters), with the thresholds as flat lines.
LEVEL_SQL = f"""
WITH {DEV},
{points_cte(('water_level',))}
SELECT $__timeGroupAlias(p.time, $__interval),
       max(p.max) AS "water level",
       max({param('vigilance_yellow_m')}) AS yellow,
       max({param('vigilance_orange_m')}) AS orange,
       max({param('vigilance_red_m')}) AS red
FROM pts p
JOIN dev d USING (dev_eui)
GROUP BY 1
ORDER BY 1
"""

# Rise rate between consecutive points of a station (cm/h), averaged over the interval.
RISE_SQL = f"""
WITH {DEV},
{points_cte(('water_level',))},
rates AS (
    SELECT p.time, p.dev_eui,
           (p.avg - lag(p.avg) OVER w) * 100
             / nullif(extract(epoch FROM p.time - lag(p.time) OVER w) / 3600, 0) AS rate
    FROM pts p
    WINDOW w AS (PARTITION BY p.dev_eui ORDER BY p.time)
)
SELECT $__timeGroupAlias(r.time, $__interval), {series_name('d.name')}, avg(r.rate) AS rise
FROM rates r
JOIN dev d USING (dev_eui)
WHERE r.rate IS NOT NULL
GROUP BY 1, 2
ORDER BY 1
"""

NOW_SQL = f"""
WITH {DEV},
{last_value_cte(('water_level',), within='1 day')},
hour_ago AS (
    SELECT d.dev_eui, r.value
    FROM dev d
    JOIN LATERAL (
        SELECT value FROM readings
        WHERE dev_eui = d.dev_eui AND quantity = 'water_level' AND time <= now() - interval '1 hour'
          AND time > now() - interval '3 hours'
        ORDER BY time DESC LIMIT 1
    ) r ON true
)
SELECT d.name AS station, d.site, l.value AS level, (l.value - h.value) * 100 AS rise_1h,
       {param('vigilance_yellow_m')} AS yellow, {param('vigilance_orange_m')} AS orange,
       {param('vigilance_red_m')} AS red, l.time AS measured
FROM dev d
LEFT JOIN last l USING (dev_eui)
LEFT JOIN hour_ago h USING (dev_eui)
ORDER BY {VIGILANCE} DESC, d.name
"""

_THRESHOLD_COLOURS = {"water level": "blue", "yellow": "yellow", "orange": "orange", "red": "red"}


def _level_panel() -> timeseries.Panel:
    panel = time_series("Water level — $station", LEVEL_SQL, unit="lengthm", h=9, w=12,
                        description="Highest level in each interval and the station's vigilance thresholds.")
    for name, colour in _THRESHOLD_COLOURS.items():
        props = colour_override(colour)
        if name != "water level":
            props.append(dm.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}))
            props.append(dm.DynamicConfigValue(id_val="custom.fillOpacity", value=0))
        panel = panel.override_by_name(name, props)
    return panel.repeat("station").repeat_direction("h").max_per_row(2)


def board() -> Dashboard:
    return (
        new_board(UID, "Flood", "Water level per station against vigilance thresholds, rise rate, station map.",
                  tags=("flood",), time_from="now-2d", refresh="1m")
        .with_variable(v.site()).with_variable(v.station())
        .with_panel(geomap_panel(
            "Stations", [("A", MAP_SQL)], [markers_layer("Stations", color_field="vigilance", text_field="level",
                                                        size=9)],
            h=12, w=10, color_steps=VIGILANCE_STEPS, unit="lengthm",
            description="Current level; colour: vigilance reached (grey: no level in the last day)."))
        .with_panel(table_panel(
            "Stations now", NOW_SQL, h=12, w=14,
            units={"level": "lengthm", "rise_1h": "suffix: cm", "yellow": "lengthm", "orange": "lengthm", "red": "lengthm"},
            description="Latest level, change over the last hour, thresholds; highest vigilance first."))
        .with_panel(time_series("Rise rate", RISE_SQL, unit="suffix: cm/h", h=8, w=24,
                                steps=((None, "green"), (10, "orange"), (30, "red")), show_thresholds=False,
                                description="Change of level between consecutive readings, cm per hour."))
        .with_panel(_level_panel())
    )
