"""Fleet health: batteries, radio quality, last seen, uplinks per hour, rejected messages, and the ingest
service's own lag and throughput (Prometheus)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import variables as v
from dashboards.boards.common import new_board
from dashboards.ingest_metrics import ingest_panels
from dashboards.panels import table_panel, time_series, unit_override
from dashboards.sql import devices_cte, last_value_cte, points_cte, series_name, weighted_avg

UID = "beffroi-fleet"

DEV = devices_cte(variables=("site", "family", "device"))

BATTERY_SQL = f"""
WITH {DEV},
{last_value_cte(('battery', 'battery_voltage'), within='30 days')}
SELECT d.name AS device, d.family, d.site,
       max(l.value) FILTER (WHERE l.quantity = 'battery') AS battery,
       max(l.value) FILTER (WHERE l.quantity = 'battery_voltage') AS battery_voltage,
       max(l.time) AS measured
FROM dev d
JOIN last l USING (dev_eui)
GROUP BY d.name, d.family, d.site
ORDER BY battery NULLS LAST, battery_voltage NULLS LAST
"""

BATTERY_HISTORY_SQL = f"""
WITH {DEV},
{points_cte(('battery',))}
SELECT $__timeGroupAlias(p.time, $__interval), {series_name('d.name')}, {weighted_avg()} AS battery
FROM pts p
JOIN dev d USING (dev_eui)
GROUP BY 1, 2
ORDER BY 1
"""

# Radio quality of every uplink of the selected devices: the spread across the fleet, not one line per device.
RADIO_SQL = f"""
WITH {DEV}
SELECT $__timeGroupAlias(u.time, $__interval),
       percentile_cont(0.1) WITHIN GROUP (ORDER BY u.rssi) AS "RSSI p10",
       percentile_cont(0.5) WITHIN GROUP (ORDER BY u.rssi) AS "RSSI median",
       percentile_cont(0.1) WITHIN GROUP (ORDER BY u.snr) AS "SNR p10",
       percentile_cont(0.5) WITHIN GROUP (ORDER BY u.snr) AS "SNR median"
FROM uplinks u
JOIN dev USING (dev_eui)
WHERE $__timeFilter(u.time) AND u.rssi IS NOT NULL
GROUP BY 1
ORDER BY 1
"""

LAST_SEEN_SQL = f"""
WITH {DEV}
SELECT d.name AS device, d.family, d.site, s.last_seen,
       extract(epoch FROM now() - s.last_seen) AS since,
       s.last_rssi AS rssi, s.last_snr AS snr, s.uplinks
FROM dev d
LEFT JOIN device_state s USING (dev_eui)
ORDER BY s.last_seen NULLS FIRST
"""

UPLINKS_SQL = f"""
WITH {DEV}
SELECT $__timeGroupAlias(u.time, '1h'), d.family AS metric, count(*) AS uplinks
FROM uplinks u
JOIN dev d USING (dev_eui)
WHERE $__timeFilter(u.time)
GROUP BY 1, 2
ORDER BY 1
"""

# Rejected messages are not tied to a known device (unknown DevEUI, malformed envelope): no device filter.
REJECTS_SQL = """
SELECT $__timeGroupAlias(time, $__interval), reason AS metric, count(*) AS rejects
FROM rejects
WHERE $__timeFilter(time)
GROUP BY 1, 2
ORDER BY 1
"""

REJECT_REASONS_SQL = """
SELECT reason, count(*) AS rejects, max(time) AS latest,
       (array_agg(detail ORDER BY time DESC))[1] AS latest_detail
FROM rejects
WHERE $__timeFilter(time)
GROUP BY reason
ORDER BY rejects DESC
"""


def board() -> Dashboard:
    dash = (
        new_board(UID, "Fleet health", "Batteries, radio, last seen, uplinks, rejects, ingest lag and throughput.",
                  tags=("fleet",), time_from="now-24h", refresh="1m")
        .with_variable(v.site()).with_variable(v.family()).with_variable(v.device())
        .with_panel(table_panel(
            "Batteries, lowest first", BATTERY_SQL, h=9, w=12,
            units={"battery": "percent", "battery_voltage": "volt"},
            description="Latest battery level (%) or voltage (V) reported in the last 30 days."))
        .with_panel(time_series("Battery level", BATTERY_HISTORY_SQL, unit="percent", h=9, w=12,
                                steps=((None, "red"), (20, "orange"), (40, "green"))))
        .with_panel(time_series(
            "Radio quality (all uplinks)", RADIO_SQL, unit="dB", h=8, w=12,
            description="10th percentile and median of RSSI (dBm) and SNR (dB) over the selected devices.")
            .override_by_regexp("^RSSI", unit_override("dBm")))
        .with_panel(time_series("Uplinks per hour", UPLINKS_SQL, h=8, w=12, draw="bars", stacked=True,
                                description="Uplinks received per hour, by device family."))
        .with_panel(table_panel(
            "Last seen", LAST_SEEN_SQL, h=10, w=24,
            units={"since": "dtdurations", "rssi": "dBm", "snr": "dB"},
            description="Longest silent first; never-seen devices on top."))
        .with_panel(time_series("Rejected messages by reason", REJECTS_SQL, h=8, w=12, draw="bars", stacked=True))
        .with_panel(table_panel("Reject reasons", REJECT_REASONS_SQL, h=8, w=12))
    )
    for panel in ingest_panels():
        dash = dash.with_panel(panel)
    return dash
