"""Scenarios: they load, play deterministically, and every message is one the ingest path accepts."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from devices.base import Uplink
from ingest.uplink import parse
from simulator.codecs import codec_for
from simulator.engine import Simulation
from simulator.fleet import FLEET_COLUMNS, fleet_csv_text
from simulator.geo import LocalFrame, Polygon
from simulator.scenario import ScenarioError, builtin_scenarios, load_scenario, scenario_path
from simulator.wire import FORMATS

SCENARIOS = builtin_scenarios()


def short(name: str, hours: float = 8, **kw: object) -> Simulation:
    scenario = load_scenario(scenario_path(name))
    return Simulation(scenario, until=scenario.start + hours * 3600, **kw)  # type: ignore[arg-type]


def test_the_four_scenarios_exist() -> None:
    assert set(SCENARIOS) >= {"school-week", "flash-flood", "waste-round", "flock-escape"}


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_message_parses_and_decodes(name: str, fmt: str) -> None:
    sim = short(name, fmt=fmt, seed=11)
    fleet = {d.dev_eui: d for d in sim.fleet}
    garbage_ok = {d.name for d in sim.fleet if sim.scenario.faults_for(d.name).garbage_probability}
    count, decode_errors = 0, Counter[str]()
    for message in sim.messages():
        parsed = parse(message.topic, message.payload, tts=fmt == "tts")
        assert isinstance(parsed, Uplink), parsed
        spec = fleet[parsed.dev_eui]
        decoded = codec_for(spec.profile).decode(parsed.f_port, parsed.payload, spec.params)
        if decoded.errors:
            decode_errors[spec.name] += 1
        else:
            assert decoded.readings or decoded.positions
        count += 1
    assert count > 20
    assert set(decode_errors) <= garbage_ok
    assert sim.stats.encode_errors == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_same_messages(fmt: str) -> None:
    first = [(m.topic, m.payload) for m in short("flash-flood", fmt=fmt, seed=5).messages()]
    again = [(m.topic, m.payload) for m in short("flash-flood", fmt=fmt, seed=5).messages()]
    other = [(m.topic, m.payload) for m in short("flash-flood", fmt=fmt, seed=6).messages()]
    assert first == again
    assert first != other


def test_determinism_holds_for_every_scenario() -> None:
    for name in SCENARIOS:
        a = [m.payload for m in short(name, hours=3, seed=1).messages()]
        b = [m.payload for m in short(name, hours=3, seed=1).messages()]
        assert a == b, name


def test_until_only_cuts_the_tail() -> None:
    longer = [m.payload for m in short("waste-round", hours=10, seed=2).messages()]
    shorter = [m.payload for m in short("waste-round", hours=5, seed=2).messages()]
    assert longer[:len(shorter)] == shorter and len(longer) > len(shorter)


def test_messages_come_in_simulated_time_order_within_the_window() -> None:
    sim = short("school-week", hours=30, seed=1)
    times = [m.sim_time for m in sim.messages()]
    assert times == sorted(times)
    assert sim.scenario.start <= times[0] and times[-1] < sim.until


def test_start_moves_relative_events() -> None:
    scenario = load_scenario(scenario_path("flash-flood"))
    later = scenario.start + 7 * 86400
    base = Simulation(scenario).truth()["rivers"]["vidourle"]["peak_time"]
    moved = Simulation(scenario, start=later).truth()["rivers"]["vidourle"]["peak_time"]
    assert moved - base == pytest.approx(7 * 86400)


def test_fleet_csv_is_what_devices_import_expects() -> None:
    all_euis: list[str] = []
    for name in SCENARIOS:
        sim = Simulation(load_scenario(scenario_path(name)))
        rows = list(csv.DictReader(io.StringIO(fleet_csv_text(sim.fleet))))
        assert tuple(rows[0]) == FLEET_COLUMNS
        for row in rows:
            assert len(row["dev_eui"]) == 16 and codec_for(row["profile"])
            assert isinstance(json.loads(row["tags"]), dict) and isinstance(json.loads(row["params"]), dict)
            assert -90 <= float(row["latitude"]) <= 90 and -180 <= float(row["longitude"]) <= 180
        all_euis += [r["dev_eui"] for r in rows]
    assert len(all_euis) == len(set(all_euis))          # scenarios can share one database


def test_ultrasonic_gauges_carry_their_mounting_height() -> None:
    sim = Simulation(load_scenario(scenario_path("flash-flood")))
    params = {d.name: dict(d.params) for d in sim.fleet}
    assert params["vidourle-pont-romain"] == {"mounting_height_m": 7.0}
    assert params["vidourle-pont-de-villevieille"] == {"mounting_height_m": 5.5}


def test_duplicates_are_byte_identical_redeliveries() -> None:
    sim = short("flash-flood", hours=48, seed=3)
    payloads = [m.payload for m in sim.messages()]
    repeated = [p for p, n in Counter(payloads).items() if n > 1]
    assert sim.stats.duplicates > 0 and len(repeated) == sim.stats.duplicates


def test_reboot_restarts_the_frame_counter() -> None:
    sim = short("flash-flood", hours=36, seed=3)
    eui = next(d.dev_eui for d in sim.fleet if d.name == "vidourle-pont-de-villevieille")
    counters = []
    for m in sim.messages():
        up = parse(m.topic, m.payload)
        if isinstance(up, Uplink) and up.dev_eui == eui:
            counters.append(up.f_cnt)
    drop = [i for i in range(1, len(counters)) if counters[i] < counters[i - 1]]
    assert len(drop) == 1 and counters[drop[0]] in (0, 1)


def test_silent_device_sends_nothing_in_its_window() -> None:
    sim = short("school-week", hours=48, seed=3)
    eui = next(d.dev_eui for d in sim.fleet if d.name == "ecole-jean-jaures-ce2")
    start = sim.scenario.start
    times = [m.sim_time - start for m in sim.messages() if m.dev_eui == eui]
    assert not [t for t in times if 35 * 3600 <= t < 40.5 * 3600]
    assert [t for t in times if 30 * 3600 <= t < 35 * 3600] and [t for t in times if t >= 40.5 * 3600]


def test_flock_positions_stay_inside_until_the_escape_then_escapees_leave() -> None:
    sim = Simulation(load_scenario(scenario_path("flock-escape")), seed=4)
    fleet = {d.dev_eui: d for d in sim.fleet}
    fixes = []
    for m in sim.messages():
        up = parse(m.topic, m.payload)
        assert isinstance(up, Uplink)
        spec = fleet[up.dev_eui]
        decoded = codec_for(spec.profile).decode(up.f_port, up.payload, spec.params)
        fixes += [(m.sim_time, spec.name, p.latitude, p.longitude) for p in decoded.positions]
    truth = sim.truth()["pastures"]["coussoul-du-merle"]
    frame = LocalFrame(*truth["polygon"][0])
    fence = Polygon.from_latlon(frame, truth["polygon"])
    escaped = set(truth["escaped_collars"])
    assert escaped and len(fixes) > 1000
    outside_after: set[str] = set()
    for when, name, lat, lon in fixes:
        inside = fence.contains(*frame.to_xy(lat, lon))
        if when < truth["escape_time"]:
            assert inside, (name, when - sim.scenario.start)
        elif when > truth["escape_time"] + 3 * 3600 and not inside:
            outside_after.add(name)
    assert outside_after == escaped


def test_bins_overflow_after_the_missed_round() -> None:
    truth = Simulation(load_scenario(scenario_path("waste-round")), seed=1).truth()["bins"]
    old_town = {k: v for k, v in truth.items() if v["round"] == "vieille-ville"}
    barques = {k: v for k, v in truth.items() if v["round"] == "quartier-des-barques"}
    assert sum(v["overflow_l"] > 0 for v in old_town.values()) > len(old_town) / 2
    assert all(len(v["collections"]) == 2 for v in barques.values())


@pytest.mark.parametrize("text, message", [
    ("scenario: x\nstart: 2025-01-01\nduration: 1d\nnetwork: {gateways: []}\nrivers: []\n", "gateway"),
    ("scenario: x\nstart: 2025-01-01\nduration: 1d\nnetwork: {gateways: [{name: g, latitude: 1, longitude: 1}]}\n"
     "rivers: [{name: r, gauges: [{name: a, profile: nope-nope, latitude: 1, longitude: 1}]}]\n",
     "rivers[0].gauges[0].profile"),
    ("scenario: x\nstart: 2025-01-01\nduration: soon\nnetwork: {gateways: []}\n", "duration"),
    ("scenario: x\nstart: 2025-01-01\nduration: 1d\nnetwork: {gateways: [{name: g, latitude: 1, longitude: 1}]}\n"
     "rivers: []\nfaults: [{devices: '*', explode: 1}]\n", "explode"),
    ("scenario: x\nstrat: 2025-01-01\n", "strat"),
])
def test_scenario_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        Simulation(load_scenario(path))
    assert str(path) in str(info.value)
