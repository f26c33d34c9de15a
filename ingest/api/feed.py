"""The public flock feed: where flocks were, coarsely and a while ago, for hikers' maps (GeoJSON, no auth).

Tracker positions are personal data (they follow a shepherd's work and a farm's animals), so the feed shows the
least that still helps a hiker avoid walking into a flock and its guard dogs:

- one point per flock (the trackers of one site; a tracker without a site is its own flock), at the median of its
  trackers' last fixes — no device id, name, site, count, battery or track;
- only fixes at least ``feed.delay_minutes`` old, and none older than ``feed.max_age_hours`` before that;
- coordinates rounded to ``feed.round_decimals`` places (2: about 1 km) and the time to the quarter hour.

Off unless ``feed.enabled``; answers are cached for a minute so an unauthenticated caller cannot load the database.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ingest.api.app import CONTEXT, ApiContext
from ingest.api.auth import access, json_error
from ingest.api.common import families, now_of
from ingest.api.openapi import operation

__all__ = ["setup", "build_feed", "FEED_PATH", "OPENAPI_PATHS"]

FEED_PATH = "/api/feed/flocks.geojson"
_CACHE_S = 60.0
_CACHE: web.AppKey[dict[str, Any]] = web.AppKey("beffroi_feed_cache", dict)

_QUERY = """
WITH latest AS (
    SELECT DISTINCT ON (p.dev_eui) p.dev_eui, p.time, p.latitude, p.longitude, d.site
    FROM positions p JOIN devices d ON d.dev_eui = p.dev_eui
    WHERE p.time <= %(until)s AND p.time > %(since)s AND d.status = 'active' AND d.profile = ANY(%(profiles)s)
    ORDER BY p.dev_eui, p.time DESC
)
SELECT max(time),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latitude),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY longitude)
FROM latest GROUP BY coalesce(site, dev_eui)
"""


def _quarter_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)


async def build_feed(ctx: ApiContext) -> dict[str, Any]:
    """The GeoJSON FeatureCollection of anonymised, delayed, rounded flock positions."""
    cfg = ctx.config
    decimals = cfg.get("feed", "round_decimals")
    until = now_of(ctx) - timedelta(minutes=cfg.get("feed", "delay_minutes"))
    since = until - timedelta(hours=cfg.get("feed", "max_age_hours"))
    trackers = [pid for pid, family in families(ctx).items() if family == "tracker"]
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_QUERY, {"until": until, "since": since, "profiles": trackers})
        rows = await cur.fetchall()
    points = sorted((round(float(lon), decimals), round(float(lat), decimals), _quarter_hour(seen))
                    for seen, lat, lon in rows)   # sorted by place: feature order says nothing about devices
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                      "properties": {"kind": "flock", "observed_at": seen.isoformat()}} for lon, lat, seen in points],
        "delay_minutes": cfg.get("feed", "delay_minutes"),
        "precision_decimals": decimals,
    }


@access("public")
async def flocks(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    if not ctx.config.get("feed", "enabled"):
        raise json_error(web.HTTPNotFound, "the public flock feed is not enabled on this server")
    cache = request.app[_CACHE]
    if cache.get("expires", 0.0) <= time.monotonic():
        cache["body"] = json.dumps(await build_feed(ctx), separators=(",", ":"))
        cache["expires"] = time.monotonic() + _CACHE_S
    return web.Response(text=cache["body"], content_type="application/geo+json",
                        headers={"Cache-Control": f"public, max-age={int(_CACHE_S)}"})


_POINT = {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
    "type": {"const": "Feature"},
    "geometry": {"type": "object", "properties": {"type": {"const": "Point"},
                                                  "coordinates": {"type": "array", "items": {"type": "number"},
                                                                  "minItems": 2, "maxItems": 2}}},
    "properties": {"type": "object", "additionalProperties": False, "properties": {
        "kind": {"const": "flock"}, "observed_at": {"type": "string", "format": "date-time"}}}}}
OPENAPI_PATHS = {FEED_PATH: {"get": operation(
    "Public, anonymised flock positions (GeoJSON) for hikers' maps", "public", tags=["feed"],
    description="One point per flock, delayed by feed.delay_minutes and rounded to feed.round_decimals; nothing "
                "else about trackers. 404 unless feed.enabled.",
    responses={"200": {"description": "a GeoJSON FeatureCollection", "content": {"application/geo+json": {
        "schema": {"type": "object", "properties": {"type": {"const": "FeatureCollection"},
                                                    "features": {"type": "array", "items": _POINT}}}}}}},
    errors={"404": "the feed is not enabled"})}}


def setup(app: web.Application) -> None:
    app[_CACHE] = {}
    app.router.add_get(FEED_PATH, flocks)
