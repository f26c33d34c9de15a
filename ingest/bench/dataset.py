"""A simulated city's history for the query benchmark: devices, readings, positions and rollups, loaded fast.

The fleet mirrors the dashboards' heaviest cases: a quarter of the devices are classroom CO2 sensors (250 rooms
for 1 000 devices, 25 rooms per school), 5 % are sheep collars (50, in flocks of 10), the rest river-level
stations and waste bins. Every device reports at its profile's period (collars every 5 minutes: the older LGT-92
firmware default, the pessimistic case for a day of tracks), with plausible values: CO2 rising in occupied school
hours, rivers with seasons, bins filling and being emptied, collars wandering around their pasture.

``ingest/bench/loader.py`` writes them into the database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Family", "FAMILIES", "BenchDevice", "fleet", "values", "track"]

_SCHOOL_TZ_OFFSET_H = 1            # Europe/Paris in winter; a one-hour error in summer does not matter here


@dataclass(frozen=True)
class Family:
    name: str
    share: float
    profiles: tuple[str, ...]
    period_s: int
    quantities: tuple[str, ...]
    positions: bool = False


FAMILIES = (
    Family("co2", 0.25, ("milesight-am307", "decentlab-dl-iam", "elsys-ers-co2"), 600,
           ("co2", "temperature", "humidity", "occupancy", "battery")),
    Family("tracker", 0.05, ("dragino-lgt92",), 300, ("battery", "battery_voltage"), positions=True),
    Family("flood", 0.20, ("decentlab-dl-mbx", "milesight-em500-swl"), 600, ("distance", "water_level", "battery")),
    Family("bin", 0.50, ("pepperl-fuchs-wilsen-sonic-level",), 3600, ("distance", "fill_level", "temperature",
                                                                       "battery")),
)


@dataclass(frozen=True)
class BenchDevice:
    dev_eui: str
    name: str
    profile: str
    family: str
    site: str
    tags: dict[str, str]
    latitude: float
    longitude: float


def fleet(count: int) -> dict[str, list[BenchDevice]]:
    """``count`` devices split over the families (the remainder goes to bins), deterministic."""
    sizes = {f.name: int(count * f.share) for f in FAMILIES}
    sizes["bin"] += count - sum(sizes.values())
    out: dict[str, list[BenchDevice]] = {}
    for code, f in enumerate(FAMILIES, start=1):
        devices = []
        for i in range(sizes[f.name]):
            eui = f"be{code:02x}{i:012x}"
            if f.name == "co2":
                school, room = divmod(i, 25)
                # building names unique per school: the boards label series "building / room"
                tags = {"building": f"École {school + 1:02d} bâtiment {'AB'[room % 2]}", "room": f"{100 + room}"}
                devices.append(BenchDevice(eui, f"Salle {100 + room}", f.profiles[i % len(f.profiles)], f.name,
                                           f"école {school + 1:02d}", tags, 48.85 + school * 0.01, 2.35))
            elif f.name == "tracker":
                tags = {"flock": f"troupeau {i // 10 + 1}"}
                devices.append(BenchDevice(eui, f"Collier {i + 1}", f.profiles[0], f.name, "alpage", tags,
                                           45.9 + (i // 10) * 0.02, 6.8))
            else:
                devices.append(BenchDevice(eui, f"{f.name} {i + 1}", f.profiles[i % len(f.profiles)], f.name,
                                           f"{f.name} {i // 50 + 1}", {}, 48.8 + i * 1e-4, 2.3))
        out[f.name] = devices
    return out


# --- values ----------------------------------------------------------------------------------------------------

def values(family: str, t: np.ndarray, idx: np.ndarray, rng: np.random.Generator, start: float,
            days: float) -> dict[str, np.ndarray]:
    """Per-quantity values for sample times ``t`` (Unix s, shape (devices, samples)) of devices ``idx``."""
    shape = t.shape
    age = (t - start) / (86400 * max(days, 1))                      # 0 → 1 over the data set (battery drain)
    noise = rng.standard_normal(shape)
    dev = idx[:, None].astype(np.float64)
    if family == "co2":
        local_h = ((t / 3600) + _SCHOOL_TZ_OFFSET_H) % 24
        weekday = ((np.floor((t / 86400)) + 3) % 7) < 5            # 1970-01-01 was a Thursday
        in_class = weekday & (local_h >= 8.5) & (local_h < 17) & ~((local_h >= 12) & (local_h < 13.5))
        occupied = in_class & (rng.random(shape) < 0.9)
        stuffiness = 500 + 900 * ((dev * 37) % 10) / 10              # some rooms are aired, some are not
        co2 = 420 + occupied * stuffiness * np.clip((local_h - 8.5) % 3.5 / 1.5, 0.2, 1) + 25 * noise
        return {"co2": np.clip(co2, 380, 5000).round(), "temperature": (20 + 1.5 * occupied + 0.3 * noise).round(1),
                "humidity": np.clip(45 + 8 * occupied + 3 * noise, 0, 100).round(),
                "occupancy": occupied.astype(np.float64), "battery": (100 - 20 * age).round()}
    if family == "flood":
        season = np.cos(2 * np.pi * (t / 86400 - 20) / 365.25)      # higher water in winter
        level = np.clip(0.8 + 0.5 * season + 0.05 * np.sin(dev) + 0.02 * noise, 0.05, 3.9)
        return {"water_level": level.round(3), "distance": ((4.0 - level) * 1000).round(),
                "battery": (100 - 15 * age).round()}
    if family == "bin":
        cycle_h = 48 + (dev % 5) * 24                               # emptied every 2 to 6 days
        fill = np.clip(100 * (((t / 3600) + dev * 7) % cycle_h) / cycle_h + 2 * noise, 0, 100)
        return {"fill_level": fill.round(), "distance": (1200 * (1 - fill / 100) + 80).round(),
                "temperature": (14 + 6 * np.sin(2 * np.pi * t / 86400) + noise).round(1),
                "battery": (100 - 10 * age).round()}
    return {"battery": (100 - 40 * age).round(), "battery_voltage": (4.1 - 0.6 * age).round(2)}


def track(t: np.ndarray, idx: np.ndarray, centre_lat: np.ndarray, centre_lon: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Collars grazing around their flock's centre: slow loops of a few hundred metres, a deterministic path."""
    phase = t / 3600 / 6 + idx[:, None] * 0.7
    lat = centre_lat[:, None] + 0.003 * np.sin(phase) + 0.0005 * np.sin(7.3 * phase)
    lon = centre_lon[:, None] + 0.004 * np.cos(0.8 * phase) + 0.0005 * np.cos(5.1 * phase)
    return lat.round(6), lon.round(6)
