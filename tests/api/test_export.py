"""Exports: every format parses back to the rows stored; filters; aggregates; positions need operator; streaming."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from tests.api.conftest import MakeClient, bearer
from tests.api.seed import REGISTRY, seed

RANGE = {"from": "2025-03-01T00:00:00Z", "to": "2025-03-01T02:00:00Z"}


@pytest.fixture
def stored(db_url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return seed(conn)


def _parse(fmt: str, body: bytes) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(body.decode())))
    if fmt == "ndjson":
        return [json.loads(line) for line in body.decode().splitlines()]
    if fmt == "json":
        return list(json.loads(body))
    return list(pq.read_table(io.BytesIO(body)).to_pylist())


def _readings(rows: list[dict[str, Any]]) -> set[tuple]:
    def when(v: Any) -> datetime:
        return v if isinstance(v, datetime) else datetime.fromisoformat(v)
    return {(when(r["time"]), r["dev_eui"], r["quantity"], float(r["value"])) for r in rows}


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json", "parquet"])
async def test_each_format_parses_back_to_the_stored_readings(make_client: MakeClient, tokens: dict[str, str],
                                                              stored: dict[str, list[tuple]], fmt: str) -> None:
    client = await make_client(extras={"registry": REGISTRY})
    resp = await client.get("/api/export/readings", params={**RANGE, "format": fmt}, headers=bearer(tokens["viewer"]))
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    rows = _parse(fmt, await resp.read())
    assert len(rows) == len(stored["readings"])
    assert _readings(rows) == set(stored["readings"])


@pytest.mark.parametrize(("params", "devices"), [
    ({"device": "A000000000000002"}, {"a000000000000002"}),
    ({"site": "ecole-jaures"}, {"a000000000000001", "a000000000000002"}),
    ({"family": "flood"}, {"b000000000000001"}),
    ({"family": "flood", "site": "ecole-jaures"}, set()),
])
async def test_devices_are_selected_by_id_site_or_family(make_client: MakeClient, tokens: dict[str, str],
                                                         stored: dict[str, list[tuple]], params: dict[str, str],
                                                         devices: set[str]) -> None:
    client = await make_client(extras={"registry": REGISTRY})
    resp = await client.get("/api/export/readings", params={**RANGE, **params, "format": "ndjson"},
                            headers=bearer(tokens["viewer"]))
    rows = _parse("ndjson", await resp.read())
    assert {r["dev_eui"] for r in rows} == devices
    expected = [r for r in stored["readings"] if r[1] in devices]
    assert len(rows) == len(expected)


async def test_the_time_range_and_quantity_filter_apply(make_client: MakeClient, tokens: dict[str, str],
                                                        stored: dict[str, list[tuple]]) -> None:
    client = await make_client(extras={"registry": REGISTRY})
    resp = await client.get("/api/export/readings", headers=bearer(tokens["viewer"]), params={
        "from": "2025-03-01T00:30:00+00:00", "to": "2025-03-01T01:30:00+00:00", "quantity": "co2", "format": "json"})
    rows = _readings(_parse("json", await resp.read()))
    start, end = datetime.fromisoformat(RANGE["from"]).replace(minute=30), datetime.fromisoformat(RANGE["from"])
    end = end.replace(hour=1, minute=30)
    assert rows == {r for r in stored["readings"] if r[2] == "co2" and start <= r[0] < end}


@pytest.mark.parametrize(("interval", "buckets"), [("15m", 8), ("1h", 2)])
async def test_aggregated_exports_read_the_rollups(make_client: MakeClient, tokens: dict[str, str],
                                                   stored: dict[str, list[tuple]], interval: str, buckets: int) -> None:
    client = await make_client(extras={"registry": REGISTRY})
    resp = await client.get("/api/export/readings", headers=bearer(tokens["viewer"]), params={
        **RANGE, "interval": interval, "device": "a000000000000001", "quantity": "co2", "format": "csv"})
    rows = _parse("csv", await resp.read())
    assert list(rows[0]) == ["bucket", "dev_eui", "quantity", "min", "avg", "max", "last", "count"]
    assert len(rows) == buckets
    assert sum(int(r["count"]) for r in rows) == 12
    assert max(float(r["max"]) for r in rows) == 611.0


async def test_positions_export_needs_the_operator_role(make_client: MakeClient, tokens: dict[str, str],
                                                        stored: dict[str, list[tuple]]) -> None:
    client = await make_client(extras={"registry": REGISTRY})
    viewer = await client.get("/api/export/positions", params=RANGE, headers=bearer(tokens["viewer"]))
    assert viewer.status == 403
    resp = await client.get("/api/export/positions", params={**RANGE, "format": "parquet", "family": "tracker"},
                            headers=bearer(tokens["operator"]))
    assert resp.status == 200
    rows = _parse("parquet", await resp.read())
    assert {(r["time"], r["dev_eui"], r["latitude"], r["longitude"], r["altitude"], r["accuracy"])
            for r in rows} == set(stored["positions"])


@pytest.mark.parametrize(("params", "message"), [
    ({}, "'from' is required"),
    ({"from": "yesterday"}, "not an ISO 8601"),
    ({**RANGE, "format": "xlsx"}, "unknown format"),
    ({**RANGE, "interval": "5m"}, "unknown interval"),
    ({**RANGE, "family": "lamp"}, "unknown family"),
    ({"from": "2025-03-02", "to": "2025-03-01"}, "must be after"),
])
async def test_bad_parameters_are_answered_400_with_the_reason(make_client: MakeClient, tokens: dict[str, str],
                                                               params: dict[str, str], message: str) -> None:
    client = await make_client(extras={"registry": REGISTRY})
    resp = await client.get("/api/export/readings", params=params, headers=bearer(tokens["viewer"]))
    assert resp.status == 400
    assert message in (await resp.json())["error"]


async def _exporter_backend(db_url: str) -> tuple[str, str] | None:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT state, query FROM pg_stat_activity WHERE application_name = 'beffroi-export'")
        row = await cur.fetchone()
        return (row[0], row[1]) if row else None


async def test_a_large_export_is_streamed_from_a_server_side_cursor_in_batches(
        make_client: MakeClient, tokens: dict[str, str], db_url: str) -> None:
    total = 400_000
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO readings (time, dev_eui, quantity, value) SELECT timestamptz '2024-01-01' + "
                     "make_interval(mins => (i / 100) * 10), lpad(to_hex(i %% 100), 16, '0'), 'co2', i "
                     "FROM generate_series(0, %s - 1) AS i", (total,))
    client = await make_client(env={"BEFFROI_API_EXPORT_BATCH_ROWS": "1000"})
    resp = await client.get("/api/export/readings", params={"from": "2024-01-01", "to": "2025-01-01"},
                            headers=bearer(tokens["viewer"]))
    assert resp.status == 200
    first = await resp.content.readany()
    # the client has read one piece and paused: the server holds an open cursor and fetches batch by batch
    backend = None
    for _ in range(100):
        backend = await _exporter_backend(db_url)
        if backend and backend[0] == "idle in transaction" and backend[1].startswith("FETCH"):
            break
        await asyncio.sleep(0.05)
    assert backend is not None and backend[0] == "idle in transaction"
    assert backend[1].startswith("FETCH FORWARD 1000 FROM")
    chunks, body = 1, bytearray(first)
    async for data, end_of_chunk in resp.content.iter_chunks():
        body += data
        chunks += end_of_chunk
    assert body.count(b"\r\n") == total + 1          # every row and the header
    assert chunks >= total // 1000                   # one HTTP chunk (at least) per fetched batch
    assert await _exporter_backend(db_url) is None    # the dedicated connection is closed at the end


@pytest.mark.parametrize(("value", "cell"), [
    (None, ""), (1.5, "1.5"), (3, "3"), ("co2", "co2"), ('a,"b"', '"a,""b"""'), ("line\nbreak", '"line\nbreak"'),
    (datetime.fromisoformat("2025-03-01T00:10:00+00:00"), "2025-03-01T00:10:00+00:00"),
])
def test_csv_cells_follow_rfc_4180(value: Any, cell: str) -> None:
    from ingest.api.export import _csv_cell

    assert _csv_cell(value) == cell
    if isinstance(value, str):
        assert next(csv.reader(io.StringIO(cell + "\r\n"))) == [value]
