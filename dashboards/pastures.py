"""Pasture outlines for the Flocks board: read from GeoJSON, or from (latitude, longitude) rings, into ``pastures``.

GeoJSON (RFC 7946) writes positions as [longitude, latitude]; the rules' geofence polygons are written
[latitude, longitude]. Both end up in ``pastures.boundary`` in GeoJSON order, closed (first point = last).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

__all__ = ["Pasture", "PastureError", "from_geojson", "load_geojson", "upsert_pastures"]


class PastureError(ValueError):
    """A pasture cannot be read; the message names the feature and what is wrong."""


@dataclass(frozen=True)
class Pasture:
    id: str
    name: str
    ring: tuple[tuple[float, float], ...]   # (latitude, longitude), closed
    flock: str | None = None
    site: str | None = None

    def __post_init__(self) -> None:
        if len(self.ring) < 4 or self.ring[0] != self.ring[-1]:
            raise PastureError(f"pasture {self.id!r}: a ring needs at least 3 distinct points and must be closed")
        for lat, lon in self.ring:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise PastureError(f"pasture {self.id!r}: ({lat}, {lon}) is not a latitude, longitude")

    @classmethod
    def from_lat_lon(cls, id: str, name: str, points: Sequence[Sequence[float]], *, flock: str | None = None,
                     site: str | None = None) -> Pasture:
        """From [latitude, longitude] points (the geofence rule's order), closing the ring if needed."""
        ring = tuple((float(p[0]), float(p[1])) for p in points)
        if ring and ring[0] != ring[-1]:
            ring = (*ring, ring[0])
        return cls(id, name, ring, flock, site)


def from_geojson(document: dict[str, Any]) -> list[Pasture]:
    """Polygon features of a FeatureCollection; properties ``id`` (or the feature id), ``name``, ``flock``,
    ``site``. Only the exterior ring of each polygon is kept."""
    if document.get("type") != "FeatureCollection":
        raise PastureError("expected a GeoJSON FeatureCollection")
    pastures = []
    for i, feature in enumerate(document.get("features", [])):
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        ident = str(props.get("id") or feature.get("id") or "")
        where = f"feature {i} ({ident or 'no id'})"
        if not ident:
            raise PastureError(f"{where}: no id (properties.id or the feature id)")
        if geometry.get("type") != "Polygon":
            raise PastureError(f"{where}: geometry must be a Polygon, not {geometry.get('type')}")
        try:
            exterior = [(float(lat), float(lon)) for lon, lat, *_ in geometry["coordinates"][0]]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise PastureError(f"{where}: bad coordinates ({exc})") from None
        pastures.append(Pasture.from_lat_lon(ident, str(props.get("name") or ident), exterior,
                                             flock=props.get("flock"), site=props.get("site")))
    return pastures


def load_geojson(path: Path) -> list[Pasture]:
    try:
        return from_geojson(json.loads(Path(path).read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise PastureError(f"{path}: not JSON ({exc})") from None


def upsert_pastures(conn: psycopg.Connection, pastures: Iterable[Pasture]) -> int:
    """Insert or replace pastures by id, in one transaction; return how many were written."""
    count = 0
    with conn.transaction(), conn.cursor() as cur:
        for p in pastures:
            boundary = [[lon, lat] for lat, lon in p.ring]
            cur.execute(
                """INSERT INTO pastures (id, name, flock, site, boundary, updated_at)
                   VALUES (%s, %s, %s, %s, %s, now())
                   ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, flock = EXCLUDED.flock,
                       site = EXCLUDED.site, boundary = EXCLUDED.boundary, updated_at = now()""",
                (p.id, p.name, p.flock, p.site, Jsonb(boundary)))
            count += 1
    return count
