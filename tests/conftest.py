"""Shared fixtures: a freshly migrated database per test, the MQTT broker, unique topics.

Each test gets its own database cloned from a template migrated once per session, so tests (and several
pytest processes at once) never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from ingest.db import detect_flavour
from ingest.migrate import migrate
from tests.support import services


def _with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return services.postgres_url()


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    name = f"beffroi_tmpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_dbname(pg_server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, detect_flavour(conn, "off"))
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def cloned_database(server_url: str, template: str, prefix: str) -> Iterator[str]:
    """A new database copied from the migrated template (fast: a file copy), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                       sql.Identifier(template)))
    try:
        yield _with_dbname(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """URL of a new, fully migrated, empty database for this test."""
    with cloned_database(pg_server_url, template_db, "beffroi_t") as url:
        yield url


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    """URL of a new database with no schema at all (for migration tests)."""
    name = f"beffroi_e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _with_dbname(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    return services.mqtt_url()


@pytest.fixture
def requires_mqtt5() -> None:
    if services.mqtt_is_embedded():
        pytest.skip("the embedded broker (amqtt) speaks MQTT 3.1.1 only: shared subscriptions and session "
                    "expiry need MQTT v5 (set BEFFROI_TEST_MQTT or run Mosquitto)")


@pytest.fixture
def unique() -> str:
    """A short unique token for topic prefixes, application ids and MQTT client ids."""
    return uuid.uuid4().hex[:12]
