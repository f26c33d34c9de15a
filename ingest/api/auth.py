"""Who may call which route: bearer tokens with roles, the access level of every route, failure rate limiting, CORS.

Roles are ordered ``viewer < operator < admin``; a route needs one of them, or is ``public``, ``secret`` (a shared
secret checked by the handler: the ChirpStack integration) or ``link`` (a signed link checked by the handler: the
acknowledgement page). Every handler declares its level with :func:`access`; the route-walk test refuses a route
that did not, so a new route cannot be unprotected by omission.

Errors (all ``aiohttp.web.HTTPException``): 401 no or unknown/revoked token, 403 role too low, 429 too many failed
authentications from this client address (``Retry-After`` says for how long). The token itself never appears in a
log line or an error text; the access logger below prints paths without their query string.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

import psycopg
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ingest.api.app import CONTEXT
from ingest.api.tokens import ROLES, Principal, lookup_token

__all__ = ["ROLES", "Access", "Principal", "access", "route_access", "require_role", "client_address",
           "FailureLimiter", "LIMITER", "PRINCIPAL", "SafeAccessLogger", "json_error", "setup", "SESSION_COOKIE"]

log = logging.getLogger(__name__)

_RANK = {role: rank for rank, role in enumerate(ROLES)}
Access = Literal["public", "secret", "link", "viewer", "operator", "admin"]
_LEVELS = ("public", "secret", "link", *ROLES)
SESSION_COOKIE = "beffroi_token"   # pages only: the token pasted on /login, HttpOnly + SameSite=Strict
# The authenticated caller of this request; a handler that authenticates otherwise (signed link) sets it too.
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("beffroi_principal", Principal)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(exc_class: type[web.HTTPException], message: str, **headers: str) -> web.HTTPException:
    """An HTTP error with a small JSON body ``{"error": message}`` (no stack, no secret)."""
    return exc_class(text=json.dumps({"error": message}), content_type="application/json", headers=headers)


class FailureLimiter:
    """Counts failed authentications per client address over a sliding window; past the limit, refuse them all.

    In-process state: with several API processes each counts its own (the limit per address is multiplied by the
    number of processes, which is still a few dozen guesses against 256-bit secrets)."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float] | None:
        seen = self._failures.get(client)
        if seen is None:
            return None
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if not seen:
            del self._failures[client]
            return None
        return seen

    def retry_after(self, client: str) -> float:
        """Seconds this client must wait before it may try again (0: it may try now)."""
        now = self._clock()
        seen = self._recent(client, now)
        if seen is None or len(seen) < self.max_failures:
            return 0.0
        return max(seen[-self.max_failures] + self.window_s - now, 0.001)

    def failure(self, client: str) -> None:
        now = self._clock()
        if len(self._failures) >= self._max_clients:   # bound memory under a spray of addresses
            for key in list(self._failures):
                self._recent(key, now)
            if len(self._failures) >= self._max_clients:
                self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque(maxlen=self.max_failures * 2)).append(now)


LIMITER: web.AppKey[FailureLimiter] = web.AppKey("beffroi_auth_limiter", FailureLimiter)
_PROXIES: web.AppKey[tuple[Any, ...]] = web.AppKey("beffroi_trusted_proxies", tuple)


def _networks(entries: Iterable[str]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def client_address(request: web.Request) -> str:
    """The client's IP address: the TCP peer, or behind trusted proxies the last untrusted X-Forwarded-For hop."""
    peer = request.remote or "unknown"
    proxies = request.app.get(_PROXIES, ())
    if not proxies or not _in(peer, proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, proxies):
            return hop
    return peer


def _in(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def check_rate(request: web.Request) -> str:
    """Refuse (429) a client that failed too often; return its address for :func:`record_failure`."""
    client = client_address(request)
    wait = request.app[LIMITER].retry_after(client)
    if wait > 0:
        raise json_error(web.HTTPTooManyRequests, "too many failed authentications from this address; retry later",
                         **{"Retry-After": str(int(wait) + 1)})
    return client


def record_failure(request: web.Request, client: str, what: str) -> None:
    request.app[LIMITER].failure(client)
    log.warning("authentication failed: %s", what, extra={"client": client, "path": request.path})


def _presented_token(request: web.Request, cookie: bool) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else ""
    if cookie:
        return request.cookies.get(SESSION_COOKIE)
    return None


async def require_role(request: web.Request, role: str, *, cookie: bool = False) -> Principal:
    """Authenticate the request's bearer token (or, for pages, the session cookie) and demand ``role``.

    Stores the caller as ``request[PRINCIPAL]`` (the audit middleware names it for writes) and returns it."""
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    client = check_rate(request)
    raw = _presented_token(request, cookie)
    if raw is None:
        raise json_error(web.HTTPUnauthorized, "a bearer token is required (Authorization: Bearer <token>)",
                         **{"WWW-Authenticate": 'Bearer realm="beffroi"'})
    principal = await lookup_token(request.app[CONTEXT].pool, raw) if raw else None
    if principal is None:
        record_failure(request, client, "unknown, malformed or revoked token")
        raise json_error(web.HTTPUnauthorized, "invalid or revoked token",
                         **{"WWW-Authenticate": 'Bearer realm="beffroi", error="invalid_token"'})
    if not principal.allows(role):
        raise json_error(web.HTTPForbidden, f"this route needs the {role} role; token {principal.name!r} is "
                                            f"{principal.role}")
    request[PRINCIPAL] = principal
    return principal


def access(level: Access, *, cookie: bool = False) -> Callable[[Handler], Handler]:
    """Declare a handler's access level; for a role, also enforce it before the handler runs."""
    if level not in _LEVELS:
        raise ValueError(f"unknown access level {level!r}")

    def decorate(handler: Handler) -> Handler:
        if level not in _RANK:
            setattr(handler, "beffroi_access", level)  # noqa: B010 - the handler checks its own secret/link
            return handler

        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            await require_role(request, level, cookie=cookie)
            return await handler(request)

        setattr(guarded, "beffroi_access", level)  # noqa: B010
        return guarded

    return decorate


def route_access(handler: Any) -> str | None:
    """The access level a handler declared with :func:`access`, or None (a defect the route walk reports)."""
    return getattr(handler, "beffroi_access", None)


@web.middleware
async def _cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS closed by default: only origins listed in api.cors_origins (feed.cors_origins for the feed) get headers.

    A preflight from a listed origin is answered here; from any other origin it gets no CORS headers, so the
    browser refuses the cross-origin call."""
    origin = request.headers.get("Origin")
    if origin is None:
        return await handler(request)
    config = request.app[CONTEXT].config
    key = "feed" if request.path.startswith("/api/feed/") else "api"
    allowed = config.get(key, "cors_origins")
    if origin in allowed:
        allow_origin = origin
    elif "*" in allowed:
        allow_origin = "*"
    else:
        return await handler(request)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    response.headers["Access-Control-Allow-Origin"] = allow_origin
    response.headers["Vary"] = "Origin"
    return response


@web.middleware
async def _refuse_nul(request: web.Request, handler: Handler) -> web.StreamResponse:
    """PostgreSQL text and jsonb cannot hold NUL. In the path or a query parameter it is refused before any
    handler runs (once an export has started streaming, a database error could only cut the stream); in a body
    (JSON, CSV) the database refuses it and this answers 400 instead of letting it become a 500."""
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.query.items()):
        raise json_error(web.HTTPBadRequest, "the path or a query parameter contains a NUL character")
    try:
        return await handler(request)
    except psycopg.DataError as exc:      # jsonb: UntranslatableCharacter; text: psycopg refuses it client-side
        if isinstance(exc, psycopg.errors.UntranslatableCharacter) or "NUL" in str(exc):
            raise json_error(web.HTTPBadRequest, "a value contains a NUL character (\\u0000), which cannot be "
                                                 "stored") from None
        raise


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:  # streamed responses set their own headers before the first byte
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")   # signed links never leak to other sites
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


class SafeAccessLogger(AbstractAccessLogger):
    """Access log without query strings (a ChirpStack ``?secret=``, a signed link token) and without headers.

    Pass as ``web.AppRunner(app, access_log_class=SafeAccessLogger)``."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        principal = request.get(PRINCIPAL)
        path = request.rel_url.path
        if path.startswith("/ack/"):
            path = path.rsplit("/", 1)[0] + "/…"     # signed-link tokens travel in the path
        self.logger.info("%s %s %s %d %.1fms", request.remote, request.method, path, response.status,
                         time * 1000, extra={"actor": principal.actor} if principal else None)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def setup(app: web.Application) -> None:
    """Install the failure limiter, trusted proxies and middlewares; list this module first in ROUTE_MODULES."""
    config = app[CONTEXT].config
    app[LIMITER] = FailureLimiter(config.get("api", "auth_max_failures"), config.get("api", "auth_failure_window_s"))
    app[_PROXIES] = _networks(config.get("api", "trusted_proxies"))
    app.middlewares.extend([_refuse_nul, _cors, _security_headers])
