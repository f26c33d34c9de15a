"""Helpers shared by the ingest tests: register devices, build realistic uplinks, count rows, run a service."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from devices.base import Radio, Uplink

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
T0 = datetime(2025, 3, 20, 10, 0, 0, tzinfo=UTC)


def new_eui() -> str:
    return secrets.token_hex(8)


def register(db: psycopg.Connection, dev_eui: str, profile: str | None = "milesight-am307", *,
             status: str = "active", params: Mapping[str, Any] | None = None, name: str | None = None) -> None:
    db.execute("INSERT INTO devices (dev_eui, name, profile, status, params) VALUES (%s, %s, %s, %s, %s)",
               (dev_eui, name or f"test-{dev_eui}", profile, status, json.dumps(dict(params or {}))))


def vector(profile: str, index: int = 0) -> tuple[int, bytes]:
    """(fPort, payload) of a real example from tests/vectors."""
    example = json.loads((VECTORS / f"{profile}.json").read_text())["examples"][index]
    return int(example["fPort"]), bytes.fromhex(example["bytes_hex"])


# Milesight AM307 periodic frame: temperature 30.8 °C, humidity 50.5 %, battery 92 % (tests/vectors, example 0,
# cut before the item the decoder does not know).
AM307_PORT, AM307_PAYLOAD = 85, bytes.fromhex("01755c03673401046865")
AM307_READINGS = {"battery": 92.0, "temperature": 30.8, "humidity": 50.5}


def uplink(dev_eui: str, f_cnt: int, *, payload: bytes = AM307_PAYLOAD, f_port: int = AM307_PORT,
           time: datetime | None = None) -> Uplink:
    return Uplink(dev_eui, time or T0 + timedelta(minutes=10 * f_cnt), f_cnt, f_port, payload, "test",
                  radio=Radio(rssi=-97, snr=6.5, gateways=1, gateway_id="7276ff002e0601aa", frequency=868_100_000,
                              dr=5))


def count(db: psycopg.Connection, table: str, dev_eui: str | None = None) -> int:
    if dev_eui is None:
        row = db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - table names from the tests
    else:
        row = db.execute(f"SELECT count(*) FROM {table} WHERE dev_eui = %s", (dev_eui,)).fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def reasons(db: psycopg.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT reason FROM rejects ORDER BY id")]


async def wait_for(predicate: Any, what: str, limit_s: float = 20.0) -> None:
    """Poll *predicate* (a no-argument callable) until true; fail naming *what* after *limit_s* seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
