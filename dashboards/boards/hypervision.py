"""Hypervision: the shared crisis-room view of every device, its state and the open alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import variables as v
from dashboards.boards.common import new_board
from dashboards.panels import bar_gauge, geomap_panel, markers_layer, table_panel
from dashboards.sql import SILENT_FACTOR, devices_cte

UID = "beffroi-hypervision"

OPEN = "('firing', 'acknowledged')"
STATE_COLOURS = {"ok": "green", "alerting": "red", "silent": "#8F8F8F"}
SEVERITY_COLOURS = {"critical": "red", "warning": "orange", "info": "blue"}
SEVERITY_ORDER = "CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"

DEV = devices_cte(variables=("site", "family"))

# ok / alerting / silent, one row per device. Alerting wins (a silent device usually has a no-data alert);
# silent means nothing for SILENT_FACTOR uplink periods, or never heard of.
STATE = f"""{DEV},
open_alerts AS (
    SELECT dev_eui, count(*) AS n FROM alerts WHERE state IN {OPEN} GROUP BY dev_eui
),
state AS (
    SELECT d.*, s.last_seen,
           CASE WHEN a.n > 0 THEN 'alerting'
                WHEN s.last_seen IS NULL
                  OR s.last_seen < now() - make_interval(secs => {SILENT_FACTOR} * d.period_s) THEN 'silent'
                ELSE 'ok' END AS state
    FROM dev d
    LEFT JOIN device_state s USING (dev_eui)
    LEFT JOIN open_alerts a USING (dev_eui)
)"""

MAP_SQL = f"""
WITH {STATE}
SELECT st.name, st.family, st.site, st.state, st.last_seen,
       coalesce(st.latitude, lp.latitude) AS latitude, coalesce(st.longitude, lp.longitude) AS longitude
FROM state st
LEFT JOIN LATERAL (
    SELECT latitude, longitude FROM positions p WHERE p.dev_eui = st.dev_eui ORDER BY p.time DESC LIMIT 1
) lp ON st.latitude IS NULL
WHERE coalesce(st.latitude, lp.latitude) IS NOT NULL
"""

FAMILY_SQL = f"""
WITH {STATE}
SELECT family, count(*) AS devices,
       count(*) FILTER (WHERE state = 'ok') AS ok,
       count(*) FILTER (WHERE state = 'alerting') AS alerting,
       count(*) FILTER (WHERE state = 'silent') AS silent
FROM state
GROUP BY family
ORDER BY family
"""

SEVERITY_SQL = f"""
WITH {DEV}
SELECT s.severity, count(a.id) AS alerts
FROM (VALUES ('critical', 0), ('warning', 1), ('info', 2)) AS s(severity, rank)
LEFT JOIN (SELECT al.* FROM alerts al JOIN dev USING (dev_eui) WHERE al.state IN {OPEN}) a USING (severity)
GROUP BY s.severity, s.rank
ORDER BY s.rank
"""

OPEN_ALERTS_SQL = f"""
WITH {DEV}
SELECT a.severity, a.rule, d.name AS device, d.site, a.state, a.summary,
       extract(epoch FROM now() - coalesce(a.fired_at, a.started_at)) AS age,
       a.acked_by,
       extract(epoch FROM now() - a.acked_at) AS acked_since
FROM alerts a
JOIN dev d USING (dev_eui)
WHERE a.state IN {OPEN}
ORDER BY {SEVERITY_ORDER}, age DESC
"""

SILENT_SQL = f"""
WITH {DEV}
SELECT d.name AS device, d.family, d.site, s.last_seen,
       extract(epoch FROM now() - s.last_seen) AS silent_for,
       d.period_s AS period
FROM dev d
LEFT JOIN device_state s USING (dev_eui)
WHERE s.last_seen IS NULL OR s.last_seen < now() - make_interval(secs => {SILENT_FACTOR} * d.period_s)
ORDER BY s.last_seen NULLS FIRST
"""


def board() -> Dashboard:
    return (
        new_board(UID, "Hypervision", "Every device and its state, open alerts, silent devices.",
                  tags=("hypervision",), time_from="now-6h", refresh="30s")
        .with_variable(v.site()).with_variable(v.family())
        .with_panel(bar_gauge("Open alerts by severity", SEVERITY_SQL, h=6, w=8, minimum=0,
                              steps=((None, "green"), (1, "red")),
                              description="Firing or acknowledged alerts on the selected devices."))
        .with_panel(table_panel("Devices per family", FAMILY_SQL, h=6, w=16,
                                description="Devices per family and how many are ok, alerting, silent."))
        .with_panel(geomap_panel(
            "Devices by state", [("A", MAP_SQL)], [markers_layer("Devices", color_field="state")],
            h=14, w=12, colours=STATE_COLOURS,
            description=f"Red: an open alert; grey: silent for {SILENT_FACTOR} uplink periods or never heard; "
                        "green: ok. Trackers are placed at their last fix."))
        .with_panel(table_panel(
            "Open alerts", OPEN_ALERTS_SQL, h=14, w=12, units={"age": "dtdurations", "acked_since": "dtdurations"},
            colours={"severity": SEVERITY_COLOURS, "state": {"firing": "red", "acknowledged": "orange"}},
            description="Most severe first, then oldest. Age counts from the first notification."))
        .with_panel(table_panel(
            "Silent devices", SILENT_SQL, h=8, w=24, units={"silent_for": "dtdurations", "period": "s"},
            description=f"No uplink for {SILENT_FACTOR} times the model's uplink period (or never)."))
    )
