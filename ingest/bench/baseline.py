"""The naive pipeline (``ingest/bench/naive.py``) run on the same messages as Beffroi, for ``--baseline``.

Same broker, same database server, same load fleet and seed (hence the same topics, envelopes and payloads), same
profile decoders; the naive consumer runs in this process (asyncio, as written), the publisher in a separate
process started once the naive client has subscribed, publishing as fast as the broker acknowledges. Its rate is
measured from its first message to its last commit, as the naive pipeline reports it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ingest.bench.naive import NAIVE_TABLE, prepare_table, run_naive_pipeline

__all__ = ["measure_naive", "publish_process", "naive_decoder"]


def publish_process(broker_url: str, devices: int, total: int, prefix: str, fmt: str, seed: int) -> None:
    """Publish *total* load-mode uplinks at QoS 1 as fast as acknowledged (a process target: no return value)."""
    import os
    import time

    from simulator.load import LoadGenerator, LoadPlan
    from simulator.publish import Publisher

    generator = LoadGenerator(LoadPlan(devices=devices, rate=float("inf"), duration_s=3600, topic_prefix=prefix,
                                       fmt=fmt, seed=seed))
    with Publisher(broker_url, client_id=f"beffroi-bench-naive-pub-{os.getpid()}", max_inflight=1000) as pub:
        for _ in range(total):
            topic, payload = generator.next(round(time.time(), 6))
            pub.publish(topic, payload)


def naive_decoder(devices: int) -> Any:
    """The naive pipeline's decode function: the load fleet's profiles, by DevEUI."""
    from devices.registry import ProfileRegistry
    from simulator.load import load_fleet

    registry = ProfileRegistry.load()
    profile_of = {d.dev_eui: registry[d.profile] for d in load_fleet(devices)}

    def decode(dev_eui: str, fport: int, payload: bytes, when: datetime) -> Sequence[tuple[str, float]]:
        return [(r.quantity, r.value) for r in profile_of[dev_eui].decode(fport, payload, {}, when).readings]
    return decode


def measure_naive(broker_url: str, db_url: str, *, devices: int, total: int, prefix: str,
                  fmt: str = "chirpstack-json", seed: int = 11, publishers: int = 1) -> dict[str, Any]:
    """Run the naive pipeline over *total* published uplinks; its figures, keyed for print_figures.

    With several *publishers*, publisher k uses seed ``seed + k`` and a share of *total*, as ``bench ingest``."""
    prepare_table(db_url)
    ctx = multiprocessing.get_context("spawn")
    shares = [total // publishers + (1 if k < total % publishers else 0) for k in range(publishers)]
    procs = [ctx.Process(target=publish_process, args=(broker_url, devices, n, prefix, fmt, seed + k),
                         name=f"naive-publisher-{k}") for k, n in enumerate(shares)]

    def start_publishers() -> None:
        for proc in procs:
            proc.start()
    topic = f"{prefix}/application/+/device/+/event/+"
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        result = asyncio.run(run_naive_pipeline(broker_url, db_url, topic, total, naive_decoder(devices),
                                                ready=start_publishers))
    finally:
        for proc in procs:
            if proc.pid is not None:
                proc.join(120)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {NAIVE_TABLE}").fetchone()    # noqa: S608 - constant name
    stored_rows = int(row[0]) if row else 0
    return {"naive uplinks/s": round(result.uplinks_per_s), "naive rows/s": round(result.rows / result.seconds)
            if result.seconds else 0, "naive uplinks received": result.uplinks, "naive rows stored": stored_rows,
            "naive peak RSS MB": round(result.peak_rss_mb, 1),
            "naive CPU us per uplink (its process)": round(cpu / max(result.uplinks, 1) * 1e6)}
