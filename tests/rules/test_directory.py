"""Rules directories: the shipped examples load, mistakes name their file and line, `beffroi rules check`."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.cli import main
from rules.directory import load_directory
from rules.yamlmarks import ConfigFileError
from tests.rules.conftest import ONCALL

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_shipped_rule_sets_load_and_cover_the_four_families(language: str) -> None:
    setup = load_directory(EXAMPLES / language)
    families = {f for r in setup.rules for f in (r.selector.families or ())}
    assert families == {"co2", "flood", "bin", "tracker"}
    assert {r.kind for r in setup.rules} == {"threshold", "rate_of_change", "geofence", "forecast", "no_data",
                                             "battery_low", "sensor_fault"}


def test_french_and_english_sets_are_the_same_rules() -> None:
    fr, en = load_directory(EXAMPLES / "fr"), load_directory(EXAMPLES / "en")
    assert sorted(repr((r.kind, r.severity, r.condition)) for r in fr.rules) == sorted(
        repr((r.kind, r.severity, r.condition)) for r in en.rules)


BAD = [
    ("rules:\n  - id: a\n    kind: threshold\n    route: default\n    params: {quantity: co2, above: 1000,\n"
     "             clear: 1200}\n", 6, "safe side"),
    ("rules:\n  - id: a\n    kind: thresold\n    route: default\n", 3, "unknown kind 'thresold'"),
    ("rules:\n  - id: a\n    kind: no_data\n    route: nowhere\n", 2, "unknown route 'nowhere'"),
    ("rules:\n  - id: a\n    kind: no_data\n    route: default\n    severity: urgent\n", 5, "severity"),
    ("rules:\n  - id: a\n    kind: no_data\n    route: default\n    select: {famliy: co2}\n", 5, "unknown selector"),
    ("rules:\n  - id: a\n    kind: no_data\n    route: default\n  - id: a\n    kind: no_data\n    route: default\n", 5,
     "duplicate rule id"),
    ("rules: [\n", 2, "not valid YAML"),
    ("contacts:\n  - {id: x, phone: '0612345678'}\n", 2, "E.164"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD, ids=[b[2] for b in BAD])
def test_a_mistake_names_its_file_and_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    (tmp_path / "oncall.yaml").write_text(textwrap.dedent(ONCALL))
    bad = tmp_path / "regles.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigFileError) as info:
        load_directory(tmp_path)
    assert info.value.file == str(bad) and info.value.line == line and reason in info.value.reason


def test_rotation_follows_paris_time_across_daylight_saving(tmp_path: Path) -> None:
    (tmp_path / "oncall.yaml").write_text(textwrap.dedent(ONCALL))
    rotation = load_directory(tmp_path).routing.rotations["astreinte"]   # marie from Monday 2025-03-03 09:00
    assert rotation.on_call(datetime(2025, 3, 10, 7, 59, tzinfo=UTC)) == "marie"    # 08:59 Paris
    assert rotation.on_call(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)) == "paul"      # 09:00 Paris
    # 31 March is after the switch to summer time: 09:00 Paris is 07:00 UTC
    assert rotation.on_call(datetime(2025, 3, 31, 6, 59, tzinfo=UTC)) == "paul"
    assert rotation.on_call(datetime(2025, 3, 31, 7, 0, tzinfo=UTC)) == "marie"


def test_rules_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(EXAMPLES / "fr")]) == 0
    assert "ok: 15 rules" in capsys.readouterr().out
    (tmp_path / "x.yaml").write_text("rules:\n  - id: a\n    kind: nope\n    route: r\n")
    assert main(["rules", "check", str(tmp_path)]) == 1
    assert f"{tmp_path / 'x.yaml'}:3: rule a: unknown kind 'nope'" in capsys.readouterr().err
