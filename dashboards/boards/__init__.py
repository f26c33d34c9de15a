"""The seven Beffroi boards, one module each; ``BOARDS`` lists their builder functions in menu order."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards.boards import air_quality, alerts, fleet, flocks, flood, hypervision, waste

__all__ = ["BOARDS"]

BOARDS: tuple[Callable[[], Dashboard], ...] = (
    hypervision.board,
    air_quality.board,
    flood.board,
    waste.board,
    flocks.board,
    fleet.board,
    alerts.board,
)
