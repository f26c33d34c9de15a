"""Air quality in schools: CO2 per building and room against the 800 / 1500 ppm marks, how long occupied rooms
spend above them, the worst rooms, temperature and humidity."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import variables as v
from dashboards.boards.common import new_board
from dashboards.panels import bar_gauge, table_panel, time_series
from dashboards.sql import devices_cte, points_cte, series_name, weighted_avg

UID = "beffroi-air-quality"

# 800 ppm: airing advised; 1500 ppm: air the room now (French guidance for schools).
CO2_STEPS = ((None, "green"), (800, "orange"), (1500, "red"))

DEV = devices_cte(families=("co2",), variables=("site", "building", "room"))


def _series(quantity: str, column: str) -> str:
    return f"""
WITH {DEV},
{points_cte((quantity,))}
SELECT $__timeGroupAlias(p.time, $__interval), {series_name("d.building || ' / ' || d.room")},
       {weighted_avg()} AS {column}
FROM pts p
JOIN dev d USING (dev_eui)
GROUP BY 1, 2
ORDER BY 1
"""


# Occupied quarter-hours (or hours, for long ranges) per room. Occupancy comes from the room's presence sensor
# (occupancy or motion_count above zero in the bucket); rooms without one count school hours instead
# (Monday-Friday 08:00-18:00, Europe/Paris). CO2 is the bucket mean.
OCCUPIED = f"""{DEV},
buckets AS (
    SELECT a.bucket, a.dev_eui, a.quantity, a.avg, a.max, 0.25 AS hours
    FROM readings_15m a JOIN dev USING (dev_eui)
    WHERE $__interval_ms < 3600000 AND a.quantity IN ('co2', 'occupancy', 'motion_count')
      AND $__timeFilter(a.bucket)
    UNION ALL
    SELECT a.bucket, a.dev_eui, a.quantity, a.avg, a.max, 1.0
    FROM readings_1h a JOIN dev USING (dev_eui)
    WHERE $__interval_ms >= 3600000 AND a.quantity IN ('co2', 'occupancy', 'motion_count')
      AND $__timeFilter(a.bucket)
),
per_bucket AS (
    SELECT dev_eui, bucket, max(hours) AS hours,
           max(avg) FILTER (WHERE quantity = 'co2') AS co2,
           max(max) FILTER (WHERE quantity = 'co2') AS peak,
           bool_or(max > 0) FILTER (WHERE quantity IN ('occupancy', 'motion_count')) AS present
    FROM buckets GROUP BY dev_eui, bucket
),
sensed AS (
    SELECT dev_eui, bool_or(present IS NOT NULL) AS has_sensor FROM per_bucket GROUP BY dev_eui
),
occupied AS (
    SELECT b.dev_eui, b.bucket, b.hours, b.co2, b.peak
    FROM per_bucket b
    JOIN sensed s USING (dev_eui)
    WHERE b.co2 IS NOT NULL
      AND CASE WHEN s.has_sensor THEN coalesce(b.present, false)
               ELSE extract(isodow FROM b.bucket AT TIME ZONE 'Europe/Paris') < 6
                AND (b.bucket AT TIME ZONE 'Europe/Paris')::time >= '08:00'
                AND (b.bucket AT TIME ZONE 'Europe/Paris')::time < '18:00' END
)"""

SHARE_SQL = f"""
WITH {OCCUPIED}
SELECT d.building, d.room,
       sum(o.hours) AS occupied_hours,
       100 * sum(o.hours) FILTER (WHERE o.co2 > 800) / sum(o.hours) AS above_800,
       100 * sum(o.hours) FILTER (WHERE o.co2 > 1500) / sum(o.hours) AS above_1500
FROM occupied o
JOIN dev d USING (dev_eui)
GROUP BY d.building, d.room
ORDER BY d.building, d.room
"""

# ICONE, the French confinement index for classrooms: 0 (none) to 5 (extreme), from the shares f1 of occupied
# time between 1000 and 1700 ppm and f2 above 1700 ppm: 2.5 / log10(2) * log10(1 + f1 + 3 f2).
WORST_SQL = f"""
WITH {OCCUPIED},
shares AS (
    SELECT dev_eui,
           sum(hours) FILTER (WHERE co2 > 1000 AND co2 <= 1700) / sum(hours) AS f1,
           sum(hours) FILTER (WHERE co2 > 1700) / sum(hours) AS f2,
           max(peak) AS peak
    FROM occupied GROUP BY dev_eui
)
SELECT d.building || ' / ' || d.room AS room,
       round((2.5 / log(2) * log(1 + coalesce(s.f1, 0) + 3 * coalesce(s.f2, 0)))::numeric, 1) AS icone
FROM shares s
JOIN dev d USING (dev_eui)
ORDER BY icone DESC, s.peak DESC
LIMIT 10
"""


def board() -> Dashboard:
    return (
        new_board(UID, "Air quality in schools", "CO2, temperature and humidity in classrooms.",
                  tags=("co2", "schools"), time_from="now-7d", refresh="5m")
        .with_variable(v.site()).with_variable(v.building())
        .with_variable(v.device(families=("co2",), before=("site", "building"), name="room", label="Room"))
        .with_panel(time_series(
            "CO2 per room", _series("co2", "co2"), unit="ppm", h=10, w=24, steps=CO2_STEPS, show_thresholds=True,
            description="Mean CO2 per room. Orange above 800 ppm (air the room), red above 1500 ppm."))
        .with_panel(table_panel(
            "Share of occupied time above 800 and 1500 ppm", SHARE_SQL, h=9, w=14,
            units={"occupied_hours": "h", "above_800": "percent", "above_1500": "percent"},
            description="Occupied: presence sensor active in the quarter-hour; rooms without one count school "
                        "hours (Mon-Fri 08:00-18:00). CO2 is the quarter-hour (hour, for long ranges) mean."))
        .with_panel(bar_gauge(
            "Worst rooms (ICONE confinement index)", WORST_SQL, h=9, w=10, minimum=0, maximum=5,
            steps=((None, "green"), (2, "yellow"), (3, "orange"), (4, "red")),
            description="ICONE 0-5 over occupied time, from the shares above 1000 and 1700 ppm; top 10."))
        .with_panel(time_series("Temperature", _series("temperature", "temperature"), unit="celsius", h=8, w=12))
        .with_panel(time_series("Humidity", _series("humidity", "humidity"), unit="humidity", h=8, w=12,
                                steps=((None, "orange"), (30, "green"), (70, "orange"))))
    )
