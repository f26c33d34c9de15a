"""Every built-in model folder loads and passes its own examples through the framework (profile + decoder +
normalisation), as ``beffroi devices check`` runs them; one test per folder so a failure names the model."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from devices.check import check_folder
from devices.registry import ProfileRegistry, discover

VENDORS = Path(__file__).resolve().parents[2] / "devices" / "vendors"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"
BUILTIN = EntryPoint(name="builtin", value="devices.vendors", group="beffroi.devices")
FOLDERS = [folder for folder, _ in discover(plugins=[BUILTIN])]


@pytest.mark.parametrize("folder", FOLDERS, ids=[f"{f.parent.name}/{f.name}" for f in FOLDERS])
def test_builtin_model_passes_its_examples(folder: Path) -> None:
    report = check_folder(folder)
    failures = report.problems + [f"example {r.example.index + 1} ({r.example.description}): {p}"
                                  for r in report.results for p in r.problems]
    assert not failures, "\n".join(failures)
    assert report.results, f"{folder}: no examples"


def test_every_vector_file_has_a_builtin_profile() -> None:
    ids = set(ProfileRegistry.load(plugins=[BUILTIN]).ids())
    missing = sorted(p.stem for p in VECTORS.glob("*.json") if p.stem not in ids)
    assert not missing, f"vector files without a built-in profile (yet): {missing}"


def test_builtin_profile_families_match_the_vector_categories() -> None:
    family = {"co2_indoor_air_quality": "co2", "water_level": "flood", "bin_fill_level": "bin",
              "gps_tracker": "tracker"}
    registry = ProfileRegistry.load(plugins=[BUILTIN])
    for path in VECTORS.glob("*.json"):
        profile = registry.get(path.stem)
        if profile is not None:
            assert profile.family == family[json.loads(path.read_text())["category"]], path.stem
