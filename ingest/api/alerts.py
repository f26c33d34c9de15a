"""Alerts for people: the list (with delivery failures), acknowledgement by token or by one-click link, silences.

The one-click link in each notification (``/ack/{token}``, signed, bound to one alert and one notification,
expiring after ``notify.ack_link_ttl_s``, single use) answers GET with a confirmation page only: link previewers
and mail scanners fetch links, and must not acknowledge anything. The page's button POSTs to the same URL,
which acknowledges in the name of the contact the notification was sent to.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from ingest.alerting import ack_links
from ingest.api.app import CONTEXT
from ingest.api.audit import describe
from ingest.api.auth import PRINCIPAL, Principal, access, json_error
from ingest.api.common import bad_request, iso, now_of
from ingest.api.openapi import json_body, ok_json, operation, path_param, query
from ingest.api.pages import render_alert
from rules.acklinks import InvalidLink
from rules.lifecycle import NotAcknowledgeable, acknowledge
from rules.mute import SILENCE_KEYS

__all__ = ["setup", "OPENAPI_PATHS", "OPENAPI_SCHEMAS"]

_LIST = """
SELECT a.id, a.rule, a.dev_eui, d.name, d.site, a.state, a.severity, a.route, a.summary, a.value, a.threshold,
       a.started_at, a.fired_at, a.acked_at, a.acked_by, a.resolved_at, a.level, a.delivery_failures,
       a.last_delivery_error
FROM alerts a LEFT JOIN devices d USING (dev_eui)
WHERE (%(open)s = false OR a.state <> 'resolved') AND (%(dev_eui)s::text IS NULL OR a.dev_eui = %(dev_eui)s)
ORDER BY a.state = 'resolved', CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
         a.started_at DESC
LIMIT %(limit)s
"""
_FIELDS = ("id", "rule", "dev_eui", "device", "site", "state", "severity", "route", "summary", "value", "threshold",
           "started_at", "fired_at", "acked_at", "acked_by", "resolved_at", "level", "delivery_failures",
           "last_delivery_error")


def _alert_json(row: tuple[Any, ...]) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in zip(_FIELDS, row, strict=True)}


@access("viewer")
async def list_alerts(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    state = request.query.get("state", "open")
    if state not in ("open", "all"):
        raise bad_request("state must be open or all")
    params = {"open": state == "open", "dev_eui": request.query.get("dev_eui"), "limit": 500}
    async with ctx.pool.connection() as conn:
        rows = await (await conn.execute(_LIST, params)).fetchall()
    return web.json_response({"alerts": [_alert_json(r) for r in rows], "count": len(rows)})


def _alert_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise bad_request("alert id must be a number") from None


@access("operator")
async def ack_alert(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    principal = request[PRINCIPAL]
    alert_id = _alert_id(request)
    try:
        async with ctx.pool.connection() as conn, conn.transaction():
            alert = await acknowledge(conn, alert_id, principal.actor, now_of(ctx))
    except NotAcknowledgeable as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    if alert is None:
        raise json_error(web.HTTPNotFound, f"no alert {alert_id}")
    describe(request, f"alert:{alert_id}", state=alert.state)
    return web.json_response({"id": alert.id, "state": alert.state, "acked_by": alert.acked_by,
                              "acked_at": iso(alert.acked_at)})


# -- one-click links -----------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Beffroi - {title}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}
button{{font-size:1.2rem;padding:.8rem 1.5rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=_PAGE.format(title=html.escape(title), body=body), status=status,
                        content_type="text/html", headers={"Cache-Control": "no-store",
                                                           "Referrer-Policy": "no-referrer"})


async def _claim(request: web.Request) -> tuple[int, int, str, tuple[Any, ...]] | web.Response:
    """Verify the link; (alert id, outbox id, contact, alert row) or an error page."""
    ctx = request.app[CONTEXT]
    links = ack_links(ctx.config)
    if links is None:
        return _page("Lien inconnu", "<p>Les liens d'acquittement ne sont pas activés sur ce serveur.</p>", 404)
    try:
        claim = links.verify(request.match_info["token"], now_of(ctx))
    except InvalidLink as exc:
        text = "Ce lien a expiré." if "expired" in exc.reason else "Ce lien n'est pas valide."
        return _page("Lien invalide", f"<p>{text} Acquittez l'alerte depuis Beffroi ou appelez l'astreinte.</p>", 410)
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute(
            "SELECT o.contact, a.rule, a.dev_eui, coalesce(d.name, a.dev_eui), a.state, a.severity, a.summary, "
            "a.acked_by, (SELECT used_at FROM ack_link_uses u WHERE u.outbox_id = o.id) FROM outbox o "
            "JOIN alerts a ON a.id = o.alert_id LEFT JOIN devices d ON d.dev_eui = a.dev_eui "
            "WHERE o.id = %s AND o.alert_id = %s", (claim.outbox_id, claim.alert_id))).fetchone()
    if row is None:
        return _page("Lien invalide", "<p>Cette alerte n'existe plus.</p>", 410)
    return claim.alert_id, claim.outbox_id, row[0], row


@access("link")
async def ack_page(request: web.Request) -> web.Response:
    """What the SMS link opens: the alert page itself (what, where, since when); only the POST acknowledges."""
    claimed = await _claim(request)
    if isinstance(claimed, web.Response):
        return claimed
    alert_id, _, _, row = claimed
    ctx = request.app[CONTEXT]
    state, acked_by, used_at = row[4], row[7], row[8]
    if used_at is not None or state != "firing":
        words = {"acknowledged": f"déjà prise en charge ({acked_by or ''})", "resolved": "terminée",
                 "pending": "pas encore déclenchée", "firing": "toujours active ; ce lien a déjà servi"}
        return await render_alert(ctx, alert_id, form_action=None, notice=f"Cette alerte est {words[state]}.")
    return await render_alert(ctx, alert_id, form_action=request.path,
                              notice="Prendre en charge cette alerte arrête les relances et l'escalade.")


@access("link")
async def ack_by_link(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    claimed = await _claim(request)
    if isinstance(claimed, web.Response):
        return claimed
    alert_id, outbox_id, contact, row = claimed
    now = now_of(ctx)
    actor = f"link:{contact}"
    try:
        async with ctx.pool.connection() as conn, conn.transaction():
            used = await (await conn.execute(
                "INSERT INTO ack_link_uses (outbox_id, alert_id, used_at) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING outbox_id", (outbox_id, alert_id, now))).fetchone()
            if used is None:
                return await render_alert(ctx, alert_id, form_action=None, notice="Ce lien a déjà servi.",
                                          status=409)
            alert = await acknowledge(conn, alert_id, actor, now)
    except NotAcknowledgeable:
        return await render_alert(ctx, alert_id, form_action=None,
                                  notice="Cette alerte est terminée : rien à prendre en charge.", status=409)
    assert alert is not None
    request[PRINCIPAL] = Principal(contact, "operator", kind="link")
    describe(request, f"alert:{alert_id}", state=alert.state, outbox_id=outbox_id)
    return await render_alert(ctx, alert_id, form_action=None,
                              notice=f"Prise en charge enregistrée ({alert.acked_by or actor}). "
                                     "Les relances et l'escalade sont arrêtées.")


# -- silences ------------------------------------------------------------------------------------------------

@access("viewer")
async def list_silences(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences WHERE ends_at > %s "
            "ORDER BY starts_at", (now_of(ctx),))).fetchall()
    keys = ("id", "matchers", "starts_at", "ends_at", "created_by", "comment")
    return web.json_response({"silences": [{k: iso(v) if isinstance(v, datetime) else v
                                            for k, v in zip(keys, r, strict=True)} for r in rows]})


def _instant(body: dict[str, Any], key: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(body[key]))
    except (KeyError, ValueError):
        raise bad_request(f"{key}: an ISO 8601 date and time with its offset is required") from None
    if value.tzinfo is None:
        raise bad_request(f"{key}: give the offset (e.g. +02:00 or Z)")
    return value


@access("operator")
async def create_silence(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        raise bad_request("the body must be JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("matchers"), dict) or not body["matchers"]:
        raise bad_request("give matchers (an object with some of: " + ", ".join(SILENCE_KEYS) + "), starts, ends")
    unknown = set(body["matchers"]) - set(SILENCE_KEYS)
    if unknown:
        raise bad_request(f"unknown matcher {sorted(unknown)[0]!r}; known: {', '.join(SILENCE_KEYS)}")
    starts = _instant(body, "starts") if "starts" in body else now_of(ctx)
    ends = _instant(body, "ends")
    if ends <= starts:
        raise bad_request("ends must be after starts")
    actor = request[PRINCIPAL].actor
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment) VALUES (%s, %s, %s, %s, %s) "
            "RETURNING id", (Jsonb(body["matchers"]), starts, ends, actor, str(body.get("comment", ""))))).fetchone()
    assert row is not None
    describe(request, f"silence:{row[0]}", matchers=body["matchers"], ends=iso(ends))
    return web.json_response({"id": row[0], "starts_at": iso(starts), "ends_at": iso(ends)}, status=201)


@access("operator")
async def delete_silence(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        silence_id = int(request.match_info["id"])
    except ValueError:
        raise bad_request("silence id must be a number") from None
    async with ctx.pool.connection() as conn:
        # ending it now keeps the record of who silenced what, and when
        cur = await conn.execute("UPDATE silences SET ends_at = greatest(starts_at + interval '1 second', %s) "
                                 "WHERE id = %s AND ends_at > %s", (now_of(ctx), silence_id, now_of(ctx)))
    if cur.rowcount == 0:
        raise json_error(web.HTTPNotFound, f"no active silence {silence_id}")
    describe(request, f"silence:{silence_id}")
    return web.json_response({"id": silence_id, "ended": True})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/alerts", list_alerts)
    app.router.add_post("/api/alerts/{id}/ack", ack_alert)
    app.router.add_get("/ack/{token}", ack_page)
    app.router.add_post("/ack/{token}", ack_by_link)
    app.router.add_get("/api/silences", list_silences)
    app.router.add_post("/api/silences", create_silence)
    app.router.add_delete("/api/silences/{id}", delete_silence)


_ALERT = {"type": "object", "properties": {
    **{k: {"type": "string", "nullable": True} for k in _FIELDS},
    "id": {"type": "integer"}, "value": {"type": "number", "nullable": True},
    "threshold": {"type": "number", "nullable": True}, "level": {"type": "integer"},
    "delivery_failures": {"type": "integer", "description": "notifications given up on"}}}
_ID = path_param("id", {"type": "integer"}, "alert id")
_TOKEN = path_param("token", {"type": "string"}, "signed acknowledgement token from a notification")
_HTML = {"description": "an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
_SILENCE = {"type": "object", "required": ["matchers", "ends"], "properties": {
    "matchers": {"type": "object", "properties": {k: {"type": "string"} for k in SILENCE_KEYS}},
    "starts": {"type": "string", "format": "date-time"}, "ends": {"type": "string", "format": "date-time"},
    "comment": {"type": "string"}}}

OPENAPI_SCHEMAS: dict[str, Any] = {"Alert": _ALERT, "SilenceRequest": _SILENCE}
OPENAPI_PATHS = {
    "/api/alerts": {"get": operation(
        "Alerts, open ones first by severity, with delivery failures", "viewer", tags=["alerts"],
        parameters=[query("state", {"type": "string", "enum": ["open", "all"]}, "open (default) or all"),
                    query("dev_eui", {"type": "string"}, "only this device")],
        responses={"200": ok_json("the alerts", {"type": "object", "properties": {
            "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
            "count": {"type": "integer"}}})}, errors={"400": "bad state"})},
    "/api/alerts/{id}/ack": {"post": operation(
        "Acknowledge a firing alert (stops escalation and repeats)", "operator", tags=["alerts"], parameters=[_ID],
        responses={"200": ok_json("acknowledged", {"type": "object"})},
        errors={"404": "no such alert", "409": "the alert is pending or resolved"})},
    "/ack/{token}": {
        "get": operation("Confirmation page of a one-click acknowledgement link (acknowledges nothing)", "link",
                         tags=["alerts"], parameters=[_TOKEN], responses={"200": _HTML},
                         errors={"404": "links disabled", "410": "invalid or expired link"}),
        "post": operation("Acknowledge through a one-click link (single use)", "link", tags=["alerts"],
                          parameters=[_TOKEN], responses={"200": _HTML},
                          errors={"404": "links disabled", "409": "link already used or alert over",
                                  "410": "invalid or expired link"})},
    "/api/silences": {
        "get": operation("Active and future silences", "viewer", tags=["alerts"],
                         responses={"200": ok_json("silences", {"type": "object"})}),
        "post": operation("Silence matching alerts for a period (maintenance)", "operator", tags=["alerts"],
                          body=json_body({"$ref": "#/components/schemas/SilenceRequest"}),
                          responses={"201": ok_json("created", {"type": "object"})}, errors={"400": "bad request"})},
    "/api/silences/{id}": {"delete": operation(
        "End a silence now", "operator", tags=["alerts"],
        parameters=[path_param("id", {"type": "integer"}, "silence id")],
        responses={"200": ok_json("ended", {"type": "object"})}, errors={"404": "no such active silence"})},
}
