"""Panels of the ingest service's own Prometheus metrics (names and labels from ``ingest/metrics.py``).

Counters are exposed with the ``_total`` suffix and histograms as ``_bucket``/``_sum``/``_count``, as
prometheus_client writes them; tests check every name and ``by (...)`` label here against a live registry.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from dashboards.panels import prom_time_series

__all__ = ["ingest_panels", "QUERIES"]

RATE = "$__rate_interval"

QUERIES: dict[str, list[tuple[str, str]]] = {
    "Ingest throughput": [
        (f"sum by (outcome) (rate(beffroi_ingest_messages_total[{RATE}]))", "messages {{outcome}}"),
        (f"sum by (table) (rate(beffroi_ingest_rows_written_total[{RATE}]))", "rows {{table}}"),
    ],
    "Ingest lag": [
        ("max(beffroi_ingest_lag_seconds)", "receive → commit (oldest of last batch)"),
        (f"histogram_quantile(0.95, sum by (le) (rate(beffroi_ingest_commit_seconds_bucket[{RATE}])))",
         "commit p95"),
    ],
    "Ingest queues": [
        ("sum by (stage) (beffroi_ingest_queue_depth)", "{{stage}}"),
    ],
    "Ingest errors": [
        (f"sum by (reason) (rate(beffroi_ingest_rejects_total[{RATE}]))", "reject {{reason}}"),
        (f"sum(rate(beffroi_ingest_batch_retries_total[{RATE}]))", "batch retries"),
        (f"sum(rate(beffroi_ingest_decode_warnings_total[{RATE}]))", "decode warnings"),
        ("min by (component) (beffroi_component_up)", "up {{component}}"),
    ],
}

_UNITS = {"Ingest throughput": "ops", "Ingest lag": "s", "Ingest queues": "short", "Ingest errors": "short"}
_DESCRIPTIONS = {
    "Ingest throughput": "MQTT messages committed per second by outcome, and rows inserted per second by table.",
    "Ingest lag": "Network-server receive time to database commit, and the 95th percentile batch commit time.",
    "Ingest queues": "Messages waiting between MQTT and decoding (inbound) and before the commit (writer).",
    "Ingest errors": "Rejects per second by reason, batch retries, decode warnings; up: 1 when connected.",
}


def ingest_panels() -> list[timeseries.Panel]:
    return [prom_time_series(title, queries, unit=_UNITS[title], h=8, w=12, description=_DESCRIPTIONS[title])
            for title, queries in QUERIES.items()]
