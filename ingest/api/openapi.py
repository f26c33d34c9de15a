"""The OpenAPI 3.1 document, served at ``/api/openapi.json``, assembled from data kept beside the routes.

Every route module declares ``OPENAPI_PATHS = {"/path": {"get": operation(...)}}`` next to its handlers, built
with the helpers below; this module gathers the declarations of every module that owns a registered route.
``tests/api/test_openapi.py`` fails when a registered route is missing from the document, when an operation's
declared access differs from the handler's, or when the document does not validate.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from ingest.api.auth import access

__all__ = ["operation", "query", "path_param", "json_body", "ok_json", "build_document", "setup", "SCHEMAS",
           "OPENAPI_PATHS"]

_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "viewer": [{"bearer": []}], "operator": [{"bearer": []}], "admin": [{"bearer": []}],
    "secret": [{"sharedSecret": []}, {"sharedSecretQuery": []}],
    "public": [], "link": [],
}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ERRORS_BY_ACCESS: dict[str, dict[str, str]] = {
    "viewer": {"401": "no token, or an unknown or revoked one", "403": "the token's role is too low",
               "429": "too many failed authentications from this address"},
    "secret": {"401": "missing or wrong shared secret", "429": "too many failed authentications from this address"},
}
_ERRORS_BY_ACCESS["operator"] = _ERRORS_BY_ACCESS["admin"] = _ERRORS_BY_ACCESS["viewer"]


def query(name: str, schema: Mapping[str, Any], description: str, *, required: bool = False,
          repeat: bool = False) -> dict[str, Any]:
    item = {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "array", "items": dict(schema)} if repeat else dict(schema)}
    if repeat:
        item.update(style="form", explode=True)
    return item


def path_param(name: str, schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": dict(schema)}


def ok_json(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(schema)}}}


def json_body(schema: Mapping[str, Any], description: str = "", media: str = "application/json") -> dict[str, Any]:
    return {"required": True, "description": description, "content": {media: {"schema": dict(schema)}}}


def operation(summary: str, level: str, *, responses: Mapping[str, Any], parameters: Iterable[Mapping[str, Any]] = (),
              body: Mapping[str, Any] | None = None, tags: Iterable[str] = (), description: str = "",
              errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One operation; ``level`` is the handler's access level (``x-beffroi-access``), which sets ``security``."""
    op: dict[str, Any] = {"summary": summary, "tags": list(tags), "security": _SECURITY[level],
                          "x-beffroi-access": level, "parameters": [dict(p) for p in parameters],
                          "responses": dict(responses)}
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = dict(body)
    for status, text in {**_ERRORS_BY_ACCESS.get(level, {}), **(errors or {})}.items():
        op["responses"].setdefault(status, {"description": text, **_ERROR})
    return op


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
}

_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "A token made with `beffroi tokens create`; "
               "roles viewer < operator < admin."},
    "sharedSecret": {"type": "http", "scheme": "bearer", "description": "api.chirpstack_secret"},
    "sharedSecretQuery": {"type": "apiKey", "in": "query", "name": "secret", "description": "api.chirpstack_secret"},
    "session": {"type": "apiKey", "in": "cookie", "name": "beffroi_token",
                "description": "pages: the token pasted on /login"},
}


def build_document(app: web.Application) -> dict[str, Any]:
    """Gather ``OPENAPI_PATHS`` and ``OPENAPI_SCHEMAS`` of every module owning one of the app's routes."""
    modules = []
    for route in app.router.routes():
        module = sys.modules.get(getattr(route.handler, "__module__", ""))
        if module is not None and module not in modules:
            modules.append(module)
    paths: dict[str, dict[str, Any]] = {}
    schemas = dict(SCHEMAS)
    for module in modules:
        for path, item in getattr(module, "OPENAPI_PATHS", {}).items():
            paths.setdefault(path, {}).update(item)
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Beffroi", "version": _version(),
                 "description": "LoRaWAN ingestion, alerting and hypervision for municipalities. Times are ISO "
                                "8601; a time without an offset is UTC.",
                 "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"}},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": _SECURITY_SCHEMES},
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("beffroi")
    except PackageNotFoundError:
        return "0"


_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("beffroi_openapi", dict)


@access("public")
async def openapi_json(request: web.Request) -> web.Response:
    document = request.app.get(_DOCUMENT)
    if not document:
        document = build_document(request.app)
    return web.json_response(document, headers={"Cache-Control": "public, max-age=300"})


async def _freeze(app: web.Application) -> None:
    app[_DOCUMENT].update(build_document(app))


OPENAPI_PATHS = {"/api/openapi.json": {"get": operation(
    "This document", "public", tags=["meta"],
    responses={"200": ok_json("the OpenAPI 3.1 document", {"type": "object"})})}}


def setup(app: web.Application) -> None:
    app[_DOCUMENT] = {}
    app.on_startup.append(_freeze)
    app.router.add_get("/api/openapi.json", openapi_json)

