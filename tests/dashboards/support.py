"""Reading the generated boards the way Grafana does: panels (rows flattened), their SQL targets, variables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import psycopg

from dashboards.build import render_all
from dashboards.grafana import POSTGRES
from dashboards.macros import ALL, TimeRange, Variable, expand


@dataclass(frozen=True)
class Target:
    board: dict[str, Any]
    panel: dict[str, Any]
    ref_id: str
    sql: str
    format: str

    @property
    def name(self) -> str:
        return f"{self.board['uid']}:{self.panel['title']}:{self.ref_id}"


@cache
def boards() -> dict[str, dict[str, Any]]:
    return render_all()


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def sql_targets() -> list[Target]:
    found = []
    for board in boards().values():
        for panel in panels(board):
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") == POSTGRES:
                    found.append(Target(board, panel, target["refId"], target["rawSql"], target["format"]))
    return found


def variables(board: dict[str, Any], selected: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Variable]:
    """The board's variables at their saved current value (All), or at ``selected`` values."""
    result = {}
    for var in board.get("templating", {}).get("list", []):
        values: tuple[str, ...] = (selected or {}).get(var["name"], ())
        if not values:
            current = var.get("current", {}).get("value", ALL)
            values = tuple(current) if isinstance(current, list) else (current,)
        result[var["name"]] = Variable(
            name=var["name"], values=values, multi=bool(var.get("multi")), include_all=bool(var.get("includeAll")),
            all_value=var.get("allValue"))
    return result


_SPAN_UNITS = {"m": 60, "h": 3600, "d": 86400}


def default_span(board: dict[str, Any]) -> timedelta:
    """The board's saved time range (``now-7d`` → 7 days)."""
    text = board["time"]["from"]
    assert text.startswith("now-") and board["time"]["to"] == "now", text
    return timedelta(seconds=int(text[4:-1]) * _SPAN_UNITS[text[-1]])


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


def run(conn: psycopg.Connection, sql: str, board: dict[str, Any], *, interval: timedelta,
        span: timedelta | None = None, selected: Mapping[str, tuple[str, ...]] | None = None,
        timescaledb: bool = False) -> Result:
    text = expand(sql, time_range=TimeRange.last(span or default_span(board)), interval=interval,
                  variables=variables(board, selected), timescaledb=timescaledb)
    cur = conn.execute(text.encode())
    assert cur.description is not None
    return Result([d.name for d in cur.description], cur.fetchall())


def variable_options(conn: psycopg.Connection, board: dict[str, Any], name: str) -> list[str]:
    """What Grafana would list for a query variable (its ``__value`` column, else the first one)."""
    var = next(v for v in board["templating"]["list"] if v["name"] == name)
    result = run(conn, var["query"], board, interval=timedelta(minutes=1))
    column = "__value" if "__value" in result.columns else result.columns[0]
    return [str(v) for v in result.column(column)]
