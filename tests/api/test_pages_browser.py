"""The pages in a real headless Chromium (Debian's ``chromium``, driven by Playwright): an on-call person opens
the link of an SMS, acknowledges the alert, and the status page shows it acknowledged.

Chromium is installed by ``.ci/run``; when it is missing the test fails under CI (CI=true) and skips elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient

from tests.api.alerts_seed import ENV, firing_alert
from tests.api.conftest import MakeClient
from tests.api.seed import REGISTRY, T0, seed

CHROMIUM = os.environ.get("BEFFROI_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "fr-FR"}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"headless Chromium is required in CI: {reason}")
    pytest.skip(f"headless Chromium unavailable: {reason}")


def _installed() -> bool:
    return os.path.exists(CHROMIUM) or shutil.which("chromium") is not None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not _installed():
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is not installed ({exc})")
    async with async_playwright() as pw:
        try:
            instance = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=60_000)
        except Exception as exc:   # the browser binary refused to start
            _unavailable(f"cannot start {CHROMIUM}: {exc}")
        yield instance
        await instance.close()


@pytest.fixture
async def site(make_client: MakeClient, db_url: str) -> AsyncIterator[tuple[TestClient, str, str]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        seed(conn)
        link = firing_alert(conn, 1, "b000000000000001", "Montée rapide de l'Orne au pont Neuf")
        firing_alert(conn, 2, "a000000000000002", "CO₂ élevé en salle 14", severity="warning", value=1650,
                     threshold=1500)
    client = await make_client(env=ENV, extras={"registry": REGISTRY, "clock": lambda: T0 + timedelta(hours=2)})
    yield client, link, db_url


async def _log_in(page: Any, client: TestClient, token: str) -> None:
    await page.fill("#token", token)
    await page.click("button[type=submit]")


async def test_the_sms_link_acknowledges_and_the_status_page_shows_it(
        browser: Any, site: tuple[TestClient, str, str], tokens: dict[str, str], tmp_path: Path) -> None:
    client, link, db_url = site
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await page.goto(str(client.make_url(link)))
    assert "Alerte n° 1" in await page.inner_text("h1")
    await page.get_by_role("button", name="Je prends en charge").click()
    await page.wait_for_load_state()
    assert "Prise en charge enregistrée" in await page.inner_text("body")
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT state, acked_by FROM alerts WHERE id = 1").fetchone() == (
            "acknowledged", "link:marie")

    await page.goto(str(client.make_url("/status")))
    assert "/login" in page.url
    await _log_in(page, client, tokens["viewer"])
    await page.wait_for_url("**/status")
    card = page.locator('.alerte[data-alert="1"]')
    assert await card.get_attribute("data-state") == "acknowledged"
    assert "Pris en compte" in await card.inner_text()
    assert "link:marie" in await card.inner_text()
    await page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
    await context.close()


async def test_an_operator_acknowledges_on_the_alert_page_and_the_status_page_shows_it(
        browser: Any, site: tuple[TestClient, str, str], tokens: dict[str, str], tmp_path: Path) -> None:
    client, _, _ = site
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await page.goto(str(client.make_url("/alerts/2")))
    await _log_in(page, client, tokens["operator"])
    await page.wait_for_url("**/alerts/2")
    body = await page.inner_text("main")
    assert "CO₂ élevé en salle 14" in body and "ecole-jaures-s14" in body and "depuis" in body.lower()
    assert "1 650" in body or "1650" in body
    await page.screenshot(path=str(tmp_path / "alert.png"), full_page=True)
    await page.get_by_role("button", name="Je prends en charge").click()
    await page.wait_for_url("**/alerts/2?ack=1")
    assert await page.inner_text("#etat") == "Pris en compte"
    await page.click("text=État du parc")
    await page.wait_for_url("**/status")
    card = page.locator('.alerte[data-alert="2"]')
    assert await card.get_attribute("data-state") == "acknowledged"
    assert await page.locator('.alerte[data-alert="1"]').get_attribute("data-state") == "firing"
    await context.close()
