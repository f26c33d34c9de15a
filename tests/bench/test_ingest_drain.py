"""``beffroi bench ingest --drain --baseline`` end to end on a small backlog: nothing lost on either side, and
every figure the performance notes quote is printed in the BENCH line."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from ingest.cli import main

FIGURES = [
    "Beffroi uplinks/s (first commit -> last commit)",
    "Beffroi uplinks counted (stored after the first commit)",
    "lost (published - stored uplinks)",
    "Beffroi CPU us per uplink: consumer process(es)",
    "Beffroi CPU us per uplink: PostgreSQL (scratch database backends)",
    "Beffroi CPU us per uplink: Mosquitto (whole drain)",
    "naive uplinks/s (first commit -> last commit)",
    "naive uplinks/s (first message -> last COPY, as it reports)",
    "naive lost (published - received)",
    "naive CPU us per uplink: consumer process(es)",
    "naive CPU us per uplink: PostgreSQL (scratch database backends)",
    "naive CPU us per uplink: Mosquitto (whole drain)",
    "ratio Beffroi / naive (uplinks/s, first commit -> last commit)",
]


@pytest.mark.slow
def test_drain_mode_loses_nothing_and_prints_rates_ratio_and_cpu_per_uplink(
        pg_server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.skip("needs the mosquitto binary (the bench runs a private broker)")
    monkeypatch.setenv("BEFFROI_DATABASE_URL", pg_server_url)
    code = main(["bench", "ingest", "--drain", "--baseline", "--count", "3000", "--devices", "60",
                 "--database", f"beffroi_t_drain_{uuid.uuid4().hex[:10]}"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("BENCH "))
    figures = json.loads(line.removeprefix("BENCH "))
    assert code == 0
    assert [k for k in FIGURES if k not in figures] == []
    assert figures["lost (published - stored uplinks)"] == 0
    assert figures["naive lost (published - received)"] == 0
    assert 0 < figures["Beffroi uplinks counted (stored after the first commit)"] <= 3000
    assert figures["Beffroi uplinks/s (first commit -> last commit)"] > 0
    assert figures["naive uplinks/s (first commit -> last commit)"] > 0
    assert figures["Beffroi CPU us per uplink: consumer process(es)"] > 0
    assert figures["Beffroi CPU us per uplink: PostgreSQL (scratch database backends)"] > 0
    assert figures["naive CPU us per uplink: consumer process(es)"] > 0
    assert figures["naive rows stored"] > 0
    # the rollup refresher's merges of this backlog were in Beffroi's CPU figure
    assert figures["Beffroi rollups merged before the CPU was read"] == "yes"
