"""Two ingest processes share one MQTT v5 shared subscription (``mqtt.shared_group``, distinct client ids);
one is SIGKILLed mid-stream, the other keeps going, then the killed one is restarted with its client id.

What Mosquitto (2.0) does, measured here: a shared subscription hands each message to one member's session.
The messages in flight to the killed member — delivered, not acknowledged — stay in *its* persistent session;
they are not handed to the surviving member. While the killed member is away, Mosquitto also keeps routing part
of the new messages to its (offline, persistent) session, where they queue. All of them are delivered when that
client id reconnects. So the killed member must be restarted (``beffroi run --workers`` restarts a dead worker
with its client id; under systemd, ``Restart=always``) — or its session expires (``mqtt.session_expiry_s``) and
what it held is lost. The test prints how many uplinks waited in the dead member's session.
"""

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


def test_a_killed_shared_subscription_member_loses_nothing_once_restarted(
        db: psycopg.Connection, unique: str, tmp_path: Path, beffroi: ServiceFactory,
        recovery: Callable[[str, float], None]) -> None:
    """Promise: with two members of one shared subscription and uplinks flowing, one member is SIGKILLed. The
    survivor goes on storing what the broker hands it; what the broker had handed or queued to the killed
    member waits in its session; when the killed member restarts (same client id), within 30 s every uplink
    the broker acknowledged is stored exactly once."""
    with PrivateBroker(tmp_path / "broker") as broker:
        a = beffroi(broker_url=broker.url, name="a", mqtt_shared_group=f"g{unique}")
        b = beffroi(broker_url=broker.url, name="b", mqtt_shared_group=f"g{unique}")
        with Stream(broker.url, unique, devices=8, rate=200) as stream:
            stream.register(db)
            stream.probe(db)
            stream.start()
            wait_until(lambda: count_uplinks(db, stream.devices) >= 300, "both members storing", 30)
            a.kill()
            killed = time.monotonic()
            time.sleep(4)
            stream.stop()
            stream.wait_acknowledged()
            # the survivor stores what it is given; wait until that stops growing
            last, stable_since = -1, time.monotonic()
            while time.monotonic() - stable_since < 3:
                now = count_uplinks(db, stream.devices)
                if now != last:
                    last, stable_since = now, time.monotonic()
                time.sleep(0.2)
            accepted = len(stream.accepted())
            waiting = accepted - last
            print(f"with member a dead: {last} of {accepted} acknowledged uplinks stored by b; {waiting} wait in "
                  f"a's session ({time.monotonic() - killed:.1f} s after the kill)")
            assert b.alive()
            restarted = time.monotonic()
            a.restart()
            wait_stored(db, stream, lambda s: True, "every acknowledged uplink once a is back", 30)
            recovery("shared subscription, one member SIGKILLed: its session's backlog stored after its restart",
                     time.monotonic() - restarted)
            figures = check_stored_once(db, stream)
    assert figures["stored"] == accepted
    assert waiting > 0, "Mosquitto no longer queues for a dead member: update the module docstring and docs"
