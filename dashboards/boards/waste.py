"""Waste: where the bins are and how full, which are above 80 %, which will be full within 24 hours (the
collection list), and the fill history."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import variables as v
from dashboards.boards.common import new_board
from dashboards.panels import geomap_panel, markers_layer, table_panel, time_series
from dashboards.sql import devices_cte, last_value_cte, points_cte, series_name, weighted_avg

UID = "beffroi-waste"

FILL_STEPS = ((None, "green"), (60, "yellow"), (80, "red"))
FULL = 100         # % at which a bin counts as full
HORIZON_H = 24     # collection list horizon
EMPTIED_DROP = 30  # a fall of this many points between two readings is an emptying

DEV = devices_cte(families=("bin",), variables=("site", "bin"))
LAST = last_value_cte(("fill_level",), within="2 days")

MAP_SQL = f"""
WITH {DEV},
{LAST}
SELECT d.name AS bin, d.site, d.latitude, d.longitude, l.value AS fill, l.time AS measured
FROM dev d
JOIN last l USING (dev_eui)
WHERE d.latitude IS NOT NULL
"""

ABOVE_80_SQL = f"""
WITH {DEV},
{LAST}
SELECT d.name AS bin, d.site, l.value AS fill, l.time AS measured
FROM dev d
JOIN last l USING (dev_eui)
WHERE l.value >= 80
ORDER BY l.value DESC
"""

# Linear trend of the fill level since the bin was last emptied (within the last two days): a bin whose trend
# reaches 100 % within 24 hours, or that is already full, is on the collection list.
FORECAST_SQL = f"""
WITH {DEV},
{LAST},
recent AS (
    SELECT r.dev_eui, r.time, r.value,
           r.value - lag(r.value) OVER (PARTITION BY r.dev_eui ORDER BY r.time) AS delta
    FROM readings r JOIN dev USING (dev_eui)
    WHERE r.quantity = 'fill_level' AND r.time > now() - interval '2 days'
),
emptied AS (
    SELECT dev_eui, max(time) AS since FROM recent WHERE delta < -{EMPTIED_DROP} GROUP BY dev_eui
),
trend AS (
    SELECT r.dev_eui, regr_slope(r.value, extract(epoch FROM r.time) / 3600) AS rate, count(*) AS n
    FROM recent r
    LEFT JOIN emptied e USING (dev_eui)
    WHERE r.time >= coalesce(e.since, '-infinity')
    GROUP BY r.dev_eui
),
forecast AS (
    SELECT d.name AS bin, d.site, l.value AS fill, t.rate AS fill_rate,
           CASE WHEN l.value >= {FULL} THEN 0
                WHEN t.n >= 3 AND t.rate > 0 THEN ({FULL} - l.value) / t.rate END AS hours_to_full
    FROM dev d
    JOIN last l USING (dev_eui)
    LEFT JOIN trend t USING (dev_eui)
)
SELECT bin, site, fill, fill_rate, hours_to_full * 3600 AS full_in,
       now() + make_interval(secs => hours_to_full * 3600) AS full_at
FROM forecast
WHERE hours_to_full <= {HORIZON_H}
ORDER BY hours_to_full, bin
"""

HISTORY_SQL = f"""
WITH {DEV},
{points_cte(('fill_level',))}
SELECT $__timeGroupAlias(p.time, $__interval), {series_name('d.name')}, {weighted_avg()} AS fill
FROM pts p
JOIN dev d USING (dev_eui)
GROUP BY 1, 2
ORDER BY 1
"""


def board() -> Dashboard:
    return (
        new_board(UID, "Waste", "Bin fill levels, bins above 80 %, the collection list for the next 24 hours.",
                  tags=("waste",), time_from="now-7d", refresh="5m")
        .with_variable(v.site()).with_variable(v.device(families=("bin",), before=("site",), name="bin", label="Bin"))
        .with_panel(geomap_panel(
            "Fill map", [("A", MAP_SQL)], [markers_layer("Bins", color_field="fill", text_field="fill", size=8)],
            h=12, w=12, color_steps=FILL_STEPS, unit="percent",
            description="Latest fill level (last two days); red above 80 %."))
        .with_panel(table_panel(
            f"Collection list: full within {HORIZON_H} h", FORECAST_SQL, h=12, w=12,
            units={"fill": "percent", "fill_rate": "suffix: %/h", "full_in": "dtdurations"},
            description="Already full, or the fill trend since the last emptying reaches 100 % within "
                        f"{HORIZON_H} hours (least squares over at least three readings)."))
        .with_panel(table_panel("Bins above 80 %", ABOVE_80_SQL, h=8, w=8, units={"fill": "percent"}))
        .with_panel(time_series("Fill history", HISTORY_SQL, unit="percent", h=8, w=16, steps=FILL_STEPS))
    )
