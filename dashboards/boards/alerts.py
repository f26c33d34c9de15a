"""Alerts: what fired over the range, how long people took to acknowledge and how long until resolved, by team
(the routing node that received the alert) and by rule.

Alerts counted are those that fired (``fired_at``) within the range; pending conditions that never fired are left
out. Time to acknowledge runs from firing to ``acked_at``, time to resolve from firing to ``resolved_at``.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import variables as v
from dashboards.boards.common import new_board
from dashboards.boards.hypervision import SEVERITY_COLOURS
from dashboards.panels import colour_override, stat_panel, table_panel, time_series, unit_override
from dashboards.sql import any_of, devices_cte

UID = "beffroi-alerts"

FIRED = f"""{devices_cte(variables=("site",))},
fired AS (
    SELECT a.*, d.name AS device, d.site, a.route AS team,
           extract(epoch FROM a.acked_at - a.fired_at) AS to_ack,
           extract(epoch FROM a.resolved_at - a.fired_at) AS to_resolve
    FROM alerts a
    JOIN dev d USING (dev_eui)
    WHERE a.fired_at IS NOT NULL AND $__timeFilter(a.fired_at)
      AND {any_of('a.route', 'team')} AND {any_of('a.rule', 'rule')}
)"""

FIRED_SQL = f"""
WITH {FIRED}
SELECT $__timeGroupAlias(fired_at, $__interval), severity AS metric, count(*) AS alerts
FROM fired
GROUP BY 1, 2
ORDER BY 1
"""

TOTALS_SQL = f"""
WITH {FIRED}
SELECT count(*) AS fired,
       count(*) FILTER (WHERE state <> 'resolved') AS open,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_ack) AS median_to_ack,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_resolve) AS median_to_resolve
FROM fired
"""

BY_TEAM_RULE_SQL = f"""
WITH {FIRED}
SELECT team, rule, count(*) AS alerts,
       count(*) FILTER (WHERE acked_at IS NOT NULL) AS acknowledged,
       count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_ack) AS median_to_ack,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_ack) AS p90_to_ack,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_resolve) AS median_to_resolve,
       max(to_resolve) AS longest_to_resolve
FROM fired
GROUP BY team, rule
ORDER BY alerts DESC, team, rule
"""

DELAYS_SQL = f"""
WITH {FIRED}
SELECT $__timeGroupAlias(fired_at, '1d'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_ack) AS "median time to acknowledge",
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_resolve) AS "median time to resolve"
FROM fired
GROUP BY 1
ORDER BY 1
"""

HISTORY_SQL = f"""
WITH {FIRED}
SELECT fired_at, severity, rule, team, device, site, state, summary, to_ack, acked_by, to_resolve,
       delivery_failures
FROM fired
ORDER BY fired_at DESC
LIMIT 500
"""

_BY_TEAM_UNITS = {"median_to_ack": "dtdurations", "p90_to_ack": "dtdurations", "median_to_resolve": "dtdurations",
                  "longest_to_resolve": "dtdurations"}
_HISTORY_UNITS = {"to_ack": "dtdurations", "to_resolve": "dtdurations"}


def board() -> Dashboard:
    return (
        new_board(UID, "Alerts", "Alert history, time to acknowledge and to resolve, by team and rule.",
                  tags=("alerts",), time_from="now-30d", refresh="5m")
        .with_variable(v.site())
        .with_variable(v.query_variable("team", "Team", "SELECT DISTINCT route FROM alerts ORDER BY 1"))
        .with_variable(v.query_variable("rule", "Rule", "SELECT DISTINCT rule FROM alerts ORDER BY 1"))
        .with_panel(stat_panel("Alerts fired", TOTALS_SQL, h=4, w=24, description="Over the selected range.")
                    .override_by_name("median_to_ack", unit_override("dtdurations"))
                    .override_by_name("median_to_resolve", unit_override("dtdurations")))
        .with_panel(time_series("Alerts fired by severity", FIRED_SQL, h=8, w=12, draw="bars", stacked=True)
                    .override_by_name("critical", colour_override(SEVERITY_COLOURS["critical"]))
                    .override_by_name("warning", colour_override(SEVERITY_COLOURS["warning"]))
                    .override_by_name("info", colour_override(SEVERITY_COLOURS["info"])))
        .with_panel(time_series("Time to acknowledge and to resolve (daily median)", DELAYS_SQL, unit="s", h=8,
                                w=12))
        .with_panel(table_panel("By team and rule", BY_TEAM_RULE_SQL, h=9, w=24, units=_BY_TEAM_UNITS,
                                description="Team: the routing node that received the alert."))
        .with_panel(table_panel("History", HISTORY_SQL, h=12, w=24, units=_HISTORY_UNITS,
                                colours={"severity": SEVERITY_COLOURS}, description="Latest 500 alerts fired."))
    )

