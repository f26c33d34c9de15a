"""Scale-out: two ``beffroi run`` processes on one MQTT v5 shared subscription, each with its own rules engine,
against the real Mosquitto and PostgreSQL. Readings and alerts stay exactly-once, including when one consumer is
killed (SIGKILL) mid-stream and restarted on its persistent session.

The processes are separate interpreters started like on two machines: same ``mqtt.shared_group``, distinct
``mqtt.client_id``. No timed assertion: the test waits for counts, then checks them exactly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from devices.base import Radio, Uplink
from simulator import envelopes
from simulator.codecs import codec_for
from tests.ingest.ingest_support import Publisher, count, publish_paced, register, service_env, wait_for

pytestmark = [pytest.mark.usefixtures("requires_mqtt5"), pytest.mark.slow]

DEVICES = 20
PER_PHASE = 10                         # uplinks per device below the threshold, then as many above
RULES = """
contacts: [{id: astreinte, name: Astreinte, email: astreinte@scale.test}]
escalations: [{id: e, levels: [{notify: [{contact: astreinte}]}]}]
routes: [{id: chaleur, escalation: e, repeat: never}]
rules:
  - {id: chaleur, title: Salle trop chaude, kind: threshold, severity: warning, route: chaleur,
     params: {quantity: temperature, above: 30.0, clear: 28.0}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Mailbox:
    """An SMTP server counting the alert e-mails it accepts, by alert id."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.alerts: list[str] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=_free_port())

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for line in envelope.content.decode(errors="replace").splitlines():
            if line.startswith("X-Beffroi-Alert:"):
                self.alerts.append(line.split(":", 1)[1].strip())
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[_Mailbox]:
    box = _Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


class _Consumer:
    """One ``beffroi run`` process (what a machine of the cluster runs)."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)

    async def ready(self, session: aiohttp.ClientSession) -> None:
        async def up() -> bool:
            try:
                async with session.get(f"http://127.0.0.1:{self.port}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False
        for _ in range(300):
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
            if await up():
                await asyncio.sleep(0.5)           # connected; the SUBSCRIBE follows the CONNACK at once
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"consumer on port {self.port} not ready:\n{self.log.read_text()[-3000:]}")

    async def messages(self, session: aiohttp.ClientSession) -> float:
        async with session.get(f"http://127.0.0.1:{self.port}/metrics") as response:
            text = await response.text()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("beffroi_ingest_messages_total{"))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


@asynccontextmanager
async def _cluster(tmp_path: Path, db_url: str, mqtt_url: str, unique: str, smtp_port: int
                   ) -> AsyncIterator[list[_Consumer]]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "scale.yaml").write_text(RULES)
    consumers = []
    for i in range(2):
        port = _free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("BEFFROI_")},
               **service_env(db_url, mqtt_url, unique, mqtt_client_id=f"beffroi-scale-{unique}-{i}",
                             mqtt_shared_group=f"scale-{unique}", http_listen=f"127.0.0.1:{port}",
                             rules_dir=str(rules), rules_tick_s=1, notify_smtp_host="127.0.0.1",
                             notify_smtp_port=smtp_port, notify_smtp_security="none", log_level="INFO")}
        consumers.append(_Consumer(env, port, tmp_path / f"consumer-{i}.log"))
    try:
        yield consumers
    finally:
        codes = [c.stop() for c in consumers]
        assert codes == [0, 0], [c.log.read_text()[-3000:] for c in consumers]


def _uplinks(devices: list[str], f_cnt0: int, temperature: float, start: datetime) -> list[Uplink]:
    codec = codec_for("milesight-am307")
    port, payload = codec.encode({"temperature": temperature, "humidity": 45.0, "co2": 600.0})
    radio = Radio(rssi=-97, snr=6.5, gateways=1, gateway_id="7276ff002e0601aa", frequency=868_100_000, dr=5)
    return [Uplink(dev, start + timedelta(seconds=30 * k), f_cnt0 + k, port, payload, "test", radio=radio)
            for k in range(PER_PHASE) for dev in devices]


async def test_two_consumers_and_two_rule_engines_store_readings_and_raise_alerts_exactly_once(
        tmp_path: Path, db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str,
        mailbox: _Mailbox) -> None:
    devices = [f"5c{unique[:6]}{i:08x}" for i in range(DEVICES)]
    for dev in devices:
        register(db, dev, "milesight-am307")
    publisher = Publisher(mqtt_url, unique)
    now = datetime.now(UTC).replace(microsecond=0)
    cool = _uplinks(devices, 1, 22.0, now - timedelta(minutes=20))
    hot = _uplinks(devices, 1 + PER_PHASE, 35.0, now - timedelta(minutes=10))
    readings_per_uplink = len(codec_for("milesight-am307").decode(cool[0].f_port, cool[0].payload).readings)

    def messages(ups: list[Uplink]) -> list[tuple[str, bytes]]:
        return [(publisher.chirpstack_topic(u.dev_eui), envelopes.chirpstack_json_uplink(
            u, application_id="app-1", device_profile_name="milesight-am307")) for u in ups]

    def stored() -> int:
        return count(db, "uplinks")

    try:
        async with _cluster(tmp_path, db_url, mqtt_url, unique, mailbox.controller.port) as consumers, \
                aiohttp.ClientSession() as session:
            for consumer in consumers:
                consumer.start()
            await asyncio.gather(*(c.ready(session) for c in consumers))
            # below the threshold; one consumer is killed halfway and comes back on its persistent session
            first = messages(cool)
            half = len(first) // 2
            await publish_paced(publisher, first[:half], stored, window=100, chunk=20)
            consumers[1].kill()
            await publish_paced(publisher, first[half:], stored, window=100, chunk=20)
            consumers[1].start()
            await consumers[1].ready(session)
            await wait_for(lambda: stored() == len(cool), "every cool uplink", 60)
            # above the threshold: each device crosses once, its uplinks shared between the two engines
            await publish_paced(publisher, messages(hot), stored, window=100, chunk=20)
            await wait_for(lambda: stored() == len(cool) + len(hot), "every hot uplink", 60)
            await wait_for(lambda: count(db, "alerts") >= DEVICES, "an alert per device", 60)
            await wait_for(lambda: len(mailbox.alerts) >= DEVICES, "an e-mail per alert", 60)
            await asyncio.sleep(2)                 # room for a duplicate to show up, if there were one
            shares = [await c.messages(session) for c in consumers]
    finally:
        publisher.close()
    assert count(db, "readings") == (len(cool) + len(hot)) * readings_per_uplink
    dupes = db.execute("SELECT count(*) FROM (SELECT dev_eui, f_cnt FROM uplinks GROUP BY 1, 2 "
                       "HAVING count(*) > 1) d").fetchone()
    assert dupes == (0,)
    alerts = db.execute("SELECT rule, dev_eui, count(*), min(state) FROM alerts GROUP BY 1, 2 ORDER BY 2").fetchall()
    assert alerts == [("chaleur", dev, 1, "firing") for dev in sorted(devices)]
    firing = db.execute("SELECT count(*), count(DISTINCT alert_id) FROM outbox WHERE event = 'firing'").fetchone()
    assert firing == (DEVICES, DEVICES)
    assert sorted(mailbox.alerts) == sorted({a for a in mailbox.alerts}) and len(mailbox.alerts) == DEVICES
    assert all(share > 0 for share in shares), shares     # the broker split the stream between the two
