"""``beffroi simulate`` from the command line: list, dry run, fleet CSV, truth, publishing, load mode."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli import main
from tests.simulator.test_publish import Collector


def test_list_names_the_builtin_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list"]) == 0
    assert capsys.readouterr().out.split() == ["flash-flood", "flock-escape", "school-week", "waste-round"]


def test_dry_run_prints_messages_and_writes_fleet_and_truth(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    fleet, truth = tmp_path / "fleet.csv", tmp_path / "truth.json"
    assert main(["simulate", "flash-flood", "--until", "3h", "--dry-run", "--fleet-csv", str(fleet),
                 "--truth", str(truth), "--topic-prefix", "essai"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) > 50
    stamp, topic, body = lines[0].split(" ", 2)
    assert stamp.startswith("2025-10-12T22:") and topic.startswith("essai/application/")
    assert json.loads(body)["deviceInfo"]["applicationName"] == "crues-sommieres"
    assert "flash-flood:" in out.err
    rows = list(csv.DictReader(fleet.open()))
    assert {r["name"] for r in rows} >= {"vidourle-pont-romain", "benovie-gue-de-boisseron"}
    assert json.loads(truth.read_text())["rivers"]["vidourle"]["floods"][0]["rise_rate_m_per_h"] == 1.2


def test_protobuf_dry_run_prints_base64(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "waste-round", "--until", "1h", "--dry-run", "--format", "chirpstack-pb"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split(" ", 2)[2].startswith("base64:")


@pytest.mark.parametrize("args, message", [
    (["simulate", "no-such-scenario"], "no scenario"),
    (["simulate"], "give a scenario"),
    (["simulate", "flash-flood", "--until", "whenever"], "whenever"),
])
def test_bad_invocations_explain_themselves(args: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_scenario_is_published_through_the_broker(mqtt_url: str, unique: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    collector = Collector(mqtt_url, unique)
    try:
        assert main(["simulate", "school-week", "--until", "2h", "--speed", "max", "--mqtt-url", mqtt_url,
                     "--topic-prefix", unique, "--format", "tts"]) == 0
        err = capsys.readouterr().err
        sent = int(err.split("school-week: ")[1].split(" messages")[0])
        collector.wait_for(sent)
    finally:
        collector.close()
    assert sent > 20 and len(collector.received) == sent
    assert all(t.startswith(f"{unique}/v3/qai-ecoles@ville-de-villeurbanne/devices/") for t, _ in collector.received)
    assert "msg/s" in err and "█" in err


def test_load_mode_prints_the_achieved_rate(mqtt_url: str, unique: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    collector = Collector(mqtt_url, unique)
    try:
        assert main(["simulate", "--load", "--devices", "30", "--rate", "200", "--duration", "1",
                     "--mqtt-url", mqtt_url, "--topic-prefix", unique]) == 0
        out = capsys.readouterr().out
        figures = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH "))[6:])
        collector.wait_for(figures["messages_acked"])
    finally:
        collector.close()
    assert figures["messages_sent"] == figures["messages_acked"] > 100
    assert figures["achieved_rate_msg_s"] > 0 and figures["pattern"] == "steady"
    assert len(collector.received) == figures["messages_acked"]


def test_fleet_only_writes_the_registry_and_sends_nothing(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fleet = tmp_path / "flock.csv"
    assert main(["simulate", "flock-escape", "--fleet-csv", str(fleet), "--fleet-only",
                 "--mqtt-url", "mqtt://127.0.0.1:1"]) == 0          # an unreachable broker is never contacted
    assert capsys.readouterr().out == ""
    rows = list(csv.DictReader(fleet.open()))
    assert len(rows) == 26 and {r["profile"] for r in rows} == {"dragino-lgt92", "digital-matter-oyster",
                                                                 "abeeway-compact-tracker"}
    assert main(["simulate", "flock-escape", "--fleet-only"]) == 2


@pytest.mark.parametrize("scenario, fmt", [("flock-escape", "chirpstack-json"), ("school-week", "chirpstack-pb")])
def test_same_seed_same_bytes_in_another_process(scenario: str, fmt: str) -> None:
    # protobuf maps (tags, gateway metadata) iterate in hash-seed order: the output must not depend on it
    outputs = []
    for hash_seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "ingest.cli", "simulate", scenario, "--until", "3h",
                               "--dry-run", "--format", fmt, "--seed", "9"], capture_output=True,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed}, timeout=120, check=True)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and len(outputs[0]) > 10_000
