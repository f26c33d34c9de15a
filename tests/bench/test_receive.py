"""``beffroi bench receive``: both receive paths drain the same kind of backlog and their CPU is printed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.paho_client import LeanClient


def test_both_receive_paths_are_measured_and_the_lean_one_is_restored(
        capsys: pytest.CaptureFixture[str]) -> None:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.skip("needs the mosquitto binary (the bench runs a private broker)")
    lean = {name: LeanClient.__dict__[name] for name in ("_handle_publish", "_sock_recv", "buffered")}
    assert main(["bench", "receive", "--count", "800", "--rounds", "1"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("BENCH "))
    figures = json.loads(line.removeprefix("BENCH "))
    assert figures["round 1 lean: CPU us per message"] > 0 and figures["round 1 paho: CPU us per message"] > 0
    assert figures["paho / lean (CPU per message)"] > 0
    assert {name: LeanClient.__dict__[name] for name in lean} == lean
