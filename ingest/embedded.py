"""Local services for the demo and the tests: the machine's own PostgreSQL and MQTT broker when they answer on
127.0.0.1, otherwise an embedded PostgreSQL (the ``pgserver`` wheel) and an embedded broker (amqtt).

The embedded broker speaks MQTT 3.1.1 only; callers that connect to it set ``mqtt.protocol = "3.1.1"``.
Nothing here is for production, where PostgreSQL/TimescaleDB and Mosquitto run as services (docker/).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["reachable", "free_port", "LocalPostgres", "local_postgres", "LocalBroker", "local_broker", "embedded_broker"]

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_MQTT = "mqtt://127.0.0.1:1883"


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalPostgres:
    server_url: str          # a database on the server where databases may be created and dropped
    embedded: bool
    handle: Any = None       # pgserver's server object, kept alive while in use


def local_postgres(data_dir: Path) -> LocalPostgres:
    if reachable("127.0.0.1", 5432):
        return LocalPostgres(LOCAL_POSTGRES, embedded=False)
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    return LocalPostgres(str(server.get_uri()), embedded=True, handle=server)


@dataclass
class LocalBroker:
    url: str
    embedded: bool
    protocol: str            # "5" or "3.1.1"
    _loop: asyncio.AbstractEventLoop | None = None

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)


def local_broker() -> LocalBroker:
    if reachable("127.0.0.1", 1883):
        return LocalBroker(LOCAL_MQTT, embedded=False, protocol="5")
    return embedded_broker()


def embedded_broker() -> LocalBroker:
    """An amqtt broker in a background thread on a free port (MQTT 3.1.1); ``stop()`` ends it."""
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        from amqtt.broker import Broker

        broker = Broker({"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                         "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}},
                        loop=loop)
        await broker.start()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, name="embedded-mqtt-broker", daemon=True).start()
    if not ready.wait(20) or failure:
        raise RuntimeError(f"the embedded MQTT broker did not start: {failure[0] if failure else 'timeout'}")
    return LocalBroker(f"mqtt://127.0.0.1:{port}", embedded=True, protocol="3.1.1", _loop=loop)
