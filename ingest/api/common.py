"""Small pieces shared by the API modules: query parameters, the device registry, device selections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ingest.api.app import CONTEXT, ApiContext
from ingest.api.auth import json_error

__all__ = ["parse_time", "registry", "families", "select_devices", "bad_request", "iso", "FAMILIES"]

FAMILIES = ("co2", "flood", "bin", "tracker")


def bad_request(message: str) -> web.HTTPException:
    return json_error(web.HTTPBadRequest, message)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def parse_time(request: web.Request, name: str, default: datetime | None = None) -> datetime:
    """An ISO 8601 query parameter (``2025-01-15``, ``2025-01-15T08:00:00+01:00``, ``...Z``), as aware UTC."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise bad_request(f"query parameter {name!r} is required (ISO 8601 date or time)")
        return default
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z").replace(" ", "+"))
    except ValueError:
        raise bad_request(f"query parameter {name!r}: {raw[:40]!r} is not an ISO 8601 date or time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)    # documented: times without an offset are UTC
    return value.astimezone(UTC)


def time_range(request: web.Request, now: datetime) -> tuple[datetime, datetime]:
    start = parse_time(request, "from")
    end = parse_time(request, "to", now)
    if end <= start:
        raise bad_request("'to' must be after 'from'")
    return start, end


def registry(ctx: ApiContext) -> Any:
    """The device-profile registry from ``extras["registry"]``; loaded once from the configuration if absent."""
    found = ctx.extras.get("registry")
    if found is None:
        from devices.registry import ProfileRegistry

        found = ProfileRegistry.load(ctx.config.get("devices", "extra_paths"))
        ctx.extras["registry"] = found
    return found


def families(ctx: ApiContext) -> dict[str, str]:
    """Profile id -> family (co2, flood, bin, tracker)."""
    return {p.id: p.family for p in registry(ctx)}


def now_of(ctx: ApiContext) -> datetime:
    """The current time, from ``extras["clock"]`` (a callable returning an aware datetime) when injected."""
    clock = ctx.extras.get("clock")
    return clock() if clock is not None else datetime.now(UTC)


async def select_devices(request: web.Request) -> list[str] | None:
    """The devices named by ``device`` (repeatable), ``site`` and ``family``; None when no filter was given."""
    ctx = request.app[CONTEXT]
    devices = [d.lower() for d in request.query.getall("device", [])]
    site = request.query.get("site")
    family = request.query.get("family")
    if not devices and site is None and family is None:
        return None
    profiles: Sequence[str] | None = None
    if family is not None:
        if family not in FAMILIES:
            raise bad_request(f"unknown family {family[:20]!r}; families are {', '.join(FAMILIES)}")
        profiles = [pid for pid, fam in families(ctx).items() if fam == family]
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT dev_eui FROM devices WHERE (%(devices)s::text[] IS NULL OR dev_eui = ANY(%(devices)s)) "
            "AND (%(site)s::text IS NULL OR site = %(site)s) "
            "AND (%(profiles)s::text[] IS NULL OR profile = ANY(%(profiles)s)) ORDER BY dev_eui",
            {"devices": devices or None, "site": site, "profiles": profiles})
        return [row[0] for row in await cur.fetchall()]
