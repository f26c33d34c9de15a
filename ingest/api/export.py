"""Readings and positions exports, streamed: CSV, NDJSON, a JSON array or Parquet, raw or aggregated.

``GET /api/export/readings`` (viewer) and ``GET /api/export/positions`` (operator: tracker positions are personal
data) select devices by ``device`` (repeatable), ``site`` or ``family`` over ``from``/``to``. The rows come from a
server-side cursor on a dedicated connection, ``api.export_batch_rows`` at a time, and each batch is written to the
client before the next is fetched, so a year of a hundred sensors never sits in memory; the client's own pace
throttles the database (aiohttp waits for the socket to drain). ``interval=15m|1h`` reads the aggregates
(``readings_15m`` / ``readings_1h``: continuous aggregates on TimescaleDB, rollup tables on plain PostgreSQL).

At most ``api.export_concurrency`` exports run at once; more are answered 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from aiohttp import web

from ingest.api.app import CONTEXT
from ingest.api.auth import access, json_error
from ingest.api.common import FAMILIES, bad_request, now_of, select_devices, time_range
from ingest.api.openapi import operation, query

__all__ = ["setup", "FORMATS", "KINDS", "stream_rows", "OPENAPI_PATHS"]

log = logging.getLogger(__name__)

FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson", "json": "application/json",
           "parquet": "application/vnd.apache.parquet"}
_PARQUET_ROW_GROUP = 50_000   # rows buffered before a Parquet row group is written (a few MB at most)


@dataclass(frozen=True)
class Kind:
    """One exportable table: its columns (name, Arrow type) and its query (constant SQL, values as parameters)."""

    columns: tuple[tuple[str, pa.DataType], ...]
    query: str


_TS = pa.timestamp("us", tz="UTC")
_DEVICES = "(%(devices)s::text[] IS NULL OR dev_eui = ANY(%(devices)s))"
_QUANTITIES = "(%(quantities)s::text[] IS NULL OR quantity = ANY(%(quantities)s))"
_RANGE = "time >= %(start)s AND time < %(end)s"


def _aggregate(table: str) -> Kind:
    cols = (("bucket", _TS), ("dev_eui", pa.string()), ("quantity", pa.string()), ("min", pa.float64()),
            ("avg", pa.float64()), ("max", pa.float64()), ("last", pa.float64()), ("count", pa.int64()))
    return Kind(cols, f"SELECT bucket, dev_eui, quantity, min, avg, max, last, count FROM {table} "  # noqa: S608
                      f"WHERE bucket >= %(start)s AND bucket < %(end)s AND {_DEVICES} AND {_QUANTITIES} "
                      "ORDER BY bucket, dev_eui, quantity")


KINDS: dict[str, Kind] = {
    "readings": Kind((("time", _TS), ("dev_eui", pa.string()), ("quantity", pa.string()), ("value", pa.float64())),
                     f"SELECT time, dev_eui, quantity, value FROM readings WHERE {_RANGE} AND {_DEVICES} "  # noqa: S608
                     f"AND {_QUANTITIES} ORDER BY time, dev_eui, quantity"),
    "readings_15m": _aggregate("readings_15m"),
    "readings_1h": _aggregate("readings_1h"),
    "positions": Kind((("time", _TS), ("dev_eui", pa.string()), ("latitude", pa.float64()),
                       ("longitude", pa.float64()), ("altitude", pa.float64()), ("accuracy", pa.float64())),
                      f"SELECT time, dev_eui, latitude, longitude, altitude, accuracy FROM positions "  # noqa: S608
                      f"WHERE {_RANGE} AND {_DEVICES} ORDER BY time, dev_eui"),
}
_INTERVALS = {"raw": "readings", "15m": "readings_15m", "1h": "readings_1h"}
_SLOTS: web.AppKey[asyncio.Semaphore] = web.AppKey("beffroi_export_slots", asyncio.Semaphore)


async def stream_rows(url: str, query: str, params: dict[str, Any], batch_rows: int) -> AsyncGenerator[list[tuple], None]:
    """Yield the query's rows ``batch_rows`` at a time from a named (server-side) cursor on its own connection."""
    async with await psycopg.AsyncConnection.connect(url, application_name="beffroi-export") as conn:
        await conn.set_read_only(True)
        async with conn.cursor(name="beffroi_export") as cur:
            await cur.execute(query, params)
            while rows := await cur.fetchmany(batch_rows):
                yield rows


class _Spool:
    """A write-only file for pyarrow's ParquetWriter whose bytes are taken out after each row group."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out, self._chunks = b"".join(self._chunks), []
        return out


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value
    return repr(value) if isinstance(value, float) else str(value)


class _Encoder:
    """Turns batches of rows into bytes for one format; ``end()`` returns the closing bytes."""

    def __init__(self, fmt: str, columns: Sequence[tuple[str, pa.DataType]]) -> None:
        self.fmt = fmt
        self.names = [name for name, _ in columns]
        self.rows_sent = 0
        self._pending: list[tuple] = []
        if fmt == "parquet":
            self._schema = pa.schema(list(columns))
            self._spool = _Spool()
            self._parquet = pq.ParquetWriter(self._spool, self._schema, compression="zstd")

    def start(self) -> bytes:
        if self.fmt == "csv":
            return self._csv([self.names])
        return b"[" if self.fmt == "json" else b""

    def _csv(self, rows: Sequence[Sequence[Any]]) -> bytes:
        # RFC 4180 by hand: twice as fast as csv.writer here, and the hot path of a large export
        return "".join(",".join(map(_csv_cell, row)) + "\r\n" for row in rows).encode()

    def _parquet_flush(self) -> bytes:
        if self._pending:
            arrays = [pa.array(col, type=t) for col, t in zip(zip(*self._pending, strict=True), self._schema.types,
                                                              strict=True)]
            self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
            self._pending = []
        return self._spool.take()

    def batch(self, rows: list[tuple]) -> bytes:
        first = self.rows_sent == 0
        self.rows_sent += len(rows)
        if self.fmt == "csv":
            return self._csv(rows)
        if self.fmt == "parquet":
            self._pending.extend(rows)
            return self._parquet_flush() if len(self._pending) >= _PARQUET_ROW_GROUP else b""
        lines = [json.dumps({k: _text(v) for k, v in zip(self.names, row, strict=True)}) for row in rows]
        if self.fmt == "ndjson":
            return ("\n".join(lines) + "\n").encode()
        return (("" if first else ",") + ",\n".join(lines)).encode()

    def end(self) -> bytes:
        if self.fmt == "parquet":
            head = self._parquet_flush()
            self._parquet.close()
            return head + self._spool.take()
        return b"]\n" if self.fmt == "json" else b""


async def _export(request: web.Request, kind_name: str) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    fmt = request.query.get("format", "csv")
    if fmt not in FORMATS:
        raise bad_request(f"unknown format {fmt[:20]!r}; formats are {', '.join(FORMATS)}")
    start, end = time_range(request, now_of(ctx))
    params = {"start": start, "end": end, "devices": await select_devices(request),
              "quantities": request.query.getall("quantity", []) or None}
    kind = KINDS[kind_name]
    slots = request.app[_SLOTS]
    if slots.locked():
        raise json_error(web.HTTPTooManyRequests, "too many exports are running; retry in a minute",
                         **{"Retry-After": "60"})
    async with slots:
        encoder = _Encoder(fmt, kind.columns)
        response = web.StreamResponse(headers={
            "Content-Type": FORMATS[fmt],
            "Content-Disposition": f'attachment; filename="{kind_name}_{start:%Y%m%dT%H%M}_{end:%Y%m%dT%H%M}'
                                   f'.{fmt}"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(encoder.start())
        rows = stream_rows(ctx.config.get("database", "url"), kind.query, params,
                           ctx.config.get("api", "export_batch_rows"))
        async with aclosing(rows):    # a client that hangs up closes the cursor and its connection at once
            async for batch in rows:
                chunk = encoder.batch(batch)
                if chunk:
                    await response.write(chunk)   # waits for the client: the cursor advances at its pace
        await response.write(encoder.end())
        await response.write_eof()
    log.info("export %s as %s: %d rows", kind_name, fmt, encoder.rows_sent,
             extra={"rows": encoder.rows_sent, "from": start.isoformat(), "to": end.isoformat()})
    return response


@access("viewer")
async def export_readings(request: web.Request) -> web.StreamResponse:
    interval = request.query.get("interval", "raw")
    if interval not in _INTERVALS:
        raise bad_request(f"unknown interval {interval[:20]!r}; intervals are {', '.join(_INTERVALS)}")
    return await _export(request, _INTERVALS[interval])


@access("operator")
async def export_positions(request: web.Request) -> web.StreamResponse:
    return await _export(request, "positions")


_SELECTION = [
    query("from", {"type": "string", "format": "date-time"}, "start of the range (inclusive), ISO 8601",
          required=True),
    query("to", {"type": "string", "format": "date-time"}, "end of the range (exclusive); default now"),
    query("device", {"type": "string", "pattern": "^[0-9A-Fa-f:-]{16,23}$"}, "DevEUI; repeat for several",
          repeat=True),
    query("site", {"type": "string"}, "devices of this site"),
    query("family", {"type": "string", "enum": list(FAMILIES)}, "devices of this family"),
    query("format", {"type": "string", "enum": list(FORMATS), "default": "csv"},
          "csv, ndjson (one JSON object per line), json (one array) or parquet"),
]
_STREAM = {"description": "the rows, streamed (chunked transfer encoding), as an attachment",
           "content": {media.split(";")[0]: {"schema": {"type": "string"}} for media in FORMATS.values()}}
_ERRORS = {"400": "a parameter is missing or invalid (the message says which)",
           "429": "too many failed authentications, or too many exports running (Retry-After)"}
OPENAPI_PATHS = {
    "/api/export/readings": {"get": operation(
        "Export readings of a device, site or family over a time range", "viewer", tags=["export"],
        parameters=[*_SELECTION,
                    query("quantity", {"type": "string"}, "only these quantities (co2, water_level...)", repeat=True),
                    query("interval", {"type": "string", "enum": list(_INTERVALS), "default": "raw"},
                          "raw readings, or 15-minute / hourly aggregates (min, avg, max, last, count)")],
        responses={"200": _STREAM}, errors=_ERRORS)},
    "/api/export/positions": {"get": operation(
        "Export tracker positions (personal data: operator role)", "operator", tags=["export"],
        parameters=_SELECTION, responses={"200": _STREAM}, errors=_ERRORS)},
}


def setup(app: web.Application) -> None:
    app[_SLOTS] = asyncio.Semaphore(app[CONTEXT].config.get("api", "export_concurrency"))
    app.router.add_get("/api/export/readings", export_readings)
    app.router.add_get("/api/export/positions", export_positions)
