"""Value objects shared by every stage of the data path.

``Uplink`` is what an envelope parser (ChirpStack, TTS) makes of a message; a device profile turns its payload
into a ``Decoded`` (vendor-shaped data plus normalised readings and positions); the writer stores
``ReadingRow``/``PositionRow`` and hands the committed ones to the rules engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Uplink", "Radio", "Decoded", "ReadingValue", "PositionValue", "ReadingRow", "PositionRow"]


@dataclass(frozen=True, slots=True)
class Radio:
    """Radio metadata of the best-receiving gateway (strongest SNR), plus how many gateways heard the frame."""

    rssi: float | None = None
    snr: float | None = None
    gateways: int = 0
    gateway_id: str | None = None
    frequency: int | None = None
    dr: int | None = None


@dataclass(frozen=True, slots=True)
class Uplink:
    dev_eui: str                 # 16 lowercase hex characters
    time: datetime               # network-server receive time, timezone-aware UTC
    f_cnt: int
    f_port: int
    payload: bytes
    source: str                  # chirpstack-json | chirpstack-pb | tts | http
    dedup_id: str | None = None
    radio: Radio = field(default_factory=Radio)
    device_name: str | None = None
    profile_hint: str | None = None          # ChirpStack deviceProfileName or TTS brand/model, for provisioning
    network_object: dict[str, Any] | None = None   # the network server's own decoded object, if any


@dataclass(frozen=True, slots=True)
class ReadingValue:
    quantity: str
    value: float


@dataclass(frozen=True, slots=True)
class PositionValue:
    latitude: float
    longitude: float
    altitude: float | None = None
    accuracy: float | None = None


@dataclass(slots=True)
class Decoded:
    """A profile's verdict on one payload. ``errors`` non-empty means nothing usable was decoded."""

    data: dict[str, Any] = field(default_factory=dict)
    readings: list[ReadingValue] = field(default_factory=list)
    positions: list[PositionValue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReadingRow:
    time: datetime
    dev_eui: str
    quantity: str
    value: float


@dataclass(frozen=True, slots=True)
class PositionRow:
    time: datetime
    dev_eui: str
    latitude: float
    longitude: float
    altitude: float | None = None
    accuracy: float | None = None
