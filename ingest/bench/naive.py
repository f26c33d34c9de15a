"""The naive single-process pipeline that issue 8 measures Beffroi against (``beffroi bench ingest --baseline``).

It is written the obvious way on purpose: aiomqtt's async iterator (which acknowledges each QoS 1 message on
receipt), JSON + base64 + the same profile decoder as Beffroi, rows accumulated in a list, 5 000-row batches
written by binary ``COPY`` into a key-less table. It is fast on a sunny day and wrong on a rainy one: a crash
loses every acknowledged message still in memory, and at full rate the broker's backlog moves into an unbounded
in-process list. Do not copy it; it exists to be beaten, in the same run, on the same machine.
"""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiomqtt
import psycopg

from ingest.config import parse_mqtt_url

__all__ = ["NaiveResult", "run_naive_pipeline", "create_session", "NAIVE_TABLE"]

NAIVE_TABLE = "bench_naive_readings"
BATCH_ROWS = 5000

# (dev_eui, fport, payload, time) -> [(quantity, value), ...]
DecodeFn = Callable[[str, int, bytes, datetime], Sequence[tuple[str, float]]]


@dataclass(frozen=True)
class NaiveResult:
    uplinks: int
    rows: int
    seconds: float                  # first message → last COPY
    peak_rss_mb: float
    first_commit_s: float = 0.0     # first message → end of the first COPY
    first_commit_uplinks: int = 0   # uplinks whose rows that first COPY wrote

    @property
    def uplinks_per_s(self) -> float:
        return self.uplinks / self.seconds if self.seconds else 0.0

    @property
    def after_first_commit_per_s(self) -> float:
        """Uplinks committed after the first COPY, per second from the first COPY to the last."""
        span = self.seconds - self.first_commit_s
        return (self.uplinks - self.first_commit_uplinks) / span if span > 0 else 0.0


def prepare_table(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {NAIVE_TABLE}")
        conn.execute(f"CREATE UNLOGGED TABLE {NAIVE_TABLE} (time timestamptz, dev_eui text, quantity text, "
                     "value double precision)")


def _client(mqtt_url: str, identifier: str | None) -> aiomqtt.Client:
    """An aiomqtt client (MQTT 3.1.1, its default); with an *identifier*, a persistent session under that name
    (clean_session false: the broker keeps the subscription and queues QoS 1 messages while it is away)."""
    url = parse_mqtt_url(mqtt_url)
    return aiomqtt.Client(url.host, url.port, username=url.username, password=url.password,
                          identifier=identifier or f"beffroi-naive-{time.monotonic_ns()}",
                          clean_session=False if identifier else None)


async def create_session(mqtt_url: str, topic: str, identifier: str) -> None:
    """Connect as *identifier* with a persistent session, subscribe to *topic* at QoS 1 (SUBACK awaited), leave."""
    async with _client(mqtt_url, identifier) as client:
        await client.subscribe(topic, qos=1)


async def run_naive_pipeline(mqtt_url: str, db_url: str, topic: str, expected: int, decode: DecodeFn,
                             *, ready: Callable[[], Any] | None = None, idle_timeout_s: float = 10.0,
                             identifier: str | None = None, on_first_commit: Callable[[], Any] | None = None,
                             on_done: Callable[[], Any] | None = None) -> NaiveResult:
    """Consume ``expected`` uplinks from ``topic`` and store their readings; time first message → last commit.

    With an *identifier*, resume that persistent session (``create_session``, which subscribed to *topic*) and
    drain what the broker queued.
    *on_first_commit* is called when the first COPY has ended, *on_done* after the last one while the database
    connection is still open (for the bench to read CPU counters)."""
    rows: list[tuple[datetime, str, str, float]] = []
    uplinks = 0
    written = 0
    started: float | None = None
    first_commit: tuple[float, int] | None = None       # (when, uplinks written) at the end of the first COPY
    idle = 0.0
    conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)

    async def flush() -> None:
        nonlocal written, rows, first_commit
        batch, rows = rows, []
        async with conn.cursor() as cur, cur.copy(
                f"COPY {NAIVE_TABLE} (time, dev_eui, quantity, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["timestamptz", "text", "text", "float8"])
            for row in batch:
                await copy.write_row(row)
        written += len(batch)
        if first_commit is None:
            first_commit = (time.perf_counter(), uplinks)
            if on_first_commit is not None:
                on_first_commit()

    try:
        async with _client(mqtt_url, identifier) as client:
            if identifier is None:
                await client.subscribe(topic, qos=1)
            # else the session has the subscription; subscribing again would wait for a SUBACK queued behind
            # the backlog the broker starts sending at once (aiomqtt gives up after 10 s)
            if ready is not None:
                ready()
            messages = client.messages.__aiter__()
            while uplinks < expected:
                try:
                    message = await asyncio.wait_for(messages.__anext__(), timeout=idle_timeout_s)
                except TimeoutError:
                    idle = idle_timeout_s      # waiting for messages that never came is not work: not timed
                    break
                if started is None:
                    started = time.perf_counter()
                body: Any = message.payload
                event = json.loads(body)
                info = event["deviceInfo"]
                when = datetime.fromisoformat(event["time"])
                payload = base64.b64decode(event["data"])
                for quantity, value in decode(info["devEui"], int(event["fPort"]), payload, when):
                    rows.append((when, info["devEui"], quantity, value))
                uplinks += 1
                if len(rows) >= BATCH_ROWS:
                    await flush()
            if rows:
                await flush()
            ended = time.perf_counter() - idle
            if on_done is not None:
                on_done()
    finally:
        await conn.close()
    seconds = ended - started if started is not None else 0.0
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    first_s, first_uplinks = 0.0, 0
    if first_commit is not None and started is not None:
        first_s, first_uplinks = first_commit[0] - started, first_commit[1]
    return NaiveResult(uplinks, written, seconds, peak_rss, first_s, first_uplinks)
