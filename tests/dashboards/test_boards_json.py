"""The generated JSON is valid Grafana 11.6 dashboard JSON and refers only to things that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.models.dashboard import Dashboard
from prometheus_client import generate_latest

from dashboards.grafana import SCHEMA_VERSION, to_plain
from dashboards.ingest_metrics import QUERIES
from dashboards.provision import ENV_CONNECTION, datasources
from ingest.metrics import Metrics
from tests.dashboards.support import boards, panels

UIDS = sorted(boards())
BUILTINS = {"__interval", "__interval_ms", "__rate_interval", "__range", "__range_s", "__range_ms", "__from",
            "__to", "__all"}
VARIABLE = re.compile(r"\$(\w+)(?!\w*\()|\[\[(\w+?)(?::\w+)?\]\]|\$\{(\w+)(?:\.[^:}]+)?(?::[^}]+)?\}")


def _board(uid: str) -> dict[str, Any]:
    return boards()[uid]


def test_the_seven_boards_have_stable_uids() -> None:
    assert UIDS == sorted(["beffroi-hypervision", "beffroi-air-quality", "beffroi-flood", "beffroi-waste",
                           "beffroi-flocks", "beffroi-fleet", "beffroi-alerts"])


@pytest.mark.parametrize("uid", UIDS)
def test_board_round_trips_through_the_grafana_11_6_schema(uid: str) -> None:
    # the SDK's models are generated from Grafana 11.6's schemas; decoding drops what they do not know, so an
    # unknown key or a misplaced option would not survive the round trip
    plugins.register_default_plugins()
    board = _board(uid)
    assert board["schemaVersion"] == SCHEMA_VERSION
    back = to_plain(Dashboard.from_json(board))
    assert back == board
    for panel in panels(board):
        assert cogruntime.panelcfg_config(panel["type"]) is not None, f"{uid}: unknown panel type {panel['type']}"


@pytest.mark.parametrize("uid", UIDS)
def test_board_refers_only_to_provisioned_datasources(uid: str) -> None:
    known = {(ds["type"], ds["uid"]) for ds in datasources(ENV_CONNECTION)}
    board = _board(uid)
    refs = [v["datasource"] for v in board["templating"]["list"] if "datasource" in v]
    for panel in panels(board):
        refs += [panel["datasource"]] + [t["datasource"] for t in panel.get("targets", [])]
    assert refs
    for ref in refs:
        assert (ref["type"], ref["uid"]) in known, f"{uid}: unknown data source {ref}"


def _texts(board: dict[str, Any]) -> list[str]:
    texts = [v.get("query", "") for v in board["templating"]["list"]]
    for panel in panels(board):
        texts.append(panel.get("title", ""))
        texts += [t.get("rawSql") or t.get("expr") or "" for t in panel.get("targets", [])]
    return texts


@pytest.mark.parametrize("uid", UIDS)
def test_board_uses_only_its_own_variables(uid: str) -> None:
    board = _board(uid)
    defined = [v["name"] for v in board["templating"]["list"]]
    for text in _texts(board):
        for match in VARIABLE.finditer(text):
            name = next(g for g in match.groups() if g)
            assert name in defined or name in BUILTINS, f"{uid}: ${name} is not a variable of this board"
    # a variable's query may only use variables defined before it (Grafana resolves them in order)
    for i, var in enumerate(board["templating"]["list"]):
        for match in VARIABLE.finditer(var.get("query", "")):
            name = next(g for g in match.groups() if g)
            assert name in defined[:i] or name in BUILTINS, f"{uid}: ${var['name']} uses ${name} defined later"
    for panel in panels(board):
        if "repeat" in panel:
            var = next(v for v in board["templating"]["list"] if v["name"] == panel["repeat"])
            assert var["multi"] or var["includeAll"], f"{uid}: repeat over single-value ${var['name']}"


@pytest.mark.parametrize("uid", UIDS)
def test_panels_fit_the_grid_without_overlapping(uid: str) -> None:
    cells: dict[tuple[int, int], int] = {}
    ids = []
    for panel in panels(_board(uid)):
        ids.append(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, f"{uid}: {panel['title']} {pos}"
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{uid}: {panel['title']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("uid", UIDS)
def test_geomap_layers_read_existing_queries(uid: str) -> None:
    for panel in panels(_board(uid)):
        if panel["type"] != "geomap":
            continue
        refs = {t["refId"] for t in panel["targets"]}
        for layer in panel["options"]["layers"]:
            assert layer["filterData"]["options"] in refs
            assert layer["location"]["mode"] == "coords"
        assert panel["options"]["basemap"]["type"], "an empty basemap type shows no map"


def _exposed() -> dict[str, set[str]]:
    """Metric names as Prometheus scrapes them from the ingest service, with their label names."""
    metrics = Metrics()
    # give labelled metrics a child so that they appear in the exposition with their labels
    metrics.messages.labels("chirpstack-json", "stored").inc()
    metrics.rejects.labels("malformed").inc()
    metrics.rows.labels("readings").inc()
    metrics.queue_depth.labels("inbound").set(0)
    metrics.up.labels("database").set(1)
    metrics.commit_seconds.observe(0.01)
    exposed: dict[str, set[str]] = {}
    for line in generate_latest(metrics.registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            labels = set(re.findall(r"(\w+)=", rest.partition("}")[0])) if rest else set()
            exposed.setdefault(name.split()[0], set()).update(labels)
    return exposed


def test_prometheus_panels_use_metrics_the_ingest_service_exposes() -> None:
    exposed = _exposed()
    for title, queries in QUERIES.items():
        for expr, _legend in queries:
            names = set(re.findall(r"\bbeffroi_\w+", expr))
            assert names, expr
            for name in names:
                assert name in exposed, f"{title}: {name} is not exposed by ingest/metrics.py"
                for group in re.findall(r"by \(([^)]*)\)", expr):
                    labels = {label.strip() for label in group.split(",")} - {"le"}
                    assert labels <= exposed[name], f"{title}: {name} has no label {labels - exposed[name]}"
