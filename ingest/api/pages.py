"""Pages for people (French, server-rendered, no JavaScript, readable on a phone).

- ``/status``: devices by family and state, open alerts (viewer);
- ``/alerts/{id}``: one alert — what, where, since when, its timeline — and a button to acknowledge it (the
  button for operators; it posts to ``/alerts/{id}/ack``, which calls ``rules.lifecycle.acknowledge``, the same
  code as the API and the signed links);
- ``/login``: paste a token once; it is kept in an HttpOnly, SameSite=Lax cookie (``auth.SESSION_COOKIE``), so the
  form posts of these pages cannot be forged from another site (a Lax cookie is not sent on a cross-site POST,
  and the Origin header is checked as well).

``render_alert`` draws the alert page for a given form action and is what the signed SMS/e-mail link's GET page
shows (``ingest/api/alerts.py``), with the link itself as the form action.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

from ingest.api.app import CONTEXT, ApiContext
from ingest.api.audit import describe
from ingest.api.auth import (
    PRINCIPAL,
    SESSION_COOKIE,
    access,
    check_rate,
    record_failure,
    require_role,
)
from ingest.api.openapi import operation, path_param, query
from ingest.api.pagedata import alert_view, status_view
from ingest.api.tokens import lookup_token

__all__ = ["setup", "render", "render_alert", "page", "OPENAPI_PATHS"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("ingest.api", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
_COOKIE_DAYS = 30


def render(template: str, status: int = 200, **context: Any) -> web.Response:
    html = _ENV.get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"})


async def render_alert(ctx: ApiContext, alert_id: int, *, form_action: str | None, notice: str = "",
                       status: int = 200) -> web.Response:
    """The alert page; ``form_action`` None hides the acknowledge button. 404 page when there is no such alert."""
    view = await alert_view(ctx, alert_id)
    if view is None:
        return render("message.html", 404, title="Alerte introuvable",
                      message=f"Il n'y a pas d'alerte n° {alert_id}.")
    return render("alert.html", status, alert=view, form_action=form_action, notice=notice)


def page(role: str) -> Callable[[Handler], Handler]:
    """Like ``auth.access(role)`` for pages: the session cookie counts, a person without a session is sent to
    /login (303) rather than shown a 401, and a role too low gets a French 403 page."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                await require_role(request, role, cookie=True)
            except web.HTTPUnauthorized:
                response = web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
                if request.cookies.get(SESSION_COOKIE):
                    response.del_cookie(SESSION_COOKIE, path="/")   # revoked or unknown: forget it
                raise response from None
            except web.HTTPForbidden:
                return render("message.html", 403, title="Accès refusé",
                              message=f"Cette page demande le rôle « {role} » ou plus.")
            return await handler(request)

        setattr(guarded, "beffroi_access", role)  # noqa: B010 - read by auth.route_access
        return guarded

    return decorate


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


@page("viewer")
async def status_page(request: web.Request) -> web.Response:
    return render("status.html", **await status_view(request.app[CONTEXT]), principal=request[PRINCIPAL])


@access("public")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/status")


@page("viewer")
async def alert_page(request: web.Request) -> web.Response:
    alert_id = _alert_id(request)
    principal = request[PRINCIPAL]
    action = f"/alerts/{alert_id}/ack" if principal.allows("operator") else None
    notice = "Alerte prise en compte. Merci." if request.query.get("ack") == "1" else ""
    return await render_alert(request.app[CONTEXT], alert_id, form_action=action, notice=notice)


@page("operator")
async def acknowledge(request: web.Request) -> web.Response:
    if not _same_origin(request):
        return render("message.html", 403, title="Refusé", message="Formulaire envoyé depuis un autre site.")
    from rules.lifecycle import NotAcknowledgeable
    from rules.lifecycle import acknowledge as acknowledge_alert

    ctx = request.app[CONTEXT]
    alert_id = _alert_id(request)
    actor = request[PRINCIPAL].actor
    try:
        async with ctx.pool.connection() as conn, conn.transaction():
            alert = await acknowledge_alert(conn, alert_id, actor, _now(ctx))
    except NotAcknowledgeable:
        return await render_alert(ctx, alert_id, form_action=None, status=409,
                                  notice="Cette alerte n'est plus en cours : rien à prendre en compte.")
    if alert is None:
        return render("message.html", 404, title="Alerte introuvable", message=f"Il n'y a pas d'alerte n° {alert_id}.")
    describe(request, f"alert:{alert_id}", via="page")
    raise web.HTTPSeeOther(f"/alerts/{alert_id}?ack=1")


def _alert_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None


def _now(ctx: ApiContext) -> datetime:
    from ingest.api.common import now_of

    return now_of(ctx)


def _safe_next(target: str | None) -> str:
    """Only a local path: never let /login redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/status"
    return target


@access("public")
async def login_form(request: web.Request) -> web.Response:
    return render("login.html", next=_safe_next(request.query.get("next")), error="")


@access("public")
async def login(request: web.Request) -> web.Response:
    if not _same_origin(request):
        return render("message.html", 403, title="Refusé", message="Formulaire envoyé depuis un autre site.")
    ctx = request.app[CONTEXT]
    client = check_rate(request)
    form = await request.post()
    token = str(form.get("token", "")).strip()
    target = _safe_next(str(form.get("next", "")))
    principal = await lookup_token(ctx.pool, token) if token else None
    if principal is None:
        record_failure(request, client, "login page: unknown, malformed or revoked token")
        return render("login.html", 401, next=target, error="Jeton inconnu ou révoqué.")
    response = web.HTTPSeeOther(target)
    response.set_cookie(SESSION_COOKIE, token, max_age=_COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                        secure=ctx.config.get("http", "public_url").startswith("https://"), path="/")
    raise response


@access("public")
async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


_HTML = {"200": {"description": "an HTML page (French)", "content": {"text/html": {"schema": {"type": "string"}}}}}
_ID = path_param("id", {"type": "integer", "minimum": 1}, "alert number")
_PAGES = {"303": {"description": "no session: redirect to /login"}}
OPENAPI_PATHS = {
    "/": {"get": operation("Home: redirects to the status page", "public", tags=["pages"],
                           responses={"302": {"description": "to /status"}})},
    "/status": {"get": operation("Status page: devices by family and state, open alerts", "viewer",
                                 tags=["pages"], responses={**_HTML, **_PAGES})},
    "/alerts/{id}": {"get": operation("Alert page: what, where, since when, timeline, acknowledge button",
                                      "viewer", tags=["pages"], parameters=[_ID, query(
                                          "ack", {"type": "string"}, "1 after an acknowledgement")],
                                      responses={**_HTML, **_PAGES}, errors={"404": "no such alert"})},
    "/alerts/{id}/ack": {"post": operation(
        "Acknowledge from the alert page (session cookie; operator)", "operator", tags=["pages"], parameters=[_ID],
        responses={"303": {"description": "back to the alert page"}},
        errors={"404": "no such alert", "409": "the alert is not firing"})},
    "/login": {
        "get": operation("Login form (paste a token)", "public", tags=["pages"], parameters=[
            query("next", {"type": "string"}, "local path to go to afterwards")], responses=_HTML),
        "post": operation("Log in: the token is kept in an HttpOnly cookie", "public", tags=["pages"],
                          body={"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                              "type": "object", "properties": {"token": {"type": "string"},
                                                               "next": {"type": "string"}}}}}},
                          responses={"303": {"description": "logged in"}},
                          errors={"401": "unknown or revoked token", "429": "too many failures"})},
    "/logout": {"post": operation("Log out (forget the session cookie)", "public", tags=["pages"],
                                  responses={"303": {"description": "to /login"}})},
}


def setup(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/status", status_page)
    app.router.add_get("/alerts/{id}", alert_page)
    app.router.add_post("/alerts/{id}/ack", acknowledge)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
