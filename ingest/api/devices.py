"""Devices: the list with each device's state, one device's detail, and the fleet CSV import.

A device's ``state`` is computed, not stored: ``disabled`` / ``unassigned`` (its registry status), ``never``
(no uplink yet), ``silent`` (nothing for more than ``SILENT_AFTER_PERIODS`` of its profile's uplink period), or
``ok``. Open alerts are listed beside it (``alerts`` table of the rules engine). Tracker positions are personal
data: a device's last position is shown only to operators, as for the positions export.

The import reuses ``ingest/fleet.py`` (the same code as ``beffroi devices import``): the body is the CSV file.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import psycopg
from aiohttp import web

from ingest.api.app import CONTEXT, ApiContext
from ingest.api.audit import describe
from ingest.api.auth import PRINCIPAL, access, json_error
from ingest.api.common import FAMILIES, bad_request, iso, now_of, registry
from ingest.api.openapi import json_body, ok_json, operation, path_param, query
from ingest.fleet import FleetFileError, import_fleet, normalise_dev_eui, parse_fleet_csv

__all__ = ["setup", "device_rows", "device_state", "SILENT_AFTER_PERIODS", "STATES", "open_alerts", "OPENAPI_PATHS",
           "OPENAPI_SCHEMAS"]

SILENT_AFTER_PERIODS = 3      # a device missing three uplinks in a row is shown silent
STATES = ("ok", "silent", "never", "unassigned", "disabled")
_IMPORT_MAX_BYTES = 16 * 1024 * 1024   # about 150 000 devices; read past the app's 1 MB body limit

_LIST = """
SELECT d.dev_eui, d.name, d.profile, d.site, d.latitude, d.longitude, d.tags, d.status, s.last_seen, s.uplinks,
       (SELECT count(*) FROM alerts a WHERE a.dev_eui = d.dev_eui AND a.state IN ('firing', 'acknowledged'))
FROM devices d LEFT JOIN device_state s ON s.dev_eui = d.dev_eui
WHERE (%(site)s::text IS NULL OR d.site = %(site)s) AND (%(profiles)s::text[] IS NULL OR d.profile = ANY(%(profiles)s))
  AND (%(dev_eui)s::text IS NULL OR d.dev_eui = %(dev_eui)s)
ORDER BY d.site NULLS LAST, d.name, d.dev_eui
"""
_ALERTS = """
SELECT id, rule, dev_eui, state, severity, summary, value, threshold, started_at, fired_at, acked_at, acked_by
FROM alerts WHERE state IN ('firing', 'acknowledged') AND (%(dev_eui)s::text IS NULL OR dev_eui = %(dev_eui)s)
ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, started_at
"""
_LAST_READINGS = """
SELECT q, r.time, r.value FROM unnest(%(quantities)s::text[]) AS q
CROSS JOIN LATERAL (SELECT time, value FROM readings WHERE dev_eui = %(dev_eui)s AND quantity = q
                    ORDER BY time DESC LIMIT 1) AS r ORDER BY q
"""
_RECENT_QUANTITIES = ("SELECT DISTINCT quantity FROM readings WHERE dev_eui = %s AND time > %s")


def device_state(status: str, last_seen: datetime | None, period_s: int | None, now: datetime) -> str:
    if status in ("disabled", "unassigned"):
        return status
    if last_seen is None:
        return "never"
    if period_s and now - last_seen > timedelta(seconds=SILENT_AFTER_PERIODS * period_s):
        return "silent"
    return "ok"


def _profile_info(ctx: ApiContext, profile_id: str | None) -> Any:
    return registry(ctx).get(profile_id) if profile_id else None


async def device_rows(ctx: ApiContext, site: str | None = None, family: str | None = None,
                      dev_eui: str | None = None) -> list[dict[str, Any]]:
    """Every device with its family, state and count of open alerts (for the list and the status page)."""
    profiles = None
    if family is not None:
        profiles = [p.id for p in registry(ctx) if p.family == family]
    now = now_of(ctx)
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_LIST, {"site": site, "profiles": profiles, "dev_eui": dev_eui})
        rows = await cur.fetchall()
    out = []
    for dev_eui, name, profile_id, site_, lat, lon, tags, status, last_seen, uplinks, alerts in rows:
        profile = _profile_info(ctx, profile_id)
        out.append({"dev_eui": dev_eui, "name": name, "profile": profile_id,
                    "family": profile.family if profile else None, "site": site_, "latitude": lat,
                    "longitude": lon, "tags": tags, "status": status, "last_seen": iso(last_seen),
                    "uplinks": uplinks or 0, "open_alerts": alerts,
                    "state": device_state(status, last_seen, profile.uplink_period_s if profile else None, now)})
    return out


async def open_alerts(ctx: ApiContext, dev_eui: str | None = None) -> list[dict[str, Any]]:
    """Firing and acknowledged alerts, most severe first."""
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_ALERTS, {"dev_eui": dev_eui})
        names = [c.name for c in cur.description or ()]
        return [{k: iso(v) if isinstance(v, datetime) else v for k, v in zip(names, row, strict=True)}
                for row in await cur.fetchall()]


@access("viewer")
async def list_devices(request: web.Request) -> web.Response:
    family = request.query.get("family")
    if family is not None and family not in FAMILIES:
        raise bad_request(f"unknown family {family[:20]!r}; families are {', '.join(FAMILIES)}")
    rows = await device_rows(request.app[CONTEXT], request.query.get("site"), family)
    state = request.query.get("state")
    if state is not None:
        rows = [r for r in rows if r["state"] == state]
    return web.json_response({"devices": rows, "count": len(rows)})


@access("viewer")
async def device_detail(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        dev_eui = normalise_dev_eui(request.match_info["dev_eui"])
    except ValueError:
        raise bad_request("the DevEUI must be 16 hexadecimal digits") from None
    rows = await device_rows(ctx, dev_eui=dev_eui)
    if not rows:
        raise json_error(web.HTTPNotFound, f"no device {dev_eui}")
    device = rows[0]
    profile = _profile_info(ctx, device["profile"])
    now = now_of(ctx)
    async with ctx.pool.connection() as conn:
        detail = await (await conn.execute(
            "SELECT d.params, s.last_f_cnt, s.last_rssi, s.last_snr FROM devices d "
            "LEFT JOIN device_state s ON s.dev_eui = d.dev_eui WHERE d.dev_eui = %s", (dev_eui,))).fetchone()
        if profile is not None:
            quantities = sorted(profile.quantities)
        else:
            cur = await conn.execute(_RECENT_QUANTITIES, (dev_eui, now - timedelta(days=7)))
            quantities = sorted(r[0] for r in await cur.fetchall())
        cur = await conn.execute(_LAST_READINGS, {"quantities": quantities, "dev_eui": dev_eui})
        readings = [{"quantity": q, "time": iso(t), "value": v} for q, t, v in await cur.fetchall()]
        position = None
        if request[PRINCIPAL].allows("operator"):
            row = await (await conn.execute("SELECT time, latitude, longitude, altitude, accuracy FROM positions "
                                            "WHERE dev_eui = %s ORDER BY time DESC LIMIT 1", (dev_eui,))).fetchone()
            if row:
                position = dict(zip(("time", "latitude", "longitude", "altitude", "accuracy"),
                                    (iso(row[0]), *row[1:]), strict=True))
    params, f_cnt, rssi, snr = detail or ({}, None, None, None)
    device.update({
        "params": params, "radio": {"last_f_cnt": f_cnt, "rssi": rssi, "snr": snr},
        "profile_info": None if profile is None else {
            "id": profile.id, "vendor": profile.vendor, "model": profile.model, "family": profile.family,
            "uplink_period_s": profile.uplink_period_s, "quantities": sorted(profile.quantities)},
        "last_readings": readings, "last_position": position, "alerts": await open_alerts(ctx, dev_eui)})
    return web.json_response(device)


def _import(url: str, text: str, reg: Any) -> dict[str, Any]:
    fleet = parse_fleet_csv(text, reg)
    with psycopg.connect(url, application_name="beffroi-import") as conn:
        report = import_fleet(conn, fleet)
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged,
            "rejected": [{"line": r.line, "dev_eui": r.dev_eui, "reason": r.reason} for r in report.rejected]}


@access("admin")
async def import_devices(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > _IMPORT_MAX_BYTES:
            raise json_error(web.HTTPRequestEntityTooLarge, "the fleet file is larger than 16 MB; split it")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("the fleet file must be UTF-8 text (CSV)") from None
    try:
        report = await asyncio.to_thread(_import, ctx.config.get("database", "url"), text, registry(ctx))
    except FleetFileError as exc:
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
    describe(request, "devices", created=len(report["created"]), updated=len(report["updated"]),
             unchanged=len(report["unchanged"]), rejected=len(report["rejected"]))
    return web.json_response(report)


_TIME = {"type": ["string", "null"], "format": "date-time"}
_NUMBER = {"type": ["number", "null"]}
OPENAPI_SCHEMAS = {
    "Device": {"type": "object", "required": ["dev_eui", "name", "state"], "properties": {
        "dev_eui": {"type": "string", "pattern": "^[0-9a-f]{16}$"}, "name": {"type": "string"},
        "profile": {"type": ["string", "null"]}, "family": {"type": ["string", "null"]},
        "site": {"type": ["string", "null"]}, "latitude": _NUMBER, "longitude": _NUMBER,
        "tags": {"type": "object"}, "status": {"type": "string", "enum": ["active", "unassigned", "disabled"]},
        "last_seen": _TIME, "uplinks": {"type": "integer"}, "open_alerts": {"type": "integer"},
        "state": {"type": "string", "enum": list(STATES)}}},
    "DeviceAlert": {"type": "object", "properties": {
        "id": {"type": "integer"}, "rule": {"type": "string"}, "dev_eui": {"type": "string"},
        "state": {"type": "string"}, "severity": {"type": "string"}, "summary": {"type": "string"},
        "value": _NUMBER, "threshold": _NUMBER, "started_at": _TIME, "fired_at": _TIME, "acked_at": _TIME,
        "acked_by": {"type": ["string", "null"]}}},
    "ImportReport": {"type": "object", "properties": {
        "created": {"type": "array", "items": {"type": "string"}},
        "updated": {"type": "array", "items": {"type": "string"}},
        "unchanged": {"type": "array", "items": {"type": "string"}},
        "rejected": {"type": "array", "items": {"type": "object", "properties": {
            "line": {"type": "integer"}, "dev_eui": {"type": ["string", "null"]}, "reason": {"type": "string"}}}}}},
}
_DETAIL = {"allOf": [{"$ref": "#/components/schemas/Device"}, {"type": "object", "properties": {
    "params": {"type": "object"},
    "radio": {"type": "object", "properties": {"last_f_cnt": {"type": ["integer", "null"]}, "rssi": _NUMBER,
                                               "snr": _NUMBER}},
    "profile_info": {"type": ["object", "null"]},
    "last_readings": {"type": "array", "items": {"type": "object", "properties": {
        "quantity": {"type": "string"}, "time": _TIME, "value": {"type": "number"}}}},
    "last_position": {"type": ["object", "null"], "description": "operators only (tracker data)"},
    "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/DeviceAlert"}}}}]}
OPENAPI_PATHS = {
    "/api/devices": {"get": operation(
        "List devices with their family, state and open alerts", "viewer", tags=["devices"],
        parameters=[query("site", {"type": "string"}, "only this site"),
                    query("family", {"type": "string", "enum": list(FAMILIES)}, "only this family"),
                    query("state", {"type": "string", "enum": list(STATES)}, "only devices in this state")],
        responses={"200": ok_json("the devices", {"type": "object", "properties": {
            "devices": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}},
            "count": {"type": "integer"}}})}, errors={"400": "unknown family"})},
    "/api/devices/{dev_eui}": {"get": operation(
        "One device: profile, last readings, last seen, radio, open alerts", "viewer", tags=["devices"],
        parameters=[path_param("dev_eui", {"type": "string"}, "DevEUI (16 hex digits, separators allowed)")],
        responses={"200": ok_json("the device", _DETAIL)},
        errors={"400": "not a DevEUI", "404": "no such device"})},
    "/api/devices/import": {"post": operation(
        "Register or update devices from a fleet CSV file (as `beffroi devices import`)", "admin",
        tags=["devices"],
        body=json_body({"type": "string"}, "header dev_eui,name,profile[,site,latitude,longitude,tags,params]",
                       media="text/csv"),
        responses={"200": ok_json("what was created, updated, unchanged and rejected (with line and reason)",
                                  {"$ref": "#/components/schemas/ImportReport"})},
        errors={"400": "not UTF-8", "413": "larger than 16 MB", "422": "header missing or wrong"})},
}


def setup(app: web.Application) -> None:
    app.router.add_get("/api/devices", list_devices)
    app.router.add_post("/api/devices/import", import_devices)
    app.router.add_get("/api/devices/{dev_eui}", device_detail)
