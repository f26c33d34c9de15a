"""``/metrics`` (Prometheus text format), ``/healthz`` (the process answers) and ``/readyz`` (it can do its job).

``/readyz`` answers 200 only when every component listed in ``ApiContext.readiness`` is up (``beffroi run`` lists
``database`` and ``mqtt``; a process listing none is ready), else 503 with the state of each, so a load balancer or
an orchestrator stops sending traffic to an instance that cannot store it. The three routes are public: they say
nothing about the data, and probes and scrapers carry no token (restrict them at the reverse proxy if needed). ``/metrics`` serves the registry found in
``ApiContext.extras["metrics_registry"]`` (the service's own), or the process-wide default one.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ingest.api.app import CONTEXT
from ingest.api.auth import access
from ingest.api.openapi import ok_json, operation

__all__ = ["setup", "OPENAPI_PATHS"]


@access("public")
async def metrics(request: web.Request) -> web.Response:
    registry = request.app[CONTEXT].extras.get("metrics_registry") or REGISTRY
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@access("public")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@access("public")
async def readyz(request: web.Request) -> web.Response:
    components = dict(request.app[CONTEXT].readiness)
    ready = all(components.values())
    return web.json_response({"ready": ready, "components": components}, status=200 if ready else 503)


_READY = {"type": "object", "properties": {"ready": {"type": "boolean"},
                                           "components": {"type": "object",
                                                          "additionalProperties": {"type": "boolean"}}}}
OPENAPI_PATHS = {
    "/metrics": {"get": operation("Prometheus metrics", "public", tags=["meta"], responses={"200": {
        "description": "metrics in the Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}}}})},
    "/healthz": {"get": operation("Liveness: the process answers", "public", tags=["meta"], responses={
        "200": ok_json("alive", {"type": "object", "properties": {"status": {"type": "string"}}})})},
    "/readyz": {"get": operation("Readiness: database and broker connected", "public", tags=["meta"], responses={
        "200": ok_json("every component is up", _READY), "503": ok_json("a component is down", _READY)})},
}


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
