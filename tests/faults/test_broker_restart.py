"""The MQTT broker restarts while uplinks flow (a private Mosquitto with persistence, as production must run it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.faults.conftest import ServiceFactory
from tests.faults.harness import Stream, check_stored_once, count_uplinks, wait_stored, wait_until
from tests.support.broker import PrivateBroker

pytestmark = pytest.mark.usefixtures("requires_mosquitto", "requires_mqtt5")


def test_a_broker_restart_loses_and_doubles_nothing(db: psycopg.Connection, unique: str, tmp_path: Path,
                                                    beffroi: ServiceFactory,
                                                    recovery: Callable[[str, float], None]) -> None:
    """Promise: every uplink the broker acknowledged — before, during and after a broker restart (clean stop, 3 s
    down, start) — is stored exactly once within 30 s of the broker's return, without restarting Beffroi.

    The broker keeps Beffroi's persistent session and its queued QoS 1 messages across the restart; Beffroi
    reconnects with backoff (capped at 1 s here) and resumes its session."""
    with PrivateBroker(tmp_path / "broker") as broker:
        svc = beffroi(broker_url=broker.url)
        with Stream(broker.url, unique, devices=4, rate=150) as stream:
            stream.register(db)
            stream.probe(db)
            stream.start()
            wait_until(lambda: count_uplinks(db, stream.devices) >= 200, "the stream to flow", 30)
            broker.stop()
            down_at = time.monotonic()
            time.sleep(3)
            broker.start()
            back = time.monotonic()
            recovery("broker restart (3 s down): Beffroi reconnected (/readyz) after the broker's return",
                     wait_until(svc.ready, "Beffroi to reconnect", 30))
            # includes the publisher's own reconnection (1-2 s): what it sent while the broker was away
            wait_stored(db, stream, lambda s: s.at < back, "the backlog of the restart stored", 30)
            recovery("broker restart (3 s down): all published until the broker's return stored",
                     time.monotonic() - back)
            time.sleep(1)
            stream.stop()
            stream.wait_acknowledged()
            wait_stored(db, stream, lambda s: True, "every acknowledged uplink stored", 30)
            figures = check_stored_once(db, stream)
        assert svc.alive(), "Beffroi must ride out a broker restart without exiting"
    assert figures["stored"] >= 600 and down_at < back
    assert "MQTT connection lost" in svc.log_text()
