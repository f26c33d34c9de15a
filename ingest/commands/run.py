"""``beffroi run``: the ingest service (MQTT → decode → PostgreSQL, HTTP API, metrics, rules engine)."""

from __future__ import annotations

import argparse
import asyncio

from ingest.service import run_service


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the ingest service until SIGINT/SIGTERM")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_service(args.settings))
