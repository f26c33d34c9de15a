"""The public flock feed: no authentication, but delayed, rounded, one point per flock and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from tests.api.conftest import MakeClient
from tests.api.seed import DEVICES, REGISTRY, T0, seed

NOW = T0 + timedelta(hours=2, minutes=30)   # seeded fixes run from T0 to T0 + 1 h 50, every 10 min
ON = {"BEFFROI_FEED_ENABLED": "true"}


@pytest.fixture
def seeded(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        seed(conn)


async def _feed(make_client: MakeClient, env: dict[str, str]) -> dict:
    client = await make_client(env=env, extras={"registry": REGISTRY, "clock": lambda: NOW})
    resp = await client.get("/api/feed/flocks.geojson")
    assert resp.status == 200
    assert resp.content_type == "application/geo+json"
    return await resp.json(content_type=None)


async def test_the_feed_is_off_unless_enabled(make_client: MakeClient, seeded: None) -> None:
    client = await make_client(extras={"registry": REGISTRY, "clock": lambda: NOW})
    assert (await client.get("/api/feed/flocks.geojson")).status == 404


async def test_the_feed_shows_one_delayed_rounded_point_per_flock(make_client: MakeClient, seeded: None) -> None:
    feed = await _feed(make_client, {**ON, "BEFFROI_FEED_DELAY_MINUTES": "60"})
    assert feed["type"] == "FeatureCollection"
    (flock,) = feed["features"]       # two collars on one site: one flock
    # last fixes at or before NOW - 60 min = T0 + 1 h 30: median of 44.132456/44.133567 and 6.654321/6.655432
    assert flock["geometry"] == {"type": "Point", "coordinates": [6.65, 44.13]}
    assert flock["properties"] == {"kind": "flock", "observed_at": (T0 + timedelta(hours=1, minutes=30)).isoformat()}


async def test_a_shorter_delay_shows_a_later_fix_and_more_decimals_are_honoured(make_client: MakeClient,
                                                                                seeded: None) -> None:
    feed = await _feed(make_client, {**ON, "BEFFROI_FEED_DELAY_MINUTES": "0", "BEFFROI_FEED_ROUND_DECIMALS": "3"})
    (flock,) = feed["features"]
    assert flock["geometry"]["coordinates"] == [6.655, 44.135]
    assert datetime.fromisoformat(flock["properties"]["observed_at"]) == T0 + timedelta(hours=1, minutes=45)


async def test_fixes_older_than_the_window_or_newer_than_the_delay_are_left_out(make_client: MakeClient,
                                                                                seeded: None) -> None:
    # at NOW every fix is younger than a 3-hour delay
    assert (await _feed(make_client, {**ON, "BEFFROI_FEED_DELAY_MINUTES": "180"}))["features"] == []
    # a one-hour window ending 2 h 20 after the last fix holds none of them
    late = {**ON, "BEFFROI_FEED_DELAY_MINUTES": "0", "BEFFROI_FEED_MAX_AGE_HOURS": "1"}
    client = await make_client(env=late, extras={"registry": REGISTRY, "clock": lambda: NOW + timedelta(hours=2)})
    assert (await (await client.get("/api/feed/flocks.geojson")).json(content_type=None))["features"] == []


async def test_nothing_identifying_a_tracker_is_in_the_feed(make_client: MakeClient, seeded: None) -> None:
    client = await make_client(env={**ON, "BEFFROI_FEED_DELAY_MINUTES": "0"},
                               extras={"registry": REGISTRY, "clock": lambda: NOW})
    resp = await client.get("/api/feed/flocks.geojson")
    body = await resp.text()
    for dev_eui, name, profile, site in DEVICES:
        for secret in (dev_eui, name, profile, site):
            assert secret not in body
    assert "44.1345" not in body and "1800" not in body   # neither full-precision coordinates nor altitude
    assert resp.headers["Cache-Control"].startswith("public")


async def test_non_tracker_positions_are_not_in_the_feed(make_client: MakeClient, seeded: None,
                                                         db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO positions (time, dev_eui, latitude, longitude) VALUES (%s, %s, 45.5, 5.5)",
                     (T0, "b000000000000001"))
    feed = await _feed(make_client, {**ON, "BEFFROI_FEED_DELAY_MINUTES": "60"})
    assert [f["geometry"]["coordinates"] for f in feed["features"]] == [[6.65, 44.13]]
