"""``beffroi bench ingest``: realistic ChirpStack uplinks through the broker into the database, and what it costs.

1. a scratch database with the simulator's load fleet registered (every family, several makes, each device's
   own encoder producing its payloads), and a private Mosquitto configured as ``docs/broker.md`` says (the
   machine's broker may keep the default of 1 000 queued messages per session and drop the rest silently);
2. ``beffroi run`` as a subprocess, as an operator runs it;
3. ``--count`` ChirpStack uplinks published at QoS 1, as fast as the broker acknowledges them (or at ``--rate``
   per second, e.g. half the sustained rate for the latency target); each uplink's ``time`` is its publish time;
4. the bench LISTENs on ``beffroi_batch``: each committed batch says which uplink times it holds, so every
   uplink's publish → commit latency is known to the notification's arrival;
5. the figures come from the database at the end — uplinks and rows counted there, lost = published − stored —
   not from any counter of the service or the publisher.

Here the publisher(s) run while the pipeline consumes, on the same cores: the latency figures need that, but a
rate ratio taken this way also measures how much CPU the publisher leaves each pipeline. ``--drain``
(``ingest/bench/drain.py``) publishes first, while the pipelines are away, and times the drains.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from ingest.bench.harness import PrivateMosquitto, ScratchDatabase, ServiceProcess, count, register_devices

__all__ = ["register", "run", "latencies", "BatchListener", "publish_parallel"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="uplinks/s and rows/s into the database, publish→commit latency, lost")
    p.add_argument("--count", type=int, default=100_000, help="uplinks to publish (default 100 000)")
    p.add_argument("--devices", type=int, default=1000, help="simulated devices (default 1000)")
    p.add_argument("--rate", type=float, default=0.0, help="publish at this many uplinks/s (default: as fast as "
                   "the broker acknowledges)")
    p.add_argument("--format", choices=("chirpstack-json", "chirpstack-pb"), default="chirpstack-json")
    p.add_argument("--database", help="scratch database, dropped at the end (default beffroi_bench_ingest, with "
                   "--drain beffroi_bench_drain)")
    p.add_argument("--keep", action="store_true", help="keep the scratch database")
    p.add_argument("--workers", type=int, default=1, help="consumer processes (beffroi run --workers N)")
    p.add_argument("--publishers", type=int, default=1, help="publisher processes (default 1; 2 or more so that "
                   "the publisher is not the bottleneck with --workers)")
    p.add_argument("--baseline", action="store_true", help="then run the naive pipeline (ingest/bench/naive.py) on "
                   "the same messages in the same run and print the ratio")
    p.add_argument("--drain", action="store_true", help="publish while the pipelines are away, then time their "
                   "drains (the publisher no longer shares the cores; rates, ratio, CPU per uplink; no latency)")
    p.set_defaults(func=run)


class BatchListener(threading.Thread):
    """LISTEN beffroi_batch; record (arrival wall time, first uplink time, last uplink time) per commit.

    *on_first*, if given, is called in this thread as soon as the first notification has arrived."""

    def __init__(self, url: str, on_first: Callable[[], object] | None = None) -> None:
        super().__init__(daemon=True, name="bench-listen")
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("LISTEN beffroi_batch")
        self.batches: list[tuple[float, float, float]] = []
        self.stopping = False
        self.on_first = on_first

    def run(self) -> None:
        while not self.stopping:
            for note in self.conn.notifies(timeout=0.5):
                arrived = time.time()
                if not self.batches and self.on_first is not None:
                    self.on_first()
                body = json.loads(note.payload)
                self.batches.append((arrived, datetime.fromisoformat(body["from"]).timestamp(),
                                     datetime.fromisoformat(body["to"]).timestamp()))

    def close(self) -> None:
        self.stopping = True
        self.join(5)
        self.conn.close()


def latencies(published: list[float], batches: list[tuple[float, float, float]]) -> list[float]:
    """Publish → commit seconds of every published uplink found in a committed batch's time range.

    *published* is sorted; an uplink is attributed to the first batch whose [from, to] holds its time.
    """
    out: list[float] = []
    seen: set[int] = set()
    for arrived, first, last in sorted(batches):
        lo = bisect.bisect_left(published, first - 1e-6)
        hi = bisect.bisect_right(published, last + 1e-6)
        for i in range(lo, hi):
            if i not in seen:
                seen.add(i)
                out.append(arrived - published[i])
    return out


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _publish(broker_url: str, devices: int, total: int, prefix: str, fmt: str, rate: float,
             seed: int = 11) -> list[float]:
    """Publish *total* uplinks; return their publish times (= their uplink times, to the microsecond)."""
    from simulator.load import LoadGenerator, LoadPlan
    from simulator.publish import Publisher

    generator = LoadGenerator(LoadPlan(devices=devices, rate=float("inf"), duration_s=3600, topic_prefix=prefix,
                                       fmt=fmt, seed=seed))
    times: list[float] = []
    began = time.perf_counter()
    with Publisher(broker_url, client_id=f"beffroi-bench-ingest-pub-{os.getpid()}", max_inflight=1000) as pub:
        for k in range(total):
            if rate > 0:
                ahead = began + k / rate - time.perf_counter()
                if ahead > 0.002:
                    time.sleep(ahead)
            when = round(time.time(), 6)
            topic, payload = generator.next(when)
            pub.publish(topic, payload)
            times.append(when)
    return times


def publish_parallel(broker_url: str, devices: int, total: int, prefix: str, fmt: str, rate: float,
                      publishers: int) -> list[float]:
    """*publishers* processes (seeds 11, 12, ...) publishing *total* uplinks between them, at *rate* in all.

    One Python publisher tops out at a few thousand QoS 1 messages/s on a small machine, below what two consumer
    processes take: several keep the publisher from being what is measured."""
    if publishers <= 1:
        return _publish(broker_url, devices, total, prefix, fmt, rate)
    import multiprocessing

    shares = [total // publishers + (1 if k < total % publishers else 0) for k in range(publishers)]
    with multiprocessing.get_context("spawn").Pool(publishers) as pool:
        parts = pool.starmap(_publish, [(broker_url, devices, n, prefix, fmt, rate / publishers, 11 + k)
                                        for k, n in enumerate(shares)])
    return [t for part in parts for t in part]


def run(args: argparse.Namespace) -> int:
    if args.drain:
        from ingest.bench.drain import run_drain

        return run_drain(args)
    from ingest.commands.bench import print_figures
    from simulator.load import load_fleet

    prefix = f"bench-ingest-{os.getpid()}"
    settings_cfg = args.settings
    figures: dict[str, Any] = {"uplinks published": args.count, "devices": args.devices,
                               "format": args.format, "publish rate": args.rate or "as fast as acknowledged"}
    with ScratchDatabase(settings_cfg.get("database", "url"), args.database or "beffroi_bench_ingest",
                         keep=args.keep) as db_url, \
            PrivateMosquitto(max_queued=args.count + 10_000) as broker:
        register_devices(db_url, ((d.dev_eui, d.name, d.profile) for d in load_fleet(args.devices)))
        settings = {"database_url": db_url, "mqtt_url": broker.url, "mqtt_client_id": "beffroi-bench-ingest",
                    "mqtt_chirpstack_topic": f"{prefix}/application/+/device/+/event/+", "mqtt_tts_topic": "",
                    "log_level": "WARNING", "retention_uplinks_days": 0, "retention_readings_days": 0,
                    "retention_positions_days": 0, "retention_rejects_days": 0}
        listener = BatchListener(db_url)
        listener.start()
        with ServiceProcess(settings, workers=args.workers) as service:
            cpu_before = service.cpu_seconds()
            began = time.time()
            published = publish_parallel(broker.url, args.devices, args.count, prefix, args.format, args.rate,
                                          args.publishers)
            publish_s = time.time() - began
            last, last_change = 0, time.monotonic()
            while last < args.count and time.monotonic() - last_change < 30:
                time.sleep(0.5)
                now = count(db_url, "uplinks")
                if now != last:
                    last, last_change = now, time.monotonic()
            time.sleep(0.5)                       # the last notification
            listener.close()
            ended = max((b[0] for b in listener.batches), default=time.time())
            figures["consumer peak RSS MB"] = round(max((hwm for _, hwm in service.memory_mb()), default=0.0), 1)
            figures["consumer CPU us per uplink (all workers)"] = round((service.cpu_seconds() - cpu_before) /
                                                                         max(args.count, 1) * 1e6)
        if args.baseline:
            from ingest.bench.baseline import measure_naive

            naive = measure_naive(broker.url, db_url, devices=args.devices, total=args.count,
                                  prefix=f"{prefix}-naive", fmt=args.format, seed=11, publishers=args.publishers)
        stored = count(db_url, "uplinks")
        readings, positions, rejects = count(db_url, "readings"), count(db_url, "positions"), count(db_url, "rejects")
    seconds = max(ended - began, 1e-9)
    lat = latencies(sorted(published), listener.batches)
    figures.update({
        "publish s": round(publish_s, 2),
        "first publish to last commit s": round(seconds, 2),
        "uplinks/s (stored)": round(stored / seconds),
        "rows/s (readings + positions)": round((readings + positions) / seconds),
        "readings rows": readings, "positions rows": positions, "rejects rows": rejects,
        "latency p50 ms (publish -> commit)": round(_percentile(lat, 0.50) * 1000, 1),
        "latency p99 ms (publish -> commit)": round(_percentile(lat, 0.99) * 1000, 1),
        "latency samples": len(lat),
        "lost (published - stored uplinks)": args.count - stored,
        "workers": args.workers, "publishers": args.publishers, "load average (1 min)": round(os.getloadavg()[0], 2),
    })
    if args.baseline:
        figures.update(naive)
        figures["ratio Beffroi / naive (uplinks/s)"] = round(figures["uplinks/s (stored)"] /
                                                             max(naive["naive uplinks/s"], 1), 2)
    print_figures(f"ingest ({args.count:,} ChirpStack uplinks, {args.format})", figures)
    return 0 if stored == args.count else 1
