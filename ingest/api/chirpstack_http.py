"""ChirpStack v4 HTTP integration: ``POST /api/chirpstack?event=<type>``, into the same pipeline as MQTT.

ChirpStack posts every event of an application to the configured URL with ``?event=up`` (``status``, ``join``,
``log``...), the body being the event as JSON (``Content-Type: application/json``) or binary protobuf
(``application/octet-stream``). Configure the integration with the header ``Authorization: Bearer <secret>``
where ``<secret>`` is ``api.chirpstack_secret``; ``?secret=<secret>`` also works but ends up in proxies' logs.
The secret is compared in constant time and failures count towards the per-address rate limit.

The body is handed unchanged to the ingest pipeline's ``submit(raw, topic, source)`` callable found in
``ApiContext.extras["submit"]`` (what ``beffroi run`` wires for MQTT too), under the topic
``http/chirpstack/event/<type>`` so the pipeline reads the event type as it does from an MQTT topic. The answer
waits for ``submit`` (which returns once the batch holding the message is committed): 200 means stored or
recorded as a reject, 503 means not stored. ChirpStack does not retry, so a 503 is also logged here.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import re

from aiohttp import web

from ingest.api.app import CONTEXT
from ingest.api.auth import access, check_rate, json_error, record_failure
from ingest.api.openapi import ok_json, operation, query

__all__ = ["setup", "CHIRPSTACK_PATH", "topic_for", "OPENAPI_PATHS"]

log = logging.getLogger(__name__)

CHIRPSTACK_PATH = "/api/chirpstack"
_EVENT = re.compile(r"^[a-z]{1,32}$")
_CONTENT_TYPES = {"application/json": "chirpstack-json", "application/octet-stream": "chirpstack-pb",
                  "application/x-protobuf": "chirpstack-pb", "application/protobuf": "chirpstack-pb"}


def topic_for(event: str) -> str:
    return f"http/chirpstack/event/{event}"


def _presented_secret(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("secret")


@access("secret")
async def chirpstack_event(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    expected = ctx.config.get("api", "chirpstack_secret")
    if not expected:
        raise json_error(web.HTTPNotFound, "the ChirpStack HTTP integration is disabled (api.chirpstack_secret)")
    client = check_rate(request)
    presented = _presented_secret(request)
    if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        record_failure(request, client, "ChirpStack HTTP integration: missing or wrong shared secret")
        raise json_error(web.HTTPUnauthorized, "missing or wrong shared secret",
                         **{"WWW-Authenticate": 'Bearer realm="beffroi-chirpstack"'})
    event = request.query.get("event", "")
    if not _EVENT.match(event):
        raise json_error(web.HTTPBadRequest, "query parameter 'event' is required (up, status, join, log...)")
    if request.content_type not in _CONTENT_TYPES:
        raise json_error(web.HTTPUnsupportedMediaType,
                         "Content-Type must be application/json or application/octet-stream (protobuf)")
    submit = ctx.extras.get("submit")
    if submit is None:
        raise json_error(web.HTTPServiceUnavailable, "the ingest pipeline is not running in this process")
    raw = await request.read()
    try:
        outcome = submit(raw, topic_for(event), "http")
        if inspect.isawaitable(outcome):
            await outcome
    except Exception as exc:
        log.error("ChirpStack HTTP event %s not stored (ChirpStack will not resend it): %s", event, exc,
                  extra={"event": event})
        raise json_error(web.HTTPServiceUnavailable, "not stored; the database or the pipeline is unavailable",
                         **{"Retry-After": "30"}) from exc
    return web.json_response({"accepted": True, "event": event})


OPENAPI_PATHS = {CHIRPSTACK_PATH: {"post": operation(
    "ChirpStack v4 HTTP integration: one event", "secret", tags=["ingest"],
    parameters=[query("event", {"type": "string", "pattern": "^[a-z]{1,32}$"}, "event type: up, status, join, log...",
                      required=True)],
    body={"required": True, "description": "the event as ChirpStack sends it", "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    responses={"200": ok_json("stored, or recorded as a reject", {"type": "object", "properties": {
        "accepted": {"type": "boolean"}, "event": {"type": "string"}}})},
    errors={"400": "no or malformed event type", "404": "the integration is disabled (no api.chirpstack_secret)",
            "415": "Content-Type is neither JSON nor protobuf", "503": "not stored (database or pipeline down)"})}}


def setup(app: web.Application) -> None:
    app.router.add_post(CHIRPSTACK_PATH, chirpstack_event)
