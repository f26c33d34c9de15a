"""The batch writer against PostgreSQL: one transaction per batch, idempotent, ack after commit, rollups, retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from devices.base import PositionRow, ReadingRow
from ingest.batch import Item, Provision, RejectRow
from ingest.messages import DeviceEvent
from ingest.metrics import Metrics
from ingest.rollups import merge_pending_sync
from ingest.writer import Writer, connector
from tests.ingest.ingest_support import T0, count, new_eui, register, uplink, wait_for


def _item(eui: str, f_cnt: int, values: dict[str, float] | None = None, token: Any = None) -> Item:
    up = uplink(eui, f_cnt)
    values = values if values is not None else {"temperature": 20.0 + f_cnt, "humidity": 50.0}
    return Item(token=token, source="chirpstack-json", uplink=up,
                readings=[ReadingRow(up.time, eui, q, v) for q, v in values.items()])


@pytest.fixture
async def run_writer(module_db_url: str) -> AsyncIterator[Callable[..., Writer]]:
    tasks: list[asyncio.Task[None]] = []
    writers: list[Writer] = []

    def start(**kw: Any) -> Writer:
        kw.setdefault("max_age_s", 0.02)
        w = Writer(kw.pop("connect", connector(module_db_url)), flavour="postgresql", metrics=Metrics(), **kw)
        writers.append(w)
        tasks.append(asyncio.create_task(w.run()))
        return w
    yield start
    for w in writers:
        await w.close()
    for t in tasks:
        try:
            await asyncio.wait_for(t, 5)
        except (TimeoutError, asyncio.CancelledError):
            t.cancel()
    for w in writers:
        await w.aclose_connection()


async def test_a_batch_stores_uplinks_readings_positions_events_and_rejects(mdb: psycopg.Connection,
                                                                            run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    register(mdb, eui)
    w = run_writer()
    item = _item(eui, 1)
    item.positions.append(PositionRow(item.uplink.time, eui, 44.1, 3.5, 600.0, 12.0))  # type: ignore[union-attr]
    item.events.append(DeviceEvent(eui, T0, "log", "UPLINK_CODEC", "chirpstack-json", level="ERROR",
                                   description="boom", context={"k": "v"}))
    item.rejects.append(RejectRow(T0, "chirpstack-json", "out_of_range", "co2: 99999 ppm outside", "t/x", eui))
    await w.put(item)
    await wait_for(lambda: count(mdb, "readings", eui) == 2, "readings")
    assert count(mdb, "uplinks", eui) == 1 and count(mdb, "positions", eui) == 1
    assert count(mdb, "device_events", eui) == 1 and count(mdb, "rejects", eui) == 1
    state = mdb.execute("SELECT last_f_cnt, uplinks, last_rssi FROM device_state WHERE dev_eui = %s", (eui,)).fetchone()
    assert state == (1, 1, -97.0)


async def test_the_same_messages_twice_add_no_rows_and_listeners_see_only_new_rows(
        mdb: psycopg.Connection, run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    register(mdb, eui)
    w = run_writer()
    seen: list[list[ReadingRow]] = []

    async def listener(readings: list[ReadingRow], positions: list[PositionRow]) -> None:
        seen.append(readings)
    w.add_listener(listener)
    for _ in range(2):
        await w.put(_item(eui, 1))
        await w.put(_item(eui, 2))
        await wait_for(lambda: sum(len(s) for s in seen) >= 4 and w.pending == 0, "commit")
        await asyncio.sleep(0.1)
    assert count(mdb, "uplinks", eui) == 2 and count(mdb, "readings", eui) == 4
    assert sum(len(s) for s in seen) == 4            # the second round inserted nothing
    assert mdb.execute("SELECT uplinks FROM device_state WHERE dev_eui = %s", (eui,)).fetchone() == (2,)
    assert mdb.execute("SELECT sum(count) FROM rollup_pending WHERE dev_eui = %s", (eui,)).fetchone() == (4,)
    merge_pending_sync(mdb)
    rollup = mdb.execute("SELECT sum(count) FROM readings_1h WHERE dev_eui = %s", (eui,)).fetchone()
    assert rollup == (4,)


async def test_rollups_hold_min_max_avg_last_count_of_inserted_rows(mdb: psycopg.Connection,
                                                                    run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    register(mdb, eui)
    w = run_writer(max_messages=2)
    values = [21.0, 25.0, 19.0, 23.0]               # at T0 + 10, 20, 30, 40 minutes: one hour, three quarters
    for i, v in enumerate(values, start=1):
        await w.put(_item(eui, i, {"temperature": v}))
    await wait_for(lambda: count(mdb, "readings", eui) == 4, "readings")
    await w.put(_item(eui, 3, {"temperature": 19.0}))   # a redelivery must not be counted again
    await asyncio.sleep(0.2)
    merge_pending_sync(mdb)
    hour = mdb.execute("SELECT min, max, avg, last, count FROM readings_1h WHERE dev_eui = %s", (eui,)).fetchone()
    assert hour == (19.0, 25.0, 22.0, 23.0, 4)
    quarters = mdb.execute("SELECT bucket, count, last FROM readings_15m WHERE dev_eui = %s ORDER BY bucket",
                          (eui,)).fetchall()
    assert [(b - T0, c, last) for b, c, last in quarters] == [
        (timedelta(0), 1, 21.0), (timedelta(minutes=15), 1, 25.0), (timedelta(minutes=30), 2, 23.0)]


async def test_acknowledgements_come_after_the_commit(module_db_url: str, mdb: psycopg.Connection,
                                                       run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    register(mdb, eui)
    visible_at_ack: list[int] = []

    def ack(tokens: Any) -> None:
        with psycopg.connect(module_db_url) as other:       # another session sees only committed rows
            row = other.execute("SELECT count(*) FROM uplinks WHERE dev_eui = %s", (eui,)).fetchone()
            assert row is not None
            visible_at_ack.append(row[0])
        acked.extend(tokens)
    acked: list[Any] = []
    w = run_writer(ack=ack, max_messages=3)
    for i in range(3):
        await w.put(_item(eui, i + 1, token=f"t{i}"))
    await wait_for(lambda: len(acked) == 3, "acks")
    assert acked == ["t0", "t1", "t2"] and visible_at_ack == [3]


async def test_a_committed_batch_is_notified_on_beffroi_batch(module_db_url: str, mdb: psycopg.Connection,
                                                              run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    register(mdb, eui)
    async with await psycopg.AsyncConnection.connect(module_db_url, autocommit=True) as listen:
        await listen.execute("LISTEN beffroi_batch")
        w = run_writer()
        await w.put(_item(eui, 1))
        gen = listen.notifies(timeout=10, stop_after=1)
        notes = [n async for n in gen]
    assert len(notes) == 1
    payload = json.loads(notes[0].payload)
    assert payload["readings"] == 2 and payload["from"].startswith("2025-03-20")


async def test_a_terminated_connection_is_replaced_and_the_batch_retried(mdb: psycopg.Connection,
                                                                         run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    register(mdb, eui)
    acked: list[Any] = []
    w = run_writer(ack=acked.extend, max_messages=5)
    for i in range(5):
        await w.put(_item(eui, i + 1, token=i))
    await wait_for(lambda: len(acked) == 5, "first batch")
    mdb.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'beffroi-writer' "
               "AND datname = current_database()")
    for i in range(5, 10):
        await w.put(_item(eui, i + 1, token=i))
    await wait_for(lambda: len(acked) == 10, "second batch after the connection was killed")
    assert count(mdb, "uplinks", eui) == 10 and count(mdb, "readings", eui) == 20


async def test_nothing_is_acknowledged_while_the_database_is_unreachable(
        module_db_url: str, mdb: psycopg.Connection, run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    register(mdb, eui)
    reachable = asyncio.Event()
    real = connector(module_db_url)

    async def flaky() -> psycopg.AsyncConnection[Any]:
        if not reachable.is_set():
            raise psycopg.OperationalError("connection refused (simulated)")
        return await real()
    acked: list[Any] = []
    w = run_writer(connect=flaky, ack=acked.extend, max_messages=2, reconnect_max_s=0.1)
    for i in range(4):
        await w.put(_item(eui, i + 1, token=i))
    put_more = asyncio.create_task(w.put(_item(eui, 5, token=4)))   # batch and buffer full: put must wait
    await asyncio.sleep(0.3)
    assert acked == [] and not put_more.done()
    reachable.set()
    await wait_for(lambda: len(acked) == 5, "acks after the database came back")
    assert sorted(acked) == [0, 1, 2, 3, 4] and count(mdb, "uplinks", eui) == 5


async def test_a_message_the_database_refuses_becomes_a_reject_and_the_rest_is_stored(
        mdb: psycopg.Connection, run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    register(mdb, eui)
    acked: list[Any] = []
    w = run_writer(ack=acked.extend, max_messages=3)
    bad = _item(eui, 2, token="bad")
    bad.raw = b'{"nul": "\\u0000"}'
    bad.events.append(DeviceEvent(eui, T0, "log", "UPLINK_CODEC", "chirpstack-json", description="nul \x00 here"))
    for item in (_item(eui, 1, token="a"), bad, _item(eui, 3, token="c")):
        await w.put(item)
    await wait_for(lambda: len(acked) == 3, "acks")
    assert count(mdb, "uplinks", eui) == 2 and count(mdb, "device_events", eui) == 0
    row = mdb.execute("SELECT reason, raw FROM rejects WHERE dev_eui = %s", (eui,)).fetchone()
    assert row == ("invalid_field", b'{"nul": "\\u0000"}')


async def test_provisioned_devices_are_registered_as_unassigned(mdb: psycopg.Connection,
                                                                run_writer: Callable[..., Writer]) -> None:
    eui = new_eui()
    w = run_writer()
    item = _item(eui, 1, {})
    item.provision = Provision(eui, "sensor-x", {"profile_hint": "milesight-am307"})
    await w.put(item)
    await wait_for(lambda: count(mdb, "uplinks", eui) == 1, "uplink")
    row = mdb.execute("SELECT name, status, profile, tags FROM devices WHERE dev_eui = %s", (eui,)).fetchone()
    assert row == ("sensor-x", "unassigned", None, {"profile_hint": "milesight-am307"})
    assert count(mdb, "device_state", eui) == 1


@pytest.mark.parametrize(("url_options", "expected"), [
    ("", "1500ms"),                                  # nothing set: the configured timeout applies
    ("options=-c%20statement_timeout%3D250", "250ms"),  # the URL's own timeout wins
])
async def test_writer_connections_carry_a_statement_timeout_unless_one_is_set(
        db_url: str, url_options: str, expected: str) -> None:
    url = f"{db_url}?{url_options}" if url_options else db_url
    conn = await connector(url, statement_timeout_s=1.5)()
    try:
        row = await (await conn.execute("SHOW statement_timeout")).fetchone()
        assert row is not None and row[0] == expected
    finally:
        await conn.close()
