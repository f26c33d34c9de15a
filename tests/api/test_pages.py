"""Pages over HTTP: login and session cookie, status content, alert page and its acknowledge button."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from aiohttp.test_utils import TestClient

from tests.api.alerts_seed import ENV, firing_alert
from tests.api.conftest import MakeClient
from tests.api.seed import REGISTRY, T0, seed

NOW = T0 + timedelta(hours=2)


@pytest.fixture
async def site(make_client: MakeClient, db_url: str) -> TestClient:
    with psycopg.connect(db_url, autocommit=True) as conn:
        seed(conn)
        firing_alert(conn, 1, "b000000000000001", "Montée rapide de l'Orne au pont Neuf")
    return await make_client(env=ENV, extras={"registry": REGISTRY, "clock": lambda: NOW})


async def _login(client: TestClient, token: str, next_: str = "/status") -> None:
    resp = await client.post("/login", data={"token": token, "next": next_}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == next_
    cookie = resp.cookies["beffroi_token"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_without_a_session_a_page_sends_to_login_and_back(site: TestClient, tokens: dict[str, str]) -> None:
    resp = await site.get("/status", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] in ("/login?next=%2Fstatus", "/login?next=/status")
    await _login(site, tokens["viewer"])
    page = await site.get("/status")
    assert page.status == 200 and "État du parc" in await page.text()


async def test_a_wrong_token_on_the_login_page_is_refused_and_counted(make_client: MakeClient) -> None:
    client = await make_client(env={**ENV, "BEFFROI_API_AUTH_MAX_FAILURES": "2"})
    for _ in range(2):
        resp = await client.post("/login", data={"token": "bfr_000000000000_" + "B" * 43})
        assert resp.status == 401 and "Jeton inconnu" in await resp.text()
    assert (await client.post("/login", data={"token": "x"})).status == 429


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
async def test_login_never_redirects_to_another_site(site: TestClient, tokens: dict[str, str], target: str) -> None:
    resp = await site.post("/login", data={"token": tokens["viewer"], "next": target}, allow_redirects=False)
    assert resp.headers["Location"] == "/status"


async def test_the_status_page_counts_devices_by_family_and_state_and_lists_open_alerts(
        site: TestClient, tokens: dict[str, str]) -> None:
    await _login(site, tokens["viewer"])
    html = await (await site.get("/status")).text()
    assert "Montée rapide de l&#39;Orne au pont Neuf" in html
    assert 'data-alert="1" data-state="firing"' in html
    # at NOW (T0 + 2 h) s12 was seen 10 min ago (ok), s14 1 h 30 ago (silent): co2 row = 1 ok, 1 silent
    row = html.split('data-family="co2"')[1].split("</tr>")[0]
    assert '<td data-state="ok">1</td>' in row and '<td data-state="silent">1</td>' in row
    assert "Qualité de l" in html and "Troupeaux" in html


async def test_the_alert_page_says_what_where_and_since_when(site: TestClient, tokens: dict[str, str]) -> None:
    await _login(site, tokens["viewer"], "/alerts/1")
    resp = await site.get("/alerts/1")
    html = await resp.text()
    assert "Critique" in html and "pont-neuf" in html and "riviere" in html
    assert "01/03/2025 à 01:05" in html                  # fired at T0 + 5 min, shown in Paris time
    assert "1 h 55 min" in html                           # for how long at NOW
    assert "3,2" in html and "seuil 3" in html
    assert "Je prends en charge" not in html               # a viewer cannot acknowledge
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


async def test_an_operator_acknowledges_from_the_alert_page(site: TestClient, tokens: dict[str, str],
                                                            db_url: str) -> None:
    await _login(site, tokens["operator"], "/alerts/1")
    assert "Je prends en charge" in await (await site.get("/alerts/1")).text()
    resp = await site.post("/alerts/1/ack", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/alerts/1?ack=1"
    html = await (await site.get("/alerts/1?ack=1")).text()
    assert "Alerte prise en compte" in html and "Pris en compte" in html and "token:test-operator" in html
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT state, acked_by FROM alerts WHERE id = 1").fetchone() == (
            "acknowledged", "token:test-operator")
        assert conn.execute("SELECT actor, target FROM audit_log WHERE action = 'POST /alerts/{id}/ack'").fetchall() \
            == [("token:test-operator", "alert:1")]
    again = await site.post("/alerts/1/ack", allow_redirects=False)
    assert again.status == 303                             # acknowledging twice is harmless


async def test_a_cross_site_form_post_is_refused(site: TestClient, tokens: dict[str, str], db_url: str) -> None:
    await _login(site, tokens["operator"])
    resp = await site.post("/alerts/1/ack", headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert resp.status == 403
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT state FROM alerts WHERE id = 1").fetchone() == ("firing",)


async def test_logging_out_forgets_the_session(site: TestClient, tokens: dict[str, str]) -> None:
    await _login(site, tokens["viewer"])
    await site.post("/logout")
    assert (await site.get("/status", allow_redirects=False)).status == 303
