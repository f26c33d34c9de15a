"""A local stand-in for Grafana's HTTP API that checks each request against the documented endpoints.

Endpoints (Grafana 11 HTTP API): GET /api/health (no auth), GET /api/frontend/settings (buildInfo); data sources GET/PUT /api/datasources/uid/:uid,
POST /api/datasources; folders GET/PUT /api/folders/:uid, POST /api/folders; dashboards
GET /api/dashboards/uid/:uid, POST /api/dashboards/db with {dashboard, folderUid, overwrite[, message]}.
Authentication: ``Authorization: Bearer <token>`` or basic auth; a viewer token may read but not write (403).
Anything else, or a body missing required fields, is answered as Grafana would (404/400/409) and recorded in
``violations`` so tests can assert there were none.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ADMIN_TOKEN = "glsa_admin_token"
VIEWER_TOKEN = "glsa_viewer_token"
USER, PASSWORD = "admin", "s3cret"


@dataclass
class FakeGrafana:
    version: str = "11.6.0"
    hide_version: bool = False      # Grafana's [server] hide_version: /api/health omits version and commit
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/api/health", self.health)
        app.router.add_get("/api/frontend/settings", self.frontend_settings)
        app.router.add_get("/api/datasources/uid/{uid}", self.get_datasource)
        app.router.add_put("/api/datasources/uid/{uid}", self.put_datasource)
        app.router.add_post("/api/datasources", self.post_datasource)
        app.router.add_get("/api/folders/{uid}", self.get_folder)
        app.router.add_put("/api/folders/{uid}", self.put_folder)
        app.router.add_post("/api/folders", self.post_folder)
        app.router.add_get("/api/dashboards/uid/{uid}", self.get_dashboard)
        app.router.add_post("/api/dashboards/db", self.post_dashboard)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.path == "/api/health":
            return await handler(request)
        role = self._role(request.headers.get("Authorization", ""))
        if role is None:
            return web.json_response({"message": "Unauthorized"}, status=401)
        if role == "viewer" and request.method != "GET":
            return web.json_response({"message": "Permissions needed: datasources:create"}, status=403)
        if request.method in ("POST", "PUT") and request.content_type != "application/json":
            self.violations.append(f"{request.method} {request.path}: content type {request.content_type}")
        return await handler(request)

    @staticmethod
    def _role(header: str) -> str | None:
        if header == f"Bearer {ADMIN_TOKEN}":
            return "admin"
        if header == f"Bearer {VIEWER_TOKEN}":
            return "viewer"
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return "admin" if (user, password) == (USER, PASSWORD) else None
        return None

    def _bad(self, request: web.Request, message: str, status: int = 400) -> web.Response:
        self.violations.append(f"{request.method} {request.path}: {message}")
        return web.json_response({"message": message}, status=status)

    async def health(self, request: web.Request) -> web.Response:
        if self.hide_version:
            return web.json_response({"database": "ok"})
        return web.json_response({"commit": "abc123", "database": "ok", "version": self.version})

    async def frontend_settings(self, request: web.Request) -> web.Response:
        return web.json_response({"buildInfo": {"version": self.version, "commit": "abc123"}})

    # --- data sources -------------------------------------------------------------------------------------

    async def get_datasource(self, request: web.Request) -> web.Response:
        ds = self.datasources.get(request.match_info["uid"])
        if ds is None:
            return web.json_response({"message": "Data source not found"}, status=404)
        return web.json_response({k: v for k, v in ds.items() if k != "secureJsonData"})

    def _check_datasource(self, request: web.Request, body: dict[str, Any]) -> str | None:
        for key in ("name", "type", "access", "url"):
            if not body.get(key):
                return f"data source without {key}"
        if body["access"] not in ("proxy", "direct"):
            return f"access {body['access']!r}"
        if body["type"] == "grafana-postgresql-datasource":
            json_data = body.get("jsonData", {})
            if not isinstance(json_data.get("timescaledb"), bool) or not isinstance(json_data.get("postgresVersion"), int):
                return "postgres data source without jsonData.timescaledb (bool) and postgresVersion (int)"
            if not body.get("secureJsonData", {}).get("password"):
                return "postgres data source without secureJsonData.password"
        return None

    async def post_datasource(self, request: web.Request) -> web.Response:
        body = await request.json()
        problem = self._check_datasource(request, body)
        if problem:
            return self._bad(request, problem)
        if any(d["name"] == body["name"] for d in self.datasources.values()) or body.get("uid") in self.datasources:
            return self._bad(request, "data source with the same name or uid already exists", 409)
        ds = {**body, "id": next(self._ids), "version": 1}
        self.datasources[body["uid"]] = ds
        return web.json_response({"datasource": ds, "id": ds["id"], "message": "Datasource added",
                                  "name": ds["name"]})

    async def put_datasource(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid not in self.datasources:
            return self._bad(request, "Data source not found", 404)
        body = await request.json()
        problem = self._check_datasource(request, body)
        if problem:
            return self._bad(request, problem)
        old = self.datasources[uid]
        self.datasources[uid] = {**body, "uid": uid, "id": old["id"], "version": old["version"] + 1}
        return web.json_response({"datasource": self.datasources[uid], "message": "Datasource updated"})

    # --- folders --------------------------------------------------------------------------------------------

    async def get_folder(self, request: web.Request) -> web.Response:
        folder = self.folders.get(request.match_info["uid"])
        if folder is None:
            return web.json_response({"message": "folder not found"}, status=404)
        return web.json_response(folder)

    async def post_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        if set(body) - {"uid", "title", "parentUid", "description"} or not body.get("title"):
            return self._bad(request, f"bad folder body {body}")
        if body.get("uid") in self.folders:
            return self._bad(request, "a folder with the same uid already exists", 409)
        folder = {"uid": body["uid"], "title": body["title"], "id": next(self._ids), "version": 1}
        self.folders[body["uid"]] = folder
        return web.json_response(folder)

    async def put_folder(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid not in self.folders:
            return self._bad(request, "folder not found", 404)
        body = await request.json()
        if not body.get("title") or not (body.get("overwrite") or "version" in body):
            return self._bad(request, f"folder update needs title and version or overwrite: {body}")
        folder = self.folders[uid]
        folder.update(title=body["title"], version=folder["version"] + 1)
        return web.json_response(folder)

    # --- dashboards ---------------------------------------------------------------------------------------

    async def get_dashboard(self, request: web.Request) -> web.Response:
        stored = self.dashboards.get(request.match_info["uid"])
        if stored is None:
            return web.json_response({"message": "Dashboard not found"}, status=404)
        return web.json_response({"dashboard": stored["dashboard"],
                                  "meta": {"folderUid": stored["folderUid"], "version": stored["version"]}})

    async def post_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        extra = set(body) - {"dashboard", "folderUid", "folderId", "overwrite", "message"}
        if extra or not isinstance(body.get("dashboard"), dict) or not isinstance(body.get("overwrite"), bool):
            return self._bad(request, f"bad save-dashboard body keys {sorted(body)}")
        board = body["dashboard"]
        if not board.get("uid") or not board.get("title"):
            return self._bad(request, "dashboard without uid or title")
        if body.get("folderUid") not in self.folders:
            return self._bad(request, f"folder {body.get('folderUid')} not found")
        old = self.dashboards.get(board["uid"])
        if old is not None and not body["overwrite"] and board.get("version") != old["version"]:
            return self._bad(request, "version-mismatch", 412)
        version = old["version"] + 1 if old else 1
        ident = old["dashboard"]["id"] if old else next(self._ids)
        self.dashboards[board["uid"]] = {"dashboard": {**board, "id": ident, "version": version},
                                         "folderUid": body["folderUid"], "version": version}
        return web.json_response({"id": ident, "uid": board["uid"], "status": "success", "version": version,
                                  "url": f"/d/{board['uid']}/x", "slug": "x"})
