"""The resolution follows the panel interval: raw readings, then readings_15m, then readings_1h."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from dashboards.boards import air_quality
from dashboards.macros import grafana_interval
from tests.dashboards.support import boards, run

CO2 = air_quality._series("co2", "co2")


def _rows(conn: psycopg.Connection, interval: timedelta) -> int:
    return len(run(conn, CO2, boards()[air_quality.UID], interval=interval).rows)


def test_each_interval_reads_its_own_source(scenario_db: psycopg.Connection) -> None:
    with scenario_db.transaction(force_rollback=True):
        scenario_db.execute("DELETE FROM readings WHERE quantity = 'co2'")
        assert _rows(scenario_db, timedelta(minutes=1)) == 0
        assert _rows(scenario_db, timedelta(minutes=30)) > 0
        assert _rows(scenario_db, timedelta(hours=2)) > 0
        scenario_db.execute("DELETE FROM readings_15m WHERE quantity = 'co2'")
        assert _rows(scenario_db, timedelta(minutes=30)) == 0
        assert _rows(scenario_db, timedelta(hours=2)) > 0


def test_short_ranges_read_raw_rows_and_long_ranges_the_rollups() -> None:
    # what Grafana picks for a ~1000 px wide panel: raw up to about a week, hourly beyond a month
    assert grafana_interval(timedelta(hours=24)) < timedelta(minutes=15)
    assert grafana_interval(timedelta(days=7)) < timedelta(minutes=15)
    assert timedelta(minutes=15) <= grafana_interval(timedelta(days=14)) < timedelta(hours=1)
    assert grafana_interval(timedelta(days=90)) >= timedelta(hours=1)


def test_rollup_means_weigh_buckets_by_their_reading_count(scenario_db: psycopg.Connection) -> None:
    # 30-minute means drawn from 15-minute rollups equal the means of the raw readings in the same half-hours
    result = run(scenario_db, CO2, boards()[air_quality.UID], interval=timedelta(minutes=30),
                 span=timedelta(days=2), selected={"room": ("00000000000c0102",)})
    shown = {float(t): v for t, _, v in result.rows}
    raw: dict[float, float] = dict(scenario_db.execute(
        """SELECT floor(extract(epoch FROM time) / 1800) * 1800, avg(value) FROM readings
           WHERE dev_eui = '00000000000c0102' AND quantity = 'co2' AND time > now() - interval '2 days'
           GROUP BY 1""").fetchall())
    interior = sorted(shown)[1:-1]   # the edge buckets may be cut by the range
    assert len(interior) > 50
    for bucket in interior:
        assert abs(shown[bucket] - raw[bucket]) < 1e-6, bucket
