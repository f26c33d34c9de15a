"""Fixtures of the ingest tests. ``module_db_url``: one migrated database shared by a test module, for tests
that keep to their own devices (fresh DevEUIs) and so need no database of their own; cloning a database per test
costs about a second on a busy machine."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import cloned_database


@pytest.fixture(scope="module")
def module_db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """One migrated database shared by the tests of a module (they keep to their own devices)."""
    with cloned_database(pg_server_url, template_db, "beffroi_m") as url:
        yield url


@pytest.fixture
def mdb(module_db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(module_db_url, autocommit=True) as conn:
        yield conn
