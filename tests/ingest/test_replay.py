"""``beffroi replay``: stored raw uplinks are decoded again with the current profile and parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from devices.registry import ProfileRegistry
from ingest.cli import main
from ingest.replay import ReplayError, replay

RIVER = "a84041000181c9d1"
TRACKER = "a84041000181c9f0"
T0 = datetime(2025, 3, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def registry() -> ProfileRegistry:
    return ProfileRegistry.load()


@pytest.fixture
def history(db: psycopg.Connection) -> psycopg.Connection:
    db.execute("INSERT INTO devices (dev_eui, name, profile, params) VALUES (%s, 'Pont', 'dragino-ldds75', "
               "'{\"mounting_height_m\": 3.5}'), (%s, 'Vélo', 'dragino-lgt92', '{}'), "
               "('a84041000181c9ff', 'inconnu', NULL, '{}')", (RIVER, TRACKER))
    uplinks = [
        (T0, RIVER, 1, 2, "0d3b0aef00000001"),                      # distance 2799 mm
        (T0 + timedelta(minutes=20), RIVER, 2, 2, "0d3b000000000000"),   # no probe: no distance
        (T0 + timedelta(minutes=40), RIVER, 3, 42, "0d3b0aef00000001"),  # unknown fPort: an error
        (T0 + timedelta(hours=5), RIVER, 4, 2, "0d3b04d201fff101"),  # after --until in some tests
        (T0, TRACKER, 1, 2, "02facb300080ecf90c2e64"),
    ]
    with db.cursor() as cur:
        cur.executemany("INSERT INTO uplinks (time, dev_eui, f_cnt, f_port, source, payload) "
                        "VALUES (%s, %s, %s, %s, 'chirpstack-json', decode(%s, 'hex'))", uplinks)
        # what an older decoder stored: a wrong level and the 0 mm "distance" of an unplugged probe
        cur.executemany("INSERT INTO readings (time, dev_eui, quantity, value) VALUES (%s, %s, %s, %s)", [
            (T0, RIVER, "water_level", 9.9), (T0 + timedelta(minutes=20), RIVER, "distance", 0.0),
            (T0 + timedelta(minutes=20), RIVER, "water_level", 3.5)])
        cur.execute("INSERT INTO readings_15m (bucket, dev_eui, quantity, min, max, sum, count, last, last_time) "
                    "VALUES (%s, %s, 'water_level', 9.9, 9.9, 9.9, 1, 9.9, %s)", (T0, RIVER, T0))
    return db


def _readings(db: psycopg.Connection, dev_eui: str = RIVER) -> dict[tuple[int, str], float]:
    rows = db.execute("SELECT time, quantity, value FROM readings WHERE dev_eui = %s", (dev_eui,)).fetchall()
    return {(int((t - T0).total_seconds() // 60), q): v for t, q, v in rows}


def test_replay_upserts_what_the_current_profile_makes_of_the_uplinks(history: psycopg.Connection,
                                                                      registry: ProfileRegistry) -> None:
    report = replay(history, registry, RIVER, T0, T0 + timedelta(hours=1))
    assert (report.uplinks, report.decoded, report.failed) == (3, 2, 1)
    assert report.readings == 4 and report.positions == 0 and report.pruned == 0
    assert report.errors == [f"{(T0 + timedelta(minutes=40)).isoformat()}: unknown FPort 42: the LDDS75 sends "
                             "its measurements on fPort 2"]
    readings = _readings(history)
    assert readings[(0, "distance")] == 2799
    assert readings[(0, "water_level")] == pytest.approx(0.701)     # 9.9 replaced
    assert readings[(20, "battery_voltage")] == pytest.approx(3.387)
    assert readings[(20, "distance")] == 0.0                        # without --prune the old row stays
    assert (300, "distance") not in readings                        # after --until


def test_prune_deletes_readings_the_profile_no_longer_produces(history: psycopg.Connection,
                                                               registry: ProfileRegistry) -> None:
    report = replay(history, registry, RIVER, T0, prune=True)
    assert report.pruned == 2
    readings = _readings(history)
    assert (20, "distance") not in readings and (20, "water_level") not in readings
    assert readings[(300, "distance")] == 1234
    assert readings[(300, "water_level")] == pytest.approx(2.266)


def test_rollups_of_the_replayed_period_are_recomputed(history: psycopg.Connection,
                                                       registry: ProfileRegistry) -> None:
    replay(history, registry, RIVER, T0, prune=True)
    rollup = history.execute("SELECT min, max, count, last FROM readings_15m WHERE dev_eui = %s AND "
                             "quantity = 'water_level' AND bucket = %s", (RIVER, T0)).fetchone()
    assert rollup is not None and rollup[2] == 1 and rollup[0] == pytest.approx(0.701)
    hourly = history.execute("SELECT bucket, quantity, count FROM readings_1h WHERE dev_eui = %s ORDER BY 1, 2",
                             (RIVER,)).fetchall()
    assert [(b - T0, q, c) for b, q, c in hourly] == [
        (timedelta(0), "battery_voltage", 2), (timedelta(0), "distance", 1), (timedelta(0), "water_level", 1),
        (timedelta(hours=5), "battery_voltage", 1), (timedelta(hours=5), "distance", 1),
        (timedelta(hours=5), "water_level", 1)]


def test_replay_after_a_parameter_change_moves_the_derived_level(history: psycopg.Connection,
                                                                 registry: ProfileRegistry) -> None:
    history.execute("UPDATE devices SET params = '{\"mounting_height_m\": 4.0}' WHERE dev_eui = %s", (RIVER,))
    replay(history, registry, RIVER, T0, T0 + timedelta(minutes=1))
    assert _readings(history)[(0, "water_level")] == pytest.approx(1.201)


def test_tracker_positions_are_upserted(history: psycopg.Connection, registry: ProfileRegistry) -> None:
    report = replay(history, registry, TRACKER, T0)
    assert report.positions == 1
    row = history.execute("SELECT latitude, longitude FROM positions WHERE dev_eui = %s", (TRACKER,)).fetchone()
    assert row == pytest.approx((49.990448, 8.449273))
    replay(history, registry, TRACKER, T0)                    # twice: still one row
    assert history.execute("SELECT count(*) FROM positions").fetchone() == (1,)


def test_dry_run_counts_and_writes_nothing(history: psycopg.Connection, registry: ProfileRegistry) -> None:
    before = _readings(history)
    report = replay(history, registry, RIVER, T0, dry_run=True, prune=True)
    assert report.uplinks == 4 and report.readings == 7
    assert _readings(history) == before


@pytest.mark.parametrize(("dev_eui", "since", "until", "problem"), [
    ("0000000000000001", T0, None, "device 0000000000000001 is not registered"),
    ("a84041000181c9ff", T0, None, "has no profile yet"),
    (RIVER, T0.replace(tzinfo=None), None, "need a UTC offset"),
    (RIVER, T0, T0, "is not after --since"),
])
def test_replay_refuses_what_it_cannot_do(history: psycopg.Connection, registry: ProfileRegistry, dev_eui: str,
                                          since: datetime, until: datetime | None, problem: str) -> None:
    with pytest.raises(ReplayError, match=problem):
        replay(history, registry, dev_eui, since, until)


def test_a_profile_that_is_no_longer_loaded_is_named(history: psycopg.Connection) -> None:
    with pytest.raises(ReplayError, match="uses profile 'dragino-ldds75', which is not loaded"):
        replay(history, ProfileRegistry(), RIVER, T0)


def test_cli_replay(history: psycopg.Connection, db_url: str, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BEFFROI_CONFIG", raising=False)
    monkeypatch.setenv("BEFFROI_DATABASE_URL", db_url)
    code = main(["replay", "--device", "A8-40-41-00-01-81-C9-D1", "--since", "2025-03-20T11:00:00+01:00",
                 "--until", "2025-03-20T12:00:00+01:00", "--prune"])
    out = capsys.readouterr().out
    assert code == 0
    assert (f"{RIVER} (dragino-ldds75): 3 uplink(s) replayed, 2 decoded, 1 failed; 4 reading(s) and 0 position(s) "
            "upserted, 2 stale reading(s) deleted") in out
    assert "error  2025-03-20T10:40:00+00:00: unknown FPort 42" in out
    with pytest.raises(SystemExit) as exit_:           # argparse refuses the option itself
        main(["replay", "--device", RIVER, "--since", "2025-03-20T11:00:00"])
    assert exit_.value.code == 2 and "needs a UTC offset" in capsys.readouterr().err
