"""The integrator guide's examples are real: its examples.yaml excerpt passes against the model it describes."""

from __future__ import annotations

from pathlib import Path

import yaml

from devices.check import load_examples, run_example
from devices.registry import ProfileRegistry

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def _yaml_blocks() -> list[str]:
    return [part.split("```", 1)[0] for part in GUIDE.read_text().split("```yaml\n")[1:]]


def test_the_guide_s_examples_pass_against_the_ldds75(tmp_path: Path) -> None:
    (block,) = [b for b in _yaml_blocks() if b.lstrip().startswith("- description:")]
    (tmp_path / "examples.yaml").write_text(block)
    profile = ProfileRegistry.load()["dragino-ldds75"]
    results = [run_example(profile, example) for example in load_examples(tmp_path / "examples.yaml")]
    assert [r.problems for r in results] == [[]] * 3


def test_the_guide_s_profile_excerpt_uses_known_quantities_and_functions() -> None:
    from devices.derive import FUNCTIONS
    from devices.quantities import QUANTITIES

    (block,) = [b for b in _yaml_blocks() if b.startswith("params:")]
    doc = yaml.safe_load(block)
    assert all(r["quantity"] in QUANTITIES for r in doc["readings"])
    assert all(d["function"] in FUNCTIONS for d in doc["derive"])
