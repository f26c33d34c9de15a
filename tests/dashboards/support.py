"""Reading the generated boards the way Grafana does: panels (rows flattened), their SQL targets, variables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dashboards.build import render_all
from dashboards.grafana import POSTGRES
from dashboards.macros import ALL, Variable


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
