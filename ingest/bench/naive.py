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

__all__ = ["NaiveResult", "run_naive_pipeline", "NAIVE_TABLE"]

NAIVE_TABLE = "bench_naive_readings"
BATCH_ROWS = 5000

# (dev_eui, fport, payload, time) -> [(quantity, value), ...]
DecodeFn = Callable[[str, int, bytes, datetime], Sequence[tuple[str, float]]]


@dataclass(frozen=True)
class NaiveResult:
    uplinks: int
    rows: int
    seconds: float
    peak_rss_mb: float

    @property
    def uplinks_per_s(self) -> float:
        return self.uplinks / self.seconds if self.seconds else 0.0


def prepare_table(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {NAIVE_TABLE}")
        conn.execute(f"CREATE UNLOGGED TABLE {NAIVE_TABLE} (time timestamptz, dev_eui text, quantity text, "
                     "value double precision)")


async def run_naive_pipeline(mqtt_url: str, db_url: str, topic: str, expected: int, decode: DecodeFn,
                             *, ready: Callable[[], Any] | None = None, idle_timeout_s: float = 10.0
                             ) -> NaiveResult:
    """Consume ``expected`` uplinks from ``topic`` and store their readings; time first message → last commit."""
    url = parse_mqtt_url(mqtt_url)
    rows: list[tuple[datetime, str, str, float]] = []
    uplinks = 0
    written = 0
    started: float | None = None
    conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)

    async def flush() -> None:
        nonlocal written, rows
        batch, rows = rows, []
        async with conn.cursor() as cur, cur.copy(
                f"COPY {NAIVE_TABLE} (time, dev_eui, quantity, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["timestamptz", "text", "text", "float8"])
            for row in batch:
                await copy.write_row(row)
        written += len(batch)

    try:
        async with aiomqtt.Client(url.host, url.port, username=url.username, password=url.password,
                                  identifier=f"beffroi-naive-{time.monotonic_ns()}") as client:
            await client.subscribe(topic, qos=1)
            if ready is not None:
                ready()
            messages = client.messages.__aiter__()
            while uplinks < expected:
                try:
                    message = await asyncio.wait_for(messages.__anext__(), timeout=idle_timeout_s)
                except TimeoutError:
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
    finally:
        await conn.close()
    seconds = time.perf_counter() - started if started is not None else 0.0
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return NaiveResult(uplinks, written, seconds, peak_rss)
