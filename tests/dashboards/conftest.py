"""One database holding the dashboard scenario, shared by the dashboard tests, which only read it (loading takes a few seconds)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tests.dashboards import scenario


@pytest.fixture(scope="session")
def scenario_db(pg_server_url: str, template_db: str) -> Iterator[psycopg.Connection]:
    name = f"beffroi_dash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                       sql.Identifier(template_db)))
    url = urlunsplit(urlsplit(pg_server_url)._replace(path="/" + name))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            scenario.load(conn)
            yield conn
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
