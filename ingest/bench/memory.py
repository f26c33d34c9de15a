"""``beffroi bench memory``: resident memory of one ``beffroi run`` process with 10 000 registered devices and
their rule state.

A scratch database gets ``--devices`` devices of the simulator's load fleet (every family), a rules directory with
rules that select every device (thresholds per family, battery, no data, rate of change, a forecast), and then
``--uplinks`` uplinks per device go through the broker, so that every device has been looked up, decoded and
evaluated, and every rule has state. The process's resident memory is read from ``/proc`` (VmRSS now, VmHWM
peak) after start-up, after the traffic, and after a few rules ticks.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest.bench.backlog import publish_load, service_settings
from ingest.bench.harness import PrivateMosquitto, ScratchDatabase, ServiceProcess, count, register_devices

__all__ = ["register", "run", "RULES"]

RULES = """
contacts: [{id: astreinte, name: Astreinte, email: astreinte@bench.test}]
escalations: [{id: e, levels: [{notify: [{contact: astreinte}]}]}]
routes: [{id: r, escalation: e, repeat: never}]
rules:
  - {id: co2, title: CO2, kind: threshold, route: r, select: {family: co2},
     params: {quantity: co2, above: 1500, clear: 1200}}
  - {id: crue, title: Crue, kind: threshold, route: r, select: {family: flood},
     params: {quantity: water_level, above: 2.5, clear: 2.2}}
  - {id: montee, title: Montee, kind: rate_of_change, route: r, select: {family: flood},
     params: {quantity: water_level, rise: 0.2, within: 15m, clear: 0.05}}
  - {id: plein, title: Bac plein, kind: forecast, route: r, select: {family: bin},
     params: {quantity: distance, reaches: 150, within: 24h, direction: falling}}
  - {id: pile, title: Pile faible, kind: battery_low, route: r, params: {quantity: battery, below: 10, clear: 20}}
  - {id: muet, title: Muet, kind: no_data, route: r, params: {periods: 3}}
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("memory", help="resident memory of beffroi run with many devices and their rule state")
    p.add_argument("--devices", type=int, default=10_000, help="registered devices (default 10 000)")
    p.add_argument("--uplinks", type=int, default=2, help="uplinks per device sent through the broker (default 2)")
    p.add_argument("--database", default="beffroi_bench_memory", help="scratch database (dropped at the end)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ingest.commands.bench import print_figures
    from simulator.load import load_fleet

    total = args.devices * args.uplinks
    prefix = f"bench-memory-{os.getpid()}"
    figures: dict[str, Any] = {"devices": args.devices, "uplinks": total}
    with ScratchDatabase(args.settings.get("database", "url"), args.database) as db_url, \
            PrivateMosquitto(max_queued=total + 10_000) as broker, tempfile.TemporaryDirectory() as rules:
        (Path(rules) / "bench.yaml").write_text(RULES)
        register_devices(db_url, ((d.dev_eui, d.name, d.profile) for d in load_fleet(args.devices)))
        settings = service_settings(db_url, broker.url, prefix, "beffroi-memory")
        settings.update(rules_dir=rules, rules_tick_s=2, ingest_device_refresh_s=5)
        with ServiceProcess(settings) as service:
            figures["RSS after start-up MB"] = round(service.memory_mb()[0][0], 1)
            publish_load(broker.url, args.devices, total, prefix=prefix)
            deadline = time.monotonic() + 600
            while count(db_url, "uplinks") < total and time.monotonic() < deadline:
                time.sleep(1.0)
            figures["uplinks stored"] = count(db_url, "uplinks")
            figures["RSS after every device was seen MB"] = round(service.memory_mb()[0][0], 1)
            time.sleep(10)                 # several rules ticks and a device directory reload
            rss, hwm = service.memory_mb()[0]
            figures["RSS after rules ticks and a directory reload MB"] = round(rss, 1)
            figures["peak RSS (VmHWM) MB"] = round(hwm, 1)
            figures["alerts open"] = count(db_url, "alerts")
    figures["target"] = "< 300 MB per process"
    print_figures(f"memory ({args.devices:,} devices, rules on every device, one process)", figures)
    return 0
