"""The query benchmark's data set: loaded by binary COPY, rollups equal to the writer's SQL, panels runnable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.bench.dataset import FAMILIES, fleet
from ingest.bench.loader import check_rollups, load_dataset
from ingest.bench.queries import panel_queries, server_times, time_query, wire_times


def test_fleet_splits_devices_over_families_with_unique_euis() -> None:
    members = fleet(1000)
    assert {f.name: len(members[f.name]) for f in FAMILIES} == {"co2": 250, "tracker": 50, "flood": 200, "bin": 500}
    euis = [d.dev_eui for devs in members.values() for d in devs]
    assert len(set(euis)) == 1000 and all(len(e) == 16 for e in euis)


def test_loaded_history_matches_its_schedule_and_rollups_match_the_writer_sql(db_url: str) -> None:
    end = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)        # a Monday: school hours are in the window
    with psycopg.connect(db_url, autocommit=True) as conn:
        stats = load_dataset(conn, db_url, devices=40, days=1, end=end, progress=lambda _line: None)
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()
        positions = conn.execute("SELECT count(*), count(DISTINCT dev_eui) FROM positions").fetchone()
        span = conn.execute("SELECT min(time), max(time) FROM readings").fetchone()
        per_room = conn.execute("SELECT count(*) FROM readings WHERE dev_eui = 'be01000000000000' "
                                "AND quantity = 'co2'").fetchone()
        occupied = conn.execute("SELECT max(value) FROM readings WHERE quantity = 'occupancy'").fetchone()
        compared = check_rollups(conn, samples=8)
    assert readings is not None and readings[0] == stats.readings > 0
    assert positions == (stats.positions, 2)                    # 5 % of 40 devices are collars
    assert span is not None and end - timedelta(days=1) <= span[0] and span[1] <= end
    assert per_room == (144,)                                   # every 10 minutes for a day
    assert occupied == (1.0,)
    assert compared > 100


def test_every_benchmarked_panel_runs_on_the_loaded_data(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        load_dataset(conn, db_url, devices=40, days=2, progress=lambda _line: None)
        queries = panel_queries(datetime.now(UTC))
        rows = {title: time_query(conn, query, 1)[1] for _uid, title, query in queries}
        co2_week = next(query for _uid, title, query in queries if title.startswith("CO2 per room [A] 7d"))
        in_server = server_times(conn, co2_week, 3)
        received = wire_times(conn, co2_week, 3)
        with pytest.raises(psycopg.Error, match="no_such_table"):
            wire_times(conn, "SELECT * FROM no_such_table", 1)
    # the CO2 panel follows the range (a day, a week, 30 days); the panels that follow the interval alone are
    # timed at the rollups' intervals too
    assert {title.split("] ")[1].split(" @")[0] for title in rows if title.startswith("CO2 per room")} >= {"1d", "7d"}
    assert any("@15m" in title for title in rows) and any("@1h" in title for title in rows)
    assert next(n for title, n in rows.items() if title.startswith("CO2 per room")) > 0
    assert next(n for title, n in rows.items() if title.startswith("Positions now [A]")) == 2
    assert len(in_server) == 3 and all(0 < t < 60_000 for t in in_server)      # ms, read from the server's plan
    assert len(received) == 3 and all(0 < t < 60_000 for t in received)
