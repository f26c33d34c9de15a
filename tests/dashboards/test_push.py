"""``beffroi dashboards push`` against a local server that checks requests against Grafana's HTTP API."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from dashboards.build import render_all
from dashboards.provision import Connection, datasources, folder
from dashboards.push import GrafanaRefused, GrafanaTooOld, GrafanaUnreachable, PushReport, connect, push
from ingest.cli import main
from tests.dashboards.fake_grafana import ADMIN_TOKEN, PASSWORD, USER, VIEWER_TOKEN, FakeGrafana

CONN = Connection(pg_host="db:5432", pg_database="beffroi", pg_user="grafana", pg_password="pw",
                  prometheus_url="http://prometheus:9090")


@pytest.fixture
async def grafana() -> AsyncIterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _push(url: str, **auth: Any) -> PushReport:
    api = connect(url, timeout=5, **auth)
    return await asyncio.to_thread(push, api, datasources=datasources(CONN), folder=folder(), boards=render_all())


async def test_first_push_creates_everything_grafana_accepts(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    report = await _push(url, token=ADMIN_TOKEN)
    assert fake.violations == []
    assert report.version == "11.6.0"
    assert set(fake.datasources) == {"beffroi-postgres", "beffroi-prometheus"}
    assert fake.folders["beffroi"]["title"] == "Beffroi"
    boards = render_all()
    assert set(fake.dashboards) == set(boards)
    for uid, stored in fake.dashboards.items():
        assert stored["folderUid"] == "beffroi"
        assert {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")} == boards[uid]
    assert len(report.created) == 2 + 1 + len(boards)


async def test_second_push_changes_nothing_and_adds_no_dashboard_version(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    await _push(url, token=ADMIN_TOKEN)
    versions = {uid: d["version"] for uid, d in fake.dashboards.items()}
    report = await _push(url, token=ADMIN_TOKEN)
    assert fake.violations == []
    assert {uid: d["version"] for uid, d in fake.dashboards.items()} == versions
    assert sorted(report.unchanged) == sorted(["folder:beffroi"] + [f"dashboard:{u}" for u in versions])
    assert report.created == []
    # data sources are rewritten (their password cannot be compared) but stay the same
    assert {d["name"] for d in fake.datasources.values()} == {"Beffroi PostgreSQL", "Beffroi Prometheus"}


async def test_a_changed_board_is_updated_in_place(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    await _push(url, token=ADMIN_TOKEN)
    fake.dashboards["beffroi-flood"]["dashboard"]["title"] = "edited in the UI"
    report = await _push(url, token=ADMIN_TOKEN)
    assert report.updated.count("dashboard:beffroi-flood") == 1
    assert fake.dashboards["beffroi-flood"]["dashboard"]["title"] == "Flood"
    assert fake.dashboards["beffroi-flood"]["version"] == 2


async def test_basic_auth_works_too(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    await _push(url, user=USER, password=PASSWORD)
    assert fake.violations == [] and len(fake.dashboards) == 7


@pytest.mark.parametrize(("auth", "status", "hint"), [
    ({"token": "glsa_wrong"}, 401, "--token"),
    ({"user": USER, "password": "wrong"}, 401, "--password"),
    ({"token": VIEWER_TOKEN}, 403, "Admin"),
])
async def test_refused_credentials_stop_with_a_clear_error(grafana: tuple[FakeGrafana, str], auth: dict[str, str],
                                                           status: int, hint: str) -> None:
    fake, url = grafana
    with pytest.raises(GrafanaRefused) as caught:
        await _push(url, **auth)
    assert caught.value.status == status
    assert hint in str(caught.value)
    assert fake.datasources == {} and fake.dashboards == {}


async def test_too_old_grafana_is_refused_before_any_write(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    fake.version = "10.4.3"
    with pytest.raises(GrafanaTooOld, match="10.4.3 is too old.*11.6"):
        await _push(url, token=ADMIN_TOKEN)
    assert fake.writes == []


async def test_version_hidden_from_health_is_read_from_build_info(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    fake.hide_version = True
    report = await _push(url, token=ADMIN_TOKEN)
    assert report.version == "11.6.0"
    assert ("GET", "/api/frontend/settings") in fake.requests


async def test_unreachable_grafana() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GrafanaUnreachable, match="cannot reach Grafana"):
        await _push(f"http://127.0.0.1:{port}", token=ADMIN_TOKEN)


async def test_cli_push_reports_success_and_refusal(grafana: tuple[FakeGrafana, str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    fake, url = grafana
    args = ["dashboards", "push", "--url", url, "--pg-url", "postgresql://grafana:pw@db:5432/beffroi"]
    assert await asyncio.to_thread(main, [*args, "--token", ADMIN_TOKEN]) == 0
    assert "Grafana 11.6.0: 10 created" in capsys.readouterr().out  # 2 data sources, the folder, 7 boards
    assert fake.datasources["beffroi-postgres"]["url"] == "db:5432"
    assert fake.datasources["beffroi-postgres"]["jsonData"]["database"] == "beffroi"
    assert await asyncio.to_thread(main, [*args, "--token", "glsa_wrong"]) == 1
    assert "refused the credentials" in capsys.readouterr().err
