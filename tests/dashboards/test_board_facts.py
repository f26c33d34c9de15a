"""What the boards show for the scenario: the situations they exist for are on screen, and variables narrow."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from dashboards.boards import air_quality, flocks, flood, hypervision, waste
from tests.dashboards import scenario
from tests.dashboards.support import Result, boards, run

RAW = timedelta(minutes=1)


def _run(conn: psycopg.Connection, uid: str, sql: str, **selected: tuple[str, ...]) -> Result:
    return run(conn, sql, boards()[uid], interval=RAW, selected=selected)


def test_hypervision_colours_devices_by_state(scenario_db: psycopg.Connection) -> None:
    result = _run(scenario_db, hypervision.UID, hypervision.MAP_SQL)
    state = dict(zip(result.column("name"), result.column("state"), strict=True))
    # open alerts (firing or acknowledged) win over silence; the disabled device is not shown
    assert {n for n, s in state.items() if s == "alerting"} == {"Pont Neuf", "Salle 102", "Capteur muet"}
    assert state["Salle 101"] == "ok" and state["Bac Gare"] == "ok"
    assert "Capteur retiré" not in state
    # trackers have no fixed place: they are drawn at their last fix
    assert {"Collier 1", "Collier 2", "Collier 3"} <= set(state)


def test_hypervision_lists_silent_devices_and_open_alerts_most_severe_first(scenario_db: psycopg.Connection) -> None:
    silent = _run(scenario_db, hypervision.UID, hypervision.SILENT_SQL)
    assert set(silent.column("device")) == scenario.SILENT
    alerts = _run(scenario_db, hypervision.UID, hypervision.OPEN_ALERTS_SQL)
    assert alerts.column("severity") == ["critical", "warning", "warning"]
    assert alerts.column("device")[0] == "Pont Neuf"
    acked = dict(zip(alerts.column("device"), alerts.column("acked_by"), strict=True))
    assert acked["Salle 102"] == "marie"
    severity = _run(scenario_db, hypervision.UID, hypervision.SEVERITY_SQL)
    assert list(zip(severity.column("severity"), severity.column("alerts"), strict=True)) == [
        ("critical", 1), ("warning", 2), ("info", 0)]


def test_site_variable_narrows_and_survives_quotes_in_values(scenario_db: psycopg.Connection) -> None:
    families = _run(scenario_db, hypervision.UID, hypervision.FAMILY_SQL, site=(scenario.COLLEGE,))
    assert families.column("family") == ["co2"]
    assert families.column("devices") == [3]
    both = _run(scenario_db, hypervision.UID, hypervision.FAMILY_SQL, site=(scenario.COLLEGE, scenario.TOWN))
    assert both.column("family") == ["bin", "co2"]
    only_floods = _run(scenario_db, hypervision.UID, hypervision.FAMILY_SQL, family=("flood",))
    assert only_floods.column("family") == ["flood"]


def test_air_quality_ranks_the_overcrowded_room_worst(scenario_db: psycopg.Connection) -> None:
    worst = _run(scenario_db, air_quality.UID, air_quality.WORST_SQL)
    assert worst.column("room")[0] == "Bâtiment A / 102"
    assert worst.column("icone")[0] > worst.column("icone")[-1]
    shares = _run(scenario_db, air_quality.UID, air_quality.SHARE_SQL)
    by_room = {r: (a8, a15) for r, a8, a15 in zip(shares.column("room"), shares.column("above_800"),
                                                     shares.column("above_1500"), strict=True)}
    assert by_room["102"][1] > 0 and by_room["102"][0] > by_room["101"][0]
    # the canteen has no presence sensor: its school hours count as occupied
    assert "Cantine" in by_room


def test_flood_shows_the_rising_station_in_orange(scenario_db: psycopg.Connection) -> None:
    stations = _run(scenario_db, flood.UID, flood.MAP_SQL)
    vigilance = dict(zip(stations.column("station"), stations.column("vigilance"), strict=True))
    assert vigilance == {"Pont Neuf": 2, "Moulin": 0, "Gué": 0}
    now = _run(scenario_db, flood.UID, flood.NOW_SQL)
    assert now.column("station")[0] == "Pont Neuf"
    assert now.column("rise_1h")[0] > 5   # cm over the last hour
    level = _run(scenario_db, flood.UID, flood.LEVEL_SQL, station=(scenario.STATIONS[0],))
    assert set(level.column("orange")) == {2.2}


def test_waste_collection_list_and_full_bins(scenario_db: psycopg.Connection) -> None:
    due = _run(scenario_db, waste.UID, waste.FORECAST_SQL)
    assert set(due.column("bin")) == scenario.DUE_BINS
    assert due.column("bin")[0] == "Bac Gare"   # already full first
    rates = dict(zip(due.column("bin"), due.column("fill_rate"), strict=True))
    assert abs(rates["Bac Mairie"] - 4) < 0.1
    above = _run(scenario_db, waste.UID, waste.ABOVE_80_SQL)
    assert set(above.column("bin")) == scenario.ABOVE_80


def test_flocks_tracks_one_flock_per_panel_and_flags_low_batteries(scenario_db: psycopg.Connection) -> None:
    north = _run(scenario_db, flocks.UID, flocks.TRACK_SQL, flock=("troupeau nord",))
    south = _run(scenario_db, flocks.UID, flocks.TRACK_SQL, flock=("troupeau sud",))
    assert set(north.column("collars")) == {2} and set(south.column("collars")) == {1}
    assert max(north.column("latitude")) < 45.92 and max(south.column("latitude")) < 45.89  # apart, not merged
    low = _run(scenario_db, flocks.UID, flocks.LOW_BATTERY_SQL)
    assert set(low.column("collar")) == scenario.LOW_BATTERY_COLLARS
    fixes = _run(scenario_db, flocks.UID, flocks.POSITIONS_SQL)
    age = dict(zip(fixes.column("collar"), fixes.column("fix_age_min"), strict=True))
    assert age["Collier 3"] > 290 and age["Collier 1"] < 30
    pastures = _run(scenario_db, flocks.UID, flocks.PASTURES_SQL, flock=("troupeau sud",))
    assert set(pastures.column("pasture")) == {"Pâture du lac"}
