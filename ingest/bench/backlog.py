"""``beffroi bench backlog``: a persistent session's backlog drained at the sustained rate, memory bounded.

1. a private Mosquitto allowed to queue the whole backlog (``max_queued_messages``; the default 1 000 would drop
   the rest silently), a scratch database with the simulator's load fleet registered;
2. ``beffroi run`` starts once, so that the broker knows its persistent session and subscription, and stops;
3. ``--count`` realistic ChirpStack uplinks (default one million) are published at QoS 1 while it is away;
4. ``beffroi run`` starts again and drains the backlog; its resident memory is sampled from ``/proc`` meanwhile.

Why memory stays bounded: Beffroi acknowledges only after commit, and when its in-process queue holds
``ingest.queue_max_uplinks`` messages it stops reading the socket; TCP flow control then holds the broker back.
MQTT v5 Receive Maximum would be the first fence, but Mosquitto 2.0.11 was measured sending past it (see the
ingest commit 9c76bb7), so the queue is the bound: queue + one batch filling + one committing, whatever the size
of the backlog waiting in the broker.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

from ingest.bench.harness import PrivateMosquitto, ScratchDatabase, ServiceProcess, count, register_devices

__all__ = ["register", "run", "publish_load"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backlog", help="drain a broker-held backlog; print the rate and the peak memory")
    p.add_argument("--count", type=int, default=1_000_000, help="uplinks queued while Beffroi is away (1 000 000)")
    p.add_argument("--devices", type=int, default=1000, help="simulated devices (default 1000)")
    p.add_argument("--workers", type=int, default=1, help="consumer processes (beffroi run --workers N)")
    p.add_argument("--database", default="beffroi_bench_backlog", help="scratch database (dropped at the end)")
    p.set_defaults(func=run)


def publish_load(url: str, devices: int, total: int, *, prefix: str, seed: int = 7) -> float:
    """Publish *total* load-mode uplinks at QoS 1 as fast as the broker acknowledges; return the seconds taken."""
    from simulator.load import LoadGenerator, LoadPlan
    from simulator.publish import Publisher

    generator = LoadGenerator(LoadPlan(devices=devices, rate=float("inf"), duration_s=3600, topic_prefix=prefix,
                                       seed=seed))
    began = time.perf_counter()
    with Publisher(url, client_id=f"beffroi-bench-pub-{os.getpid()}", max_inflight=1000) as pub:
        for _ in range(total):
            topic, payload = generator.next(time.time())
            pub.publish(topic, payload)
    return time.perf_counter() - began


def service_settings(db_url: str, mqtt_url: str, prefix: str, client_id: str) -> dict[str, Any]:
    return {"database_url": db_url, "mqtt_url": mqtt_url, "mqtt_client_id": client_id,
            "mqtt_chirpstack_topic": f"{prefix}/application/+/device/+/event/+", "mqtt_tts_topic": "",
            "mqtt_session_expiry_s": 3600, "log_level": "WARNING",
            "retention_uplinks_days": 0, "retention_readings_days": 0, "retention_positions_days": 0,
            "retention_rejects_days": 0}


class _Sampler:
    """Samples the consumers' resident memory every 0.2 s in a thread; keeps the maximum of their sum."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.peak_total = 0.0
        self.peak_each = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = [now for now, _ in self.service.memory_mb()]
            if rss:
                self.peak_total = max(self.peak_total, sum(rss))
                self.peak_each = max(self.peak_each, max(rss))
            self._stop.wait(0.2)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(args: argparse.Namespace) -> int:
    from ingest.commands.bench import print_figures
    from simulator.load import load_fleet

    prefix = f"bench-backlog-{os.getpid()}"
    figures: dict[str, Any] = {"backlog uplinks": args.count, "devices": args.devices, "workers": args.workers}
    queue_max = args.settings.get("ingest", "queue_max_uplinks")
    with ScratchDatabase(args.settings.get("database", "url"), args.database) as db_url, \
            PrivateMosquitto(max_queued=args.count + 10_000) as broker:
        register_devices(db_url, ((d.dev_eui, d.name, d.profile) for d in load_fleet(args.devices)))
        settings = service_settings(db_url, broker.url, prefix, "beffroi-backlog")
        service = ServiceProcess(settings, workers=args.workers)
        with service:                       # the persistent session(s) and subscription, then away
            figures["consumer RSS idle MB"] = round(max(now for now, _ in service.memory_mb()), 1)
        print(f"  publishing {args.count:,} uplinks while Beffroi is away", flush=True)
        seconds = publish_load(broker.url, args.devices, args.count, prefix=prefix)
        figures["publish s"] = round(seconds, 1)
        figures["Mosquitto QoS 1 publish msg/s (one publisher)"] = round(args.count / seconds)
        figures["broker RSS holding the backlog MB"] = round(broker.rss_mb(), 1)
        print("  draining", flush=True)
        began = time.perf_counter()
        last, last_change = 0, began
        with service, _Sampler(service) as sampler:
            while True:
                time.sleep(1.0)
                done = count(db_url, "uplinks")
                now = time.perf_counter()
                if done != last:
                    last, last_change = done, now
                if done >= args.count or now - last_change > 60:
                    break
            drained = now - began
            peak_hwm = max((hwm for _, hwm in service.memory_mb()), default=0.0)
        figures["drain s (start to last row)"] = round(drained, 1)
        figures["drain uplinks/s"] = round(last / drained)
        figures["readings rows"] = count(db_url, "readings")
        figures["drain readings rows/s"] = round(figures["readings rows"] / drained)
        figures["lost (published - stored uplinks)"] = args.count - last
        figures["consumer peak RSS MB (sampled, per process)"] = round(sampler.peak_each, 1)
        figures["consumer peak RSS MB (VmHWM, per process)"] = round(peak_hwm, 1)
        figures["bound"] = (f"ingest.queue_max_uplinks = {queue_max} queued messages per process + a batch "
                            f"filling and a batch committing (ingest.batch_max_rows = "
                            f"{args.settings.get('ingest', 'batch_max_rows')} each) + socket buffers; "
                            "independent of the backlog")
    print_figures(f"backlog ({args.count:,} uplinks queued in a persistent session)", figures)
    return 0
