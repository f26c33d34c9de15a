"""``examples.yaml`` as tests: load a model folder, run every example through the profile, report differences.

Used by ``beffroi devices check`` (the integrator's loop) and by the test suite over the whole built-in tree.
An example states what the decoder must produce (``data`` or ``errors``) and, optionally, the normalised
``readings`` and ``positions``; each mismatch is reported as one line ``data.temperature: expected 30.8, got 30.9``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devices.base import Decoded
from devices.profile import Profile, ProfileError, load_profile
from devices.schema import load_yaml

__all__ = ["Example", "ExampleResult", "FolderReport", "load_examples", "run_example", "check_folder",
           "check_profile"]

EXAMPLE_KEYS = ("description", "fport", "hex", "recv_time", "params", "data", "readings", "positions", "errors",
                "warnings")
COORDINATE_KEYS = frozenset({"latitude", "longitude", "lat", "lon", "lng", "Latitude", "Longitude"})


@dataclass(frozen=True)
class Example:
    index: int
    description: str
    fport: int
    payload: bytes
    recv_time: datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    readings: dict[str, float] | None = None
    positions: list[dict[str, float]] | None = None
    errors: list[str] | None = None
    warnings: list[str] | None = None


@dataclass
class ExampleResult:
    example: Example
    decoded: Decoded
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class FolderReport:
    folder: Path
    profile: Profile | None = None
    problems: list[str] = field(default_factory=list)        # load errors, missing files
    results: list[ExampleResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.results)


def load_examples(path: Path) -> list[Example]:
    """Parse and validate ``examples.yaml``; raise ProfileError naming the file, the entry and the field."""
    raw, _ = load_yaml(path)
    if not isinstance(raw, list) or not raw:
        raise ProfileError(f"{path}: must be a non-empty list of examples")
    return [_example(path, i, item) for i, item in enumerate(raw)]


def _example(path: Path, i: int, item: Any) -> Example:
    def bad(key: str, problem: str) -> ProfileError:
        return ProfileError(f"{path}: [{i}].{key}: {problem}")

    if not isinstance(item, dict):
        raise ProfileError(f"{path}: [{i}]: must be a mapping with fport and hex")
    for key in item:
        if key not in EXAMPLE_KEYS:
            raise bad(str(key), f"unknown field; known fields: {', '.join(EXAMPLE_KEYS)}")
    fport = item.get("fport")
    if isinstance(fport, bool) or not isinstance(fport, int) or not 0 <= fport <= 255:
        raise bad("fport", f"must be a number 0..255, got {fport!r}")
    text = item.get("hex")
    if not isinstance(text, str):
        raise bad("hex", f"must be quoted hexadecimal text, got {text!r}")
    try:
        payload = bytes.fromhex("".join(text.split()))
    except ValueError:
        raise bad("hex", f"{text!r} is not hexadecimal") from None
    recv = item.get("recv_time")
    if isinstance(recv, str):
        try:
            recv = datetime.fromisoformat(recv)
        except ValueError:
            raise bad("recv_time", f"{recv!r} is not an ISO 8601 time") from None
    if recv is not None and (not isinstance(recv, datetime) or recv.tzinfo is None):
        raise bad("recv_time", "must be an ISO 8601 time with a UTC offset")
    if "data" not in item and "errors" not in item:
        raise bad("data", "an example expects either data or errors")
    for key, kind in (("params", dict), ("data", dict), ("readings", dict), ("positions", list),
                      ("errors", list), ("warnings", list)):
        if key in item and not isinstance(item[key], kind):
            raise bad(key, f"must be a {'mapping' if kind is dict else 'list'}, got {item[key]!r}")
    return Example(i, str(item.get("description", f"example {i}")), fport, payload, recv,
                   item.get("params") or {}, item.get("data"), item.get("readings"), item.get("positions"),
                   item.get("errors"), item.get("warnings"))


def run_example(profile: Profile, example: Example) -> ExampleResult:
    decoded = profile.decode(example.fport, example.payload, example.params, example.recv_time)
    problems: list[str] = []
    if example.errors is not None:
        if not decoded.errors:
            problems.append(f"errors: expected {example.errors}, got none (data {decoded.data})")
        problems += _texts_missing("errors", example.errors, decoded.errors)
    elif decoded.errors:
        problems.append(f"errors: none expected, got {decoded.errors}")
    if example.data is not None:
        _diff("data", example.data, decoded.data, problems)
    if example.readings is not None:
        _diff_readings(profile, example.readings, decoded, problems)
    if example.positions is not None:
        got = [{k: v for k, v in _fields(p).items() if v is not None} for p in decoded.positions]
        _diff("positions", example.positions, got, problems)
    if example.warnings is not None:
        if not example.warnings and decoded.warnings:
            problems.append(f"warnings: none expected, got {decoded.warnings}")
        problems += _texts_missing("warnings", example.warnings, decoded.warnings)
    return ExampleResult(example, decoded, problems)


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _texts_missing(what: str, expected: list[Any], actual: list[str]) -> list[str]:
    return [f"{what}: expected a text containing {str(text)!r}, got {actual}" for text in expected
            if not any(str(text).lower() in a.lower() for a in actual)]


def _close(expected: float, actual: float, key: str) -> bool:
    if key in COORDINATE_KEYS:
        return abs(expected - actual) <= 1e-5
    return math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-9)


def _diff(where: str, expected: Any, actual: Any, out: list[str], key: str = "") -> None:
    """Append one line per difference between *expected* and *actual* (floats with tolerance)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, v in expected.items():
            if k not in actual:
                out.append(f"{where}.{k}: expected {v!r}, missing")
            else:
                _diff(f"{where}.{k}", v, actual[k], out, str(k))
        out.extend(f"{where}.{k}: unexpected (got {v!r})" for k, v in actual.items() if k not in expected)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(f"{where}: expected {len(expected)} items, got {len(actual)}: {actual!r}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            _diff(f"{where}[{i}]", e, a, out, key)
    elif isinstance(expected, bool) or isinstance(actual, bool):
        if expected is not actual:
            out.append(f"{where}: expected {expected!r}, got {actual!r}")
    elif isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if not _close(expected, actual, key):
            out.append(f"{where}: expected {expected!r}, got {actual!r}")
    elif expected != actual:
        out.append(f"{where}: expected {expected!r}, got {actual!r}")


def _diff_readings(profile: Profile, expected: dict[str, Any], decoded: Decoded, out: list[str]) -> None:
    """Every listed quantity must match; an unlisted *mapped* reading is a difference, an unlisted derived one
    is not (examples may leave derived values to the derive tests)."""
    got = {r.quantity: r.value for r in decoded.readings}
    derived = {d.quantity for d in profile.derive}
    for quantity, value in expected.items():
        if quantity not in got:
            out.append(f"readings.{quantity}: expected {value!r}, missing")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"readings.{quantity}: the example's value {value!r} is not a number")
        elif not _close(value, got[quantity], quantity):
            out.append(f"readings.{quantity}: expected {value!r}, got {got[quantity]!r}")
    out.extend(f"readings.{q}: unexpected (got {v!r})" for q, v in got.items() if q not in expected
               and q not in derived)


def check_profile(profile: Profile) -> FolderReport:
    report = FolderReport(profile.folder, profile)
    if not (profile.folder / "README.md").is_file():
        report.problems.append(f"{profile.folder / 'README.md'}: missing (what it measures, datasheet, quirks)")
    path = profile.examples_path
    if not path.is_file():
        report.problems.append(f"{path}: missing; examples are the model's tests")
        return report
    try:
        examples = load_examples(path)
    except ProfileError as exc:
        report.problems.append(str(exc))
        return report
    report.results = [run_example(profile, example) for example in examples]
    return report


def check_folder(folder: Path, origin: str = "") -> FolderReport:
    """Load the profile in *folder* (reporting a load error instead of raising) and run its examples."""
    try:
        profile = load_profile(folder, origin)
    except ProfileError as exc:
        return FolderReport(folder, None, [str(exc)])
    return check_profile(profile)

