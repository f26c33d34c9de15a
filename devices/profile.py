"""A loaded device profile: validated ``profile.yaml`` + its decoder, turning payloads into ``Decoded``.

    profile = load_profile(Path("devices/vendors/milesight/am307"))
    decoded = profile.decode(85, payload, device_params, recv_time)   # never raises

``decode`` runs the decoder (any exception becomes an error) and then normalises its vendor-shaped ``data``
through the profile's ``readings``/``position``/``derive`` sections (devices/normalise.py). Errors while
*loading* are ``ProfileError`` naming the file and the field, so that a bad profile stops start-up clearly.

Python decoders are imported by file path as ``beffroi_profiles.<id>.decoder`` under a synthetic package whose
path is the model folder: a decoder may import sibling modules relatively, and needs nothing outside its folder.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from devices.base import Decoded
from devices.jscodec import JsCodec, JsCodecError
from devices.normalise import Normaliser
from devices.schema import (
    DeriveSpec,
    ParamSpec,
    PositionSpec,
    ProfileError,
    ProfileSpec,
    ReadingSpec,
    read_profile_spec,
)

__all__ = ["Profile", "ProfileError", "load_profile", "PROFILE_FILE", "EXAMPLES_FILE"]

PROFILE_FILE = "profile.yaml"
EXAMPLES_FILE = "examples.yaml"
_EMPTY: Mapping[str, Any] = types.MappingProxyType({})
_PACKAGE = "beffroi_profiles"

DecodeFn = Callable[[int, bytes, "datetime | None", Mapping[str, Any]], Any]
EncodeFn = Callable[[dict[str, float]], "tuple[int, bytes]"]


class Profile:
    """One device model. Attributes mirror ``profile.yaml``; ``origin`` says where it was loaded from."""

    def __init__(self, spec: ProfileSpec, origin: str, decode_fn: DecodeFn, encode_fn: EncodeFn | None) -> None:
        self.spec = spec
        self.id: str = spec.id
        self.vendor: str = spec.vendor
        self.model: str = spec.model
        self.family: str = spec.family
        self.description: str = spec.description
        self.lorawan_class: str = spec.lorawan_class
        self.uplink_period_s: int = spec.uplink_period_s
        self.fports: tuple[int, ...] = spec.fports
        self.datasheet: str = spec.datasheet
        self.params: Mapping[str, ParamSpec] = spec.params
        self.readings: tuple[ReadingSpec, ...] = spec.readings
        self.position: PositionSpec | None = spec.position
        self.derive: tuple[DeriveSpec, ...] = spec.derive
        self.folder: Path = spec.path.parent
        self.origin = origin
        self.decoder_kind = "javascript" if spec.decoder.endswith(".js") else "python"
        self.quantities: frozenset[str] = frozenset(r.quantity for r in spec.readings) | {d.quantity
                                                                                          for d in spec.derive}
        self._decode = decode_fn
        self._encode = encode_fn
        self._normaliser = Normaliser(spec.readings, spec.position, spec.derive, spec.params)

    def __repr__(self) -> str:
        return f"<Profile {self.id} ({self.decoder_kind}) from {self.folder}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # decoders are modules or V8 isolates: a worker process reloads the profile from its folder instead
        return (load_profile, (self.folder, self.origin))

    @property
    def param_defaults(self) -> dict[str, Any]:
        return _defaults(self.spec)

    @property
    def examples_path(self) -> Path:
        return self.folder / EXAMPLES_FILE

    @property
    def can_encode(self) -> bool:
        return self._encode is not None

    def decode(self, fport: int, payload: bytes, params: Mapping[str, Any] = _EMPTY,
               recv_time: datetime | None = None) -> Decoded:
        """Decode one uplink. Never raises: decoder failures and odd output become ``errors``."""
        try:
            raw = self._decode(fport, payload, recv_time, params)
        except JsCodecError as exc:
            return Decoded(errors=[f"{self.id}: {exc}"])
        except Exception as exc:  # a decoder bug must not stop the consumer; the reject keeps the payload
            return Decoded(errors=[f"{self.id}: decoder raised {type(exc).__name__}: {exc}"])
        if not isinstance(raw, dict):
            return Decoded(errors=[f"{self.id}: decoder returned {type(raw).__name__}, not "
                                   "{data, warnings, errors}"])
        data = raw.get("data")
        if data is None:
            data = {}
        elif not isinstance(data, dict):
            return Decoded(errors=[f"{self.id}: decoder data is {type(data).__name__}, not a mapping"])
        # positional construction: Decoded's default factories are measurable on the hot path
        out = Decoded(data, [], [], _texts(raw.get("warnings")), _texts(raw.get("errors")))
        if not out.errors:
            try:
                self._normaliser.apply(data, params, out)
            except Exception as exc:  # odd nesting in data; report it rather than lose the uplink silently
                out.errors.append(f"{self.id}: cannot normalise decoder data: {type(exc).__name__}: {exc}")
        return out

    def decode_raw(self, fport: int, payload: bytes, params: Mapping[str, Any] = _EMPTY,
                   recv_time: datetime | None = None) -> Any:
        """The decoder's own output, before any checking or normalisation (may raise: debugging and benches)."""
        return self._decode(fport, payload, recv_time, params)

    def encode(self, readings: dict[str, float]) -> tuple[int, bytes]:
        """Build an uplink (fPort, payload) carrying these readings (for the simulator and round-trip tests)."""
        if self._encode is None:
            raise NotImplementedError(f"profile {self.id} has no encoder (decoder defines no encode_uplink)")
        return self._encode(readings)


def _texts(value: Any) -> list[str]:
    if not value:
        return []
    if value.__class__ is list:
        return [v if v.__class__ is str else str(v) for v in value]
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def load_profile(folder: Path | str, origin: str = "") -> Profile:
    """Load ``<folder>/profile.yaml`` and its decoder; raise ProfileError naming the file and field."""
    folder = Path(folder).resolve()
    spec = read_profile_spec(folder / PROFILE_FILE)
    decoder_path = folder / spec.decoder
    if spec.decoder.endswith(".js"):
        try:
            codec = JsCodec(decoder_path)
        except JsCodecError as exc:
            raise ProfileError(f"{spec.path}: decoder: {exc}") from None

        defaults = _defaults(spec)

        def js_decode(fport: int, payload: bytes, recv_time: datetime | None, params: Mapping[str, Any]) -> Any:
            return codec.decode(fport, payload, recv_time, {**defaults, **params})

        return Profile(spec, origin or str(folder), js_decode, codec.encode if codec.has_encoder else None)
    module = _import_decoder(spec.id, decoder_path, spec.path)
    decode_uplink = getattr(module, "decode_uplink", None)
    if not callable(decode_uplink):
        raise ProfileError(f"{spec.path}: decoder: {decoder_path.name} defines no decode_uplink(fport, payload, "
                           "recv_time) function")
    encode_uplink = getattr(module, "encode_uplink", None)
    return Profile(spec, origin or str(folder), _adapt(decode_uplink, _defaults(spec)),
                   encode_uplink if callable(encode_uplink) else None)


def _defaults(spec: ProfileSpec) -> dict[str, Any]:
    return {p.name: p.default for p in spec.params.values() if p.default is not None}


def _adapt(decode_uplink: Callable[..., Any], defaults: dict[str, Any]) -> DecodeFn:
    """Pass device parameters (over the profile's defaults) only to decoders that declare a ``params`` argument:
    most do not need them, and the merge is then not paid on every uplink."""
    try:
        wants_params = "params" in inspect.signature(decode_uplink).parameters
    except (TypeError, ValueError):
        wants_params = False
    if wants_params:
        return lambda fport, payload, recv_time, params: decode_uplink(fport, payload, recv_time,
                                                                       params={**defaults, **params})
    return lambda fport, payload, recv_time, params: decode_uplink(fport, payload, recv_time)


def _import_decoder(profile_id: str, path: Path, profile_file: Path) -> types.ModuleType:
    package = f"{_PACKAGE}.{profile_id.replace('-', '_')}"
    if _PACKAGE not in sys.modules:
        root = types.ModuleType(_PACKAGE)
        root.__path__ = []
        sys.modules[_PACKAGE] = root
    holder = types.ModuleType(package)
    holder.__path__ = [str(path.parent)]   # sibling modules of the decoder import relatively from here
    sys.modules[package] = holder
    name = f"{package}.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProfileError(f"{profile_file}: decoder: {path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ProfileError(f"{profile_file}: decoder: importing {path.name} failed: "
                           f"{type(exc).__name__}: {exc}") from exc
    return module
