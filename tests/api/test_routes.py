"""Every route: declared access level, described in the OpenAPI document, and enforced for each role.

The walk builds the real application (ROUTE_MODULES), so a route added by any module is covered without editing
this file: one without ``@access(...)`` or without its ``OPENAPI_PATHS`` entry fails here.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from ingest.api.auth import ROLES, route_access
from ingest.api.openapi import build_document
from tests.api.conftest import MakeClient, bearer
from tests.api.seed import REGISTRY, T0, seed

SECRET = "walk-secret-0123456789abcdef"
ENV = {"BEFFROI_API_CHIRPSTACK_SECRET": SECRET, "BEFFROI_FEED_ENABLED": "true",
       "BEFFROI_API_AUTH_MAX_FAILURES": "1000"}


async def _submit(raw: bytes, topic: str, source: str) -> None:
    return None


def _routes(app: web.Application) -> list[tuple[str, str, Any]]:
    out = []
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS") or route.resource is None:
            continue
        out.append((route.method, route.resource.canonical, route.handler))
    return out


@pytest.fixture
async def walk(make_client: MakeClient, db_url: str) -> TestClient:
    with psycopg.connect(db_url, autocommit=True) as conn:
        seed(conn)
        conn.execute("INSERT INTO alerts (id, rule, dev_eui, state, severity, route, started_at, fired_at, "
                     "updated_at) VALUES (1, 'co2', 'a000000000000001', 'firing', 'warning', 'r', %s, %s, %s)",
                     (T0, T0, T0))
    return await make_client(env=ENV, extras={"registry": REGISTRY, "submit": _submit, "clock": lambda: T0})


async def test_every_route_declares_its_access_level(walk: TestClient) -> None:
    missing = [f"{m} {p} ({h.__module__}.{h.__name__})" for m, p, h in _routes(walk.app) if route_access(h) is None]
    assert not missing, f"routes without @access(...): {missing}"


async def test_the_openapi_document_is_valid_and_describes_every_route(walk: TestClient) -> None:
    resp = await walk.get("/api/openapi.json")
    assert resp.status == 200
    document = await resp.json()
    validate(document)
    assert document == build_document(walk.app)
    problems = []
    for method, path, handler in _routes(walk.app):
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is None:
            problems.append(f"{method} {path} is not in the OpenAPI document")
        elif operation["x-beffroi-access"] != route_access(handler):
            problems.append(f"{method} {path}: document says {operation['x-beffroi-access']}, handler "
                            f"{route_access(handler)}")
    assert not problems, problems
    registered = {(m.lower(), p) for m, p, _ in _routes(walk.app)}
    described = {(m, p) for p, item in document["paths"].items() for m in item}
    assert described <= registered, f"documented but not served: {described - registered}"


def _sample_url(path: str, operation: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Fill path parameters and required query parameters with plausible values."""
    samples = {"dev_eui": "a000000000000001", "id": "1", "alert_id": "1"}
    params = {p["name"]: p for p in operation.get("parameters", [])}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        schema = params.get(name, {}).get("schema", {})
        return samples.get(name, "1" if schema.get("type") == "integer" else "x")

    url = re.sub(r"\{([^}:]+)(?::[^}]*)?\}", fill, path)
    query = {}
    for p in params.values():
        if p["in"] == "query" and p.get("required"):
            schema = p["schema"].get("items", p["schema"])
            query[p["name"]] = {"date-time": "2025-03-01T00:00:00Z"}.get(schema.get("format", ""),
                                                                          schema.get("enum", ["up"])[0])
    return url, query


async def test_every_route_enforces_its_role_for_each_caller(walk: TestClient, tokens: dict[str, str]) -> None:
    document = build_document(walk.app)
    callers: dict[str, dict[str, str]] = {"anonymous": {}, **{role: bearer(tokens[role]) for role in ROLES}}
    failures = []
    for method, path, handler in _routes(walk.app):
        level = route_access(handler)
        url, query = _sample_url(path, document["paths"][path][method.lower()])
        for caller, headers in callers.items():
            resp = await walk.request(method, url, params=query, headers=headers, data=b"", allow_redirects=False)
            status = resp.status
            to_login = status == 303 and resp.headers.get("Location", "").startswith("/login")
            await resp.read()
            if status >= 500:
                failures.append(f"{caller} {method} {url}: {status}")
            elif level in ROLES:
                expected_denied = caller == "anonymous" or ROLES.index(caller) < ROLES.index(str(level))
                if expected_denied and status not in (401, 403) and not to_login:
                    failures.append(f"{caller} {method} {url}: {status}, expected 401/403 ({level} route)")
                if caller == "anonymous" and status != 401 and not to_login:
                    failures.append(f"{caller} {method} {url}: {status}, expected 401 (or a page's /login)")
                if not expected_denied and (status in (401, 403) or to_login):
                    failures.append(f"{caller} {method} {url}: {status}, but {caller} may call this {level} route")
            elif level == "secret" and status != 401:
                failures.append(f"{caller} {method} {url}: {status}; a token is not the shared secret")
    assert not failures, "\n".join(failures)
