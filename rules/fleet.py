"""What the engine knows of devices: registry rows (name, profile, site, tags) plus the profile's family and
expected uplink period, and when each device was last heard (``device_state.last_seen``).

The profile facts come through an injected ``profiles`` lookup (profile id → object with ``family`` and
``uplink_period_s``, such as ``devices.registry.ProfileRegistry.get``), so this library does not depend on how
profiles are loaded; an unknown profile leaves both unset (a no_data rule then holds, and says so in the docs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from rules.model import DeviceInfo

__all__ = ["Fleet", "ProfileLookup"]

log = logging.getLogger(__name__)

ProfileLookup = Callable[[str], Any]

_SELECT = ("SELECT d.dev_eui, d.name, d.profile, d.site, d.tags, d.created_at, s.last_seen FROM devices d "
           "LEFT JOIN device_state s USING (dev_eui) WHERE d.status <> 'disabled'")


class Fleet:
    def __init__(self, profiles: ProfileLookup | None = None) -> None:
        self._profiles = profiles
        self._warned: set[str] = set()

    def _profile_facts(self, profile: str | None) -> tuple[str | None, float | None]:
        if profile is None or self._profiles is None:
            return None, None
        try:
            found = self._profiles(profile)
        except (KeyError, LookupError):
            found = None
        if found is None:
            if profile not in self._warned:
                self._warned.add(profile)
                log.warning("device profile %r is unknown to the rules engine: family selectors and no_data "
                            "rules cannot apply to its devices", profile, extra={"profile": profile})
            return None, None
        period = getattr(found, "uplink_period_s", None)
        return getattr(found, "family", None), float(period) if period else None

    def _info(self, row: tuple[Any, ...]) -> tuple[DeviceInfo, datetime | None]:
        dev_eui, name, profile, site, tags, created_at, last_seen = row
        family, period = self._profile_facts(profile)
        return DeviceInfo(dev_eui, name, profile, family, site, tags or {}, period, created_at), last_seen

    async def load(self, conn: AsyncConnection,
                   dev_euis: Iterable[str] | None = None) -> dict[str, tuple[DeviceInfo, datetime | None]]:
        """Devices (all when ``dev_euis`` is None) with when each was last heard."""
        if dev_euis is None:
            cur = await conn.execute(_SELECT)
        else:
            cur = await conn.execute(_SELECT + " AND d.dev_eui = ANY(%s)", (list(dev_euis),))
        return {row[0]: self._info(row) for row in await cur.fetchall()}
