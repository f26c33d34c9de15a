"""Where the tests find PostgreSQL and an MQTT broker.

Order: ``BEFFROI_TEST_DSN`` / ``BEFFROI_TEST_MQTT`` when set, else the local services on 127.0.0.1, else an
embedded PostgreSQL (the ``pgserver`` wheel) and an embedded broker (amqtt), so the suite also runs on a
machine with neither installed. The embedded broker speaks MQTT 3.1.1 only: tests that need MQTT v5 (shared
subscriptions, session expiry) skip on it and say so (``requires_mqtt5``).
"""

from __future__ import annotations

import atexit
import os
import socket
import tempfile
import threading
from urllib.parse import urlsplit

__all__ = ["postgres_url", "mqtt_url", "mqtt_is_embedded"]

_embedded_mqtt = False


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def postgres_url() -> str:
    """A libpq URL of a server where the tests may create and drop databases."""
    if os.environ.get("BEFFROI_TEST_DSN"):
        return os.environ["BEFFROI_TEST_DSN"]
    if _reachable("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    import pgserver  # embedded fallback

    server = pgserver.get_server(tempfile.mkdtemp(prefix="beffroi-pg-"), cleanup_mode="stop")
    return str(server.get_uri())


def mqtt_url() -> str:
    global _embedded_mqtt
    if os.environ.get("BEFFROI_TEST_MQTT"):
        return os.environ["BEFFROI_TEST_MQTT"]
    if _reachable("127.0.0.1", 1883):
        return "mqtt://127.0.0.1:1883"
    _embedded_mqtt = True
    port = _start_embedded_broker()
    return f"mqtt://127.0.0.1:{port}"


def mqtt_is_embedded() -> bool:
    return _embedded_mqtt


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_embedded_broker() -> int:
    import asyncio

    from amqtt.broker import Broker

    port = _free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        broker = Broker({"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                         "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
                         "topic-check": {"enabled": False}}, loop=loop)
        await broker.start()
        ready.set()

    threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True).start()
    ready.wait(15)
    atexit.register(loop.call_soon_threadsafe, loop.stop)
    return port


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883
