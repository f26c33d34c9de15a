"""Grafana boards as code: built in Python (grafana-foundation-sdk, Grafana 11.6), written to stable JSON for
file provisioning or pushed through the HTTP API; every panel query is tested on the real schema (docs/dashboards.md)."""
