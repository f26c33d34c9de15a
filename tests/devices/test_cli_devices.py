"""The integrator's commands, run through ``ingest.cli.main`` as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.cli import main
from tests.devices.conftest import MakeModel

JS_DATA = Path(__file__).parent / "data" / "js"


@pytest.fixture(autouse=True)
def _config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEFFROI_CONFIG", raising=False)
    monkeypatch.setenv("BEFFROI_DEVICES_EXTRA_PATHS", str(JS_DATA))


def test_new_scaffolds_a_folder_that_passes_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "new", "Acme", "Level Pro+", "--family", "flood", "--dir", str(tmp_path)]) == 0
    folder = tmp_path / "acme" / "level_pro"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "decoder.py", "examples.yaml", "profile.yaml"]
    assert "family: flood" in (folder / "profile.yaml").read_text()
    capsys.readouterr()
    assert main(["devices", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "ok    acme-level-pro" in out and "1 profile(s), 4 example(s): all passed" in out
    assert main(["devices", "new", "Acme", "Level Pro+", "--dir", str(tmp_path)]) == 2   # never overwrites
    assert "already exists" in capsys.readouterr().err


EXAMPLES_WITH_A_MISTAKE = """\
- description: right
  fport: 1
  hex: "5c 00d7"
  data: {battery: 92, temperature: 21.5}
- description: wrong temperature and a key too many
  fport: 1
  hex: "5c 00d8"
  data: {battery: 92, temperature: 21.5, humidity: 40}
  readings: {battery: 92}
- description: expects an error that does not come
  fport: 1
  hex: "5c 00d7"
  errors: [truncated]
"""


def test_check_prints_a_diff_and_fails(make_model: MakeModel, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_model(examples=EXAMPLES_WITH_A_MISTAKE)
    assert main(["devices", "check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  acme-t1" in out and "2 of 3 example(s) differ" in out
    assert 'example 2 "wrong temperature and a key too many" (fPort 1, 5c00d8):' in out
    assert "data.temperature: expected 21.5, got 21.6" in out
    assert "data.humidity: expected 40, missing" in out
    assert "readings.temperature: unexpected (got 21.6)" in out
    assert "errors: expected ['truncated'], got none" in out


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"profile": "id: acme-t1\n"}, "profile.yaml:1: vendor: is required"),
    ({"examples": "- {fport: 1, hex: 5c00d7}\n"}, "[0].data: an example expects either data or errors"),
    ({"examples": "- {fport: 1, hex: 12, data: {}}\n"}, "[0].hex: must be quoted hexadecimal text"),
    ({}, "examples.yaml: missing; examples are the model's tests"),
    ({"examples": "- {fport: 1, hex: '5c00d7', data: {battery: 92, temperature: 21.5}}\n", "readme": False},
     "README.md: missing"),
])
def test_check_reports_broken_folders(make_model: MakeModel, capsys: pytest.CaptureFixture[str],
                                      kwargs: dict[str, object], message: str) -> None:
    folder = make_model(**kwargs)
    assert main(["devices", "check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and message in out, out


def test_check_without_a_path_runs_every_loaded_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["devices", "check"])
    out = capsys.readouterr().out
    assert "ok    acme-js-meter" in out           # from devices.extra_paths
    assert "ok    milesight-am307" in out         # built-in
    assert code == 0, out


def test_decode_prints_data_readings_with_units_positions_and_warnings(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["devices", "decode", "dragino-ldds75", "2", "0d3b 0aef 00 0000 01", "--params",
                 '{"mounting_height_m": 3.5}', "--received-at", "2025-03-20T10:00:00+01:00"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data"]["Distance"] == "2799 mm"
    readings = {r["quantity"]: (r["value"], r["unit"]) for r in out["readings"]}
    assert readings["distance"] == (2799.0, "mm")
    assert readings["water_level"][1] == "m" and readings["water_level"][0] == pytest.approx(0.701)
    assert out["positions"] == [] and out["warnings"] == [] and out["errors"] == []


def test_decode_of_a_tracker_shows_its_position(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "decode", "dragino-lgt92", "2", "02facb300080ecf90c2e64"]) == 0
    (position,) = json.loads(capsys.readouterr().out)["positions"]
    assert position["latitude"] == pytest.approx(49.990448) and position["longitude"] == pytest.approx(8.449273)


def test_decode_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "decode", "dragino-ldds75", "42", "0d3b0aef00000001"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0].startswith("unknown FPort 42")
    assert main(["devices", "decode", "acme-nothing", "1", "00"]) == 2
    assert "unknown device profile 'acme-nothing'" in capsys.readouterr().err
    assert main(["devices", "decode", "dragino-ldds75", "2", "zz"]) == 2
    assert main(["devices", "decode", "dragino-ldds75", "2", "00", "--received-at", "2025-03-20T10:00"]) == 2
    assert "needs a UTC offset" in capsys.readouterr().err


def test_list_shows_profiles_and_their_origin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line}
    assert lines["dragino-ldds75"].split()[1:] == ["flood", "python", "built-in"]
    assert lines["acme-js-meter"].split()[1:3] == ["co2", "javascript"]
    assert f"path {JS_DATA}" in lines["acme-js-meter"]
    assert main(["devices", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["acme-js-meter"]["encoder"] is True and rows["dragino-ldds75"]["origin"] == "built-in"


def test_a_broken_extra_profile_stops_list_naming_it(make_model: MakeModel, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_model(profile="id: acme-t1\nfamily: car\n")
    monkeypatch.setenv("BEFFROI_DEVICES_EXTRA_PATHS", str(folder))
    assert main(["devices", "list"]) == 2
    assert str(folder / "profile.yaml") in capsys.readouterr().err
