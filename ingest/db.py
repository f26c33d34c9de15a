"""Database connections and the TimescaleDB capability check.

Every SQL path runs on plain PostgreSQL 15; when the ``timescaledb`` extension is available (and not disabled by
``database.timescaledb = "off"``) the migrations and the writer use its features instead. The choice is made
once per process by ``detect_flavour`` and logged.
"""

from __future__ import annotations

import logging
from typing import Literal

import psycopg
from psycopg_pool import AsyncConnectionPool

__all__ = ["Flavour", "detect_flavour", "connect", "open_pool", "DatabaseUnavailable"]

log = logging.getLogger(__name__)

Flavour = Literal["timescaledb", "postgresql"]


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the caller retries with backoff."""


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit, application_name="beffroi")
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to the database ({_safe(url)}): {exc}") from exc


def open_pool(url: str, size: int) -> AsyncConnectionPool:
    """An async pool; call ``await pool.open()``. Connections are checked before being handed out."""
    return AsyncConnectionPool(
        url, min_size=1, max_size=size, open=False, check=AsyncConnectionPool.check_connection,
        kwargs={"application_name": "beffroi"}, reconnect_timeout=0,
    )


def detect_flavour(conn: psycopg.Connection, setting: str = "auto") -> Flavour:
    """Return which SQL flavour this database supports, creating the extension when it is available."""
    if setting == "off":
        return "postgresql"
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if row:
        return "timescaledb"
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if available:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            return "timescaledb"
        except psycopg.Error as exc:
            if setting == "on":
                raise
            log.warning("timescaledb is installed but cannot be enabled (%s); using plain PostgreSQL", exc)
    if setting == "on":
        raise RuntimeError("database.timescaledb = \"on\" but the timescaledb extension is not available")
    return "postgresql"


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
