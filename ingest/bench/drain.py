"""``beffroi bench ingest --drain``: Beffroi and the naive pipeline each drain the same backlog; rates, ratio, CPU.

In the default mode of ``bench ingest`` the publisher runs while the pipeline consumes; on a 2-core machine a
Python publisher takes about one core, so whichever pipeline needs more than one core is held back by the load
generator, not by itself. Here nothing is published while a pipeline is timed:

1. a private Mosquitto allowed to queue the whole backlog, a scratch database with the load fleet registered;
2. ``beffroi run [--workers N]`` starts once, so that the broker knows its persistent session(s) and
   subscription, and stops (as ``bench backlog`` does);
3. ``--count`` uplinks are published while it is away — the generator and seeds of ``bench ingest`` (publisher
   *k* of ``--publishers`` uses seed 11 + *k*); then ``beffroi run`` starts again and drains them;
4. with ``--baseline``, the naive pipeline (``ingest/bench/naive.py``) the same way: its persistent session
   created first (aiomqtt, a fixed client id, MQTT 3.1.1 ``clean_session`` false), the same messages published
   under its own topic prefix while it is away, then drained in this process.

**One definition of the rate for both**: from the end of the pipeline's first commit to the end of its last,
the uplinks committed in between. Start-up (connecting, the backlog's first batch) is left out on both sides.

* Beffroi: the first and last ``beffroi_batch`` notifications (delivered at commit); uplinks = stored at the end
  − stored when the first notification arrived (counted right then: a commit landing in between is subtracted
  too, which can only lower Beffroi's figure);
* naive: the end of its first ``COPY`` and of its last, uplinks = received − those of the first ``COPY``. Its
  rate as it reports itself (first message → last ``COPY``, every uplink) is printed too.

**CPU per uplink**, over the same window (first commit → end), divided by the same uplinks, from
``/proc/<pid>/stat`` (user + system): the consumer process(es) — for the naive pipeline this process, which
also runs the sampler thread (a pg_stat_activity query and a few /proc reads every 0.5 s); the PostgreSQL
processes working for the scratch database (``pg_stat_activity.datname``: client backends and autovacuum workers,
the bench's own connections excluded), sampled every 0.5 s and once more before the pipeline disconnects, so a
backend that exits in between keeps what it had used at its last sample (only the last < 0.5 s are missed).
Mosquitto's is counted over the whole drain (from before the pipeline connects) per uplink delivered: without
flow control it may push much of the backlog before the first commit.
On plain PostgreSQL the rollup refresher merges the batches' partial aggregates every few seconds, off the
insert path: the CPU is read once it has merged the last of them (``rollup_pending`` empty), so its work on the
backlog is in Beffroi's PostgreSQL figure while the rate, commit to commit, is not held back by it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from ingest.bench.backlog import service_settings
from ingest.bench.harness import (
    CpuMeter,
    PrivateMosquitto,
    ScratchDatabase,
    ServiceProcess,
    database_backends,
    register_devices,
)
from ingest.bench.ingest import BatchListener, publish_parallel

__all__ = ["run_drain"]

_SAMPLE_S = 0.5


class _Meters:
    """CPU of the consumers, the scratch database's backends and Mosquitto from ``start()`` on, sampled every
    0.5 s by a thread; reads the database through a connection of its own (excluded with *exclude*)."""

    def __init__(self, db_url: str, consumers: Callable[[], list[int]], broker: PrivateMosquitto,
                 exclude: set[int], *, count_uplinks: bool = True) -> None:
        self.conn = psycopg.connect(db_url, autocommit=True)
        self.consumer_pids = consumers
        self.broker = broker
        self.exclude = exclude
        self.lock = threading.Lock()
        self.consumers, self.backends, self.mosquitto = CpuMeter(), CpuMeter(), CpuMeter()
        self.count_uplinks = count_uplinks
        self.stored_at_start = 0
        self.started = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-cpu")

    def _backend_pids(self) -> list[int]:
        return [pid for pid in database_backends(self.conn) if pid not in self.exclude]

    def start(self) -> None:
        """Take the readings the figures are counted from (and count the uplinks stored so far)."""
        with self.lock:
            self.stored_at_start = self._stored() if self.count_uplinks else 0
            self.consumers.start(self.consumer_pids())
            self.backends.start(self._backend_pids())
        self.started.set()

    def start_broker(self) -> None:
        """Mosquitto is counted from before the pipeline connects: it may push much of the backlog at once."""
        self.mosquitto.start(self.broker.pids())

    def sample(self) -> None:
        with self.lock:
            self.consumers.sample(self.consumer_pids())
            self.backends.sample(self._backend_pids())
            self.mosquitto.sample(self.broker.pids())

    def stored(self) -> int:
        with self.lock:
            return self._stored()

    def _stored(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM uplinks").fetchone()
        return int(row[0]) if row else 0

    def wait_rollups_merged(self, limit_s: float) -> bool:
        """Wait until the rollup refresher has merged every partial aggregate (plain PostgreSQL: ``rollup_pending``
        empty); False after *limit_s*. Its merges are work this backlog caused, so they count in the CPU."""
        deadline = time.monotonic() + limit_s
        with self.lock:
            if self.conn.execute("SELECT to_regclass('rollup_pending')").fetchone() == (None,):
                return True         # TimescaleDB: the continuous aggregates refresh on their own schedule
        while time.monotonic() < deadline:
            with self.lock:
                row = self.conn.execute("SELECT EXISTS (SELECT 1 FROM rollup_pending)").fetchone()
            if row == (False,):
                return True
            time.sleep(0.2)
        return False

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_S):
            if self.started.is_set():
                self.sample()

    def __enter__(self) -> _Meters:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.conn.close()

    def per_uplink_us(self, uplinks: int, delivered: int, prefix: str) -> dict[str, Any]:
        n = max(uplinks, 1)
        return {f"{prefix} CPU us per uplink: consumer process(es)": round(self.consumers.seconds() / n * 1e6),
                f"{prefix} CPU us per uplink: PostgreSQL (scratch database backends)":
                    round(self.backends.seconds() / n * 1e6),
                f"{prefix} CPU us per uplink: Mosquitto (whole drain)":
                    round(self.mosquitto.seconds() / max(delivered, 1) * 1e6)}


def _publish(args: argparse.Namespace, broker: PrivateMosquitto, prefix: str) -> float:
    began = time.perf_counter()
    publish_parallel(broker.url, args.devices, args.count, prefix, args.format, 0.0, args.publishers)
    return time.perf_counter() - began


def _drain_beffroi(args: argparse.Namespace, db_url: str, broker: PrivateMosquitto, prefix: str) -> dict[str, Any]:
    service = ServiceProcess(service_settings(db_url, broker.url, prefix, "beffroi-bench-drain"), workers=args.workers)
    with service:                       # the persistent session(s) and subscription, then away
        pass
    print(f"  publishing {args.count:,} uplinks while Beffroi is away", flush=True)
    publish_s = _publish(args, broker, prefix)
    print("  Beffroi draining", flush=True)
    listener = BatchListener(db_url)
    with _Meters(db_url, service.pids, broker, {listener.conn.info.backend_pid}) as meters:
        listener.on_first = meters.start
        listener.start()
        meters.start_broker()
        with service:
            last, last_change = 0, time.monotonic()
            while last < args.count and time.monotonic() - last_change < 30:
                time.sleep(1.0)
                now = meters.stored()
                if now != last:
                    last, last_change = now, time.monotonic()
            time.sleep(0.5)                  # the last notification
            merged = meters.wait_rollups_merged(limit_s=30.0)
            meters.sample()                  # while the consumers and their connections are still there
            peak_rss = max((hwm for _, hwm in service.memory_mb()), default=0.0)
        listener.close()
        stored = meters.stored()
    arrivals = sorted(b[0] for b in listener.batches)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    counted = stored - meters.stored_at_start
    return {
        "publish s (Beffroi's backlog)": round(publish_s, 1),
        "Beffroi uplinks/s (first commit -> last commit)": round(counted / span) if span else 0,
        "Beffroi first commit -> last commit s": round(span, 2),
        "Beffroi uplinks counted (stored after the first commit)": counted,
        "Beffroi commits": len(arrivals),
        "lost (published - stored uplinks)": args.count - stored,
        **meters.per_uplink_us(counted, stored, "Beffroi"),
        "Beffroi rollups merged before the CPU was read": "yes" if merged else "no (refresher behind after 30 s)",
        "Beffroi consumer peak RSS MB (per process)": round(peak_rss, 1),
    }


def _drain_naive(args: argparse.Namespace, db_url: str, broker: PrivateMosquitto, prefix: str) -> dict[str, Any]:
    from ingest.bench.baseline import naive_decoder
    from ingest.bench.naive import NAIVE_TABLE, create_session, prepare_table, run_naive_pipeline

    topic = f"{prefix}/application/+/device/+/event/+"
    identifier = f"beffroi-bench-naive-{os.getpid()}"
    prepare_table(db_url)
    asyncio.run(create_session(broker.url, topic, identifier))
    print(f"  publishing {args.count:,} uplinks while the naive pipeline is away", flush=True)
    publish_s = _publish(args, broker, prefix)
    decode = naive_decoder(args.devices)
    print("  naive pipeline draining", flush=True)
    with _Meters(db_url, lambda: [os.getpid()], broker, set(), count_uplinks=False) as meters:
        meters.start_broker()
        result = asyncio.run(run_naive_pipeline(broker.url, db_url, topic, args.count, decode, identifier=identifier,
                                                on_first_commit=meters.start, on_done=meters.sample))
        row = meters.conn.execute(f"SELECT count(*) FROM {NAIVE_TABLE}").fetchone()    # noqa: S608 - constant
    counted = result.uplinks - result.first_commit_uplinks
    return {
        "publish s (naive's backlog)": round(publish_s, 1),
        "naive uplinks/s (first commit -> last commit)": round(result.after_first_commit_per_s),
        "naive first commit -> last commit s": round(result.seconds - result.first_commit_s, 2),
        "naive uplinks counted (received after the first commit)": counted,
        "naive uplinks/s (first message -> last COPY, as it reports)": round(result.uplinks_per_s),
        "naive lost (published - received)": args.count - result.uplinks,
        "naive rows stored": int(row[0]) if row else 0,
        **meters.per_uplink_us(counted, result.uplinks, "naive"),
        "naive peak RSS MB": round(result.peak_rss_mb, 1),
    }


def run_drain(args: argparse.Namespace) -> int:
    """``bench ingest --drain`` (see the module docstring)."""
    from ingest.commands.bench import print_figures
    from simulator.load import load_fleet

    prefix = f"bench-drain-{os.getpid()}"
    figures: dict[str, Any] = {"mode": "drain (published while the pipelines were away)",
                               "uplinks published (each pipeline)": args.count, "devices": args.devices,
                               "format": args.format, "workers": args.workers, "publishers": args.publishers}
    with ScratchDatabase(args.settings.get("database", "url"), args.database or "beffroi_bench_drain",
                         keep=args.keep) as db_url, \
            PrivateMosquitto(max_queued=args.count + 10_000) as broker:
        register_devices(db_url, ((d.dev_eui, d.name, d.profile) for d in load_fleet(args.devices)))
        figures.update(_drain_beffroi(args, db_url, broker, prefix))
        if args.baseline:
            figures.update(_drain_naive(args, db_url, broker, f"{prefix}-naive"))
    if args.baseline:
        figures["ratio Beffroi / naive (uplinks/s, first commit -> last commit)"] = round(
            figures["Beffroi uplinks/s (first commit -> last commit)"] /
            max(figures["naive uplinks/s (first commit -> last commit)"], 1), 2)
    figures["load average (1 min)"] = round(os.getloadavg()[0], 2)
    print_figures(f"ingest drain ({args.count:,} ChirpStack uplinks, {args.format})", figures)
    lost = figures["lost (published - stored uplinks)"] + figures.get("naive lost (published - received)", 0)
    return 0 if lost == 0 else 1
