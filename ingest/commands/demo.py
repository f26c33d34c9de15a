"""``beffroi demo``: run the whole system on local (or embedded) services with simulated fleets."""

from __future__ import annotations

import argparse
from pathlib import Path

from ingest.demo import DemoOptions, run_demo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run Beffroi end to end on simulated fleets (see README)")
    p.add_argument("--workdir", default="var/demo", help="where logs, captured e-mails and SMS go (default var/demo)")
    p.add_argument("--database", default="beffroi_demo", help="database created (dropped first) for the demo")
    p.add_argument("--http-listen", default="127.0.0.1:8080", help="address of the API and pages")
    p.add_argument("--topic-prefix", default="beffroi-demo", help="MQTT topic prefix of the simulated traffic")
    p.add_argument("--speed", default="max", help="simulation speed (default: as fast as the broker takes it)")
    p.add_argument("--exit-when-done", action="store_true", help="stop after the scenarios instead of waiting")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_demo(DemoOptions(Path(args.workdir), database=args.database, http_listen=args.http_listen,
                                topic_prefix=args.topic_prefix, speed=args.speed,
                                exit_when_done=args.exit_when_done))
