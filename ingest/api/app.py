"""The aiohttp application: health, metrics, the JSON API and the pages for people.

Each area is a module in ``ingest/api/`` with ``setup(app: web.Application) -> None`` adding its routes; this
module only assembles them. Shared objects (database pool, configuration, device registry...) travel in an
``ApiContext`` stored under ``CONTEXT``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ingest.config import Config

__all__ = ["ApiContext", "CONTEXT", "build_app", "ROUTE_MODULES"]

ROUTE_MODULES: tuple[str, ...] = (
    "ingest.api.auth",        # first: failure limiter, CORS and security-header middlewares
    "ingest.api.audit",       # audit middleware: every successful write names its caller
    "ingest.api.export",
    "ingest.api.feed",
    "ingest.api.chirpstack_http",
    "ingest.api.devices",
    "ingest.api.alerts",
    "ingest.api.pages",
    "ingest.api.openapi",
    "ingest.api.health",
)


@dataclass
class ApiContext:
    config: Config
    pool: Any = None                       # psycopg_pool.AsyncConnectionPool
    readiness: dict[str, bool] = field(default_factory=dict)   # component -> ready (database, mqtt...)
    extras: dict[str, Any] = field(default_factory=dict)       # registry, engine, clock...


CONTEXT: web.AppKey[ApiContext] = web.AppKey("beffroi_context", ApiContext)


def build_app(context: ApiContext, modules: tuple[str, ...] = ROUTE_MODULES) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[CONTEXT] = context
    for name in modules:
        importlib.import_module(name).setup(app)
    return app
