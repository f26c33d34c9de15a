"""The batch writer: a bounded buffer in front of one database connection, flushed on size or age.

``put(item)`` adds one message's worth of rows; a batch is committed when it holds ``max_rows`` rows or
``max_messages`` messages, or when its oldest message is ``max_age_s`` old. While a batch commits, the next one
fills; when that one is full too, ``put`` waits — which stops the pipeline, which stops reading MQTT: memory stays
bounded and nothing is dropped.

After a commit, and only then, the batch's MQTT messages are acknowledged (``ack(tokens)``), then every listener
is awaited with the rows the batch actually inserted (``add_listener``; the rules engine subscribes here).

Failures:

* the database is unreachable, the connection dies, a deadlock: nothing is acknowledged, the writer reconnects
  with capped, jittered backoff and retries the *same* batch. The inserts are idempotent, so a commit that
  succeeded but whose answer was lost adds nothing on retry (its listeners then see no rows: the rules engine in
  another process still gets the ``beffroi_batch`` notification of the first commit);
* the database refuses the data itself (e.g. a NUL character in a text): the batch is written again message by
  message, and a message that is still refused becomes a reject (``invalid_field``) instead of blocking the stream.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg

from devices.base import PositionRow, ReadingRow
from ingest.batch import Committed, Item, RejectRow, prepare_session, write_batch
from ingest.db import Flavour
from ingest.messages import Reason
from ingest.metrics import Metrics

__all__ = ["Writer", "BatchListener", "Connector", "connector"]

log = logging.getLogger(__name__)

BatchListener = Callable[[list[ReadingRow], list[PositionRow]], Awaitable[None]]
_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, OSError)
_IDLE_CHECK_S = 5.0


class Connector(Protocol):
    async def __call__(self) -> psycopg.AsyncConnection[Any]: ...


def connector(url: str, statement_timeout_s: float = 0.0) -> Connector:
    """Connections for the writer. A statement that waits longer than ``statement_timeout_s`` (a lock, a stuck
    disk) is cancelled, so the batch is retried with backoff and /readyz shows the outage instead of the writer
    hanging silently; applied only where neither the URL nor the server already sets a timeout."""
    async def connect() -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(url, application_name="beffroi-writer")
        if statement_timeout_s > 0:
            current = await (await conn.execute("SHOW statement_timeout")).fetchone()
            if current is not None and current[0] == "0":
                await conn.execute("SELECT set_config('statement_timeout', %s, false)",
                                   (f"{int(statement_timeout_s * 1000)}ms",))
            await conn.commit()
        return conn
    return connect


class Writer:
    def __init__(self, connect: Connector, *, flavour: Flavour, metrics: Metrics, max_rows: int = 5000,
                 max_messages: int = 1000, max_age_s: float = 0.2, reconnect_max_s: float = 30.0,
                 ack: Callable[[Sequence[Any]], None] | None = None,
                 on_state: Callable[[bool], None] | None = None) -> None:
        self._connect = connect
        self._rollups = flavour == "postgresql"
        self._metrics = metrics
        self._max_rows, self._max_messages, self._max_age = max_rows, max_messages, max_age_s
        self._reconnect_max = reconnect_max_s
        self._ack = ack
        self._on_state = on_state
        self._listeners: list[BatchListener] = []
        self._pending: list[Item] = []
        self._pending_rows = 0
        self._first_at = 0.0
        self._wake = asyncio.Event()        # pending became non-empty or full, or closing
        self._space = asyncio.Event()       # the pending batch was taken: put() may go on
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._closing = False
        self.connected = False
        metrics.watch_queue("writer", lambda: len(self._pending))

    def set_ack(self, ack: Callable[[Sequence[Any]], None]) -> None:
        self._ack = ack

    def add_listener(self, callback: BatchListener) -> None:
        """``await callback(readings, positions)`` after each commit, with the rows that commit inserted."""
        self._listeners.append(callback)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _full(self) -> bool:
        return len(self._pending) >= self._max_messages or self._pending_rows >= self._max_rows

    def _append(self, item: Item) -> None:
        if not self._pending:
            self._first_at = time.monotonic()
            self._wake.set()
        self._pending.append(item)
        self._pending_rows += item.rows
        if self._full():
            self._wake.set()

    def offer(self, item: Item) -> bool:
        """Add *item* if the next batch has room (no waiting); False when full (then ``await put``)."""
        if self._full():
            return False
        self._append(item)
        return True

    async def put(self, item: Item) -> None:
        """Add *item*, waiting while the next batch is full (a commit is in progress or the database is down)."""
        while self._full():
            self._space.clear()
            await self._space.wait()
        self._append(item)

    async def run(self) -> None:
        """Commit batches until ``close()``; then commit what is pending and return."""
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), _IDLE_CHECK_S)
                except TimeoutError:
                    await self._check_idle()
                continue
            while not (self._closing or self._full()):
                remaining = self._first_at + self._max_age - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except TimeoutError:
                    break
            batch, self._pending, self._pending_rows = self._pending, [], 0
            self._space.set()
            await self._commit(batch)

    async def _check_idle(self) -> None:
        """While no batch flows, keep the connection (and the readiness it reports) honest."""
        try:
            conn = await self._connection()
            await conn.execute("SELECT 1")
            await conn.rollback()
        except _TRANSIENT as exc:
            if self.connected:
                log.warning("database connection lost while idle (%s); reconnecting", exc)
            await self._lost()

    async def close(self) -> None:
        """Ask ``run()`` to commit what is pending and stop (cancel ``run()`` to give up instead)."""
        self._closing = True
        self._wake.set()

    async def aclose_connection(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # ----------------------------------------------------------------------------------------- commit

    async def _commit(self, batch: list[Item]) -> None:
        attempt = 0
        while True:
            try:
                conn = await self._connection()
                started = time.monotonic()
                committed = await self._write(conn, batch)
                self._metrics.commit_seconds.observe(time.monotonic() - started)
                break
            except _TRANSIENT as exc:
                await self._lost()
                self._metrics.batch_retries.inc()
                delay = min(self._reconnect_max, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.0)
                attempt += 1
                log.warning("database write failed (%s: %s); retrying the batch of %d messages in %.1f s, "
                            "nothing acknowledged", type(exc).__name__, exc, len(batch), delay)
                await asyncio.sleep(delay)
        if self._ack is not None:
            self._ack([i.token for i in batch if i.token is not None])
        self._account(batch, committed)
        for listener in self._listeners:
            try:
                await listener(committed.readings, committed.positions)
            except Exception:
                log.exception("batch listener %r failed; the batch is committed and stays so", listener)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            conn = await self._connect()
            await prepare_session(conn)
            self._conn = conn
            self._set_state(True)
        return self._conn

    async def _lost(self) -> None:
        conn, self._conn = self._conn, None
        self._set_state(False)
        if conn is not None and not conn.closed:
            # the connection may be fine (a deadlock): closing it is simpler than reasoning about its state
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except (TimeoutError, *_TRANSIENT):
                pass

    def _set_state(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            self._metrics.up.labels("database").set(1 if up else 0)
            if self._on_state is not None:
                self._on_state(up)

    async def _write(self, conn: psycopg.AsyncConnection[Any], batch: list[Item]) -> Committed:
        want_rows = bool(self._listeners)
        try:
            async with conn.transaction():
                return await write_batch(conn, batch, rollups=self._rollups, want_rows=want_rows)
        except _TRANSIENT:
            raise
        except (psycopg.Error, ValueError, UnicodeError) as exc:
            log.warning("the database refused a batch of %d messages (%s); writing them one by one",
                        len(batch), exc)
        total = Committed()
        for item in batch:
            try:
                async with conn.transaction():
                    one = await write_batch(conn, [item], rollups=self._rollups, want_rows=want_rows)
            except _TRANSIENT:
                raise
            except (psycopg.Error, ValueError, UnicodeError) as exc:
                one = await self._refused(conn, item, exc)
            total.readings += one.readings
            total.positions += one.positions
            total.uplinks_offered += one.uplinks_offered
            for table, n in one.counts.items():
                total.counts[table] = total.counts.get(table, 0) + n
        return total

    async def _refused(self, conn: psycopg.AsyncConnection[Any], item: Item, exc: BaseException) -> Committed:
        dev_eui = item.uplink.dev_eui if item.uplink else next((r.dev_eui for r in item.rejects), None)
        log.error("the database refused a message; stored as a reject", extra={
            "dev_eui": dev_eui, "topic": item.topic, "reason": Reason.INVALID_FIELD, "error": str(exc)})
        item.uplink, item.readings, item.positions, item.events, item.provision = None, [], [], [], None
        item.outcome = "rejected"
        item.rejects = [RejectRow(datetime.now(UTC), item.source or "unknown", Reason.INVALID_FIELD,
                                  _clean(f"the database refused this message: {exc}"), _clean(item.topic),
                                  dev_eui, item.raw)]
        async with conn.transaction():
            return await write_batch(conn, [item], rollups=self._rollups, want_rows=False)

    def _account(self, batch: list[Item], committed: Committed) -> None:
        m = self._metrics
        m.batch_messages.observe(len(batch))
        outcomes: dict[tuple[str, str], int] = {}
        reasons: dict[str, int] = {}
        oldest: datetime | None = None
        for item in batch:
            key = (item.source or "unknown", item.outcome)
            outcomes[key] = outcomes.get(key, 0) + 1
            for r in item.rejects:
                reasons[r.reason] = reasons.get(r.reason, 0) + 1
            if item.uplink is not None and (oldest is None or item.uplink.time < oldest):
                oldest = item.uplink.time
        for (source, outcome), n in outcomes.items():
            m.messages.labels(source, outcome).inc(n)
        for reason, n in reasons.items():
            m.rejects.labels(reason).inc(n)
        for table, n in committed.counts.items():
            m.rows.labels(table).inc(n)
        m.duplicates.inc(committed.uplinks_offered - committed.counts.get("uplinks", 0))
        if oldest is not None:
            m.lag_seconds.set((datetime.now(UTC) - oldest).total_seconds())


def _clean(text: str) -> str:
    """Text PostgreSQL accepts: no NUL, valid UTF-8."""
    return text.replace("\x00", "\\0").encode("utf-8", "replace").decode("utf-8")
