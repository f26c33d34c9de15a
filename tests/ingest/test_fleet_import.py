"""Registering a fleet from CSV: rejected rows say why, good rows are stored, re-importing changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from devices.registry import ProfileRegistry
from ingest.cli import main
from ingest.fleet import FleetFileError, import_fleet, normalise_dev_eui, parse_fleet_csv


@pytest.fixture(scope="module")
def registry() -> ProfileRegistry:
    return ProfileRegistry.load()


FLEET = """\
dev_eui,name,profile,site,latitude,longitude,tags,params
70-B3-D5-7E-D0-05-12-34,Salle du conseil,milesight-am307,Mairie,48.8566,2.3522,"{""floor"": 1}",
A84041000181C9D1,Pont de la Deûle,dragino-ldds75,Quai,50.63,3.06,"{}","{""mounting_height_m"": 3.5}"
a84041000181c9d2,Bac rue Nationale,milesight-em310-udl,,,,,"{""bin_depth_mm"": 1100}"
"""


def _devices(db: psycopg.Connection) -> dict[str, tuple[Any, ...]]:
    rows = db.execute("SELECT dev_eui, name, profile, site, latitude, longitude, tags, params, status, updated_at "
                      "FROM devices ORDER BY dev_eui").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_import_stores_the_fleet_and_reimport_changes_nothing(db: psycopg.Connection,
                                                              registry: ProfileRegistry) -> None:
    first = import_fleet(db, parse_fleet_csv(FLEET, registry))
    assert first.created == ["70b3d57ed0051234", "a84041000181c9d1", "a84041000181c9d2"]
    assert first.updated == [] and first.rejected == []
    stored = _devices(db)
    assert stored["70b3d57ed0051234"][:7] == ("Salle du conseil", "milesight-am307", "Mairie", 48.8566, 2.3522,
                                              {"floor": 1}, {})
    assert stored["a84041000181c9d1"][6] == {"mounting_height_m": 3.5}
    assert stored["a84041000181c9d2"][2:6] == (None, None, None, {})

    again = import_fleet(db, parse_fleet_csv(FLEET, registry))
    assert again.created == [] and again.updated == []
    assert again.unchanged == first.created
    assert _devices(db) == stored            # updated_at included: nothing was written


def test_a_changed_row_is_updated_and_only_that_one(db: psycopg.Connection, registry: ProfileRegistry) -> None:
    import_fleet(db, parse_fleet_csv(FLEET, registry))
    before = _devices(db)
    report = import_fleet(db, parse_fleet_csv(FLEET.replace("Pont de la Deûle", "Pont Neuf"), registry))
    assert report.updated == ["a84041000181c9d1"] and len(report.unchanged) == 2
    after = _devices(db)
    assert after["a84041000181c9d1"][0] == "Pont Neuf"
    assert after["a84041000181c9d1"][-1] > before["a84041000181c9d1"][-1]
    assert after["70b3d57ed0051234"] == before["70b3d57ed0051234"]


def test_columns_absent_from_the_file_keep_their_stored_values(db: psycopg.Connection,
                                                               registry: ProfileRegistry) -> None:
    import_fleet(db, parse_fleet_csv(FLEET, registry))
    short = "dev_eui;name;profile\n70b3d57ed0051234;Salle du conseil (2);milesight-am307\n"   # semicolons
    report = import_fleet(db, parse_fleet_csv(short, registry))
    assert report.updated == ["70b3d57ed0051234"]
    stored = _devices(db)["70b3d57ed0051234"]
    assert stored[0] == "Salle du conseil (2)" and stored[2] == "Mairie" and stored[5] == {"floor": 1}


def test_an_auto_provisioned_device_becomes_active(db: psycopg.Connection, registry: ProfileRegistry) -> None:
    db.execute("INSERT INTO devices (dev_eui, name, status) VALUES ('a84041000181c9d2', 'unknown', 'unassigned')")
    report = import_fleet(db, parse_fleet_csv(FLEET, registry))
    assert "a84041000181c9d2" in report.updated
    assert _devices(db)["a84041000181c9d2"][7] == "active"


REJECTS = """\
dev_eui,name,profile,site,latitude,longitude,tags,params
70b3d57ed0051234,Bon capteur,milesight-am307,,,,,
70b3d57ed00512,Trop court,milesight-am307,,,,,
zzb3d57ed0051235,Pas hexa,milesight-am307,,,,,
70b3d57ed0051236,Inconnu,acme-rocket,,,,,
70b3d57ed0051237,=cmd|' /C calc'!A0,milesight-am307,,,,,
70b3d57ed0051238,Site piégé,milesight-am307,@SUM(1+1),,,,
70b3d57ed0051239,Tags cassés,milesight-am307,,,,{floor: 1},
70b3d57ed005123a,Tags liste,milesight-am307,,,,[1],
70b3d57ed005123b,Hors carte,milesight-am307,,95,2,,
70b3d57ed005123c,Demi position,milesight-am307,,48.8,,,
70b3d57ed005123d,Param inconnu,dragino-ldds75,,,,,"{""depth"": 2}"
70b3d57ed005123e,Param texte,dragino-ldds75,,,,,"{""mounting_height_m"": ""3 m""}"
70b3d57ed005123f,,milesight-am307,,,,,
70:b3:d5:7e:d0:05:12:34,Doublon,milesight-am307,,,,,
70b3d57ed0051240,Tag formule,milesight-am307,,,,"{""note"": ""+33 6 12""}",
70b3d57ed0051241,Trop de cellules,milesight-am307,,,,,,extra
70b3d57ed0051242,Virgule décimale,milesight-am307,,"48,8566","2,3522",,
"""

EXPECTED_REJECTS = {
    3: "DevEUI '70b3d57ed00512' is not 16 hexadecimal digits",
    4: "DevEUI 'zzb3d57ed0051235' is not 16 hexadecimal digits",
    5: "unknown profile 'acme-rocket'",
    6: "name: \"=cmd|' /C calc'!A0\" starts with '=', which a spreadsheet would run as a formula",
    7: "site: '@SUM(1+1)' starts with '@'",
    8: "tags: not valid JSON",
    9: "tags: must be a JSON object",
    10: "latitude: 95 is outside [-90, 90]",
    11: "latitude and longitude go together",
    12: "params: profile dragino-ldds75 has no parameter 'depth' (its parameters: mounting_height_m)",
    13: "params.mounting_height_m: '3 m' is not a number in m",
    14: "name is empty",
    15: "DevEUI already on line 2",
    16: "tags.note: '+33 6 12' starts with '+'",
    17: "9 cells for 8 columns",
}


def test_rejected_rows_say_which_line_and_why(registry: ProfileRegistry) -> None:
    fleet = parse_fleet_csv(REJECTS, registry)
    reasons = {r.line: r.reason for r in fleet.rejected}
    assert set(reasons) == set(EXPECTED_REJECTS)
    for line, text in EXPECTED_REJECTS.items():
        assert text in reasons[line], (line, reasons[line])
    assert [(d.line, d.dev_eui) for d in fleet.devices] == [(2, "70b3d57ed0051234"), (18, "70b3d57ed0051242")]
    assert (fleet.devices[1].latitude, fleet.devices[1].longitude) == (48.8566, 2.3522)


@pytest.mark.parametrize(("header", "problem"), [
    ("", "the file is empty"),
    ("dev_eui,name\n", "required column(s) missing: profile"),
    ("dev_eui,name,profile,colour\n", "unknown column(s): colour"),
    ("dev_eui,name,profile,latitude\n", "latitude and longitude columns go together"),
    ("dev_eui,name,profile,name\n", "a column is named twice"),
])
def test_a_file_without_the_right_columns_is_refused_as_a_whole(registry: ProfileRegistry, header: str,
                                                                 problem: str) -> None:
    with pytest.raises(FleetFileError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_fleet_csv(header, registry)


@pytest.mark.parametrize(("text", "eui"), [
    ("70-B3-D5-7E-D0-05-12-34", "70b3d57ed0051234"), (" 0x70B3D57ED0051234 ", "70b3d57ed0051234"),
    ("70 b3 d5 7e d0 05 12 34", "70b3d57ed0051234"),
])
def test_dev_eui_is_normalised(text: str, eui: str) -> None:
    assert normalise_dev_eui(text) == eui


def test_cli_import_reports_and_is_idempotent(db_url: str, db: psycopg.Connection, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BEFFROI_CONFIG", raising=False)
    monkeypatch.setenv("BEFFROI_DATABASE_URL", db_url)
    csv_file = tmp_path / "fleet.csv"
    csv_file.write_bytes(b"\xef\xbb\xbf" + (FLEET + "0011,Trop court,milesight-am307,,,,,\n").encode())  # Excel BOM
    assert main(["devices", "import", str(csv_file), "--dry-run"]) == 1
    assert "3 valid row(s), 1 rejected (dry run: nothing written)" in capsys.readouterr().out
    assert _devices(db) == {}
    assert main(["devices", "import", str(csv_file)]) == 1
    out = capsys.readouterr().out
    assert "rejected  line 5  0011  DevEUI '0011' is not 16 hexadecimal digits" in out
    assert "3 created, 0 updated, 0 unchanged, 1 rejected" in out
    csv_file.write_text(FLEET)
    assert main(["devices", "import", str(csv_file)]) == 0
    assert "0 created, 0 updated, 3 unchanged, 0 rejected" in capsys.readouterr().out
