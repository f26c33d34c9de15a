"""The resolution follows the panel interval and the time range: raw readings, then readings_15m, then readings_1h."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from dashboards.boards import air_quality, fleet, flood, waste
from dashboards.macros import grafana_interval
from dashboards.sql import source_for
from tests.dashboards.support import boards, run

CO2 = air_quality._series("co2", "co2")
FULL_WIDTH_PX = 1850          # maxDataPoints of a full-width panel on a 1920-pixel screen
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def _rows(conn: psycopg.Connection, span: timedelta, interval: timedelta) -> int:
    return len(run(conn, CO2, boards()[air_quality.UID], span=span, interval=interval).rows)


def _ms(delta: timedelta) -> float:
    return delta / timedelta(milliseconds=1)


@pytest.mark.parametrize(("span", "interval", "source"), [
    (6 * HOUR, timedelta(minutes=1), "readings"),
    (DAY, timedelta(minutes=10), "readings"),
    (DAY, timedelta(minutes=15), "readings_15m"),           # the interval alone
    (DAY + timedelta(seconds=1), timedelta(minutes=1), "readings_15m"),
    (2 * DAY, timedelta(minutes=2), "readings_15m"),         # Flood's default range keeps quarter-hours
    (2 * DAY, HOUR, "readings_1h"),
    (2 * DAY + timedelta(seconds=1), timedelta(minutes=2), "readings_1h"),
    (7 * DAY, timedelta(minutes=5), "readings_1h"),          # the week Grafana asks at 5 minutes
    (365 * DAY, timedelta(hours=5), "readings_1h"),
])
def test_the_coarser_of_range_and_interval_picks_the_source(span: timedelta, interval: timedelta,
                                                            source: str) -> None:
    assert source_for(span.total_seconds(), _ms(interval)) == source


@pytest.mark.parametrize(("span", "interval"), [
    (DAY, timedelta(minutes=1)), (DAY, timedelta(minutes=30)), (2 * DAY, timedelta(minutes=2)),
    (2 * DAY, timedelta(hours=2)), (7 * DAY, timedelta(minutes=5)),
])
def test_the_sql_reads_the_source_its_guards_promise(scenario_db: psycopg.Connection, span: timedelta,
                                                     interval: timedelta) -> None:
    # empty every source but the promised one: the panel must still draw, and draw nothing without it
    promised = source_for(span.total_seconds(), _ms(interval))
    with scenario_db.transaction(force_rollback=True):
        for table in {"readings", "readings_15m", "readings_1h"} - {promised}:
            scenario_db.execute(f"DELETE FROM {table} WHERE quantity = 'co2'")  # noqa: S608 (constant names)
        assert _rows(scenario_db, span, interval) > 0
        scenario_db.execute(f"DELETE FROM {promised} WHERE quantity = 'co2'")  # noqa: S608
        assert _rows(scenario_db, span, interval) == 0


@pytest.mark.parametrize("span", [6 * HOUR, DAY, 2 * DAY, 7 * DAY, 30 * DAY])
def test_a_full_width_panel_reads_at_most_a_day_of_minutes_per_series(span: timedelta) -> None:
    # rows read per series: one per reading for raw rows (the fleet's most frequent sensors report every 10
    # minutes; counted here at one a minute), one per bucket from a rollup
    interval = grafana_interval(span, FULL_WIDTH_PX)
    width = {"readings": timedelta(minutes=1), "readings_15m": timedelta(minutes=15), "readings_1h": HOUR}[
        source_for(span.total_seconds(), _ms(interval))]
    assert span / width <= 1440


def test_a_day_of_co2_keeps_its_class_period_peaks() -> None:
    # a 50-minute lesson must stand out: the source of a day view is finer than half of it
    interval = grafana_interval(DAY, FULL_WIDTH_PX)
    assert source_for(DAY.total_seconds(), _ms(interval)) in ("readings", "readings_15m")


def test_short_ranges_read_raw_rows_and_long_ranges_the_rollups() -> None:
    # what Grafana picks for a full-width panel, and the source that follows
    picked = {span: source_for(span.total_seconds(), _ms(grafana_interval(span, FULL_WIDTH_PX)))
              for span in (DAY, 2 * DAY, 7 * DAY, 30 * DAY)}
    assert picked == {DAY: "readings", 2 * DAY: "readings_15m", 7 * DAY: "readings_1h", 30 * DAY: "readings_1h"}


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


def test_a_week_at_grafanas_interval_draws_the_hourly_means_of_the_raw_readings(
        scenario_db: psycopg.Connection) -> None:
    # the range alone sends a 5-minute week to readings_1h: one point per hour, the mean of that hour's readings
    result = run(scenario_db, CO2, boards()[air_quality.UID], interval=timedelta(minutes=5), span=7 * DAY,
                 selected={"room": ("00000000000c0102",)})
    shown = {float(t): v for t, _, v in result.rows}
    raw: dict[float, float] = dict(scenario_db.execute(
        """SELECT floor(extract(epoch FROM time) / 3600) * 3600, avg(value) FROM readings
           WHERE dev_eui = '00000000000c0102' AND quantity = 'co2' AND time > now() - interval '7 days'
           GROUP BY 1""").fetchall())
    interior = sorted(shown)[1:-1]
    assert len(interior) > 24 * 6
    assert all(t % 3600 == 0 for t in shown)
    for bucket in interior:
        assert abs(shown[bucket] - raw[bucket]) < 1e-6, bucket


@pytest.mark.parametrize(("uid", "sql"), [
    (air_quality.UID, CO2),
    (waste.UID, waste.HISTORY_SQL),
    (flood.UID, flood.RISE_SQL),
    (fleet.UID, fleet.BATTERY_HISTORY_SQL),
])
def test_per_device_series_group_their_names_bytewise(scenario_db: psycopg.Connection, uid: str, sql: str) -> None:
    # hundreds of rows share each timestamp: a linguistic collation would compare their names with strcoll
    plan = run(scenario_db, "EXPLAIN (VERBOSE, COSTS OFF)\n" + sql, boards()[uid], span=7 * DAY,
               interval=timedelta(minutes=5)).column("QUERY PLAN")
    keys = [line for line in plan if "Group Key:" in line or "Sort Key:" in line]
    assert any('COLLATE "C"' in line and ("name" in line or "room" in line) for line in keys), "\n".join(plan)
