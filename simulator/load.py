"""Load mode for benchmarks: N virtual devices of every family publishing at a target rate, steady or bursty.

Messages are real (each device's own encoder, a real envelope) but built from per-device templates: the
envelope is rendered once with sentinel values and only the deduplication id, time, frame counter and payload
change per message, so the generator costs microseconds and the figure measured is the broker path's.

Bursty traffic is what a city actually sends: many devices aligned on the same period boundary, and network
servers flushing after an outage. Here a ``burst_every_s`` cycle sends its whole share of messages in its first
tenth, i.e. at ten times the mean rate, then stays quiet.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from chirpstack_api import integration

from simulator import envelopes
from simulator.codecs import codec_for
from simulator.fleet import DeviceSpec, derive_dev_eui
from simulator.geo import LocalFrame
from simulator.radio import Gateway, Reception, Transmission
from simulator.wire import Frame, Wire

__all__ = ["LOAD_PROFILES", "LoadPlan", "LoadResult", "LoadGenerator", "load_fleet", "run_load", "send_times"]

# Every family, several makes: the decode cost of a load run resembles a city's mix.
LOAD_PROFILES = ("milesight-am307", "decentlab-dl-iam", "elsys-ers-co2", "dragino-ldds75", "milesight-em500-swl",
                 "decentlab-dl-mbx", "milesight-em310-udl", "dingtek-df703", "dragino-lgt92",
                 "digital-matter-oyster", "abeeway-compact-tracker")
_CENTRE = LocalFrame(48.8566, 2.3522)
_GATEWAY = Gateway("7276ff0000b0a000", "load-gateway", 48.8566, 2.3522, 60.0)
_SENTINEL_ID = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
_SENTINEL_TIME = datetime(2001, 1, 1, 0, 0, 0, 123456, UTC)
_SENTINEL_FCNT = 987_654_321
_SENTINEL_PAYLOAD = bytes([0xAB]) * 12


@dataclass(frozen=True, slots=True)
class LoadPlan:
    devices: int = 1000
    rate: float = 1000.0             # messages per second; inf: as fast as the broker acknowledges
    duration_s: float = 10.0
    bursty: bool = False
    burst_every_s: float = 10.0
    fmt: str = "chirpstack-json"
    topic_prefix: str = ""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.devices < 1 or self.rate <= 0 or self.duration_s <= 0:
            raise ValueError("load mode needs devices >= 1, rate > 0 and duration > 0")


@dataclass(frozen=True, slots=True)
class LoadResult:
    sent: int
    acked: int
    wall_s: float
    target_rate: float
    peak_rate: float = 0.0           # most messages sent within one wall-clock second

    @property
    def rate(self) -> float:
        return self.acked / self.wall_s if self.wall_s > 0 else 0.0


def _readings(family: str, rng: np.random.Generator) -> dict[str, float]:
    if family == "co2":
        return {"co2": float(rng.integers(420, 2500)), "temperature": round(float(rng.uniform(17, 24)), 1),
                "humidity": float(rng.integers(30, 70)), "pressure": 1013.0, "battery": 90.0,
                "battery_voltage": 3.6, "occupancy": float(rng.integers(0, 2)), "light": 300.0}
    if family == "flood":
        return {"distance": float(rng.integers(500, 4000)), "water_level": round(float(rng.uniform(0.2, 3)), 2),
                "battery": 90.0, "battery_voltage": 3.6}
    if family == "bin":
        return {"distance": float(rng.integers(100, 1000)), "battery": 90.0, "battery_voltage": 3.6,
                "temperature": 18.0, "tilt": 0.0, "tilt_angle": 1.0}
    lat, lon = _CENTRE.to_latlon(float(rng.normal(0, 500)), float(rng.normal(0, 500)))
    return {"latitude": round(lat, 6), "longitude": round(lon, 6), "altitude": 35.0, "battery": 90.0,
            "battery_voltage": 3.6, "hdop": 1.0, "gps_accuracy": 5.0}


def load_fleet(count: int) -> list[DeviceSpec]:
    """The load run's devices (``load-000001``...), profiles round-robin, scattered over 2 km."""
    rng = np.random.default_rng(20240601)
    out = []
    for i in range(count):
        profile = LOAD_PROFILES[i % len(LOAD_PROFILES)]
        name = f"load-{i + 1:06d}"
        lat, lon = _CENTRE.to_latlon(float(rng.uniform(-1000, 1000)), float(rng.uniform(-1000, 1000)))
        out.append(DeviceSpec(name, derive_dev_eui("load", name, profile), profile, "load", round(lat, 6),
                              round(lon, 6), 600.0, {"scenario": "load"}))
    return out


class _Template:
    """One device's envelope with sentinels, and the few substitutions that make each message new."""

    def __init__(self, wire: Wire, spec: DeviceSpec, payloads: list[tuple[int, bytes]]) -> None:
        self.payloads = payloads
        tx = Transmission(868_100_000, 7, (Reception(_GATEWAY, -95, 7.5, 0),))
        port, first = payloads[0]
        frame = Frame(spec.dev_eui, spec.name, spec.profile, spec.tags, _SENTINEL_TIME.timestamp(),
                      _SENTINEL_FCNT, port, _SENTINEL_PAYLOAD, "26000001", _SENTINEL_ID, tx)
        self.topic = wire.topic(frame)
        self.binary = wire.fmt == "chirpstack-pb"
        rendered = wire.payload(frame)
        if self.binary:
            self.event = integration.UplinkEvent()
            self.event.ParseFromString(rendered)
            self.parts: list[bytes] = []
        else:
            self.time_text = envelopes.rfc3339(_SENTINEL_TIME, offset="Z" if wire.fmt == "tts" else "+00:00")
            self.text = rendered
            # TTS has no deduplicationId: its correlation ids are the idempotency key, so they change too.
            self.correlation = (json.loads(rendered)["correlation_ids"][0].removeprefix("as:up:").encode()
                                if wire.fmt == "tts" else b"")

    def render(self, f_cnt: int, when: float, dedup: str, index: int) -> bytes:
        port, payload = self.payloads[index % len(self.payloads)]
        stamp = datetime.fromtimestamp(when, UTC)
        if self.binary:
            ev = self.event
            ev.deduplication_id, ev.f_cnt, ev.f_port, ev.data = dedup, f_cnt, port, payload
            ev.time.FromDatetime(stamp.replace(tzinfo=None))
            for rx in ev.rx_info:
                rx.ns_time.CopyFrom(ev.time)
            return ev.SerializeToString(deterministic=True)
        offset = "Z" if self.time_text.endswith("Z") else "+00:00"
        text = self.text
        if self.correlation:
            fresh = dedup.replace("-", "").upper()[:26].encode()
            text = text.replace(self.correlation, fresh).replace(self.correlation[::-1], fresh[::-1])
        return (text.replace(_SENTINEL_ID.encode(), dedup.encode())
                .replace(self.time_text.encode(), envelopes.rfc3339(stamp, offset=offset).encode())
                .replace(str(_SENTINEL_FCNT).encode(), str(f_cnt).encode())
                .replace(base64.b64encode(_SENTINEL_PAYLOAD), base64.b64encode(payload)))


class LoadGenerator:
    """Messages for the plan's devices, round-robin; frame counters increase per device."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.fleet = load_fleet(plan.devices)
        rng = np.random.default_rng(plan.seed)
        wire = Wire(plan.fmt, "beffroi-load", "beffroi", plan.topic_prefix)
        self._templates: list[_Template] = []
        by_profile: dict[str, list[tuple[int, bytes]]] = {}
        for spec in self.fleet:
            if spec.profile not in by_profile:
                codec = codec_for(spec.profile)
                by_profile[spec.profile] = [codec.encode(_readings(codec.family, rng)) for _ in range(8)]
            self._templates.append(_Template(wire, spec, by_profile[spec.profile]))
        self._f_cnt = [int(v) for v in rng.integers(0, 10_000, size=plan.devices)]
        self._count = 0

    def next(self, when: float) -> tuple[str, bytes]:
        i = self._count % self.plan.devices
        template = self._templates[i]
        f_cnt = self._f_cnt[i]
        self._f_cnt[i] += 1
        self._count += 1
        n = self._count
        # UUID-shaped and unique per run and seed, without hashing (this is the per-message hot path)
        dedup = f"{n & 0xFFFFFFFF:08x}-{self.plan.seed & 0xFFFF:04x}-4{(n >> 32) & 0xFFF:03x}-8000-{n:012x}"
        return template.topic, template.render(f_cnt, when, dedup, f_cnt)


def send_times(plan: LoadPlan) -> Iterator[float]:
    """Offsets (s from the start) at which to send each message: evenly spaced, or bunched in bursts."""
    if math.isinf(plan.rate):
        while True:
            yield 0.0
    total = int(plan.rate * plan.duration_s)
    if not plan.bursty:
        for k in range(total):
            yield k / plan.rate
        return
    per_cycle = max(1, round(plan.rate * plan.burst_every_s))
    burst_len = plan.burst_every_s / 10
    for k in range(total):
        cycle, n = divmod(k, per_cycle)
        yield cycle * plan.burst_every_s + n * burst_len / per_cycle


def run_load(plan: LoadPlan, publish: Callable[[str, bytes], None], *, flush: Callable[[], int],
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
             wall_clock: Callable[[], float] = time.time,
             on_tick: Callable[[int, float], None] | None = None) -> LoadResult:
    """Publish the plan's messages on schedule (never sleeping when behind); *flush* waits for the
    outstanding acknowledgements and returns how many messages were acknowledged in all."""
    generator = LoadGenerator(plan)
    start = clock()
    sent = 0
    per_second: dict[int, int] = {}
    for offset in send_times(plan):
        now = clock() - start
        if now >= plan.duration_s:
            break
        ahead = offset - now
        if ahead > 0.002:      # below ~2 ms, sleeping costs more than it saves
            sleep(ahead)
        topic, payload = generator.next(wall_clock())
        publish(topic, payload)
        sent += 1
        elapsed = clock() - start
        per_second[int(elapsed)] = per_second.get(int(elapsed), 0) + 1
        if on_tick is not None:
            on_tick(sent, elapsed)
    acked = flush()
    # A bursty plan ends with its quiet tail: the mean rate is over the whole planned duration.
    if math.isfinite(plan.rate) and (rest := plan.duration_s - (clock() - start)) > 0:
        sleep(rest)
    return LoadResult(sent, acked, clock() - start, plan.rate, float(max(per_second.values(), default=0)))
