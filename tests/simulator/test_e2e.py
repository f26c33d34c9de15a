"""End to end through the real broker and database, driven only by the command line a city would use:

    beffroi migrate  →  beffroi devices import fleet.csv  →  beffroi run  →  beffroi simulate <scenario>

then the stored readings are compared with the scenario's ground truth.

Tolerances (flash flood): the gauges report every 5 minutes while the river rises at 1.2 m/h, so the highest
stored sample may precede the true peak by up to one period: up to 0.1 m lower, up to 5 min earlier. Sensor
noise (4-5 mm) and the frames' resolution (1 mm, 1 cm for the probe) add little. We accept 0.12 m and 10 min
(two periods), and a rise rate within 0.1 m/h of the scenario's 1.2 m/h.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.clock import parse_duration
from simulator.engine import Simulation
from simulator.fleet import write_fleet_csv
from simulator.scenario import load_scenario, scenario_path
from tests.support.services import host_port

pytestmark: list[pytest.MarkDecorator] = [pytest.mark.slow]

BEFFROI = [sys.executable, "-m", "ingest.cli"]
PEAK_LEVEL_TOLERANCE_M = 0.12
PEAK_TIME_TOLERANCE_S = 600
RISE_RATE_TOLERANCE_M_H = 0.1


def _missing_entry_points() -> str | None:
    """The end-to-end tests need the ingest service and the device import of the other work streams."""
    from ingest.cli import COMMAND_MODULES

    wanted = {"ingest.commands.run": "'beffroi run' (ingest service)",
              "ingest.commands.devices": "'beffroi devices import'"}
    missing = [label for module, label in wanted.items() if module not in COMMAND_MODULES]
    return f"not available yet: {', '.join(missing)}" if missing else None


if (_reason := _missing_entry_points()) is not None:
    pytestmark = [pytest.mark.slow, pytest.mark.skip(reason=_reason)]


class Beffroi:
    """The ``beffroi`` command line against one test database, broker and topic prefix."""

    def __init__(self, db_url: str, mqtt_url: str, unique: str, workdir: Path) -> None:
        self.prefix = f"e2e-{unique}"
        self.mqtt_url = mqtt_url
        self.db_url = db_url
        self.workdir = workdir
        self.env = {
            **os.environ,
            "BEFFROI_DATABASE_URL": db_url,
            "BEFFROI_MQTT_URL": mqtt_url,
            "BEFFROI_MQTT_CHIRPSTACK_TOPIC": f"{self.prefix}/application/+/device/+/event/+",
            "BEFFROI_MQTT_TTS_TOPIC": f"{self.prefix}/v3/+/devices/+/up",
            "BEFFROI_MQTT_CLIENT_ID": f"beffroi-e2e-{unique}",
            "BEFFROI_MQTT_SESSION_EXPIRY_S": "300",
            "BEFFROI_HTTP_LISTEN": "127.0.0.1:0",
            "BEFFROI_INGEST_BATCH_MAX_AGE_MS": "50",
        }
        self.env.pop("BEFFROI_CONFIG", None)
        self.service: subprocess.Popen[str] | None = None

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*BEFFROI, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd=self.workdir)
        assert done.returncode == 0, f"beffroi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def start(self) -> None:
        log = (self.workdir / "service.log").open("w")
        self.service = subprocess.Popen([*BEFFROI, "run"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        text=True, cwd=self.workdir)

    def stop(self) -> str:
        if self.service is not None and self.service.poll() is None:
            self.service.send_signal(signal.SIGTERM)
            try:
                self.service.wait(30)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait(10)
        return (self.workdir / "service.log").read_text()

    def wait_until_consuming(self, db: psycopg.Connection, limit_s: float = 60) -> None:
        """Publish a probe for an unregistered device until its reject shows up: then the service is subscribed
        (messages published before its first subscription would simply be dropped by the broker)."""
        probe = b'{"deduplicationId":"probe","time":"2025-01-01T00:00:00+00:00","deviceInfo":' \
                b'{"devEui":"ffffffffffffffff"},"fCnt":1,"fPort":1,"data":"AA=="}'
        host, port = host_port(self.mqtt_url)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{self.prefix}-probe")
        client.connect(host, port)
        client.loop_start()
        try:
            deadline = time.monotonic() + limit_s
            while time.monotonic() < deadline:
                assert self.service is not None and self.service.poll() is None, self.stop()
                client.publish(f"{self.prefix}/application/probe/device/ffffffffffffffff/event/up", probe, qos=1)
                time.sleep(0.5)
                if scalar(db, "SELECT count(*) FROM rejects WHERE dev_eui = 'ffffffffffffffff'"):
                    return
            raise AssertionError("beffroi run never consumed the probe:\n" + self.stop())
        finally:
            client.disconnect()
            client.loop_stop()

    def simulate(self, scenario: str, *extra: str) -> dict[str, object]:
        truth = self.workdir / f"{scenario}-truth.json"
        self("simulate", scenario, "--mqtt-url", self.mqtt_url, "--topic-prefix", self.prefix,
             "--truth", str(truth), *extra)
        loaded: dict[str, object] = json.loads(truth.read_text())
        return loaded


@pytest.fixture
def beffroi(empty_db_url: str, mqtt_url: str, unique: str, tmp_path: Path) -> Iterator[Beffroi]:
    b = Beffroi(empty_db_url, mqtt_url, unique, tmp_path)
    b("migrate")
    yield b
    b.stop()


def expected_uplinks(name: str, seed: int, until_s: float) -> tuple[Simulation, int]:
    """What the simulator will send (it is deterministic): frames that reached a gateway, duplicates aside."""
    scenario = load_scenario(scenario_path(name))
    sim = Simulation(scenario, seed=seed, until=scenario.start + until_s)
    for _ in sim.messages():
        pass
    return sim, sim.stats.transmissions - sim.stats.lost


def scalar(db: psycopg.Connection, query: str, params: tuple[object, ...] = ()) -> Any:
    row = db.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def wait_for_rows(db: psycopg.Connection, expected: int, euis: list[str], limit_s: float = 120) -> int:
    deadline = time.monotonic() + limit_s
    stored = -1
    while time.monotonic() < deadline:
        stored = scalar(db, "SELECT count(*) FROM uplinks WHERE dev_eui = ANY(%s)", (euis,))
        if stored >= expected:
            return int(stored)
        time.sleep(0.5)
    return int(stored)


def test_flash_flood_peak_and_timing_reach_the_database(beffroi: Beffroi, tmp_path: Path) -> None:
    seed, until_s = 7, 36 * 3600
    sim, expected = expected_uplinks("flash-flood", seed, until_s)
    fleet = tmp_path / "fleet.csv"
    write_fleet_csv(sim.fleet, fleet)          # what --fleet-csv writes (tested in test_cli.py)
    beffroi("devices", "import", str(fleet))
    beffroi.start()
    with psycopg.connect(beffroi.db_url, autocommit=True) as db:
        beffroi.wait_until_consuming(db)
        truth = beffroi.simulate("flash-flood", "--speed", "50000", "--seed", str(seed), "--until", "36h")
        euis = [d.dev_eui for d in sim.fleet]
        stored = wait_for_rows(db, expected, euis)
        assert stored == expected, beffroi.stop()[-3000:]
        by_name = {d.name: d.dev_eui for d in sim.fleet}
        gauges = truth["gauges"]
        assert isinstance(gauges, dict)
        for name in ("vidourle-pont-romain", "vidourle-quai-cledat", "vidourle-pont-de-villevieille",
                     "benovie-gue-de-boisseron"):
            rows = db.execute("SELECT time, value FROM readings WHERE dev_eui = %s AND quantity = 'water_level' "
                              "ORDER BY time", (by_name[name],)).fetchall()
            assert len(rows) > 100, name
            peak_time, peak = max(rows, key=lambda r: r[1])
            want = gauges[name]
            assert peak == pytest.approx(want["peak_level_m"], abs=PEAK_LEVEL_TOLERANCE_M), name
            assert abs(peak_time.timestamp() - want["peak_time"]) <= PEAK_TIME_TOLERANCE_S, name
        # the rising limb as stored: slope between 20 % and 80 % of the rise at the first gauge
        flood = truth["rivers"]["vidourle"]["floods"][0]       # type: ignore[index]
        rise_s = flood["peak_m"] / flood["rise_rate_m_per_h"] * 3600
        rows = db.execute("SELECT time, value FROM readings WHERE dev_eui = %s AND quantity = 'water_level' "
                          "AND time BETWEEN %s AND %s ORDER BY time",
                          (by_name["vidourle-pont-romain"], _at(flood["rise_start"] + 0.2 * rise_s),
                           _at(flood["rise_start"] + 0.8 * rise_s))).fetchall()
        (t0, v0), (t1, v1) = rows[0], rows[-1]
        rate = (v1 - v0) / ((t1 - t0).total_seconds() / 3600)
        assert rate == pytest.approx(flood["rise_rate_m_per_h"], abs=RISE_RATE_TOLERANCE_M_H)


def _at(t: float) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(t, UTC)


SCENARIO_RUNS = [          # scenario, envelope format, --until: long enough to see each family at work
    ("flash-flood", "chirpstack-json", "1d8h"),
    ("school-week", "chirpstack-pb", "12h"),
    ("waste-round", "tts", "12h"),
    ("flock-escape", "chirpstack-json", "12h"),
]


def test_the_four_scenarios_play_end_to_end(beffroi: Beffroi, tmp_path: Path) -> None:
    sims = {}
    fleet = tmp_path / "fleet.csv"
    for name, _, until in SCENARIO_RUNS:
        sims[name] = expected_uplinks(name, 3, parse_duration(until))
    write_fleet_csv([d for sim, _ in sims.values() for d in sim.fleet], fleet)   # one city, four services
    beffroi("devices", "import", str(fleet))
    beffroi.start()
    with psycopg.connect(beffroi.db_url, autocommit=True) as db:
        beffroi.wait_until_consuming(db)
        for name, fmt, until in SCENARIO_RUNS:
            beffroi.simulate(name, "--speed", "100000", "--seed", "3", "--until", until, "--format", fmt)
        for name, (sim, expected) in sims.items():
            euis = [d.dev_eui for d in sim.fleet]
            stored = wait_for_rows(db, expected, euis)
            assert stored == expected, (name, stored, expected, beffroi.stop()[-3000:])
            quantities = {q for (q,) in db.execute(
                "SELECT DISTINCT quantity FROM readings WHERE dev_eui = ANY(%s)", (euis,)).fetchall()}
            rejects = {r for (r,) in db.execute(
                "SELECT DISTINCT reason FROM rejects WHERE dev_eui = ANY(%s)", (euis,)).fetchall()}
            assert rejects <= {"decode_error"}, (name, rejects)     # only the scripted garbage payloads
            if name == "flash-flood":
                assert {"water_level", "distance"} <= quantities
            elif name == "school-week":
                assert {"co2", "temperature", "humidity"} <= quantities
                top = scalar(db, "SELECT max(value) FROM readings WHERE dev_eui = ANY(%s) AND quantity = 'co2'",
                             (euis,))
                assert top > 1200            # Monday morning lessons in closed rooms
            elif name == "waste-round":
                assert {"fill_level", "distance"} <= quantities
            else:
                positions = scalar(db, "SELECT count(DISTINCT dev_eui) FROM positions WHERE dev_eui = ANY(%s)",
                                   (euis,))
                assert positions == len(euis)
