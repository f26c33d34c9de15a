"""The tables the boards read beside the ingest schema: device profiles from the registry, pastures from GeoJSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from dashboards.pastures import Pasture, PastureError, from_geojson, load_geojson, upsert_pastures
from dashboards.profiles import sync_device_profiles
from devices.registry import ProfileRegistry
from ingest.cli import main


@dataclass
class Model:
    id: str
    vendor: str
    model: str
    family: str
    uplink_period_s: int


def test_profile_sync_is_idempotent_and_follows_changes(db: psycopg.Connection) -> None:
    models = [Model("acme-one", "Acme", "One", "co2", 600), Model("acme-two", "Acme", "Two", "bin", 3600)]
    assert sync_device_profiles(db, models) == 2
    assert sync_device_profiles(db, models) == 0
    models[1].uplink_period_s = 1800
    assert sync_device_profiles(db, models) == 1
    assert db.execute("SELECT uplink_period_s FROM device_profiles WHERE id = 'acme-two'").fetchone() == (1800,)


def test_every_installed_profile_is_synced_with_its_family_and_period(db: psycopg.Connection) -> None:
    registry = ProfileRegistry.load()
    sync_device_profiles(db, registry)
    rows = {r[0]: r[1:] for r in db.execute("SELECT id, family, uplink_period_s FROM device_profiles")}
    assert rows == {p.id: (p.family, p.uplink_period_s) for p in registry}


def _feature(ident: str, ring: list[list[float]], **props: str) -> dict[str, object]:
    return {"type": "Feature", "properties": {"id": ident, **props},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def test_geojson_pastures_are_stored_as_closed_rings_in_geojson_order(db: psycopg.Connection,
                                                                      tmp_path: Path) -> None:
    doc = {"type": "FeatureCollection", "features": [
        _feature("p1", [[6.10, 45.90], [6.11, 45.90], [6.11, 45.91], [6.10, 45.90]], name="Col", flock="nord")]}
    path = tmp_path / "pastures.geojson"
    path.write_text(json.dumps(doc))
    [pasture] = load_geojson(path)
    assert pasture.ring[0] == (45.90, 6.10)   # (latitude, longitude) in Python
    assert upsert_pastures(db, [pasture]) == 1
    assert upsert_pastures(db, [pasture]) == 1
    row = db.execute("SELECT boundary, flock FROM pastures WHERE id = 'p1'").fetchone()
    assert row is not None
    boundary, flock = row
    assert boundary[0] == [6.10, 45.90] and boundary[-1] == boundary[0] and flock == "nord"


def test_geofence_style_polygons_are_closed_for_the_board() -> None:
    pasture = Pasture.from_lat_lon("g", "fence", [[45.1, 6.1], [45.1, 6.2], [45.2, 6.2]])
    assert pasture.ring[-1] == pasture.ring[0] and len(pasture.ring) == 4


@pytest.mark.parametrize(("doc", "message"), [
    ({"type": "Feature"}, "FeatureCollection"),
    ({"type": "FeatureCollection", "features": [_feature("", [[6, 45], [6, 46], [7, 46], [6, 45]])]}, "no id"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "x"},
                                                 "geometry": {"type": "Point", "coordinates": [6, 45]}}]}, "Polygon"),
    ({"type": "FeatureCollection", "features": [_feature("x", [[6, 45], [6, 46]])]}, "at least 3"),
    ({"type": "FeatureCollection", "features": [_feature("x", [[6, 95], [6, 46], [7, 46], [6, 95]])]}, "latitude"),
])
def test_bad_pastures_are_refused_naming_the_feature(doc: dict[str, object], message: str) -> None:
    with pytest.raises(PastureError, match=message):
        from_geojson(doc)


def test_cli_loads_pastures(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        _feature("p2", [[6.1, 45.9], [6.2, 45.9], [6.2, 46.0], [6.1, 45.9]], name="Lac")]}))
    monkeypatch.setenv("BEFFROI_DATABASE_URL", db_url)
    assert main(["dashboards", "pastures", str(path)]) == 0
    assert main(["dashboards", "sync-profiles"]) == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT name FROM pastures").fetchall() == [("Lac",)]
        assert conn.execute("SELECT count(*) FROM device_profiles").fetchone()[0] > 10  # type: ignore[index]
