"""The rules engine: evaluates rules on each committed batch of readings, and on a periodic tick.

``Engine.on_batch(readings, positions)`` is the callback the ingest writer awaits after each commit: it loads,
for the devices in the batch, the series each matching rule needs (a few bulk queries, whatever the number of
rules), evaluates the rule kinds, and writes only when a verdict disagrees with the open alert — one short
transaction per (rule, device) that changes. ``Engine.tick()`` handles what time alone changes: no-data rules,
pending alerts whose ``for`` has elapsed, event windows that expire, escalations and repeats.

The engine keeps no state of its own between calls: alerts live in the database, series are re-read, so a
restarted (or a second) engine carries on where the first stopped. The clock is injected.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from devices.base import PositionRow, ReadingRow
from rules.compose import AlertView, Composer
from rules.directory import Setup
from rules.fleet import Fleet
from rules.lifecycle import Lifecycle
from rules.model import DeviceInfo, DeviceSeries, Point, Series, Track, Verdict
from rules.ruleset import Rule
from rules.store import AlertRow, open_alerts

__all__ = ["Engine", "autocommit"]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@asynccontextmanager
async def autocommit(pool: AsyncConnectionPool) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit mode (each ``conn.transaction()`` commits on its own), given back to the
    pool as it was found: the pool is shared with the writer and the API."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            if not conn.closed:
                await conn.set_autocommit(False)


def _needs_write(verdict: Verdict, alert: AlertRow | None) -> bool:
    if verdict.status == "hold":
        return False
    if alert is None:
        return verdict.status in ("pending", "firing")
    if verdict.status == "ok":
        return True
    if verdict.status == "firing":
        return (alert.state == "pending" or (verdict.severity is not None and verdict.severity > alert.severity)
                or verdict.value != alert.value)
    return False


class Engine:
    def __init__(self, pool: AsyncConnectionPool, setup: Setup, composer: Composer, fleet: Fleet,
                 clock: Clock, actor: str = "engine") -> None:
        self.pool = pool
        self.setup = setup
        self.rules = {r.id: r for r in setup.rules}
        self.fleet = fleet
        self.clock = clock
        self.actor = actor
        self.lifecycle = Lifecycle(setup.routing, composer, self.rules, setup.silences)

    # -- entry points ------------------------------------------------------------------------------------------

    async def on_batch(self, readings: Sequence[ReadingRow], positions: Sequence[PositionRow]) -> int:
        """Evaluate the rules touched by a committed batch; returns the number of alert transitions made."""
        fresh: dict[str, set[str]] = defaultdict(set)
        for r in readings:
            fresh[r.dev_eui].add(r.quantity)
        moved = {p.dev_eui for p in positions}
        if not fresh and not moved:
            return 0
        # A host clock behind the network server's (skew, a backward step) must not hide the batch being
        # evaluated: evaluate no earlier than the newest time it carries.
        now = max([self.clock(), *(r.time for r in readings), *(p.time for p in positions)])
        async with autocommit(self.pool) as conn:
            devices = await self.fleet.load(conn, set(fresh) | moved)
            pairs = []
            for rule in self.setup.rules:
                cond = rule.condition
                for dev_eui, (device, _) in devices.items():
                    touched = (set(cond.quantities) & fresh.get(dev_eui, set())
                               or (cond.uses_positions and dev_eui in moved)
                               or (not cond.quantities and not cond.uses_positions))  # no_data: any sign of life
                    if touched and rule.selector.matches(device):
                        pairs.append((rule, device))
            return await self._evaluate(conn, pairs, devices, now)

    async def tick(self) -> int:
        """Time-driven work; returns the number of alert transitions and notifications scheduled."""
        now = self.clock()
        async with autocommit(self.pool) as conn:
            devices = await self.fleet.load(conn)
            alerts = await open_alerts(conn)
            await self._close_orphans(conn, alerts, now)
            pairs = []
            for rule in self.setup.rules:
                for dev_eui, (device, _) in devices.items():
                    if ((rule.id, dev_eui) in alerts or rule.condition.on_tick) and rule.selector.matches(device):
                        pairs.append((rule, device))
            count = await self._evaluate(conn, pairs, devices, now)
            while True:
                async with conn.transaction():
                    done = await self.lifecycle.process_due(conn, now, self._view)
                count += done
                if done < 100:
                    break
        return count

    # -- internals ---------------------------------------------------------------------------------------------

    async def _close_orphans(self, conn: AsyncConnection, alerts: dict[tuple[str, str], AlertRow],
                             now: datetime) -> None:
        for (rule_id, _), alert in list(alerts.items()):
            if rule_id not in self.rules:
                async with conn.transaction():
                    await self.lifecycle.resolve_removed(conn, alert.id, now)
                log.warning("alert %s resolved: its rule %r is no longer in the rule files", alert.id, rule_id,
                            extra={"rule": rule_id, "dev_eui": alert.dev_eui})

    async def _evaluate(self, conn: AsyncConnection, pairs: list[tuple[Rule, DeviceInfo]],
                        devices: dict[str, tuple[DeviceInfo, datetime | None]], now: datetime) -> int:
        if not pairs:
            return 0
        readings = await self._load_readings(conn, pairs, now)
        tracks = await self._load_tracks(conn, pairs, now)
        alerts = await open_alerts(conn, {r.id for r, _ in pairs}, {d.dev_eui for _, d in pairs})
        count = 0
        for rule, device in pairs:
            cond = rule.condition
            since = now - cond.window
            per_quantity = {}
            for q in cond.quantities:
                samples = [(t, v) for t, v in readings.get((device.dev_eui, q), ()) if t >= since]
                per_quantity[q] = Series.of(samples)
            points = tuple(p for p in tracks.get(device.dev_eui, ()) if p.time >= since)
            series = DeviceSeries(device, per_quantity, Track(points), devices[device.dev_eui][1])
            try:
                verdict = cond.evaluate(series, now)
            except Exception:  # a kind bug must not stop the other rules; say loudly which one
                log.exception("rule %s failed to evaluate for device %s", rule.id, device.dev_eui,
                              extra={"rule": rule.id, "dev_eui": device.dev_eui})
                continue
            if not _needs_write(verdict, alerts.get((rule.id, device.dev_eui))):
                continue
            async with conn.transaction():
                moved = await self.lifecycle.apply(conn, rule, device, verdict, now, self.actor)
            if moved:
                count += 1
                log.info("rule %s on %s: %s (%s)", rule.id, device.dev_eui, moved, verdict.summary,
                         extra={"rule": rule.id, "dev_eui": device.dev_eui, "severity": verdict.severity})
        return count

    async def _load_readings(self, conn: AsyncConnection, pairs: Iterable[tuple[Rule, DeviceInfo]],
                             now: datetime) -> dict[tuple[str, str], list[tuple[datetime, float]]]:
        windows: dict[str, timedelta] = {}
        devs: dict[str, set[str]] = defaultdict(set)
        for rule, device in pairs:
            for q in rule.condition.quantities:
                windows[q] = max(windows.get(q, timedelta(0)), rule.condition.window)
                devs[q].add(device.dev_eui)
        out: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
        for q, window in windows.items():
            cur = await conn.execute(
                "SELECT dev_eui, time, value FROM readings WHERE dev_eui = ANY(%s) AND quantity = %s "
                "AND time >= %s AND time <= %s ORDER BY time", (sorted(devs[q]), q, now - window, now))
            for dev_eui, time, value in await cur.fetchall():
                out[(dev_eui, q)].append((time, value))
        return out

    async def _load_tracks(self, conn: AsyncConnection, pairs: Iterable[tuple[Rule, DeviceInfo]],
                           now: datetime) -> dict[str, list[Point]]:
        window, devs = timedelta(0), set()
        for rule, device in pairs:
            if rule.condition.uses_positions:
                window = max(window, rule.condition.window)
                devs.add(device.dev_eui)
        out: dict[str, list[Point]] = defaultdict(list)
        if devs:
            cur = await conn.execute(
                "SELECT dev_eui, time, latitude, longitude FROM positions WHERE dev_eui = ANY(%s) AND time >= %s "
                "AND time <= %s ORDER BY time", (sorted(devs), now - window, now))
            for dev_eui, time, lat, lon in await cur.fetchall():
                out[dev_eui].append(Point(time, lat, lon))
        return out

    async def _view(self, conn: AsyncConnection, alert: AlertRow) -> AlertView:
        rule = self.rules[alert.rule]
        found = await self.fleet.load(conn, [alert.dev_eui])
        device = found[alert.dev_eui][0] if alert.dev_eui in found else DeviceInfo(alert.dev_eui)
        quantities = rule.condition.quantities
        return AlertView(alert, rule.title, rule.description, device, quantities[0] if quantities else None)
