"""SQL only through parameters: hostile identifiers and values through every input path, and a static check.

Dynamic promise: a value written to break out of a SQL string (quotes, comments, ``;``, backslashes, a NUL, an
identifier-looking ``"readings"``) is, on every path that takes input — devices provisioned from an MQTT envelope
(DevEUI, device name, profile hint), the CSV fleet import (name, site, tags, params), the API query parameters
(``device``, ``site``, ``family``, ``quantity``, times) and bodies (silences) — either refused with a 4xx and a
reason, or stored and returned verbatim; it never changes what a query does (no extra rows, no table touched)
and never makes a 5xx.

Static promise: no SQL text in the service's code is built from a variable, except through
``psycopg.sql.Identifier``/``Literal`` composition or from module constants; the few reviewed exceptions are
listed below with the reason they are safe, and the list must stay exact (a new one fails, a stale one fails).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import psycopg
import pytest

from simulator import envelopes as env
from tests.api.conftest import MakeClient, bearer, make_client, tokens  # noqa: F401 - fixtures
from tests.api.seed import REGISTRY, T0, seed
from tests.ingest.ingest_support import Publisher, count, new_eui, running, service_config, uplink, wait_for

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = [
    "x' OR '1'='1",
    "a000000000000001' OR 1=1 --",
    "'; DROP TABLE readings; --",
    'ecole-jaures"; DELETE FROM devices; --',
    "\\'; SELECT pg_sleep(5); --",
    "$$; TRUNCATE readings; $$",
    "ecole-jaures\x00' OR true --",
    '"readings"',
    "%(devices)s",
    "{}",
]


def _table_counts(db: psycopg.Connection) -> tuple[int, int, int]:
    row = db.execute("SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM readings), "
                     "(SELECT count(*) FROM positions)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_query_parameters_select_nothing_and_break_nothing(
        make_client: MakeClient, tokens: dict[str, str], db_url: str, value: str) -> None:  # noqa: F811
    with psycopg.connect(db_url, autocommit=True) as db:
        seed(db)
        before = _table_counts(db)
        client = await make_client(extras={"registry": REGISTRY, "clock": lambda: T0})
        window = {"from": T0.isoformat(), "to": (T0.replace(hour=3)).isoformat()}
        calls = [("/api/devices", {"site": value}), ("/api/devices", {"family": value}),
                 ("/api/export/readings", {**window, "device": value, "format": "json"}),
                 ("/api/export/readings", {**window, "site": value, "format": "json"}),
                 ("/api/export/readings", {**window, "site": "ecole-jaures", "quantity": value, "format": "json"}),
                 ("/api/export/readings", {"from": value, "format": "json"}),
                 ("/api/export/positions", {**window, "device": value, "format": "json"}),
                 ("/api/alerts", {"state": value}), ("/api/alerts", {"device": value}),
                 (f"/api/devices/{value}", {})]
        for path, query in calls:
            resp = await client.get(path, params=query, headers=bearer(tokens["admin"]))
            body = await resp.text()
            assert resp.status < 500, f"{path} {query}: {resp.status} {body[:200]}"
            if resp.status == 200 and "export" in path:
                assert json.loads(body) in ([], {"rows": []}) or not json.loads(body).get("rows"), \
                    f"{path} {query}: a hostile filter selected rows"
            if resp.status == 200 and path == "/api/devices":
                assert json.loads(body).get("devices", []) == [], f"{query}: a hostile filter selected devices"
        assert _table_counts(db) == before


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_names_sites_and_tags_in_a_fleet_import_are_refused_or_stored_verbatim(
        make_client: MakeClient, tokens: dict[str, str], db_url: str, value: str) -> None:  # noqa: F811
    client = await make_client()
    cell = '"' + value.replace('"', '""') + '"'
    tags = '"' + json.dumps({"note": value, value: "x"}).replace('"', '""') + '"'
    csv = f"dev_eui,name,profile,site,tags\n24e124707c0000aa,{cell},milesight-am307,{cell},{tags}\n"
    resp = await client.post("/api/devices/import", data=csv.encode(),
                             headers={**bearer(tokens["admin"]), "Content-Type": "text/csv"})
    body = await resp.text()
    assert resp.status < 500, body[:300]
    with psycopg.connect(db_url, autocommit=True) as db:
        rows = db.execute("SELECT name, site, tags FROM devices").fetchall()
        assert db.execute("SELECT count(*) FROM readings").fetchone() == (0,)
    if rows:
        assert rows == [(value, value, {"note": value, value: "x"})]
    else:
        assert resp.status >= 400 or json.loads(body)["rejected"], "refused, and saying so"


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_silence_bodies_are_refused_or_stored_verbatim(
        make_client: MakeClient, tokens: dict[str, str], db_url: str, value: str) -> None:  # noqa: F811
    client = await make_client()
    body = {"matchers": {"site": value, "rule": value}, "ends": "2999-01-01T00:00:00Z", "comment": value}
    resp = await client.post("/api/silences", json=body, headers=bearer(tokens["operator"]))
    text = await resp.text()
    assert resp.status < 500, f"{resp.status} {text[:300]}"
    with psycopg.connect(db_url, autocommit=True) as db:
        rows = db.execute("SELECT matchers, comment FROM silences").fetchall()
    if resp.status == 201:
        assert rows == [({"site": value, "rule": value}, value)]
    else:
        assert rows == [] and resp.status == 400


@pytest.mark.usefixtures("requires_mqtt5")
async def test_hostile_device_names_from_the_network_server_are_stored_verbatim(
        db: psycopg.Connection, db_url: str, mqtt_url: str, unique: str) -> None:
    """``ingest.unknown_devices = "provision"`` registers devices from what the network server says about them:
    the device name and profile name in an envelope are input too."""
    publisher = Publisher(mqtt_url, unique)
    devices = {new_eui(): value for value in HOSTILE}
    try:
        async with running(service_config(db_url, mqtt_url, unique, ingest_unknown_devices="provision")):
            messages = []
            for eui, value in devices.items():
                event = env.chirpstack_uplink_event(uplink(eui, 1), application_id="app-1", device_profile_name=value)
                event.device_info.device_name = value
                messages.append((publisher.chirpstack_topic(eui), env.chirpstack_json(event)))
            await publisher.apublish(messages)
            # each: its uplink and a no_profile reject; the one with a NUL: a single invalid_field reject
            await wait_for(lambda: count(db, "uplinks") + count(db, "rejects") >= 2 * len(devices) - 1, "every uplink")
    finally:
        publisher.close()
    stored = {r[0]: (r[1], r[2]) for r in db.execute("SELECT dev_eui, name, tags FROM devices")}
    for eui, value in devices.items():
        if "\x00" in value:      # cannot be stored: the message becomes an invalid_field reject instead
            assert eui not in stored
            assert db.execute("SELECT reason FROM rejects WHERE dev_eui = %s", (eui,)).fetchone() == ("invalid_field",)
        else:
            assert stored[eui] == (value, {"seen_on": "chirpstack-json", "profile_hint": value})
    assert db.execute("SELECT count(*) FROM pg_tables WHERE tablename IN ('readings', 'devices')").fetchone() == (2,)


# ------------------------------------------------------------------------------------------- static check

PACKAGES = ("ingest", "rules", "devices", "dashboards", "simulator")
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|JOIN|CREATE|DROP|ALTER|TRUNCATE|COPY|VALUES|LOCK|GRANT|"
                  r"ORDER BY|GROUP BY|LIMIT|RETURNING|VACUUM)\b")
_CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")

# (file, interpolated expression) -> why it is safe. Reviewed by hand; keep it exact.
REVIEWED: dict[tuple[str, str], str] = {
    ("ingest/api/export.py", "table"): "_aggregate(table) is called only with the literals readings_15m/readings_1h",
    ("ingest/replay.py", "table"): "iterates the module constant _ROLLUPS (rollup table names)",
    ("ingest/bench/loader.py", "table"): "bench tool: iterates literal tuples of table names / the _ROLLUPS constant",
    ("ingest/bench/loader.py", "_COLUMNS[table]"): "bench tool: a constant mapping indexed by those table names",
    ("ingest/bench/loader.py", "name"): "bench tool: key and index names read from pg_constraint / pg_index",
    ("ingest/bench/loader.py", "definition"): "bench tool: pg_get_constraintdef() of the key it rebuilds, server text",
    ("dashboards/sql.py", "name"): "CTE names chosen by the board modules (literals)",
    ("dashboards/sql.py", "where"): "assembled from literal fragments and Grafana variables ($site) in the same module",
    ("dashboards/sql.py", "devices"): "the devices CTE text built by this module from literals",
    ("dashboards/sql.py", "qs"): "quantity lists rendered from literal tuples given by the boards",
    ("dashboards/sql.py", "within"): "literal intervals given by the boards ('30 days', '1 day')",
    ("dashboards/boards/air_quality.py", "column"): "a literal column name chosen by the board",
    ("dashboards/variables.py", "_device_filter(before, families)"): "literal variable names and family tuples",
    ("dashboards/variables.py", "_device_filter(('site',), families)"): "family tuples given by the boards",
    ("dashboards/boards/air_quality.py", "points_cte((quantity,))"): "a literal quantity chosen by the board",
}


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def _safe(expr: ast.expr) -> bool:
    """A module constant (``_DEVICES``, ``NAIVE_TABLE``, ``FIRED.x``), a literal, or a call with literal arguments
    (a SQL builder of the dashboards fed with constants)."""
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        return bool(_CONSTANT.match(expr.id))
    if isinstance(expr, ast.Attribute):
        return _safe(expr.value) or bool(_CONSTANT.match(expr.attr))
    if isinstance(expr, ast.Subscript):
        return _safe(expr.value) and _safe(expr.slice)
    if isinstance(expr, (ast.Tuple, ast.List)):
        return all(_safe(e) for e in expr.elts)
    if isinstance(expr, ast.Call):
        return all(_safe(a) for a in expr.args) and all(_safe(k.value) for k in expr.keywords)
    return False


def _scan(source: str, rel: str) -> list[tuple[str, int, str]]:
    """(file, line, expression) of every variable part of a SQL-looking string built by f-string, %, format or +."""
    found: list[tuple[str, int, str]] = []
    for node in ast.walk(ast.parse(source, rel)):
        parts: list[ast.expr] = []
        if isinstance(node, ast.JoinedStr) and _SQL.search(_text(node) or ""):
            parts = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _SQL.search(_text(node.left) or ""):
            parts = [node.right]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
              and _SQL.search(_text(node.func.value) or "")):
            parts = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if _SQL.search(_text(node.left) or "") and _text(node.right) is None:
                parts = [node.right]
            elif _SQL.search(_text(node.right) or "") and _text(node.left) is None:
                parts = [node.left]
        found += [(rel, getattr(node, "lineno", 0), ast.unparse(p)) for p in parts if not _safe(p)]
    return found


def _interpolations() -> list[tuple[str, int, str]]:
    found: list[tuple[str, int, str]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            found += _scan(path.read_text(encoding="utf-8"), rel)
    return found


def test_no_sql_is_built_from_a_variable_outside_the_reviewed_places() -> None:
    found = _interpolations()
    unreviewed = [f"{rel}:{line}: {{{expr}}}" for rel, line, expr in found if (rel, expr) not in REVIEWED]
    assert not unreviewed, ("SQL text built from a variable: pass it as a query parameter (%s), or compose with "
                            "psycopg.sql.Identifier / sql.Literal, or (constants only) add it to REVIEWED with "
                            "the reason it is safe:\n" + "\n".join(unreviewed))
    stale = sorted(set(REVIEWED) - {(rel, expr) for rel, _, expr in found})
    assert not stale, f"REVIEWED lists places that no longer build SQL (remove them): {stale}"


def test_the_static_check_catches_the_usual_mistakes() -> None:
    """The scanner itself must flag each way of building SQL from input (else the test above proves nothing)."""
    samples = {
        'cur.execute(f"SELECT * FROM devices WHERE site = \'{site}\'")': "site",
        'conn.execute("DELETE FROM alerts WHERE id = %s" % alert_id)': "alert_id",
        'conn.execute("SELECT * FROM {} WHERE x = 1".format(table))': "table",
        'conn.execute("SELECT * FROM readings WHERE dev_eui = \'" + eui + "\'")': "eui",
        'conn.execute(f"SELECT * FROM readings WHERE q = {request.query[\'q\']}")': "request.query['q']",
    }
    for code, expr in samples.items():
        assert expr in [found[2] for found in _scan(code, "sample.py")], code
    for code in ('conn.execute(f"SELECT {_COLUMNS} FROM readings WHERE dev_eui = %s", (eui,))',
                 'conn.execute(f"SELECT * FROM {points_cte((\'co2\',))}")',
                 'conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))'):
        assert _scan(code, "sample.py") == [], code
