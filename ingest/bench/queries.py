"""``beffroi bench queries``: the dashboards' heaviest panels timed on a simulated history.

A dedicated database (``--database``, dropped and recreated unless ``--reuse``) is migrated and filled with
``--days`` of data for ``--devices`` devices (``ingest/bench/dataset.py``). Then every SQL panel of the Air quality
board (over its default range, a week: 250 rooms for 1 000 devices) and of the Flocks board (a day: 50 collars) is
expanded exactly as Grafana would send it — template variables at *All*, ``$__interval`` from the time range and
the panel's width in pixels on a 1920-pixel screen, macros by ``dashboards.macros`` — and run ``--repeat`` times,
in a session with the settings of the role Grafana reads with (``GRAFANA_ROLE``);
p50/p95, rows and the tables the plan reads are printed per panel. The CO2 panel is also timed over a day and 30
days. The Flocks track panel is repeated per flock in Grafana; it is timed with all flocks at once (50
collars), its heaviest form. The schema is that of ``beffroi migrate`` (the loader rebuilds the keys and indexes
the migrations defined). Each panel is timed three ways: end to end, every row fetched into Python objects by
psycopg ("p50 ms"; for tens of thousands of rows most of the client's part is Python's); until libpq has received
every row, nothing converted ("rows received"; the server's work, its text output and the transfer: what Grafana
waits for before its own decoding); and in the server alone (``EXPLAIN (ANALYZE, TIMING OFF)``: no row leaves it).

Plain PostgreSQL only: TimescaleDB is not installed on this machine, so its continuous aggregates are not measured
here (the rollups are the plain-PostgreSQL tables Beffroi maintains).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import pq, sql

from ingest.migrate import migrate

__all__ = ["register", "run", "panel_queries", "server_times", "time_query", "sources", "wire_times"]

BOARDS = (("beffroi-air-quality", timedelta(days=7)), ("beffroi-flocks", timedelta(days=1)))
# the heaviest panel, also timed over the ranges around its default week (at Grafana's interval for each)
OTHER_SPANS = {("beffroi-air-quality", "CO2 per room"): (timedelta(days=1), timedelta(days=30))}
SCREEN_PX = 1850            # usable width of a 1920-pixel screen: Grafana's maxDataPoints is the panel width
ROLLUP_INTERVALS = (timedelta(minutes=15), timedelta(hours=1))
SOURCES = ("readings", "readings_15m", "readings_1h", "positions")

# The session settings of the role Grafana reads with (docker/timescaledb/initdb/10-beffroi.sh, docs/deployment.md
# "The Grafana role"); on plain PostgreSQL migration 0060 already turns JIT off for the database.
GRAFANA_ROLE = ("SET work_mem = '64MB'", "SET jit = off")

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queries", help="time the heaviest dashboard panels on simulated history")
    p.add_argument("--devices", type=int, default=1000, help="simulated devices (default 1000)")
    p.add_argument("--days", type=float, default=30.0,
                   help="days of history (default 30, a few minutes here; 365 for the issue's year, ~25 min)")
    p.add_argument("--repeat", type=int, default=20, help="runs per panel (default 20)")
    p.add_argument("--database", default="beffroi_bench_queries", help="database to (re)create for the data")
    p.add_argument("--reuse", action="store_true", help="keep the data already loaded in --database")
    p.add_argument("--drop", action="store_true", help="drop the database at the end (it can take GBs)")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=run)


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _prepare(admin_url: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Create and fill the database; return the load figures."""
    name = args.database
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and args.reuse:
            return {}
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    from ingest.bench.loader import check_rollups, load_dataset

    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, "postgresql")
        began = time.perf_counter()
        stats = load_dataset(conn, url, devices=args.devices, days=args.days, seed=args.seed,
                             progress=lambda line: print(line, flush=True))
        total = time.perf_counter() - began
        checked = check_rollups(conn)
    rows = stats.readings + stats.positions + stats.rollup_rows
    return {"load s": round(total, 1), "generate s": round(stats.generate_s, 1), "copy s": round(stats.copy_s, 1),
            "copy rows/s (4 connections, no index)": round(rows / stats.copy_s) if stats.copy_s else 0,
            "index + vacuum s": round(stats.index_s, 1), "rollup buckets checked against SQL": checked}


def panel_queries(now: datetime) -> list[tuple[str, str, str]]:
    """(board uid, panel label, SQL as PostgreSQL receives it) for the benchmarked boards' SQL panels.

    A panel whose SQL chooses its source by ``$__interval`` alone is also timed at 15 minutes and one hour (when its
    automatic interval is finer), the intervals at which it reads the rollups; the panels of ``OTHER_SPANS`` are
    also timed over those ranges, at their automatic interval."""
    from dashboards.build import render_all
    from dashboards.grafana import POSTGRES
    from dashboards.macros import ALL, TimeRange, Variable, expand, grafana_interval

    boards = render_all()
    out = []
    for uid, span in BOARDS:
        board = boards[uid]
        variables = {v["name"]: Variable(v["name"], (ALL,), bool(v.get("multi")), bool(v.get("includeAll")),
                                         v.get("allValue")) for v in board.get("templating", {}).get("list", [])}
        for panel in board.get("panels", []):
            width_px = panel.get("gridPos", {}).get("w", 24) * SCREEN_PX // 24
            auto = grafana_interval(span, panel.get("maxDataPoints") or width_px)
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") != POSTGRES:
                    continue
                runs = [(span, auto)]
                if "$__interval" in target["rawSql"] and "$__unixEpochFrom()" not in target["rawSql"]:
                    runs += [(span, i) for i in ROLLUP_INTERVALS if i > auto]
                runs += [(other, grafana_interval(other, panel.get("maxDataPoints") or width_px))
                         for other in OTHER_SPANS.get((uid, panel["title"]), ())]
                for run_span, interval in runs:
                    # the provisioned data source has the TimescaleDB flag on both flavours (dashboards/provision.py)
                    query = expand(target["rawSql"], time_range=TimeRange.last(run_span, now), interval=interval,
                                   variables=variables, timescaledb=True)
                    label = f"{panel['title']} [{target['refId']}] {_span(run_span)} @{_span(interval)}"
                    out.append((uid, label, query))
    return out


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _runs(measure: Callable[[], float], repeat: int, budget_s: float) -> list[float]:
    """*measure()* (it returns ms) at most *repeat* times, fewer (at least 3) when they exceed *budget_s* in all."""
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < repeat and (len(times) < 3 or time.perf_counter() < deadline):
        times.append(measure())
    return times


def _elapsed_ms(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def time_query(conn: psycopg.Connection, query: str, repeat: int, budget_s: float = 30.0) -> tuple[list[float], int]:
    """Run times (ms) of *query* fetching every row, after one warm-up run, and its row count.

    At most *repeat* runs, fewer (at least 3) when they exceed *budget_s* in all."""
    rows = len(conn.execute(query).fetchall())
    return _runs(lambda: _elapsed_ms(lambda: conn.execute(query).fetchall()), repeat, budget_s), rows


def wire_times(conn: psycopg.Connection, query: str, repeat: int, budget_s: float = 30.0) -> list[float]:
    """Times (ms) until libpq holds every row of *query* (text format): the server's work, its output functions
    and the transfer, without turning the rows into Python objects. What any client waits for before its own
    decoding (Grafana's is Go's, not measurable here). Runs as ``time_query`` counts them. *conn* must be in
    autocommit mode: the statement goes to libpq directly, past psycopg's transaction bookkeeping."""
    if not conn.autocommit:
        raise ValueError("wire_times needs an autocommit connection")

    def receive() -> None:
        result = conn.pgconn.exec_(query.encode())
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise psycopg.OperationalError((result.error_message or b"").decode(errors="replace"))

    return _runs(lambda: _elapsed_ms(receive), repeat, budget_s)


def server_times(conn: psycopg.Connection, query: str, repeat: int, budget_s: float = 30.0) -> list[float]:
    """Execution times (ms) of *query* in the server alone, rows produced but not sent: ``EXPLAIN (ANALYZE,
    TIMING OFF)``, which skips the per-node clocks that would inflate it. Runs as ``time_query`` counts them."""
    explain = b"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + query.encode()

    def execution_ms() -> float:
        plan = conn.execute(explain).fetchone()[0]  # type: ignore[index]
        return float(plan[0]["Execution Time"])

    return _runs(execution_ms, repeat, budget_s)


def sources(conn: psycopg.Connection, query: str) -> list[str]:
    """The time-series tables *query* reads, from its plan: branches PostgreSQL discards (a constant-false guard)
    do not appear in it."""
    plan = conn.execute(b"EXPLAIN (FORMAT JSON) " + query.encode()).fetchone()[0]  # type: ignore[index]
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if node.get("One-Time Filter") == "false":
            return
        if node.get("Relation Name") in SOURCES:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return sorted(found)


def _volume(conn: psycopg.Connection) -> dict[str, Any]:
    def one(q: str) -> Any:
        row = conn.execute(q).fetchone()
        return row[0] if row else None

    return {
        "devices": one("SELECT count(*) FROM devices"),
        "readings rows": one("SELECT count(*) FROM readings"),
        "positions rows": one("SELECT count(*) FROM positions"),
        "readings_15m rows": one("SELECT count(*) FROM readings_15m"),
        "readings_1h rows": one("SELECT count(*) FROM readings_1h"),
        "history from": str(one("SELECT min(time) FROM readings")),
        "history to": str(one("SELECT max(time) FROM readings")),
        "database size": one("SELECT pg_size_pretty(pg_database_size(current_database()))"),
        "readings size (heap+indexes)": one("SELECT pg_size_pretty(pg_total_relation_size('readings'))"),
    }


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]


def _time_panels(conn: psycopg.Connection, repeat: int, figures: dict[str, Any]) -> None:
    worst = 0.0
    for _uid, title, query in panel_queries(datetime.now(UTC)):
        times, rows = time_query(conn, query, repeat)
        p95 = _p95(times)
        figures[f"{title} p50 ms"] = round(statistics.median(times), 1)
        figures[f"{title} p95 ms"] = round(p95, 1)
        on_wire = wire_times(conn, query, repeat)
        figures[f"{title} rows received p50 ms"] = round(statistics.median(on_wire), 1)
        figures[f"{title} rows received p95 ms"] = round(_p95(on_wire), 1)
        in_server = server_times(conn, query, repeat)
        figures[f"{title} server p50 ms"] = round(statistics.median(in_server), 1)
        figures[f"{title} server p95 ms"] = round(_p95(in_server), 1)
        figures[f"{title} rows"] = rows
        figures[f"{title} reads"] = " + ".join(sources(conn, query)) or "-"
        worst = max(worst, p95)
    figures["worst panel p95 ms"] = round(worst, 1)


def run(args: argparse.Namespace) -> int:
    from ingest.commands.bench import print_figures

    server_url = args.settings.get("database", "url")
    admin_url, url = _with_db(server_url, "postgres"), _with_db(server_url, args.database)
    with psycopg.connect(admin_url, autocommit=True) as probe:
        timescale = probe.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    load = _prepare(admin_url, url, args)
    figures: dict[str, Any] = {"storage": "plain PostgreSQL (TimescaleDB not benchmarked)" if timescale
                               else "plain PostgreSQL (TimescaleDB not available here)"}
    figures.update(load)
    with psycopg.connect(url, autocommit=True) as conn:
        figures.update(_volume(conn))
        figures["server"] = conn.execute("SHOW server_version").fetchone()[0]     # type: ignore[index]
        figures["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]  # type: ignore[index]
        figures["jit (database)"] = conn.execute("SHOW jit").fetchone()[0]            # type: ignore[index]
        for statement in GRAFANA_ROLE:
            conn.execute(statement)
        figures["session (Grafana role)"] = ", ".join(s.removeprefix("SET ") for s in GRAFANA_ROLE)
        figures["load average (1 min)"] = round(os.getloadavg()[0], 2)
        _time_panels(conn, args.repeat, figures)
    if args.drop:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.database)))
    print_figures(f"queries ({args.devices} devices, {args.days:g} days, {args.repeat} runs per panel)", figures)
    return 0
