"""``beffroi run``: the ingest service (MQTT → decode → PostgreSQL, HTTP API, metrics, rules engine)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from ingest.service import run_service, settle_gc


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the ingest service until SIGINT/SIGTERM")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="consumer processes on one MQTT shared subscription (default 1; see docs/scaling.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.workers > 1:
        from ingest.workers import run_workers

        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        return run_workers(args.settings, args.workers, level=level)
    return asyncio.run(run_service(args.settings, ready=settle_gc))
