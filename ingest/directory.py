"""The registered devices, held in memory for the pipeline (one dict lookup per message).

The whole ``devices`` table is loaded at start and reloaded every ``refresh_s`` (10 000 devices take a few
milliseconds), so profile or parameter changes made through the API or ``beffroi devices import`` reach the
decoder within that period. A DevEUI missing from memory is looked up in the database at once (a device
registered a second ago works immediately); when it is not there either, it is remembered as unknown for
``negative_ttl_s`` so that a chatty unregistered device does not cost a query per uplink.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

__all__ = ["DeviceInfo", "DeviceDirectory"]

log = logging.getLogger(__name__)

_MAX_UNKNOWN = 100_000
_SELECT_ALL = "SELECT dev_eui, name, profile, status, params FROM devices"
_SELECT_ONE = "SELECT dev_eui, name, profile, status, params FROM devices WHERE dev_eui = %s"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    dev_eui: str
    name: str
    profile: str | None
    status: str                     # active | unassigned | disabled
    params: Mapping[str, Any] = field(default_factory=dict)


def _info(row: tuple[Any, ...]) -> DeviceInfo:
    return DeviceInfo(row[0], row[1], row[2], row[3], row[4] or {})


class DeviceDirectory:
    def __init__(self, pool: AsyncConnectionPool, *, negative_ttl_s: float = 60.0, refresh_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pool = pool
        self._negative_ttl = negative_ttl_s
        self._refresh = refresh_s
        self._clock = clock
        self._known: dict[str, DeviceInfo] = {}
        self._unknown: dict[str, float] = {}        # dev_eui -> monotonic time until which it is known-unknown

    def __len__(self) -> int:
        return len(self._known)

    def cached(self, dev_eui: str) -> DeviceInfo | None:
        """The device if it is in memory (no I/O)."""
        return self._known.get(dev_eui)

    async def load(self) -> int:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_SELECT_ALL)).fetchall()
        known = {row[0]: _info(row) for row in rows}
        # keep devices provisioned in memory whose row is not committed yet
        for eui, info in self._known.items():
            if eui not in known and info.status == "unassigned":
                known[eui] = info
        self._known = known
        now = self._clock()
        self._unknown = {eui: until for eui, until in self._unknown.items() if until > now and eui not in known}
        return len(known)

    async def lookup(self, dev_eui: str) -> DeviceInfo | None:
        """The device, from memory or else from the database; None when it is not registered.

        A database outage makes this wait (with backoff) rather than call a registered device unknown.
        """
        info = self._known.get(dev_eui)
        if info is not None:
            return info
        until = self._unknown.get(dev_eui)
        if until is not None and until > self._clock():
            return None
        attempt = 0
        while True:
            try:
                async with self._pool.connection() as conn:
                    row = await (await conn.execute(_SELECT_ONE,
                                                    (dev_eui,))).fetchone()
                break
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
                delay = min(30.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0)
                attempt += 1
                log.warning("device lookup failed (%s); retrying in %.1f s", exc, delay, extra={"dev_eui": dev_eui})
                await asyncio.sleep(delay)
        if row is None:
            if len(self._unknown) >= _MAX_UNKNOWN:    # a flood of made-up DevEUIs must not grow memory
                self._unknown.clear()
            self._unknown[dev_eui] = self._clock() + self._negative_ttl
            return None
        info = _info(row)
        self._known[dev_eui] = info
        return info

    def provisioned(self, dev_eui: str, name: str) -> DeviceInfo:
        """Remember a device the writer is about to register as unassigned."""
        info = DeviceInfo(dev_eui, name, None, "unassigned", {})
        self._known[dev_eui] = info
        self._unknown.pop(dev_eui, None)
        return info

    async def run(self) -> None:
        """Reload the table every ``refresh_s`` (a failed reload is retried at the next period)."""
        while True:
            await asyncio.sleep(self._refresh)
            try:
                n = await self.load()
                log.debug("device directory reloaded: %d devices", n)
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("device directory reload failed (%s); keeping the previous copy", exc)
