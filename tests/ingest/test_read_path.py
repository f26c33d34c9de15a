"""Migrations 0060 and 0070 (plain PostgreSQL): the dashboards' read path keeps its results and gets its settings."""

from __future__ import annotations

import psycopg
import pytest

from ingest.migrate import migrate

# time_bucket as migration 0030 defined it, in numeric: the reference the date_bin version must match.
NUMERIC_BUCKET = """to_timestamp((946857600 + floor((extract(epoch FROM ts) - 946857600) / extract(epoch FROM w))
                                 * extract(epoch FROM w))::double precision)"""

WIDTHS = ("1 microsecond", "0.001 s", "1 s", "7 s", "59.5 s", "300 s", "900 s", "1 hour", "5400 s",
          "1234.567891 s", "86400 s", "7 days", "27 days 23:59:59.999999")
TIMES = ("2000-01-03 00:00:00+00", "2000-01-02 23:59:59.999999+00", "2000-01-03 00:00:00.000001+00",
         "1999-12-31 23:30:00+00", "1970-01-01 00:00:00+00", "1969-07-20 20:17:40.123456+00",
         "1900-03-01 12:34:56.789+00", "2026-11-23 08:05:07.654321+01", "2038-01-19 03:14:08+00",
         "2099-12-31 23:59:59.999999+00")


def test_time_bucket_keeps_the_buckets_of_the_numeric_version(db: psycopg.Connection) -> None:
    rows = db.execute(
        f"""SELECT w, ts, time_bucket(w, ts), {NUMERIC_BUCKET}
            FROM unnest(%s::interval[]) AS w, unnest(%s::timestamptz[]) AS ts""",  # noqa: S608 (constant)
        (list(WIDTHS), list(TIMES))).fetchall()
    assert len(rows) == len(WIDTHS) * len(TIMES)
    differ = [(w, ts, got, want) for w, ts, got, want in rows if got != want]
    assert differ == []


def test_time_bucket_matches_over_a_spread_of_random_times(db: psycopg.Connection) -> None:
    # a million seconds either side of the origin and across centuries, at Grafana's usual widths
    db.execute("SELECT setseed(0.8)")
    row = db.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE time_bucket(w, ts) <> {NUMERIC_BUCKET})
            FROM (SELECT TIMESTAMPTZ '2000-01-03 00:00:00+00'
                         + (random() - 0.5) * (CASE WHEN i % 2 = 0 THEN interval '2000000 s'
                                                    ELSE interval '200 years' END) AS ts
                  FROM generate_series(1, 4000) AS i) t,
                 unnest(ARRAY[interval '1 s', '20 s', '60 s', '120 s', '300 s', '600 s', '1800 s', '3600 s',
                              '7200 s', '21600 s', '43200 s', '86400 s']) AS w""").fetchone()  # noqa: S608
    assert row == (4000 * 12, 0)


def test_time_bucket_is_inlined_into_the_query(db: psycopg.Connection) -> None:
    plan = db.execute("EXPLAIN (VERBOSE) SELECT time_bucket('300 s', time) FROM readings").fetchall()
    assert "date_bin" in "\n".join(r[0] for r in plan)


def test_readings_key_covers_the_value_and_still_refuses_duplicates(db: psycopg.Connection) -> None:
    included = db.execute("SELECT indnatts - indnkeyatts FROM pg_index WHERE indexrelid = 'readings_pkey'::regclass"
                          ).fetchone()
    assert included == (1,)
    db.execute("INSERT INTO readings VALUES ('2025-01-01T00:00:00Z', 'a', 'co2', 400)")
    inserted = db.execute("INSERT INTO readings VALUES ('2025-01-01T00:00:00Z', 'a', 'co2', 401) "
                          "ON CONFLICT (dev_eui, quantity, time) DO NOTHING RETURNING value").fetchall()
    assert inserted == []
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO readings VALUES ('2025-01-01T00:00:00Z', 'a', 'co2', 402)")


@pytest.mark.parametrize("rollup", ["readings_15m", "readings_1h"])
def test_rollup_keys_cover_what_the_panels_read(empty_db_url: str, rollup: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        migrate(conn, "postgresql")
        conn.execute(f"INSERT INTO {rollup} (bucket, dev_eui, quantity, min, max, sum, count, last, last_time) "  # noqa: S608
                     "SELECT b, 'a', 'co2', 400, 900, 600 * 6, 6, 500, b FROM generate_series("
                     "TIMESTAMPTZ '2025-01-01', '2025-01-08', interval '1 hour') AS b")
        conn.execute(f"VACUUM (ANALYZE) {rollup}")
        conn.execute("SET enable_seqscan = off")       # a table this small would be read whole otherwise
        conn.execute("SET enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            f"EXPLAIN (ANALYZE, COSTS OFF) SELECT bucket, avg, min, max, count FROM {rollup} "  # noqa: S608
            "WHERE dev_eui = 'a' AND quantity = 'co2' AND bucket >= '2025-01-02' AND bucket < '2025-01-05'"))
        assert f"Index Only Scan using {rollup}_pkey" in plan, plan
        assert "Heap Fetches: 0" in plan, plan


def test_new_connections_to_the_migrated_database_run_without_jit(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        migrate(conn, "postgresql")
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SHOW jit").fetchone() == ("off",)
