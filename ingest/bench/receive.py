"""``beffroi bench receive``: CPU per QoS 1 message in the MQTT consumer alone, lean receive path vs paho's own.

The consumer (``ingest/mqtt.py``) with a sink that only acknowledges, in this process; ``--count`` realistic
ChirpStack uplinks (the load fleet's) published to a private Mosquitto while its persistent session is away, then
received at once. Measured twice per round, alternately: with ``LeanClient`` as shipped, and with its two
overrides switched back to paho's (``ingest/paho_client.py``); the process's user + system CPU over the drain is
divided by the messages. Parse, decode and the database are left out on purpose: this is what the MQTT client
costs per message.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho

from ingest.bench.harness import PrivateMosquitto
from ingest.config import parse_mqtt_url
from ingest.metrics import Metrics
from ingest.mqtt import MqttConsumer, Subscription
from ingest.paho_client import LeanClient
from ingest.pipeline import Inbound

__all__ = ["register", "run"]

_OVERRIDES = ("_handle_publish", "_sock_recv", "buffered")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("receive", help="MQTT consumer CPU per message: lean receive path vs paho's own")
    p.add_argument("--count", type=int, default=50_000, help="messages per measurement (default 50 000)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    p.set_defaults(func=run)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _paho_receive_path() -> Iterator[None]:
    """LeanClient with paho's own ``_handle_publish`` and ``_sock_recv`` (and so nothing buffered)."""
    saved = {name: LeanClient.__dict__[name] for name in _OVERRIDES}
    LeanClient._handle_publish = paho.Client._handle_publish         # type: ignore[method-assign]
    LeanClient._sock_recv = paho.Client._sock_recv                   # type: ignore[method-assign]
    LeanClient.buffered = lambda self: False                          # type: ignore[method-assign]
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(LeanClient, name, value)


async def _drain(url: str, client_id: str, topic: str, count: int) -> tuple[float, float]:
    """Connect the persistent session and receive *count* messages; (CPU µs per message, messages/s)."""
    received = 0
    done = asyncio.Event()

    def sink(message: Inbound) -> None:
        nonlocal received
        received += 1
        if message.token is not None:
            consumer.ack([message.token])
        if received >= count:
            done.set()

    consumer = MqttConsumer(parse_mqtt_url(url), client_id=client_id, subscriptions=[Subscription(f"{topic}/#")],
                            sink=sink, metrics=Metrics(), receive_maximum=65535, session_expiry_s=3600)
    cpu, began = _cpu_s(), time.perf_counter()
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(done.wait() if count else consumer.subscribed.wait(), 600)
    cpu, seconds = _cpu_s() - cpu, time.perf_counter() - began
    await consumer.stop()
    task.cancel()
    return cpu / max(count, 1) * 1e6, count / seconds


def _publish(url: str, topic: str, count: int) -> None:
    from simulator.load import LoadGenerator, LoadPlan
    from simulator.publish import Publisher

    generator = LoadGenerator(LoadPlan(devices=1000, rate=float("inf"), duration_s=3600, topic_prefix=topic, seed=3))
    with Publisher(url, client_id=f"bench-receive-pub-{os.getpid()}", max_inflight=1000) as publisher:
        for _ in range(count):
            publisher.publish(*generator.next(time.time()))


async def _measure(url: str, count: int, rounds: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"messages per measurement": count}
    results: dict[str, list[float]] = {"lean": [], "paho": []}
    for round_ in range(rounds):
        for path in ("lean", "paho"):
            topic = f"bench-receive-{os.getpid()}-{path}-{round_}"
            client_id = f"bench-receive-{topic}"
            await _drain(url, client_id, topic, 0)                     # the session, then away
            await asyncio.to_thread(_publish, url, topic, count)
            if path == "paho":
                with _paho_receive_path():
                    us, rate = await _drain(url, client_id, topic, count)
            else:
                us, rate = await _drain(url, client_id, topic, count)
            results[path].append(us)
            figures[f"round {round_ + 1} {path}: CPU us per message"] = round(us, 1)
            figures[f"round {round_ + 1} {path}: messages/s"] = round(rate)
    for path, values in results.items():
        figures[f"{path} receive path: best CPU us per message"] = round(min(values), 1)
    figures["paho / lean (CPU per message)"] = round(min(results["paho"]) / min(results["lean"]), 2)
    figures["load average (1 min)"] = round(os.getloadavg()[0], 2)
    return figures


def run(args: argparse.Namespace) -> int:
    from ingest.commands.bench import print_figures

    with PrivateMosquitto(max_queued=args.count + 10_000) as broker:
        figures = asyncio.run(_measure(broker.url, args.count, args.rounds))
    print_figures(f"receive ({args.count:,} ChirpStack uplinks per measurement, QoS 1, acknowledged)", figures)
    return 0
