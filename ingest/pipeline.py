"""From one MQTT message to one writer ``Item``: parse the envelope, find the device, decode, normalise.

``submit`` is called by the MQTT consumer for every message (synchronously, in the event loop); messages wait in
a FIFO that ``run`` empties into the writer. When the FIFO reaches ``queue_max`` the consumer is told to stop
reading its socket, and to resume at half — MQTT's Receive Maximum already bounds what the broker sends
unacknowledged, this is the second fence (and the only one for QoS 0 traffic).

Nothing here raises on bad input: every problem becomes a reject row (reason codes in ``ingest/uplink.py``) in
the same batch as the data, and is acknowledged with it.

Decoding uses the device's profile from the ``devices.registry.ProfileRegistry``. A device without a profile
(``unassigned``) whose network server sent a decoded object (ChirpStack ``object``, TTS ``decoded_payload``) gets
the object's keys that are vocabulary quantities (``co2``, ``temperature``...), bounds-checked; otherwise its
uplink is stored undecoded with a ``no_profile`` reject, ready to be re-decoded once a profile is assigned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devices.base import Decoded, PositionRow, PositionValue, ReadingRow, ReadingValue, Uplink
from devices.quantities import QUANTITIES, check_value
from devices.registry import ProfileRegistry
from ingest.batch import Item, Provision, RejectRow
from ingest.directory import DeviceDirectory, DeviceInfo
from ingest.messages import DeviceEvent, Ignored, Location, Reason, Rejected, Status
from ingest.metrics import Metrics
from ingest.uplink import parse
from ingest.writer import Writer

__all__ = ["Inbound", "Pipeline", "decode_network_object"]

log = logging.getLogger(__name__)

_RAW_KEEP_OVERSIZED = 4096           # bytes of an oversized message kept in its reject row
_YIELD_EVERY = 16                    # messages processed back to back before giving the event loop a turn
_POSITION_KEYS = frozenset({"latitude", "longitude", "altitude"})


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    tts: bool = False
    token: Any = None                # the consumer's acknowledgement token
    received: float = 0.0            # time.monotonic() at receipt
    source: str | None = None        # metrics/rejects label; default: the envelope format (e.g. "http" otherwise)


def _source_of(msg: Inbound) -> str:
    if msg.tts:
        return "tts"
    return "chirpstack-json" if msg.payload.lstrip()[:1] in (b"{", b"[") else "chirpstack-pb"


def _out_of_range(warning: str) -> bool:
    # devices.quantities.check_value and devices.normalise word their bound violations this way
    return "outside" in warning or "not a finite number" in warning


def decode_network_object(obj: Mapping[str, Any]) -> Decoded:
    """The network server's own decoded object, keeping keys that are vocabulary quantities (and a position)."""
    out = Decoded(data=dict(obj))
    for key, value in obj.items():
        if key in QUANTITIES and key not in _POSITION_KEYS and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            problem = check_value(key, float(value))
            if problem:
                out.warnings.append(problem)
            else:
                out.readings.append(ReadingValue(key, float(value)))
    lat, lon = obj.get("latitude"), obj.get("longitude")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)) and not (lat == 0 and lon == 0):
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            alt = obj.get("altitude")
            out.positions.append(PositionValue(float(lat), float(lon),
                                               float(alt) if isinstance(alt, (int, float)) else None))
        else:
            out.warnings.append(f"position not stored: {lat}, {lon} outside the WGS84 range")
    return out


class _RateLimitedLog:
    """At most ``per_minute`` log lines per reason code, then one line saying how many were suppressed."""

    def __init__(self, per_minute: int = 20) -> None:
        self._per_minute = per_minute
        self._window: dict[str, tuple[float, int]] = {}

    def reject(self, row: RejectRow) -> None:
        now = time.monotonic()
        start, count = self._window.get(row.reason, (now, 0))
        if now - start > 60:
            if count > self._per_minute:
                log.warning("%d more %s rejects in the last minute (not logged one by one)",
                            count - self._per_minute, row.reason)
            start, count = now, 0
        count += 1
        self._window[row.reason] = (start, count)
        if count <= self._per_minute:
            log.info("rejected: %s", row.detail, extra={"dev_eui": row.dev_eui, "reason": row.reason,
                                                        "topic": row.topic})


class Pipeline:
    def __init__(self, *, directory: DeviceDirectory, registry: ProfileRegistry, writer: Writer, metrics: Metrics,
                 unknown_devices: str = "reject", max_bytes: int = 65536, queue_max: int = 20000,
                 pause: Callable[[], None] | None = None, resume: Callable[[], None] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._directory = directory
        self._registry = registry
        self._writer = writer
        self._provision = unknown_devices == "provision"
        self._max_bytes = max_bytes
        self._queue: deque[Inbound] = deque()
        self._high, self._low = queue_max, max(queue_max // 2, 1)
        self._pause, self._resume = pause, resume
        self._paused = False
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._now = now
        self._log = _RateLimitedLog()
        metrics.watch_queue("inbound", lambda: len(self._queue))

    def set_flow_control(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self._pause, self._resume = pause, resume

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, msg: Inbound) -> None:
        """Queue one message (called from the MQTT callback; never blocks, never drops)."""
        self._queue.append(msg)
        self._idle.clear()
        self._wakeup.set()
        if len(self._queue) >= self._high and not self._paused and self._pause is not None:
            self._paused = True
            self._pause()

    async def run(self) -> None:
        queue, writer = self._queue, self._writer
        done = 0
        while True:
            if not queue:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            msg = queue.popleft()
            if self._paused and len(queue) <= self._low and self._resume is not None:
                self._paused = False
                self._resume()
            item = await self.process(msg)
            if not writer.offer(item):
                await writer.put(item)
            done += 1
            if done % _YIELD_EVERY == 0:
                await asyncio.sleep(0)      # let the socket reader and the writer's commit run

    async def drained(self) -> None:
        """Wait until every submitted message has been handed to the writer."""
        while self._queue or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    async def process(self, msg: Inbound) -> Item:
        source = msg.source or _source_of(msg)
        item = Item(token=msg.token, source=source, topic=msg.topic, raw=msg.payload, received=msg.received)
        parsed = parse(msg.topic, msg.payload, tts=msg.tts, max_bytes=self._max_bytes)
        if isinstance(parsed, Ignored):
            item.outcome = "ignored"
            return item
        if isinstance(parsed, Rejected):
            raw = msg.payload[:_RAW_KEEP_OVERSIZED] if parsed.reason == Reason.OVERSIZED else msg.payload
            self._reject(item, parsed.reason, parsed.detail, parsed.dev_eui, self._now(), raw)
            item.outcome = "rejected"
            return item
        device = await self._device(parsed, item)
        if device is None:
            item.outcome = "rejected"
            return item
        if isinstance(parsed, Uplink):
            self._uplink(parsed, device, item)
        elif isinstance(parsed, Status):
            if parsed.battery is not None:
                self._reading(item, parsed.dev_eui, parsed.time, "battery", parsed.battery)
            self._reading(item, parsed.dev_eui, parsed.time, "margin", float(parsed.margin))
        elif isinstance(parsed, DeviceEvent):
            item.events.append(parsed)
        elif isinstance(parsed, Location):
            self._positions(item, parsed.dev_eui, parsed.time,
                            [PositionValue(parsed.latitude, parsed.longitude, parsed.altitude, parsed.accuracy)])
        return item

    async def _device(self, parsed: Uplink | Status | DeviceEvent | Location, item: Item) -> DeviceInfo | None:
        eui = parsed.dev_eui
        device = self._directory.cached(eui) or await self._directory.lookup(eui)
        if device is None:
            if not self._provision:
                self._reject(item, Reason.UNKNOWN_DEVICE, f"device {eui} is not registered (ingest.unknown_devices "
                             "= \"reject\"); register it or set it to \"provision\"", eui, parsed.time, item.raw)
                return None
            name = parsed.device_name or eui
            tags = {"seen_on": parsed.source}
            if parsed.profile_hint:
                tags["profile_hint"] = parsed.profile_hint
            item.provision = Provision(eui, name, tags)
            log.info("new device provisioned as unassigned", extra={"dev_eui": eui, "profile_hint": parsed.profile_hint})
            return self._directory.provisioned(eui, name)
        if device.status == "disabled":
            self._reject(item, Reason.DEVICE_DISABLED, f"device {eui} is disabled", eui, parsed.time, item.raw)
            return None
        return device

    def _uplink(self, uplink: Uplink, device: DeviceInfo, item: Item) -> None:
        item.uplink = uplink
        if uplink.f_port == 0:
            return                      # MAC commands only: nothing to decode, the uplink row records the frame
        profile = self._registry.get(device.profile) if device.profile else None
        if profile is not None:
            decoded = profile.decode(uplink.f_port, uplink.payload, device.params, uplink.time)
        elif uplink.network_object is not None:
            decoded = decode_network_object(uplink.network_object)
        else:
            why = (f"profile {device.profile!r} is not loaded" if device.profile
                   else f"device {device.dev_eui} has no profile ({device.status})")
            self._reject(item, Reason.NO_PROFILE, f"{why}; the uplink is stored undecoded", uplink.dev_eui,
                         uplink.time, None)
            return
        if decoded.errors:
            self._reject(item, Reason.DECODE_ERROR, "; ".join(decoded.errors)[:2000], uplink.dev_eui, uplink.time,
                         None)
            return
        for warning in decoded.warnings:
            if _out_of_range(warning):
                self._reject(item, Reason.OUT_OF_RANGE, warning, uplink.dev_eui, uplink.time, None)
            else:
                log.debug("decoder warning: %s", warning, extra={"dev_eui": uplink.dev_eui})
        # decoded.readings are within their quantity's bounds (profiles and decode_network_object check them)
        item.readings.extend(ReadingRow(uplink.time, uplink.dev_eui, v.quantity, v.value) for v in decoded.readings)
        self._positions(item, uplink.dev_eui, uplink.time, decoded.positions)

    def _reading(self, item: Item, dev_eui: str, when: datetime, quantity: str, value: float) -> None:
        problem = check_value(quantity, value)
        if problem:
            self._reject(item, Reason.OUT_OF_RANGE, problem, dev_eui, when, None)
        else:
            item.readings.append(ReadingRow(when, dev_eui, quantity, value))

    def _positions(self, item: Item, dev_eui: str, when: datetime, positions: list[PositionValue]) -> None:
        for p in positions:
            if -90 <= p.latitude <= 90 and -180 <= p.longitude <= 180:
                item.positions.append(PositionRow(when, dev_eui, p.latitude, p.longitude, p.altitude, p.accuracy))
            else:
                self._reject(item, Reason.OUT_OF_RANGE, f"position {p.latitude}, {p.longitude} outside the WGS84 "
                             "range; not stored", dev_eui, when, None)

    def _reject(self, item: Item, reason: Reason, detail: str, dev_eui: str | None, when: datetime,
                raw: bytes | None) -> None:
        row = RejectRow(when, item.source, str(reason), detail, item.topic, dev_eui, raw)
        item.rejects.append(row)
        self._log.reject(row)
