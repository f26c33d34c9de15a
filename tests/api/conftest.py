"""API fixtures: the real aiohttp application on a fresh migrated database, and one token per role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ingest.api.app import ROUTE_MODULES, ApiContext, build_app
from ingest.api.tokens import create_token
from ingest.config import load_config
from ingest.db import open_pool

MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def tokens(db_url: str) -> Iterator[dict[str, str]]:
    """Raw tokens by role: viewer, operator, admin."""
    out = {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        for role in ("viewer", "operator", "admin"):
            token, _ = create_token(conn, f"test-{role}", role, "test")
            out[role] = token.raw
    yield out


@pytest.fixture
async def make_client(db_url: str) -> AsyncIterator[MakeClient]:
    """``await make_client(env={...}, modules=(...), extras={...})`` -> a started TestClient on the real app."""
    opened: list[tuple[TestClient, Any]] = []

    async def make(env: dict[str, str] | None = None, modules: tuple[str, ...] = ROUTE_MODULES,
                   extras: dict[str, Any] | None = None) -> TestClient:
        config = load_config(None, environ={"BEFFROI_DATABASE_URL": db_url, **(env or {})})
        pool = open_pool(db_url, 4)
        await pool.open(wait=True)
        context = ApiContext(config=config, pool=pool, readiness={"database": True}, extras=dict(extras or {}))
        client = TestClient(TestServer(build_app(context, modules)))
        await client.start_server()
        opened.append((client, pool))
        return client

    yield make
    for client, pool in opened:
        await client.close()
        await pool.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
