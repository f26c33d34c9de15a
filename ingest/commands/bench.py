"""``beffroi bench <what>``: benchmarks that print figures as a table plus one machine-readable JSON line.

Each benchmark is a module in ``ingest/bench/`` with ``register(subparsers)``; speed is measured here, never
asserted by timed tests."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Mapping
from typing import Any

BENCH_MODULES: tuple[str, ...] = (
    "ingest.bench.ingest",
    "ingest.bench.decode",
    "ingest.bench.alerts",
    "ingest.bench.queries",
    "ingest.bench.backlog",
    "ingest.bench.memory",
    "ingest.bench.receive",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print its figures")
    bench_sub = p.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    for name in BENCH_MODULES:
        importlib.import_module(name).register(bench_sub)


def print_figures(title: str, figures: Mapping[str, Any]) -> None:
    """Print a two-column table, then the same figures as one JSON line (prefixed ``BENCH``)."""
    width = max(len(k) for k in figures) if figures else 0
    print(title)
    print("-" * max(len(title), width + 20))
    for key, value in figures.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    print("BENCH " + json.dumps({"benchmark": title, **figures}, default=str))
