"""Acknowledgement through the API: a bearer token (operator), and the signed one-click link."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from aiohttp.test_utils import TestClient

from rules.acklinks import AckLinks
from tests.api.conftest import MakeClient, bearer, make_client, tokens  # noqa: F401 (fixtures)
from tests.rules.helpers import T0

ACK_SECRET = "ack-secret-0123456789abcdef"
ENV = {"BEFFROI_NOTIFY_ACK_SECRET": ACK_SECRET, "BEFFROI_HTTP_PUBLIC_URL": "https://beffroi.test"}


def seed(db: psycopg.Connection, state: str = "firing") -> tuple[int, int]:
    db.execute("INSERT INTO devices (dev_eui, name, profile, site) VALUES ('70b3d5e75e000001', 'Pont', 'g', 'c') "
               "ON CONFLICT DO NOTHING")
    alert_id = db.execute("INSERT INTO alerts (rule, dev_eui, state, severity, route, started_at, fired_at, "
                          "next_notify_at, updated_at) VALUES ('crue', '70b3d5e75e000001', %s, 'critical', 'crue', "
                          "%s, %s, %s, %s) RETURNING id", (state, T0, T0, T0, T0)).fetchone()[0]
    outbox_id = db.execute("INSERT INTO outbox (alert_id, event, channel, contact, address, body, created_at, "
                           "next_attempt_at) VALUES (%s, 'firing', 'sms', 'marie', '+33612345678', 'x', %s, %s) "
                           "RETURNING id", (alert_id, T0, T0)).fetchone()[0]
    return int(alert_id), int(outbox_id)


def link(alert_id: int, outbox_id: int, ttl: timedelta = timedelta(hours=24)) -> str:
    return "/" + AckLinks(ACK_SECRET, ttl, "https://beffroi.test").url(alert_id, outbox_id, T0).split("/", 3)[3]


async def client(make_client: MakeClient) -> TestClient:  # noqa: F811
    return await make_client(env=ENV, extras={"clock": lambda: T0 + timedelta(minutes=5)})


async def test_the_link_page_does_not_acknowledge_only_its_button_does(make_client: MakeClient,  # noqa: F811
                                                                       db: psycopg.Connection) -> None:
    alert_id, outbox_id = seed(db)
    c = await client(make_client)
    url = link(alert_id, outbox_id)
    for _ in range(3):                                      # a link previewer fetching the page, several times
        page = await c.get(url)
        assert page.status == 200 and "Je prends en charge" in await page.text()
    assert db.execute("SELECT state FROM alerts").fetchone()[0] == "firing"
    done = await c.post(url)
    assert done.status == 200 and "Prise en charge enregistrée (link:marie)" in await done.text()
    assert db.execute("SELECT state, acked_by FROM alerts").fetchone() == ("acknowledged", "link:marie")
    assert db.execute("SELECT next_notify_at FROM alerts").fetchone()[0] is None     # no escalation, no repeat
    again = await c.post(url)
    assert again.status == 409 and "déjà servi" in await again.text()          # single use
    trail = db.execute("SELECT to_state, actor FROM alert_transitions").fetchall()
    assert trail == [("acknowledged", "link:marie")]


async def test_forged_expired_or_foreign_links_are_refused(make_client: MakeClient,  # noqa: F811
                                                           db: psycopg.Connection) -> None:
    alert_id, outbox_id = seed(db)
    other_alert, _ = seed(db, state="resolved")
    c = await client(make_client)
    good = link(alert_id, outbox_id)
    token = good.rsplit("/", 1)[1]
    forged = good[: -len(token)] + ("A" if token[0] != "A" else "B") + token[1:]
    expired = link(alert_id, outbox_id, ttl=timedelta(minutes=1))
    foreign = link(other_alert, outbox_id)                  # the outbox row belongs to another alert
    for url in (forged, expired, foreign, "/ack/nonsense"):
        resp = await c.post(url)
        assert resp.status == 410, url
    assert db.execute("SELECT state FROM alerts WHERE id = %s", (alert_id,)).fetchone()[0] == "firing"


async def test_ack_with_a_token_needs_the_operator_role(make_client: MakeClient, db: psycopg.Connection,  # noqa: F811
                                                        tokens: dict[str, str]) -> None:  # noqa: F811
    alert_id, _ = seed(db)
    c = await client(make_client)
    assert (await c.post(f"/api/alerts/{alert_id}/ack")).status == 401
    assert (await c.post(f"/api/alerts/{alert_id}/ack", headers=bearer(tokens["viewer"]))).status == 403
    resp = await c.post(f"/api/alerts/{alert_id}/ack", headers=bearer(tokens["operator"]))
    assert resp.status == 200 and (await resp.json())["state"] == "acknowledged"
    listed = await (await c.get("/api/alerts", headers=bearer(tokens["viewer"]))).json()
    assert listed["alerts"][0]["acked_by"].startswith("token:")
    resolved, _ = seed(db, state="resolved")
    assert (await c.post(f"/api/alerts/{resolved}/ack", headers=bearer(tokens["operator"]))).status == 409
    assert (await c.post("/api/alerts/999999/ack", headers=bearer(tokens["operator"]))).status == 404


async def test_silences_through_the_api(make_client: MakeClient, db: psycopg.Connection,  # noqa: F811
                                        tokens: dict[str, str]) -> None:  # noqa: F811
    c = await client(make_client)
    body = {"matchers": {"site": "lavoir"}, "ends": "2025-03-10T18:00:00+01:00", "comment": "curage"}
    assert (await c.post("/api/silences", json=body, headers=bearer(tokens["viewer"]))).status == 403
    bad = await c.post("/api/silences", json={"matchers": {"colour": "red"}, "ends": body["ends"]},
                       headers=bearer(tokens["operator"]))
    assert bad.status == 400
    created = await c.post("/api/silences", json=body, headers=bearer(tokens["operator"]))
    assert created.status == 201
    silence_id = (await created.json())["id"]
    listed = await (await c.get("/api/silences", headers=bearer(tokens["viewer"]))).json()
    assert [s["matchers"] for s in listed["silences"]] == [{"site": "lavoir"}]
    assert (await c.delete(f"/api/silences/{silence_id}", headers=bearer(tokens["operator"]))).status == 200
