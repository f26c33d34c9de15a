"""A simulated flash flood through the real broker, ``beffroi run`` (ingest + rules on the data clock), a real
SMTP server and a local SMS gateway: exactly one critical alert, one SMS and one e-mail; acknowledging it stops
repeats and escalation; the receding water resolves it and the resolution is sent."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import psycopg
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from ingest.api.tokens import create_token
from ingest.config import parse_mqtt_url
from simulator.clock import parse_duration
from simulator.engine import Message, Simulation
from simulator.scenario import load_scenario, scenario_path
from tests.ingest.ingest_support import register, running, service_config, wait_for
from tests.rules.conftest import FLOOD_RULE, ONCALL
from tests.rules.smtp import Inbox, free_port

GAUGE = "vidourle-quai-cledat"      # the submersible probe at the quay: water level straight from the sensor

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("requires_mqtt5")]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


def _publish(mqtt_url: str, client_id: str, messages: list[Message]) -> None:
    url = parse_mqtt_url(mqtt_url)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.connect(url.host, url.port)
    client.loop_start()
    try:
        for m in messages:
            client.publish(m.topic, m.payload, qos=1).wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


async def test_flash_flood_one_alert_one_sms_one_email_ack_stops_escalation_recession_resolves(
        db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str, tmp_path: Path, inbox: Inbox) -> None:
    sms: list[dict[str, Any]] = []

    async def gateway(request: web.Request) -> web.Response:
        sms.append(json.loads(await request.read()))
        return web.json_response({"status": "queued"}, status=201)

    app = web.Application()
    app.router.add_post("/sms", gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    sms_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", sms_port).start()

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "oncall.yaml").write_text(textwrap.dedent(ONCALL))
    (rules / "flood.yaml").write_text(textwrap.dedent(FLOOD_RULE))

    sim = Simulation(load_scenario(scenario_path("flash-flood")), seed=3, topic_prefix=f"test/{unique}")
    spec = next(d for d in sim.fleet if d.name == GAUGE)
    register(db, spec.dev_eui, spec.profile)
    messages = [m for m in sim.messages() if m.dev_eui == spec.dev_eui]
    start = sim.scenario.start

    def until(offset: str) -> list[Message]:
        return [m for m in messages if m.sim_time < start + parse_duration(offset)]

    before_the_rise, one_hour_later, everything = until("1d02h30min"), until("1d04h30min"), messages
    token, _ = create_token(db, "astreinte-test", "operator", "test")
    config = service_config(
        db_url, mqtt_url, unique, rules_dir=rules, rules_clock="data", rules_tick_s=0.2,
        notify_smtp_host="127.0.0.1", notify_smtp_port=inbox.port,  # type: ignore[attr-defined]
        notify_smtp_security="none", notify_sms_provider="http",
        notify_http_sms_url=f"http://127.0.0.1:{sms_port}/sms",
        notify_http_sms_body='{"to": {{ to|tojson }}, "text": {{ text|tojson }}}')

    def alerts() -> list[tuple[Any, ...]]:
        return db.execute("SELECT id, severity, state FROM alerts WHERE dev_eui = %s", (spec.dev_eui,)).fetchall()

    def committed(message: Message) -> bool:
        f_cnt = json.loads(message.payload)["fCnt"]
        return db.execute("SELECT 1 FROM uplinks WHERE dev_eui = %s AND f_cnt = %s",
                          (spec.dev_eui, f_cnt)).fetchone() is not None

    async def publish_until_the_alert(rising: list[Message]) -> int:
        """Publish one uplink at a time until the alert fires; return how many were published.

        The engine runs on the data clock: had the whole rise been published at once, the on-call person would
        "wait" its remaining half hour without acknowledging, and the repeat and the escalation would rightly
        follow. One at a time, the data clock stands at most one uplink (5 min) past the firing when the test
        acknowledges, as a person who answers at once would."""
        for n, message in enumerate(rising, 1):
            await asyncio.to_thread(_publish, mqtt_url, f"sim-{unique}", [message])
            await wait_for(lambda m=message: committed(m), f"uplink {n} of the rise committed")
            if alerts():
                return n
        raise AssertionError("the rise was published without the alert firing")

    try:
        async with running(config) as service:
            # the river rises: one critical alert, the person on call gets one SMS and one e-mail
            await asyncio.to_thread(_publish, mqtt_url, f"sim-{unique}", before_the_rise)
            await wait_for(lambda: committed(before_the_rise[-1]), "the quiet day before the rise", 30)
            assert alerts() == []
            published = len(before_the_rise) + await publish_until_the_alert(one_hour_later[len(before_the_rise):])
            await wait_for(lambda: len(sms) >= 1 and len(inbox.messages) >= 1, "the SMS and the e-mail", 30)
            await asyncio.sleep(1.0)
            assert [(a[1], a[2]) for a in alerts()] == [("critical", "firing")]
            assert len(sms) == 1 and len(inbox.messages) == 1
            assert sms[0]["to"] in ("+33612345678", "+33698765432")          # the rotation, not the mayor
            assert "maire@" not in inbox.messages[0]["To"]
            alert_id = alerts()[0][0]

            # acknowledged through the API: no repeat (every 10 min) nor escalation (after 15 min) follows
            host, port = service.http_address or ("127.0.0.1", 0)
            async with aiohttp.ClientSession() as http:
                async with http.post(f"http://{host}:{port}/api/alerts/{alert_id}/ack",
                                     headers={"Authorization": f"Bearer {token.raw}"}) as response:
                    assert response.status == 200, await response.text()
            await asyncio.to_thread(_publish, mqtt_url, f"sim-{unique}", one_hour_later[published:])
            await wait_for(lambda: db.execute("SELECT count(*) FROM uplinks WHERE dev_eui = %s",
                                              (spec.dev_eui,)).fetchone()[0] >= len(set(
                                                  m.sim_time for m in one_hour_later)) * 0.9, "an hour more")
            await asyncio.sleep(1.5)
            assert [(a[1], a[2]) for a in alerts()] == [("critical", "acknowledged")]
            assert len(sms) == 1 and len(inbox.messages) == 1

            # the water recedes: the alert resolves and whoever was told hears it is over
            await asyncio.to_thread(_publish, mqtt_url, f"sim-{unique}", everything[len(one_hour_later):])
            await wait_for(lambda: [a[2] for a in alerts()] == ["resolved"], "the alert resolved", 60)
            await wait_for(lambda: len(sms) == 2 and len(inbox.messages) == 2, "the resolution notices", 30)
            assert sms[1]["to"] == sms[0]["to"]
        assert len(alerts()) == 1
    finally:
        await runner.cleanup()
