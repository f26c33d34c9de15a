"""``beffroi run`` as a real process, killed with SIGKILL in the middle of a stream and restarted: nothing lost.

The consumer acknowledges a message only after its batch committed, and its MQTT session outlives the process,
so whatever was received but not committed when the process died is redelivered by the broker to the next one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.ingest.ingest_support import (
    AM307_READINGS,
    Publisher,
    count,
    cs_up,
    new_eui,
    publish_paced,
    register,
    service_env,
    uplink,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("requires_mqtt5")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Consumer:
    """One ``beffroi run`` process at a time, started and killed by the test."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("BEFFROI_")}, **env}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def stop_quietly(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def consumer(db_url: str, mqtt_url: str, unique: str, tmp_path: Path) -> Iterator[Consumer]:
    env = service_env(db_url, mqtt_url, unique, mqtt_receive_maximum=200,
                      http_listen=f"127.0.0.1:{_free_port()}")
    c = Consumer(env, tmp_path / "beffroi.log")
    yield c
    c.stop_quietly()


async def test_sigkill_mid_stream_and_restart_lose_nothing(db: psycopg.Connection, mqtt_url: str, unique: str,
                                                           consumer: Consumer) -> None:
    eui = new_eui()
    register(db, eui)
    publisher = Publisher(mqtt_url, unique)
    stored = lambda: count(db, "uplinks", eui)  # noqa: E731
    n = 3000
    try:
        consumer.start()
        # the first start creates the persistent session; until it subscribed, messages go nowhere: repeat a
        # probe (always the same uplink, so repeats add nothing) until it is stored
        for _ in range(120):
            await publisher.apublish([cs_up(publisher, uplink(eui, 0))])
            if stored() == 1:
                break
            await asyncio.sleep(0.5)
        assert stored() == 1, f"the first consumer did not start; log: {consumer.log.read_text()[-3000:]}"

        async def kill_and_restart() -> int:
            kills = 0
            for threshold in (n // 4, n // 2):
                await wait_for(lambda threshold=threshold: stored() >= threshold, "progress", 120)
                consumer.kill()
                kills += 1
                await asyncio.sleep(0.3)       # messages keep arriving at the broker while nobody consumes
                consumer.start()
            return kills

        killer = asyncio.create_task(kill_and_restart())
        messages = [cs_up(publisher, uplink(eui, i)) for i in range(1, n + 1)]
        await publish_paced(publisher, messages, stored, window=400)
        assert await killer == 2
        await wait_for(lambda: stored() == n + 1, f"all {n + 1} uplinks (log: {consumer.log})", 120)
        assert consumer.terminate() == 0, consumer.log.read_text()[-3000:]
    finally:
        publisher.close()
    assert stored() == n + 1
    assert count(db, "readings", eui) == (n + 1) * len(AM307_READINGS)
    assert db.execute("SELECT uplinks FROM device_state WHERE dev_eui = %s", (eui,)).fetchone() == (n + 1,)
