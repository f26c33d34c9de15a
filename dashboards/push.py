"""Create or update the data sources, the folder and the boards in a running Grafana, through its HTTP API.

Idempotent: data sources and the folder are created when missing and updated otherwise; a board is written only
when it differs from the one Grafana holds (so pushing twice adds no dashboard version). Grafana's refusals are
translated once, here, into ``PushError`` with what to do:

    PushError
    ├── GrafanaUnreachable     connection refused, DNS, timeout
    ├── GrafanaTooOld          /api/health reports a version older than the boards need
    └── GrafanaRefused         401 (credentials) or 403 (role), or another 4xx/5xx answer
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

from dashboards.grafana import GRAFANA_VERSION, MIN_GRAFANA_VERSION

__all__ = ["PushError", "GrafanaUnreachable", "GrafanaTooOld", "GrafanaRefused", "PushReport", "push", "connect"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class PushError(Exception):
    """Pushing to Grafana failed; the message says why and what to do."""


class GrafanaUnreachable(PushError):
    pass


class GrafanaTooOld(PushError):
    pass


class GrafanaRefused(PushError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PushReport:
    version: str = ""
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"Grafana {self.version}: {len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged")


def connect(url: str, *, token: str | None = None, user: str | None = None, password: str | None = None,
            timeout: float = 10.0) -> GrafanaApi:
    """A client for ``url`` authenticating with a service-account token, or with basic auth."""
    credential: str | tuple[str, str] | None = token
    if credential is None and user is not None:
        credential = (user, password or "")
    return GrafanaApi.from_url(url, credential=credential, timeout=timeout)


def push(api: GrafanaApi, *, datasources: Sequence[Mapping[str, Any]], folder: Mapping[str, str],
         boards: Mapping[str, Mapping[str, Any]]) -> PushReport:
    report = PushReport()
    report.version = _check_version(api)
    for ds in datasources:
        _push_datasource(api, ds, report)
    _push_folder(api, folder, report)
    for uid, board in boards.items():
        _push_board(api, uid, board, folder["uid"], report)
    return report


def _call(what: str, func: Callable[..., T], *args: Any, missing_ok: bool = False) -> T | None:
    """Run one API call, turning grafana-client's errors into PushError (or None for a 404 when allowed)."""
    try:
        return func(*args)
    except GrafanaUnauthorizedError as exc:
        raise GrafanaRefused(f"Grafana refused the credentials while {what} (401): check --token, or --user and "
                             "--password", 401) from exc
    except GrafanaClientError as exc:
        if exc.status_code == 404 and missing_ok:
            return None
        if exc.status_code == 403:
            raise GrafanaRefused(f"Grafana refused {what} (403): the token's role lacks the permission; data "
                                 "sources need an Admin (service account with the Admin role)", 403) from exc
        raise GrafanaRefused(f"Grafana refused {what} ({exc.status_code}): {exc.message}", exc.status_code) \
            from exc
    except GrafanaException as exc:
        if exc.status_code == 0:
            raise GrafanaUnreachable(f"cannot reach Grafana while {what}: {exc.message}") from exc
        raise GrafanaRefused(f"Grafana failed while {what} ({exc.status_code}): {exc.message}",
                             exc.status_code) from exc
    except OSError as exc:
        raise GrafanaUnreachable(f"cannot reach Grafana while {what}: {exc}") from exc


def _check_version(api: GrafanaApi) -> str:
    # GET /api/health answers without authentication; when it hides the version (hide_version), the
    # authenticated /api/frontend/settings still reports it in buildInfo
    health = _call("reading /api/health", api.client.GET, "/health") or {}
    version = str(health.get("version") or "")
    if not version:
        build = _call("reading /api/frontend/settings", api.health.check) or {}
        version = str(build.get("version") or "")
    try:
        major, minor = (int(part) for part in version.split("-")[0].split(".")[:2])
    except ValueError:
        raise GrafanaTooOld(f"Grafana did not report a usable version ({version!r}); the boards "
                            f"target Grafana {GRAFANA_VERSION}") from None
    if (major, minor) < MIN_GRAFANA_VERSION:
        need = ".".join(map(str, MIN_GRAFANA_VERSION))
        raise GrafanaTooOld(f"Grafana {version} is too old: the boards target {GRAFANA_VERSION} and need at least "
                            f"{need} (geomap layers, grafana-postgresql-datasource); upgrade Grafana")
    return version


def _push_datasource(api: GrafanaApi, ds: Mapping[str, Any], report: PushReport) -> None:
    uid = ds["uid"]
    existing = _call(f"reading data source {uid}", api.datasource.get_datasource_by_uid, uid, missing_ok=True)
    if existing is None:
        _call(f"creating data source {uid}", api.datasource.create_datasource, dict(ds))
        report.created.append(f"datasource:{uid}")
    else:
        # the password cannot be read back, so the data source is always rewritten (same state each time)
        _call(f"updating data source {uid}", api.datasource.update_datasource_by_uid, uid, dict(ds))
        report.updated.append(f"datasource:{uid}")


def _push_folder(api: GrafanaApi, folder: Mapping[str, str], report: PushReport) -> None:
    uid, title = folder["uid"], folder["title"]
    existing = _call(f"reading folder {uid}", api.folder.get_folder, uid, missing_ok=True)
    if existing is None:
        _call(f"creating folder {uid}", api.folder.create_folder, title, uid)
        report.created.append(f"folder:{uid}")
    elif existing.get("title") != title:
        _call(f"renaming folder {uid}", lambda: api.folder.update_folder(uid, title=title, overwrite=True))
        report.updated.append(f"folder:{uid}")
    else:
        report.unchanged.append(f"folder:{uid}")


def _comparable(board: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in board.items() if k not in ("id", "version")}


def _push_board(api: GrafanaApi, uid: str, board: Mapping[str, Any], folder_uid: str, report: PushReport) -> None:
    existing = _call(f"reading dashboard {uid}", api.dashboard.get_dashboard, uid, missing_ok=True)
    if existing is not None:
        same_folder = existing.get("meta", {}).get("folderUid") == folder_uid
        if same_folder and _comparable(existing.get("dashboard", {})) == _comparable(board):
            report.unchanged.append(f"dashboard:{uid}")
            return
    body = {"dashboard": {**_comparable(board), "id": None}, "folderUid": folder_uid, "overwrite": True,
            "message": "beffroi dashboards push"}
    _call(f"saving dashboard {uid}", api.dashboard.update_dashboard, body)
    (report.created if existing is None else report.updated).append(f"dashboard:{uid}")
    log.info("dashboard %s %s", uid, "created" if existing is None else "updated")
