"""Playing a scenario: every device wakes up at its period, measures, suffers its faults, encodes, transmits;
what the gateways hear becomes MQTT messages, yielded in simulated-time order.

The engine has no clock and no network: ``messages()`` is a pure function of (scenario, seed, format, start,
until). Pacing against the wall clock is ``simulator.player``; publishing is ``simulator.publish``.
"""

from __future__ import annotations

import heapq
import importlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from simulator.families.common import BuildContext, FamilyBuild, SimDevice
from simulator.fleet import DeviceSpec
from simulator.physics.faults import DeviceFaults
from simulator.radio import RadioModel
from simulator.scenario import FAMILY_SECTIONS, Scenario
from simulator.wire import Frame, Wire

__all__ = ["Message", "Simulation", "Stats"]

log = logging.getLogger("beffroi.simulator")


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publication. ``sim_time`` is when the device transmitted (pacing follows it); the envelope's
    own time may differ (airtime, clock skew)."""

    sim_time: float
    topic: str
    payload: bytes
    dev_eui: str


@dataclass
class Stats:
    transmissions: int = 0
    messages: int = 0
    lost: int = 0            # no gateway decoded the frame
    silent: int = 0          # device in a silence window or flat battery
    duplicates: int = 0
    garbage: int = 0
    encode_errors: int = 0
    per_device: dict[str, int] = field(default_factory=dict)


@dataclass
class _Player:
    device: SimDevice
    faults: DeviceFaults
    rng: Any
    dev_addr: str


class Simulation:
    """A scenario ready to play from ``start`` (default: the scenario's) until ``until`` (default: its end)."""

    def __init__(self, scenario: Scenario, *, seed: int = 0, fmt: str = "chirpstack-json", start: float | None = None,
                 until: float | None = None, topic_prefix: str = "") -> None:
        if start is not None:
            scenario = scenario.with_start(start)
        self.scenario = scenario
        self.seed = seed
        self.until = min(scenario.end, until) if until is not None else scenario.end
        self.wire = Wire(fmt, scenario.application, scenario.tenant, topic_prefix)
        self.ctx = BuildContext(scenario, seed)
        self.builds: list[FamilyBuild] = []
        for section in FAMILY_SECTIONS:
            if section in scenario.sections:
                module = importlib.import_module(f"simulator.families.{section}")
                self.builds.append(module.build(scenario.sections[section], scenario.where(section), self.ctx))
        self.devices: list[SimDevice] = [d for b in self.builds for d in b.devices]
        names = [d.spec.name for d in self.devices]
        euis = [d.spec.dev_eui for d in self.devices]
        if len(set(names)) != len(names) or len(set(euis)) != len(euis):
            dup = sorted({n for n in names if names.count(n) > 1} | {e for e in euis if euis.count(e) > 1})
            raise ValueError(f"{scenario.file}: duplicate device name or dev_eui: {', '.join(dup)}")
        self.radio = RadioModel(list(scenario.gateways), self.ctx.rng("radio"), **scenario.radio)
        self.stats = Stats()

    @property
    def fleet(self) -> list[DeviceSpec]:
        return [d.spec for d in self.devices]

    def truth(self) -> dict[str, Any]:
        """The scenario's ground truth up to ``until`` (flood peaks, collections, escapes...), JSON-ready."""
        out: dict[str, Any] = {"scenario": self.scenario.name, "seed": self.seed, "start": self.scenario.start,
                               "until": self.until}
        for build in self.builds:
            out.update(build.truth(self.until))
        return out

    def _player(self, device: SimDevice) -> _Player:
        name = device.spec.name
        faults = DeviceFaults(self.scenario.faults_for(name), self.scenario.start, self.ctx.rng("faults", name))
        rng = self.ctx.rng("device", name)
        return _Player(device, faults, rng, _dev_addr(rng))

    def messages(self) -> Iterator[Message]:
        players = [self._player(d) for d in self.devices]
        start = self.scenario.start
        queue = [(start + float(p.rng.uniform(0, p.device.spec.period_s)), i) for i, p in enumerate(players)]
        heapq.heapify(queue)
        while queue:
            t, i = heapq.heappop(queue)
            if t >= self.until:
                break
            p = players[i]
            # Device clocks drift a little: periods are not exact, so devices do not stay in lockstep.
            heapq.heappush(queue, (t + p.device.spec.period_s * (1 + float(p.rng.normal(0, 0.002))), i))
            yield from self._transmit(p, t)

    def _transmit(self, p: _Player, t: float) -> Iterator[Message]:
        spec, faults, stats = p.device.spec, p.faults, self.stats
        if faults.silent(t):
            stats.silent += 1
            return
        readings = p.device.measure(t, p.rng)
        if readings is None:
            return
        readings = {**readings, **faults.battery(t)}
        try:
            f_port, payload = p.device.codec.encode(readings)
        except (ValueError, OverflowError) as exc:
            stats.encode_errors += 1
            log.debug("%s: cannot encode %s: %s", spec.name, readings, exc)
            return
        rebooted_before = faults.f_cnt
        f_cnt = faults.next_f_cnt(t)
        if f_cnt == 0 and rebooted_before != 0:
            p.dev_addr = _dev_addr(p.rng)           # a rejoin after the reboot gives a new session address
        garbled = faults.garble(payload)
        if garbled is not payload:
            stats.garbage += 1
        stats.transmissions += 1
        lat, lon = p.device.location(t)
        tx = self.radio.transmit(spec.dev_eui, lat, lon, spec.wall_loss_db)
        if tx is None:
            stats.lost += 1
            return
        received = t + tx.airtime_s(len(garbled)) + faults.params.clock_skew_s
        frame = Frame(spec.dev_eui, spec.name, spec.profile, spec.tags, round(received, 6), f_cnt, f_port, garbled,
                      p.dev_addr, str(uuid.UUID(bytes=p.rng.bytes(16), version=4)), tx)
        message = Message(t, self.wire.topic(frame), self.wire.payload(frame), spec.dev_eui)
        copies = faults.deliveries()
        stats.duplicates += copies - 1
        stats.messages += copies
        stats.per_device[spec.name] = stats.per_device.get(spec.name, 0) + 1
        for _ in range(copies):
            yield message


def _dev_addr(rng: Any) -> str:
    # NetID 0x13 (TTN-like) type-0 prefix 0x26/0x27, as most public-network DevAddrs look.
    return f"26{int(rng.integers(0, 2**24)):06x}"
