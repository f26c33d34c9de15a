"""Device identities of a scenario, and the ``fleet.csv`` that registers them with ``beffroi devices import``.

DevEUIs are derived from the scenario and device names (stable across runs and seeds, distinct between
scenarios) behind the vendor's real IEEE prefix, so a fleet looks like the devices a city would buy.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DeviceSpec", "derive_dev_eui", "write_fleet_csv", "fleet_csv_text", "FLEET_COLUMNS"]

FLEET_COLUMNS = ("dev_eui", "name", "profile", "site", "latitude", "longitude", "tags", "params")

# First bytes of DevEUIs as the vendors ship them (their IEEE OUI or the block they allocate from).
_VENDOR_PREFIX = {
    "milesight": "24e124",
    "dragino": "a84041",
    "decentlab": "70b3d57ba0",
    "elsys": "a81758",
    "dingtek": "86ab31",
    "digital": "70b3d5b720",    # digital-matter
    "abeeway": "20635f",
    "adeunis": "0018b2",
}


def derive_dev_eui(scenario: str, name: str, profile: str) -> str:
    prefix = _VENDOR_PREFIX.get(profile.split("-", 1)[0], "70b3d5")
    digest = hashlib.sha256(f"{scenario}/{name}".encode()).hexdigest()
    return (prefix + digest)[:16]


@dataclass(frozen=True)
class DeviceSpec:
    """Who a simulated device is, as the city's registry knows it. ``params`` are the profile parameters
    (mounting height, bin depth...); ``wall_loss_db`` is radio attenuation at its spot (indoor, metal lid)."""

    name: str
    dev_eui: str
    profile: str
    site: str
    latitude: float
    longitude: float
    period_s: float
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    wall_loss_db: float = 0.0

    def __post_init__(self) -> None:
        if len(self.dev_eui) != 16 or any(c not in "0123456789abcdef" for c in self.dev_eui):
            raise ValueError(f"device {self.name}: dev_eui {self.dev_eui!r} must be 16 lowercase hex characters")
        if self.period_s <= 0:
            raise ValueError(f"device {self.name}: period must be greater than 0")


def _row(d: DeviceSpec) -> list[str]:
    return [d.dev_eui, d.name, d.profile, d.site, f"{d.latitude:.6f}", f"{d.longitude:.6f}",
            json.dumps(dict(d.tags), sort_keys=True, ensure_ascii=False),
            json.dumps(dict(d.params), sort_keys=True)]


def fleet_csv_text(devices: Iterable[DeviceSpec]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FLEET_COLUMNS)
    for d in devices:
        writer.writerow(_row(d))
    return out.getvalue()


def write_fleet_csv(devices: Iterable[DeviceSpec], path: Path | str) -> int:
    text = fleet_csv_text(devices)
    Path(path).write_text(text, encoding="utf-8")
    return text.count("\n") - 1
