"""The audit log of writes: who, what, when, from where (table ``audit_log``, migration 0021).

A middleware records every successful write request (POST, PUT, PATCH, DELETE answered below 400) on routes that
authenticate a person — a token role or a signed link — so no handler can forget. A handler adds what it touched
with :func:`describe` (target and a small detail object). The ChirpStack integration (``secret`` access) is data
ingestion, not a person's write, and is not audited per uplink.

Code outside the API (commands, the rules engine) calls :func:`record` / :func:`record_sync` itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import psycopg
from aiohttp import web
from psycopg.types.json import Jsonb

from ingest.api.app import CONTEXT
from ingest.api.auth import PRINCIPAL, client_address, route_access

__all__ = ["record", "record_sync", "describe", "audit_middleware", "AUDITED_LEVELS", "setup"]

log = logging.getLogger(__name__)

_INSERT = ("INSERT INTO audit_log (actor, action, target, status, client, detail) "
           "VALUES (%s, %s, %s, %s, %s, %s)")
_DESCRIPTION: web.RequestKey[tuple[Any, ...]] = web.RequestKey("beffroi_audit", tuple)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_LEVELS = frozenset({"viewer", "operator", "admin", "link"})


async def record(conn: Any, actor: str, action: str, target: str | None = None, *, status: int | None = None,
                 client: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
    """Append one audit row on an async psycopg connection (in the caller's transaction, if any)."""
    await conn.execute(_INSERT, (actor, action, target, status, client, Jsonb(dict(detail or {}))))


def record_sync(conn: psycopg.Connection, actor: str, action: str, target: str | None = None, *,
                detail: Mapping[str, Any] | None = None) -> None:
    conn.execute(_INSERT, (actor, action, target, None, None, Jsonb(dict(detail or {}))))


def describe(request: web.Request, target: str | None = None, **detail: Any) -> None:
    """Say what this write touched; the audit middleware stores it with the caller's name."""
    request[_DESCRIPTION] = (target, detail)


@web.middleware
async def audit_middleware(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:          # a write answered with a redirect (page forms) is still a write
            await _record_write(request, exc.status)
        raise
    await _record_write(request, response.status)
    return response


async def _record_write(request: web.Request, status: int) -> None:
    if request.method not in _WRITES or status >= 400:
        return
    level = route_access(request.match_info.handler)
    if level not in AUDITED_LEVELS:
        return
    principal = request.get(PRINCIPAL)
    actor = principal.actor if principal is not None else ("link" if level == "link" else "unknown")
    target, detail = request.get(_DESCRIPTION, (None, {}))
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
    try:
        async with request.app[CONTEXT].pool.connection() as conn:
            await record(conn, actor, f"{request.method} {route}", target, status=status,
                         client=client_address(request), detail=detail)
    except psycopg.Error as exc:
        # the write itself is done; say loudly that its trace is missing rather than answer an error
        log.error("audit log write failed for %s %s by %s: %s", request.method, route, actor, exc)


def setup(app: web.Application) -> None:
    """Install the audit middleware (after ``ingest.api.auth`` in ROUTE_MODULES)."""
    app.middlewares.append(audit_middleware)
