"""Every panel's SQL, expanded as Grafana expands it, runs on the real schema holding the scenario and returns what
its panel type needs, at each of the three resolutions (raw, 15-minute and hourly rollups)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.dashboards.support import Result, Target, boards, default_span, run, sql_targets, variable_options

TARGETS = sql_targets()
# Panel intervals, and the longest range, that select each source (dashboards/sql.py): raw readings (a day at
# most), readings_15m, readings_1h. Panels that do not choose by range, and shorter boards, keep their range.
TIERS = {"raw": (timedelta(minutes=1), timedelta(days=1)), "15m": (timedelta(minutes=30), timedelta(days=2)),
         "1h": (timedelta(hours=2), None)}


def _runs(conn: psycopg.Connection, target: Target, tier: str,
          timescaledb: bool = False) -> list[tuple[str, Result]]:
    """One result per repetition: a panel repeated by a variable runs once per option, with that value."""
    interval, longest = TIERS[tier]
    span = default_span(target.board)
    if longest is not None and "$__unixEpochFrom()" in target.sql:
        span = min(span, longest)
    repeat = target.panel.get("repeat")
    if not repeat:
        return [("", run(conn, target.sql, target.board, interval=interval, span=span, timescaledb=timescaledb))]
    options = variable_options(conn, target.board, repeat)
    assert options, f"{target.name}: repeat variable ${repeat} has no options"
    return [(value, run(conn, target.sql, target.board, interval=interval, span=span, selected={repeat: (value,)},
                        timescaledb=timescaledb)) for value in options]


def _numeric(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool)) or \
        type(value).__name__ == "Decimal"


def _check_time_series(target: Target, result: Result) -> None:
    assert "time" in result.columns, f"{target.name}: a time series needs a column named time, got {result.columns}"
    times = result.column("time")
    assert all(isinstance(t, datetime | float | int) or type(t).__name__ == "Decimal" for t in times)
    assert times == sorted(times), f"{target.name}: Grafana needs rows in time order"
    values = [c for c in result.columns if c not in ("time", "metric")]
    assert values, f"{target.name}: no value column"
    for column in values:
        assert all(_numeric(v) for v in result.column(column)), f"{target.name}: {column} is not numeric"


def _check_geomap(target: Target, result: Result) -> None:
    layers = [layer for layer in target.panel["options"]["layers"]
              if layer.get("filterData", {}).get("options") == target.ref_id]
    assert layers, f"{target.name}: no geomap layer reads this query"
    for layer in layers:
        location = layer["location"]
        for axis, bound in (("latitude", 90), ("longitude", 180)):
            column = location[axis]
            assert column in result.columns, f"{target.name}: layer {layer['name']} needs column {column}"
            assert all(v is not None and -bound <= v <= bound for v in result.column(column))
        style = layer["config"].get("style", {})
        for dimension in ("color", "size", "text"):
            field = style.get(dimension, {}).get("field")
            if field:
                assert field in result.columns, f"{target.name}: layer {layer['name']} {dimension} field {field}"


def _referenced_names(panel: dict[str, Any]) -> set[str]:
    names = {o["matcher"]["options"] for o in panel.get("fieldConfig", {}).get("overrides", [])
             if o["matcher"]["id"] == "byName"}
    names |= {s["displayName"] for s in panel.get("options", {}).get("sortBy", [])}
    return names


def _check_names(target: Target, result: Result) -> None:
    """Overrides and sorting name fields the query returns (or, for long time series, series it returns)."""
    available = set(result.columns)
    if target.format == "time_series" and "metric" in result.columns:
        available |= set(result.column("metric"))
    missing = _referenced_names(target.panel) - available
    assert not missing, f"{target.name}: the panel names fields the query does not return: {missing}"


def _check(target: Target, result: Result) -> None:
    assert result.rows, f"{target.name}: no rows, though the scenario has data for it"
    if target.format == "time_series":
        _check_time_series(target, result)
    if target.panel["type"] == "geomap":
        _check_geomap(target, result)
    if target.panel["type"] in ("stat", "bargauge"):
        assert any(all(_numeric(v) for v in result.column(c)) for c in result.columns), \
            f"{target.name}: a {target.panel['type']} needs a numeric column"
    for row in result.rows:
        assert not any(isinstance(v, float) and math.isnan(v) for v in row), f"{target.name}: NaN in {row}"
    _check_names(target, result)


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_panel_sql_returns_what_the_panel_needs_at_every_resolution(scenario_db: psycopg.Connection,
                                                                     target: Target) -> None:
    for tier in TIERS:
        for value, result in _runs(scenario_db, target, tier):
            try:
                _check(target, result)
            except AssertionError as exc:
                raise AssertionError(f"[{tier}{' ' + value if value else ''}] {exc}") from None


@pytest.mark.parametrize("target", [t for t in TARGETS if "$__timeGroup" in t.sql],
                         ids=[t.name for t in TARGETS if "$__timeGroup" in t.sql])
def test_time_groups_also_work_with_the_timescaledb_flag(scenario_db: psycopg.Connection, target: Target) -> None:
    # the provisioned data source has the TimescaleDB flag: $__timeGroup becomes time_bucket(), which migration
    # 0030 provides on plain PostgreSQL; both expansions must give the same buckets
    for tier in ("raw", "1h"):
        plain = _runs(scenario_db, target, tier)
        bucketed = _runs(scenario_db, target, tier, timescaledb=True)
        for (_, a), (_, b) in zip(plain, bucketed, strict=True):
            _check(target, b)
            assert len(a.rows) == len(b.rows)
            epochs = [t.timestamp() if isinstance(t, datetime) else float(t) for t in b.column("time")]
            assert epochs == [float(t) for t in a.column("time")]


@pytest.mark.parametrize("uid", sorted(boards()))
def test_variable_queries_list_options(scenario_db: psycopg.Connection, uid: str) -> None:
    board = boards()[uid]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            assert variable_options(scenario_db, board, var["name"]), f"{uid}: ${var['name']} lists nothing"
