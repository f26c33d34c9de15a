"""The device models' own encoders, found by profile id.

The simulator sends what a real device would: readings in vocabulary quantities go through the profile's
``encode_uplink`` so the production decode path is the one exercised. Profiles come from the device registry
(``devices.registry``) when it is importable, else from the built-in folder whose ``profile.yaml`` says
``id: <profile-id>``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Codec", "CodecError", "codec_for", "POSITION_KEYS"]

log = logging.getLogger("beffroi.simulator")

POSITION_KEYS = ("latitude", "longitude", "altitude")
_VENDORS = Path(__file__).resolve().parent.parent / "devices" / "vendors"
_ID_LINE = re.compile(r"^id:\s*['\"]?([a-z0-9-]+)['\"]?\s*(?:#.*)?$", re.MULTILINE)


class CodecError(LookupError):
    """No profile with that id, or it has no encoder."""


class _Profile(Protocol):
    id: str
    family: str
    quantities: frozenset[str]
    position: Any

    def encode(self, readings: dict[str, float]) -> tuple[int, bytes]: ...

    def decode(self, fport: int, payload: bytes, params: Mapping[str, Any] = ..., recv_time: Any = ...) -> Any: ...

    @property
    def param_defaults(self) -> dict[str, Any]: ...

    @property
    def can_encode(self) -> bool: ...


@dataclass(frozen=True)
class Codec:
    """A profile seen from the simulator: what it measures, and how to turn readings into a payload."""

    profile: _Profile

    @property
    def id(self) -> str:
        return self.profile.id

    @property
    def family(self) -> str:
        return self.profile.family

    @property
    def accepts(self) -> frozenset[str]:
        """Quantities worth handing to the encoder: the profile's readings, coordinates for trackers, and the
        battery (frames carry it even when the profile does not map it, e.g. an index the vendor documents
        badly); encoders ignore what their device does not send."""
        extra = frozenset(POSITION_KEYS) if self.profile.position is not None else frozenset()
        return self.profile.quantities | extra | {"battery", "battery_voltage"}

    @property
    def param_names(self) -> frozenset[str]:
        return frozenset(getattr(self.profile, "params", {}) or {})

    def encode(self, readings: Mapping[str, float]) -> tuple[int, bytes]:
        """(fPort, payload) for the readings this device measures; raises ValueError when it cannot."""
        chosen = {k: float(v) for k, v in readings.items() if k in self.accepts}
        return self.profile.encode(chosen)

    def decode(self, fport: int, payload: bytes, params: Mapping[str, Any] | None = None) -> Any:
        return self.profile.decode(fport, payload, dict(params or {}))


def _find_folder(profile_id: str) -> Path:
    for path in sorted(_VENDORS.glob("*/*/profile.yaml")):
        match = _ID_LINE.search(path.read_text(encoding="utf-8"))
        if match and match.group(1) == profile_id:
            return path.parent
    raise CodecError(f"no device profile with id {profile_id!r} under {_VENDORS}")


def _from_registry(profile_id: str) -> _Profile | None:
    try:
        registry_module = importlib.import_module("devices.registry")
    except ImportError:
        return None
    registry_class = getattr(registry_module, "ProfileRegistry", None)
    if registry_class is None:
        return None
    try:
        registry = _registry(registry_class)
        profile: _Profile = registry.get(profile_id)
        return profile
    except Exception as exc:  # an unfinished or failing registry must not stop the simulator: fall back
        log.debug("device registry unusable for %s (%s); loading the profile folder directly", profile_id, exc)
        return None


@functools.cache
def _registry(registry_class: Any) -> Any:
    for factory in ("load", "discover", "default"):
        make = getattr(registry_class, factory, None)
        if callable(make):
            return make()
    return registry_class()


@functools.cache
def codec_for(profile_id: str) -> Codec:
    profile = _from_registry(profile_id)
    if profile is None:
        from devices.profile import load_profile

        profile = load_profile(_find_folder(profile_id))
    if not profile.can_encode:
        raise CodecError(f"device profile {profile_id} has no encoder (its decoder defines no encode_uplink); "
                         "the simulator cannot play this model")
    return Codec(profile)
