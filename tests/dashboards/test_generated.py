"""The committed JSON and provisioning files are what the code generates (the CI check), and the check bites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboards.build import check, write
from ingest.cli import main


def test_committed_files_equal_what_the_code_generates(capsys: pytest.CaptureFixture[str]) -> None:
    # CI: a board edited in Python without `beffroi dashboards build` (or JSON edited by hand) fails here
    assert check() == []
    assert main(["dashboards", "build", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_reports_missing_changed_and_stale_files(tmp_path: Path) -> None:
    assert {p.split(":")[0] for p in check(tmp_path)} >= {"generated/beffroi-flood.json",
                                                           "provisioning/datasources/beffroi.yaml"}
    write(tmp_path)
    assert check(tmp_path) == []
    flood = tmp_path / "generated" / "beffroi-flood.json"
    board = json.loads(flood.read_text())
    board["title"] = "Flood (edited by hand)"
    flood.write_text(json.dumps(board))
    (tmp_path / "generated" / "old-board.json").write_text("{}")
    assert check(tmp_path) == ["generated/beffroi-flood.json: differs from what the code generates",
                               "generated/old-board.json: no board generates it any more"]
    write(tmp_path)
    assert check(tmp_path) == [] and not (tmp_path / "generated" / "old-board.json").exists()


def test_generation_is_byte_stable(tmp_path: Path) -> None:
    write(tmp_path / "a")
    write(tmp_path / "b")
    for path in sorted((tmp_path / "a").rglob("*.*")):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()
