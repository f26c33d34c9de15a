"""What goes wrong with real devices and networks, per device: battery decay, silences, duplicated deliveries,
frame-counter resets after a reboot, garbage payloads, clock skew.

Every fault is a named parameter with a default of "healthy", so a scenario only states the faults it wants.
The random ones (duplicates, garbage) draw from the device's own generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FaultParams", "DeviceFaults", "battery_voltage"]


def battery_voltage(percent: float, full_v: float = 3.65, empty_v: float = 3.0) -> float:
    """Voltage of a lithium-thionyl chloride cell (the usual LoRaWAN primary battery) at a state of charge:
    flat for most of its life, dropping sharply when nearly empty."""
    soc = min(1.0, max(0.0, percent / 100))
    return empty_v + (full_v - empty_v) * soc ** 0.15


@dataclass(frozen=True, slots=True)
class FaultParams:
    """- ``battery_start_pct``: charge at the start; ``battery_drain_pct_per_day``: steady drain (sleep current,
      sensing), ``battery_drain_pct_per_uplink``: cost of each transmission.
    - ``silences``: (start, end) windows when the device sends nothing (end None: never again - a dead device).
    - ``duplicate_probability``: chance that a delivery is received twice (network server or broker redelivery).
    - ``reboots``: instants when the device restarts; its frame counter starts again at 0.
    - ``garbage_probability``: chance that a payload arrives as random bytes (wrong codec, firmware bug).
    - ``clock_skew_s``: offset of the receive timestamps (a gateway without GPS, a drifting clock).
    """

    battery_start_pct: float = 100.0
    battery_full_v: float = 3.65
    battery_empty_v: float = 3.0
    battery_drain_pct_per_day: float = 0.02
    battery_drain_pct_per_uplink: float = 0.0005
    silences: tuple[tuple[float, float | None], ...] = ()
    duplicate_probability: float = 0.0
    reboots: tuple[float, ...] = ()
    garbage_probability: float = 0.0
    clock_skew_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicate_probability", "garbage_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"fault {name} must be between 0 and 1")
        if not 0 <= self.battery_start_pct <= 100:
            raise ValueError("battery_start_pct must be between 0 and 100")


class DeviceFaults:
    """The fault state of one device: the battery, its frame counter, and the dice for random faults."""

    def __init__(self, params: FaultParams, start: float, rng: np.random.Generator) -> None:
        self.params = params
        self.start = start
        self.rng = rng
        self.uplinks = 0
        self.f_cnt = int(rng.integers(0, 2000))          # devices were running before the scenario began
        self._reboots = sorted(params.reboots)

    def battery_pct(self, t: float) -> float:
        p = self.params
        days = (t - self.start) / 86400
        used = p.battery_drain_pct_per_day * days + p.battery_drain_pct_per_uplink * self.uplinks
        return max(0.0, p.battery_start_pct - used)

    def battery(self, t: float) -> dict[str, float]:
        pct = self.battery_pct(t)
        volts = battery_voltage(pct, self.params.battery_full_v, self.params.battery_empty_v)
        return {"battery": round(pct, 1), "battery_voltage": round(volts, 3)}

    def silent(self, t: float) -> bool:
        """True when the device sends nothing at *t* (a silence window, or a flat battery)."""
        if self.battery_pct(t) <= 0:
            return True
        return any(start <= t and (end is None or t < end) for start, end in self.params.silences)

    def next_f_cnt(self, t: float) -> int:
        """The frame counter of an uplink sent at *t*: +1 per uplink, back to 0 after a reboot."""
        while self._reboots and self._reboots[0] <= t:
            self._reboots.pop(0)
            self.f_cnt = 0
        value = self.f_cnt
        self.f_cnt += 1
        self.uplinks += 1
        return value

    def garble(self, payload: bytes) -> bytes:
        """Random bytes instead of *payload*, with the configured probability."""
        if self.params.garbage_probability and self.rng.random() < self.params.garbage_probability:
            return bytes(self.rng.integers(0, 256, size=int(self.rng.integers(1, 24))).tolist())
        return payload

    def deliveries(self) -> int:
        """How many times this uplink reaches the broker (1, or 2 when duplicated)."""
        if self.params.duplicate_probability and self.rng.random() < self.params.duplicate_probability:
            return 2
        return 1
