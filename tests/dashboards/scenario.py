# ruff: noqa: S608 - test data generated in SQL from constants of this file, no outside input
"""A small town's fleet, written straight into the database, for the dashboard SQL tests.

Eight days of data ending now (the database clock), for all four families, with the situations the boards exist to
show: a classroom over 1500 ppm, a river rising into orange vigilance, bins above 80 % and bins due within 24 hours,
collars with an old fix or a low battery, a silent device, open and resolved alerts, rejects. Rollups are computed
from the raw readings the way the writer keeps them on plain PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from dashboards.pastures import Pasture, upsert_pastures
from dashboards.profiles import sync_device_profiles
from devices.registry import ProfileRegistry

SCHOOL = "école Jaurès"
COLLEGE = "collège d'Orves"       # an apostrophe: variable quoting must hold
RIVER = "Orne"
TOWN = "centre-ville"
ALPAGE = "alpage nord"


@dataclass(frozen=True)
class Device:
    dev_eui: str
    name: str
    profile: str | None
    site: str | None
    lat: float | None = None
    lon: float | None = None
    tags: dict[str, str] | None = None
    params: dict[str, float] | None = None
    status: str = "active"


DEVICES = (
    Device("00000000000c0101", "Salle 101", "milesight-am307", SCHOOL, 49.18, -0.37,
           {"building": "Bâtiment A", "room": "101"}),
    Device("00000000000c0102", "Salle 102", "milesight-am307", SCHOOL, 49.18, -0.37,
           {"building": "Bâtiment A", "room": "102"}),
    Device("00000000000c0201", "Salle 201", "decentlab-dl-iam", SCHOOL, 49.181, -0.371,
           {"building": "Bâtiment B", "room": "201"}),
    Device("00000000000c0301", "CP", "elsys-ers-co2", COLLEGE, 49.19, -0.35),
    Device("00000000000c0302", "Cantine", "adeunis-comfort-co2", COLLEGE, 49.19, -0.351),
    Device("00000000000c0399", "Capteur muet", "decentlab-dl-iam", COLLEGE, 49.19, -0.352),
    Device("0000000000f10001", "Pont Neuf", "decentlab-dl-mbx", RIVER, 49.17, -0.36, None,
           {"mounting_height_m": 4.0, "vigilance_yellow_m": 1.5, "vigilance_orange_m": 2.2,
            "vigilance_red_m": 3.0}),
    Device("0000000000f10002", "Moulin", "milesight-em500-swl", RIVER, 49.16, -0.39, None,
           {"vigilance_yellow_m": 1.2, "vigilance_orange_m": 1.8, "vigilance_red_m": 2.5}),
    Device("0000000000f10003", "Gué", "dragino-ldds75", RIVER, 49.15, -0.40),
    Device("00000000000b0001", "Bac Mairie", "milesight-em310-udl", TOWN, 49.182, -0.369),
    Device("00000000000b0002", "Bac Marché", "milesight-em310-udl", TOWN, 49.183, -0.366),
    Device("00000000000b0003", "Bac Gare", "milesight-em310-udl", TOWN, 49.177, -0.352),
    Device("00000000000b0004", "Bac École", "milesight-em310-udl", TOWN, 49.181, -0.372),
    Device("00000000000b0005", "Bac Parc", "milesight-em310-udl", TOWN, 49.186, -0.361),
    Device("00000000000a0001", "Collier 1", "dragino-lgt92", ALPAGE, None, None, {"flock": "troupeau nord"}),
    Device("00000000000a0002", "Collier 2", "dragino-lgt92", ALPAGE, None, None, {"flock": "troupeau nord"}),
    Device("00000000000a0003", "Collier 3", "dragino-lgt92", ALPAGE, None, None, {"flock": "troupeau sud"}),
    Device("00000000000e0001", "Nouveau capteur", None, None, status="unassigned"),
    Device("00000000000e0002", "Capteur retiré", "milesight-am307", SCHOOL, 49.18, -0.37, status="disabled"),
)

# Bins: (dev_eui, fill now %, fill rate %/h, hours since emptied). Due within 24 h: Mairie (85 %, 4 %/h), Gare
# (full), Parc (70 %, 2 %/h: 15 h). Marché (40 %, 1 %/h: 60 h) and École (emptied 2 h ago, 3 %/h) are not.
BINS = (("00000000000b0001", 85, 4, 20), ("00000000000b0002", 40, 1, 40), ("00000000000b0003", 100, 5, 30),
        ("00000000000b0004", 10, 3, 2), ("00000000000b0005", 70, 2, 30))
DUE_BINS = {"Bac Mairie", "Bac Gare", "Bac Parc"}
ABOVE_80 = {"Bac Mairie", "Bac Gare"}
LOW_BATTERY_COLLARS = {"Collier 2"}
SILENT = {"Capteur muet", "Nouveau capteur"}
FLOCKS = ("troupeau nord", "troupeau sud")
STATIONS = ("0000000000f10001", "0000000000f10002", "0000000000f10003")


def load(conn: psycopg.Connection) -> None:
    """Write the whole scenario (``conn`` in autocommit mode)."""
    sync_device_profiles(conn, ProfileRegistry.load())
    with conn.transaction():
        for d in DEVICES:
            conn.execute(
                "INSERT INTO devices (dev_eui, name, profile, site, latitude, longitude, tags, params, status) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (d.dev_eui, d.name, d.profile, d.site, d.lat, d.lon, Jsonb(d.tags or {}), Jsonb(d.params or {}),
                 d.status))
        _readings(conn)
        _positions(conn)
        _uplinks_and_state(conn)
        _rejects(conn)
        _alerts(conn)
        _rollups(conn)
    upsert_pastures(conn, [
        Pasture.from_lat_lon("p-nord", "Pâture du col", [(45.901, 6.101), (45.901, 6.115), (45.912, 6.115),
                                                         (45.912, 6.101)], flock="troupeau nord", site=ALPAGE),
        Pasture.from_lat_lon("p-sud", "Pâture du lac", [(45.880, 6.120), (45.880, 6.130), (45.888, 6.125)],
                             flock="troupeau sud", site=ALPAGE),
    ])
    conn.execute("ANALYZE")  # as autovacuum would: plans on fresh tables without statistics mislead


# Ten-minute steps over eight days, ending at the current ten minutes.
_STEPS = """generate_series(date_trunc('hour', now()) - interval '8 days', now(), interval '10 minutes') AS g(t)"""
# School day in Paris (any weekday, so the scenario holds whatever day the tests run).
_HOUR = "extract(hour FROM g.t AT TIME ZONE 'Europe/Paris')"
_OCCUPIED = f"({_HOUR} BETWEEN 8 AND 16)"


def _insert(conn: psycopg.Connection, select: str) -> None:
    conn.execute(f"INSERT INTO readings (time, dev_eui, quantity, value) {select} ON CONFLICT DO NOTHING")


def _readings(conn: psycopg.Connection) -> None:
    # classrooms: CO2 climbs while occupied (room 102 far beyond 1500 ppm), temperature and humidity follow
    for dev, peak in (("00000000000c0101", 450), ("00000000000c0102", 1500), ("00000000000c0201", 700),
                      ("00000000000c0301", 300), ("00000000000c0302", 900)):
        _insert(conn, f"""SELECT g.t, '{dev}', 'co2',
                   CASE WHEN {_OCCUPIED} THEN 550 + {peak} * ((extract(minute FROM g.t) + 60 * ({_HOUR} - 8)) / 540)
                        ELSE 420 + 10 * random() END FROM {_STEPS}""")
        _insert(conn, f"SELECT g.t, '{dev}', 'temperature', 19 + 3 * {_OCCUPIED}::int + random() FROM {_STEPS}")
        _insert(conn, f"SELECT g.t, '{dev}', 'humidity', 40 + 15 * {_OCCUPIED}::int + 5 * random() FROM {_STEPS}")
    for dev in ("00000000000c0101", "00000000000c0102"):
        _insert(conn, f"SELECT g.t, '{dev}', 'occupancy', {_OCCUPIED}::int FROM {_STEPS}")
        _insert(conn, f"SELECT g.t, '{dev}', 'battery', 90 - extract(epoch FROM now() - g.t) / 86400 FROM {_STEPS}")
    for dev in ("00000000000c0201", "00000000000c0301"):
        _insert(conn, f"SELECT g.t, '{dev}', 'motion_count', 12 * {_OCCUPIED}::int FROM {_STEPS}")
        _insert(conn, f"SELECT g.t, '{dev}', 'battery_voltage', 3.6 FROM {_STEPS}")
    # the silent sensor stopped two days ago
    _insert(conn, f"SELECT g.t, '00000000000c0399', 'co2', 600 FROM {_STEPS} WHERE g.t < now() - interval '2 days'")
    # rivers: Pont Neuf rose over the last 12 hours from 0.8 m into orange (2.4 m); the others are steady
    _insert(conn, f"""SELECT g.t, '0000000000f10001', 'water_level',
               0.8 + greatest(0, 12 - extract(epoch FROM now() - g.t) / 3600) / 12 * 1.6 + 0.01 * random()
               FROM {_STEPS}""")
    _insert(conn, f"SELECT g.t, '0000000000f10002', 'water_level', 0.6 + 0.02 * random() FROM {_STEPS}")
    _insert(conn, f"SELECT g.t, '0000000000f10003', 'water_level', 1.1 + 0.02 * random() FROM {_STEPS}")
    for dev in STATIONS:
        _insert(conn, f"SELECT g.t, '{dev}', 'battery_voltage', 3.5 FROM {_STEPS}")
    # bins: linear fill since the last emptying, reaching `fill` now
    for dev, fill, rate, emptied_h in BINS:
        _insert(conn, f"""SELECT g.t, '{dev}', 'fill_level',
                   least(100, greatest(0, {fill} - {rate} * extract(epoch FROM now() - g.t) / 3600))
                   FROM {_STEPS} WHERE g.t > now() - interval '{emptied_h} hours'""")
        _insert(conn, f"""SELECT g.t, '{dev}', 'fill_level', 95 FROM {_STEPS}
                   WHERE g.t <= now() - interval '{emptied_h} hours'""")
        _insert(conn, f"SELECT g.t, '{dev}', 'battery', 80 FROM {_STEPS}")
    # collars: battery voltage (Collier 2 is low)
    for dev, volts in (("00000000000a0001", 3.9), ("00000000000a0002", 3.1), ("00000000000a0003", 3.8)):
        _insert(conn, f"SELECT g.t, '{dev}', 'battery_voltage', {volts} FROM {_STEPS}")


def _positions(conn: psycopg.Connection) -> None:
    # two collars of the north flock graze around the col, the south one stopped reporting five hours ago
    for dev, lat, lon, stop in (("00000000000a0001", 45.905, 6.105, "0 hours"),
                                ("00000000000a0002", 45.906, 6.108, "0 hours"),
                                ("00000000000a0003", 45.884, 6.124, "5 hours")):
        conn.execute(f"""
            INSERT INTO positions (time, dev_eui, latitude, longitude, accuracy)
            SELECT g.t, '{dev}', {lat} + 0.003 * sin(extract(epoch FROM g.t) / 7200),
                   {lon} + 0.003 * cos(extract(epoch FROM g.t) / 7200), 10
            FROM {_STEPS} WHERE g.t <= now() - interval '{stop}' AND extract(minute FROM g.t)::int % 20 = 0""")


def _uplinks_and_state(conn: psycopg.Connection) -> None:
    # one uplink per distinct reading time, radio quality by device
    conn.execute("""
        INSERT INTO uplinks (time, dev_eui, f_cnt, f_port, source, rssi, snr, gateways, payload)
        SELECT t, dev_eui, row_number() OVER (PARTITION BY dev_eui ORDER BY t), 85, 'chirpstack-json',
               -70 - (hashtext(dev_eui) % 40 + 40) % 40 - 5 * random(), 8 - (hashtext(dev_eui) % 10 + 10) % 10,
               1, '\\x00'::bytea
        FROM (SELECT DISTINCT time AS t, dev_eui FROM readings) r""")
    conn.execute("""
        INSERT INTO device_state (dev_eui, last_seen, last_f_cnt, last_rssi, last_snr, uplinks)
        SELECT DISTINCT ON (dev_eui) dev_eui, time, f_cnt, rssi, snr, f_cnt FROM uplinks
        ORDER BY dev_eui, time DESC""")


def _rejects(conn: psycopg.Connection) -> None:
    conn.execute("""
        INSERT INTO rejects (time, source, topic, dev_eui, reason, detail)
        SELECT now() - make_interval(mins => i * 37), 'chirpstack-json', 'application/1/device/x/event/up',
               CASE WHEN i % 3 = 0 THEN NULL ELSE 'ffffffffffff' || lpad(i::text, 4, '0') END,
               (ARRAY['unknown_device', 'decode_error', 'malformed_envelope'])[i % 3 + 1], 'test reject ' || i
        FROM generate_series(1, 30) AS i""")


def _alerts(conn: psycopg.Connection) -> None:
    rows = [
        # rule, dev_eui, state, severity, route, started, fired, acked, acked_by, resolved (hours ago)
        ("crue-pont-neuf", "0000000000f10001", "firing", "critical", "astreinte-crues", 2.5, 2, None, None, None),
        ("co2-salles", "00000000000c0102", "acknowledged", "warning", "ecoles", 3.2, 3, 1, "marie", None),
        ("silence", "00000000000c0399", "firing", "warning", "technique", 40, 40, None, None, None),
        ("bac-plein", "00000000000b0001", "pending", "info", "proprete", 0.1, None, None, None, None),
        ("co2-salles", "00000000000c0102", "resolved", "warning", "ecoles", 27, 26.9, 26.5, "paul", 25),
        ("co2-salles", "00000000000c0101", "resolved", "warning", "ecoles", 51, 50.9, 50, "paul", 49),
        ("crue-pont-neuf", "0000000000f10001", "resolved", "critical", "astreinte-crues", 120, 119.9, 119.8,
         "astreinte", 110),
        ("batterie", "00000000000a0002", "resolved", "info", "bergers", 200, 199, None, None, 150),
    ]
    for rule, dev, state, severity, route, started, fired, acked, acked_by, resolved in rows:
        ago = "now() - make_interval(secs => %s * 3600)"
        conn.execute(
            f"""INSERT INTO alerts (rule, dev_eui, state, severity, route, summary, started_at, fired_at, acked_at,
                                    acked_by, resolved_at, updated_at)
                VALUES (%s, %s, %s, %s, %s, %s, {ago}, {ago}, {ago}, %s, {ago}, now())""",
            (rule, dev, state, severity, route, f"{rule} on {dev}", started, fired, acked, acked_by, resolved))


def _rollups(conn: psycopg.Connection) -> None:
    kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'readings_15m'").fetchone()
    if not kind or kind[0] != "r":
        return  # TimescaleDB: continuous aggregates maintain themselves
    for table, width in (("readings_15m", "15 minutes"), ("readings_1h", "1 hour")):
        conn.execute(f"""
            INSERT INTO {table} (bucket, dev_eui, quantity, min, max, sum, count, last, last_time)
            SELECT date_bin(interval '{width}', time, timestamptz '2000-01-03'), dev_eui, quantity,
                   min(value), max(value), sum(value), count(*),
                   (array_agg(value ORDER BY time DESC))[1], max(time)
            FROM readings GROUP BY 1, 2, 3""")
