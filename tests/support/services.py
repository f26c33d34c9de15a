"""Where the tests find PostgreSQL and an MQTT broker.

Order: ``BEFFROI_TEST_DSN`` / ``BEFFROI_TEST_MQTT`` when set, else the local services on 127.0.0.1, else an
embedded PostgreSQL (the ``pgserver`` wheel) and an embedded broker (amqtt) — the same fallbacks as
``make demo`` (ingest/embedded.py), so the suite also runs on a machine with neither installed. The embedded
broker speaks MQTT 3.1.1 only: tests that need MQTT v5 (shared subscriptions, session expiry) skip on it and
say so (fixture ``requires_mqtt5``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ingest.embedded import LocalBroker, LocalPostgres, local_broker, local_postgres

__all__ = ["postgres_url", "mqtt_url", "mqtt_is_embedded"]

_postgres: LocalPostgres | None = None
_broker: LocalBroker | None = None


def postgres_url() -> str:
    """A libpq URL of a server where the tests may create and drop databases."""
    global _postgres
    if os.environ.get("BEFFROI_TEST_DSN"):
        return os.environ["BEFFROI_TEST_DSN"]
    if _postgres is None:
        _postgres = local_postgres(Path(tempfile.mkdtemp(prefix="beffroi-pg-")))
    return _postgres.server_url


def mqtt_url() -> str:
    global _broker
    if os.environ.get("BEFFROI_TEST_MQTT"):
        return os.environ["BEFFROI_TEST_MQTT"]
    if _broker is None:
        _broker = local_broker()
    return _broker.url


def mqtt_is_embedded() -> bool:
    return _broker is not None and _broker.embedded


def host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883
