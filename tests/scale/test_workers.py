"""``beffroi run --workers N``: per-worker configuration, and two worker processes splitting one stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from ingest.bench.harness import free_port
from ingest.config import load_config
from ingest.workers import worker_config
from tests.ingest.ingest_support import Publisher, count, cs_up, register, service_env, uplink


def test_each_worker_gets_its_own_client_id_and_port_in_one_shared_group() -> None:
    base = load_config(None, environ={"BEFFROI_MQTT_CLIENT_ID": "ingest", "BEFFROI_HTTP_LISTEN": "0.0.0.0:8080"})
    configs = [worker_config(base, i, 3) for i in range(3)]
    assert [c.get("mqtt", "client_id") for c in configs] == ["ingest-0", "ingest-1", "ingest-2"]
    assert {c.get("mqtt", "shared_group") for c in configs} == {"beffroi"}
    assert [c.get("http", "listen") for c in configs] == ["0.0.0.0:8080", "0.0.0.0:8081", "0.0.0.0:8082"]
    grouped = load_config(None, environ={"BEFFROI_MQTT_SHARED_GROUP": "ville"})
    assert worker_config(grouped, 1, 2).get("mqtt", "shared_group") == "ville"
    assert worker_config(base, 0, 1).values == base.values          # one worker: the configuration as written


def _messages(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("beffroi_ingest_messages_total{"))


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.usefixtures("requires_mqtt5")
def test_two_worker_processes_split_one_stream_and_stop_cleanly(
        tmp_path: Path, db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str) -> None:
    devices = [f"3c{unique[:6]}{i:08x}" for i in range(10)]
    for dev in devices:
        register(db, dev)
    port = free_port(2)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BEFFROI_")},
           **service_env(db_url, mqtt_url, unique, http_listen=f"127.0.0.1:{port}",
                         mqtt_shared_group=f"w-{unique}")}
    log = (tmp_path / "workers.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run", "--workers", "2"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    publisher = Publisher(mqtt_url, unique)
    try:
        deadline = time.monotonic() + 60
        while not (_ready(port) and _ready(port + 1)):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "workers.log").read_text()
            time.sleep(0.1)
        time.sleep(0.5)
        messages = [cs_up(publisher, uplink(dev, k)) for k in range(1, 21) for dev in devices]
        publisher.publish(messages)
        deadline = time.monotonic() + 60
        while count(db, "uplinks") < len(messages):
            assert time.monotonic() < deadline, "timed out waiting for every uplink"
            time.sleep(0.1)
        shares = [_messages(port), _messages(port + 1)]
    finally:
        publisher.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        log.close()
    assert code == 0, (tmp_path / "workers.log").read_text()[-3000:]
    assert sum(shares) == len(messages) and all(s > 0 for s in shares), shares

