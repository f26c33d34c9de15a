"""Devices: list with computed state, detail with last readings, and the CSV import (ingest/fleet.py)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from tests.api.conftest import MakeClient, bearer
from tests.api.seed import REGISTRY, T0, seed

NOW = T0 + timedelta(minutes=120)
EXTRAS = {"registry": REGISTRY, "clock": lambda: NOW}


@pytest.fixture
def seeded(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        seed(conn)
        conn.execute("INSERT INTO alerts (rule, dev_eui, state, severity, route, summary, value, threshold, "
                     "started_at, fired_at, updated_at) VALUES ('co2-classe', 'a000000000000002', 'firing', "
                     "'warning', 'ecoles', 'CO2 élevé', 1510, 1500, %s, %s, %s)", (T0, T0, T0))


async def test_the_list_gives_each_device_its_family_and_state(make_client: MakeClient, tokens: dict[str, str],
                                                               seeded: None) -> None:
    client = await make_client(extras=EXTRAS)
    resp = await client.get("/api/devices", headers=bearer(tokens["viewer"]))
    assert resp.status == 200
    devices = {d["dev_eui"]: d for d in (await resp.json())["devices"]}
    assert {k: (d["family"], d["state"], d["open_alerts"]) for k, d in devices.items()} == {
        "a000000000000001": ("co2", "ok", 0),
        "a000000000000002": ("co2", "silent", 1),
        "b000000000000001": ("flood", "never", 0),
        "c000000000000001": ("tracker", "ok", 0),
        "c000000000000002": ("tracker", "never", 0),
    }


@pytest.mark.parametrize(("query", "expected"), [
    ({"family": "flood"}, {"b000000000000001"}),
    ({"site": "ecole-jaures"}, {"a000000000000001", "a000000000000002"}),
    ({"state": "silent"}, {"a000000000000002"}),
])
async def test_the_list_filters_by_family_site_and_state(make_client: MakeClient, tokens: dict[str, str],
                                                         seeded: None, query: dict[str, str],
                                                         expected: set[str]) -> None:
    client = await make_client(extras=EXTRAS)
    resp = await client.get("/api/devices", params=query, headers=bearer(tokens["viewer"]))
    assert {d["dev_eui"] for d in (await resp.json())["devices"]} == expected


async def test_the_detail_shows_profile_last_readings_last_seen_and_alerts(
        make_client: MakeClient, tokens: dict[str, str], seeded: None) -> None:
    client = await make_client(extras=EXTRAS)
    resp = await client.get("/api/devices/A0-00-00-00-00-00-00-02", headers=bearer(tokens["viewer"]))
    assert resp.status == 200
    device = await resp.json()
    assert device["profile_info"]["vendor"] == "Milesight" and device["profile_info"]["family"] == "co2"
    assert device["last_seen"] == (T0 + timedelta(minutes=30)).isoformat()
    assert device["radio"] == {"last_f_cnt": 3, "rssi": -110, "snr": -2.5}
    assert device["last_readings"] == [{"quantity": "co2", "time": (T0 + timedelta(minutes=110)).isoformat(),
                                        "value": 910.0}]
    assert [(a["rule"], a["severity"], a["state"]) for a in device["alerts"]] == [("co2-classe", "warning", "firing")]


async def test_a_tracker_last_position_is_shown_only_to_operators(make_client: MakeClient, tokens: dict[str, str],
                                                                  seeded: None) -> None:
    client = await make_client(extras=EXTRAS)
    as_viewer = await (await client.get("/api/devices/c000000000000001", headers=bearer(tokens["viewer"]))).json()
    assert as_viewer["last_position"] is None
    as_operator = await (await client.get("/api/devices/c000000000000001",
                                          headers=bearer(tokens["operator"]))).json()
    assert as_operator["last_position"]["latitude"] == pytest.approx(44.134456)


@pytest.mark.parametrize(("path", "status"), [("/api/devices/ffffffffffffffff", 404), ("/api/devices/nope", 400)])
async def test_an_unknown_or_malformed_device_is_answered_clearly(make_client: MakeClient, tokens: dict[str, str],
                                                                  path: str, status: int) -> None:
    client = await make_client(extras=EXTRAS)
    assert (await client.get(path, headers=bearer(tokens["viewer"]))).status == status


FLEET = ("dev_eui,name,profile,site,latitude,longitude,params\n"
         "24e124707c000001,ecole-ferry-s1,milesight-am307,ecole-ferry,45.76,4.83,\n"
         "24e124707c000002,bac-place-nord,milesight-em310-udl,place-nord,45.77,4.84,\"{\"\"bin_depth_mm\"\": 1200}\"\n"
         "24e124707c000003,=cmd|' /C calc'!A0,milesight-am307,,,,\n"
         "24e124707c000004,capteur-x,no-such-profile,,,,\n")


async def test_the_import_registers_devices_reports_rejects_and_is_idempotent(
        make_client: MakeClient, tokens: dict[str, str], db_url: str) -> None:
    client = await make_client(extras=EXTRAS)
    headers = {**bearer(tokens["admin"]), "Content-Type": "text/csv"}
    first = await (await client.post("/api/devices/import", data=FLEET.encode(), headers=headers)).json()
    assert first["created"] == ["24e124707c000001", "24e124707c000002"]
    assert [(r["line"], r["dev_eui"]) for r in first["rejected"]] == [(4, "24e124707c000003"),
                                                                      (5, "24e124707c000004")]
    assert "unknown profile" in first["rejected"][1]["reason"]
    again = await (await client.post("/api/devices/import", data=FLEET.encode(), headers=headers)).json()
    assert again["created"] == [] and again["updated"] == []
    assert again["unchanged"] == ["24e124707c000001", "24e124707c000002"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT params FROM devices WHERE dev_eui = '24e124707c000002'").fetchone() == (
            {"bin_depth_mm": 1200},)
        audit = conn.execute("SELECT actor, target, detail FROM audit_log WHERE action = 'POST /api/devices/import' "
                             "ORDER BY id").fetchall()
    assert audit[0] == ("token:test-admin", "devices", {"created": 2, "updated": 0, "unchanged": 0, "rejected": 2})
    assert len(audit) == 2


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_only_admins_import(make_client: MakeClient, tokens: dict[str, str], role: str) -> None:
    client = await make_client(extras=EXTRAS)
    resp = await client.post("/api/devices/import", data=FLEET.encode(), headers=bearer(tokens[role]))
    assert resp.status == 403


async def test_a_file_without_the_required_columns_is_refused_with_the_reason(make_client: MakeClient,
                                                                              tokens: dict[str, str]) -> None:
    client = await make_client(extras=EXTRAS)
    resp = await client.post("/api/devices/import", data=b"dev_eui;nom\n24e124707c000001;x\n",
                             headers=bearer(tokens["admin"]))
    assert resp.status == 422
    assert "required column" in (await resp.json())["error"]
