"""Test-only routes, one per access level, to exercise the auth layer in isolation."""

from __future__ import annotations

from aiohttp import web

from ingest.api.audit import describe
from ingest.api.auth import PRINCIPAL, access


@access("viewer")
async def _viewer(request: web.Request) -> web.Response:
    return web.json_response({"who": request[PRINCIPAL].name})


@access("operator")
async def _operator(request: web.Request) -> web.Response:
    return web.json_response({"who": request[PRINCIPAL].name})


@access("admin")
async def _admin(request: web.Request) -> web.Response:
    describe(request, "thing-42", size=3)
    return web.json_response({"who": request[PRINCIPAL].name})


def setup(app: web.Application) -> None:
    app.router.add_get("/probe/viewer", _viewer)
    app.router.add_get("/probe/operator", _operator)
    app.router.add_post("/probe/admin", _admin)
