"""What every board shares: tags, time settings, the link bar to the other boards."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

__all__ = ["TAG", "new_board"]

TAG = "beffroi"


def new_board(uid: str, title: str, description: str, *, tags: tuple[str, ...] = (), time_from: str = "now-24h",
              refresh: str = "1m") -> db.Dashboard:
    links = db.DashboardLink("Beffroi").type(dm.DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True) \
        .include_vars(False).keep_time(True).icon("external link").tooltip("").target_blank(False).url("")
    return (db.Dashboard(title).uid(uid).description(description).tags([TAG, *tags]).editable()
            .time(time_from, "now").timezone("browser").refresh(refresh)
            .tooltip(dm.DashboardCursorSync.CROSSHAIR).link(links))
