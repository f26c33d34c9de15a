"""Flocks: where the collars are now, each flock's track, the pastures, the age of the last fix, low batteries.

A collar's flock is its ``flock`` tag (else its own name). Grafana's route layer draws only the first data frame
of a panel, so tracks of several flocks in one panel would merge into one line: the track panel is repeated per
flock instead, each drawing the flock's centroid (mean position of its collars) per interval. Pastures are drawn
as dotted outlines (points along each edge), which a markers layer can show from a query.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import variables as v
from dashboards.boards.common import new_board
from dashboards.panels import geomap_panel, markers_layer, route_layer, table_panel
from dashboards.sql import any_of, devices_cte, last_value_cte

UID = "beffroi-flocks"

FIX_AGE_STEPS = ((None, "green"), (120, "orange"), (720, "red"))  # minutes
LOW_BATTERY_PCT = 20
LOW_BATTERY_V = 3.3

DEV = devices_cte(families=("tracker",), variables=("site", "flock"))

FIX = f"""{DEV},
fix AS (
    SELECT d.dev_eui, p.time, p.latitude, p.longitude
    FROM dev d
    JOIN LATERAL (
        SELECT time, latitude, longitude FROM positions
        WHERE dev_eui = d.dev_eui AND time > now() - interval '7 days'
        ORDER BY time DESC LIMIT 1
    ) p ON true
)"""

POSITIONS_SQL = f"""
WITH {FIX}
SELECT d.name AS collar, coalesce(d.tags->>'flock', d.name) AS flock, f.latitude, f.longitude,
       f.time AS fixed_at, extract(epoch FROM now() - f.time) / 60 AS fix_age_min
FROM fix f
JOIN dev d USING (dev_eui)
"""

PASTURES_SQL = f"""
WITH ring AS (
    SELECT p.id, p.name, v.ord, (v.pt->>0)::float8 AS lon, (v.pt->>1)::float8 AS lat
    FROM pastures p
    CROSS JOIN LATERAL jsonb_array_elements(p.boundary) WITH ORDINALITY AS v(pt, ord)
    WHERE {any_of('p.site', 'site')} AND {any_of('p.flock', 'flock')}
),
edges AS (
    SELECT name, lat, lon, lead(lat) OVER w AS lat2, lead(lon) OVER w AS lon2
    FROM ring WINDOW w AS (PARTITION BY id ORDER BY ord)
)
SELECT e.name AS pasture, e.lat + (e.lat2 - e.lat) * s.f AS latitude, e.lon + (e.lon2 - e.lon) * s.f AS longitude
FROM edges e
CROSS JOIN generate_series(0, 0.95, 0.05) AS s(f)
WHERE e.lat2 IS NOT NULL
"""

TRACK_SQL = f"""
WITH {DEV}
SELECT $__timeGroupAlias(p.time, $__interval), avg(p.latitude) AS latitude, avg(p.longitude) AS longitude,
       count(DISTINCT p.dev_eui) AS collars
FROM positions p
JOIN dev USING (dev_eui)
WHERE $__timeFilter(p.time)
GROUP BY 1
ORDER BY 1
"""

BATTERY = last_value_cte(("battery", "battery_voltage"), within="7 days", name="battery")

FIX_AGE_SQL = f"""
WITH {FIX},
{BATTERY}
SELECT d.name AS collar, coalesce(d.tags->>'flock', d.name) AS flock, f.time AS fixed_at,
       extract(epoch FROM now() - f.time) AS fix_age,
       max(b.value) FILTER (WHERE b.quantity = 'battery') AS battery,
       max(b.value) FILTER (WHERE b.quantity = 'battery_voltage') AS battery_voltage
FROM dev d
LEFT JOIN fix f USING (dev_eui)
LEFT JOIN battery b USING (dev_eui)
GROUP BY d.name, d.tags, f.time
ORDER BY f.time NULLS FIRST
"""

LOW_BATTERY_SQL = f"""
WITH {DEV},
{BATTERY}
SELECT d.name AS collar, coalesce(d.tags->>'flock', d.name) AS flock,
       max(b.value) FILTER (WHERE b.quantity = 'battery') AS battery,
       max(b.value) FILTER (WHERE b.quantity = 'battery_voltage') AS battery_voltage,
       max(b.time) AS measured
FROM dev d
JOIN battery b USING (dev_eui)
GROUP BY d.name, d.tags
HAVING bool_or((b.quantity = 'battery' AND b.value < {LOW_BATTERY_PCT})
               OR (b.quantity = 'battery_voltage' AND b.value < {LOW_BATTERY_V}))
ORDER BY battery NULLS LAST, battery_voltage
"""


def board() -> Dashboard:
    track = (geomap_panel("Track — $flock", [("A", TRACK_SQL)], [route_layer("Track")], h=10, w=12,
                          description="Mean position of the flock's collars per interval, in time order.")
             .repeat("flock").repeat_direction("h").max_per_row(2))
    return (
        new_board(UID, "Flocks", "Collar positions, one track per flock, pastures, fix age, low batteries.",
                  tags=("trackers", "flocks"), time_from="now-24h", refresh="5m")
        .with_variable(v.site()).with_variable(v.flock())
        .with_panel(geomap_panel(
            "Positions now", [("A", POSITIONS_SQL), ("B", PASTURES_SQL)],
            [markers_layer("Pastures", ref_id="B", fixed_color="#8F8F8F", size=2),
             markers_layer("Collars", ref_id="A", color_field="fix_age_min", text_field="collar", size=8)],
            h=14, w=14, color_steps=FIX_AGE_STEPS,
            description="Last fix of each collar (past week); green under 2 h old, orange under 12 h, red older. "
                        "Grey dots outline the pastures."))
        .with_panel(table_panel("Last fix", FIX_AGE_SQL, h=14, w=10,
                                units={"fix_age": "dtdurations", "battery": "percent", "battery_voltage": "volt"}))
        .with_panel(table_panel(
            "Collars with a low battery", LOW_BATTERY_SQL, h=6, w=24,
            units={"battery": "percent", "battery_voltage": "volt"},
            description=f"Latest battery below {LOW_BATTERY_PCT} % or below {LOW_BATTERY_V} V."))
        .with_panel(track)
    )
