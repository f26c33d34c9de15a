"""Test data: a few devices of each family with readings, aggregates and positions, and the profile registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from devices.registry import ProfileRegistry

T0 = datetime(2025, 3, 1, tzinfo=UTC)

REGISTRY = ProfileRegistry.load()      # the built-in profiles, loaded once for the API tests

DEVICES = [  # dev_eui, name, profile, site
    ("a000000000000001", "ecole-jaures-s12", "milesight-am307", "ecole-jaures"),
    ("a000000000000002", "ecole-jaures-s14", "milesight-am307", "ecole-jaures"),
    ("b000000000000001", "pont-neuf", "milesight-em500-swl", "riviere"),
    ("c000000000000001", "collier-07", "dragino-lgt92", "alpage-nord"),
    ("c000000000000002", "collier-08", "dragino-lgt92", "alpage-nord"),
]


def seed(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Insert devices, 2 h of readings (every 10 min), their 15 min / 1 h rollups and tracker positions."""
    conn.execute("INSERT INTO devices (dev_eui, name, profile, site) SELECT * FROM unnest(%s::text[], %s::text[], "
                 "%s::text[], %s::text[])", [list(col) for col in zip(*DEVICES, strict=True)])
    readings = []
    for i in range(12):
        t = T0 + timedelta(minutes=10 * i)
        readings += [(t, "a000000000000001", "co2", 600.0 + i), (t, "a000000000000001", "temperature", 20.5),
                     (t, "a000000000000002", "co2", 800.0 + 10 * i), (t, "b000000000000001", "water_level", 1.25 + i)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO readings (time, dev_eui, quantity, value) VALUES (%s, %s, %s, %s)", readings)
        for table, minutes in (("readings_15m", 15), ("readings_1h", 60)):
            cur.execute(
                f"INSERT INTO {table} (bucket, dev_eui, quantity, min, max, sum, count, last, last_time) "  # noqa: S608
                "SELECT date_bin(make_interval(mins => %s), time, '2000-01-01'), dev_eui, quantity, min(value), "
                "max(value), sum(value), count(*), (array_agg(value ORDER BY time DESC))[1], max(time) "
                "FROM readings GROUP BY 1, 2, 3", (minutes,))
    positions = []
    for i in range(12):
        t = T0 + timedelta(minutes=10 * i)
        positions += [(t, "c000000000000001", 44.123456 + i / 1000, 6.654321, 1800.0, 5.0),
                      (t, "c000000000000002", 44.124567 + i / 1000, 6.655432, None, None)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO positions (time, dev_eui, latitude, longitude, altitude, accuracy) "
                        "VALUES (%s, %s, %s, %s, %s, %s)", positions)
    # last seen: s12 just now, s14 an hour ago (silent for a 10-min device), the river station never
    conn.execute("INSERT INTO device_state (dev_eui, last_seen, last_f_cnt, last_rssi, last_snr, uplinks) VALUES "
                 "('a000000000000001', %s, 11, -97, 6.5, 12), ('a000000000000002', %s, 3, -110, -2.5, 4), "
                 "('c000000000000001', %s, 11, -90, 8, 12)",
                 (T0 + timedelta(minutes=110), T0 + timedelta(minutes=30), T0 + timedelta(minutes=110)))
    return {"readings": readings, "positions": positions}
