"""``beffroi bench decode``: uplinks decoded per second and per profile, on one core.

The payloads are each profile's own examples that decode (error examples are left out: a JS codec's looping
example would measure the time limit, not the codec) plus, when the profile has an encoder, payloads it encodes
from the examples' readings. Two rates are printed per profile: the
full ``Profile.decode`` (decoder + normalisation + derived values) and the bare decoder function, so the
framework's own overhead is visible.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from devices.check import load_examples
from devices.profile import Profile, ProfileError
from devices.registry import ProfileRegistry

__all__ = ["register", "run", "decode_cases", "measure", "bench_profile"]

Case = tuple[int, bytes, dict[str, Any], "datetime | None"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="uplinks/s per device profile on one core")
    p.add_argument("--seconds", type=float, default=1.0, help="measuring time per profile (default 1 s)")
    p.add_argument("--profile", action="append", help="only this profile id (repeatable)")
    p.set_defaults(func=run)


def decode_cases(profile: Profile) -> list[Case]:
    """The profile's example payloads, plus payloads its encoder builds from the examples' readings."""
    cases: list[Case] = []
    try:
        examples = load_examples(profile.examples_path) if profile.examples_path.is_file() else []
    except ProfileError:
        examples = []
    for ex in examples:
        if ex.errors is not None:
            continue
        cases.append((ex.fport, ex.payload, ex.params, ex.recv_time))
        if profile.can_encode:
            readings = {r.quantity: r.value for r in profile.decode(ex.fport, ex.payload, ex.params).readings}
            try:
                fport, payload = profile.encode(readings)
            except Exception:  # an encoder may refuse readings it cannot carry; the examples still count
                continue
            cases.append((fport, payload, ex.params, ex.recv_time))
    return cases


def measure(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of *fn* over about *seconds* (after a short warm-up)."""
    for _ in range(10):
        fn()
    calls, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        calls += 50
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def run(args: argparse.Namespace) -> int:
    registry = ProfileRegistry.load(args.settings.get("devices", "extra_paths"))
    from ingest.commands.bench import print_figures

    figures: dict[str, Any] = {}
    for profile in registry:
        if not args.profile or profile.id in args.profile:
            figures.update(bench_profile(profile, args.seconds))
    print_figures("decode (one core, per profile)", figures)
    return 0


def bench_profile(profile: Profile, seconds: float) -> dict[str, Any]:
    cases = decode_cases(profile)
    if not cases:
        return {f"{profile.id} (no examples)": 0}
    figures: dict[str, Any] = {
        f"{profile.id} uplinks/s": _rate(lambda c: profile.decode(*c), cases, seconds),
        f"{profile.id} decoder only/s": _rate(lambda c: _quiet(profile, c), cases, seconds / 2),
    }
    if profile.can_encode:
        readings = [{r.quantity: r.value for r in profile.decode(*c).readings} for c in cases]
        readings = [r for r in readings if _encodes(profile, r)]
        if readings:
            figures[f"{profile.id} encodes/s"] = _rate(profile.encode, readings, seconds / 2)
    figures[f"{profile.id} payloads"] = len(cases)
    return figures


def _quiet(profile: Profile, case: Case) -> object:
    try:
        return profile.decode_raw(*case)
    except Exception:  # same cost accounting as decode(), which turns this into an error
        return None


def _encodes(profile: Profile, readings: dict[str, float]) -> bool:
    try:
        profile.encode(readings)
    except Exception:
        return False
    return True


def _rate(fn: Callable[[Any], object], items: list[Any], seconds: float) -> float:
    """Items per second, cycling through *items* so every payload shape is represented."""
    state = {"i": 0}
    n = len(items)

    def one() -> None:
        i = state["i"]
        fn(items[i])
        state["i"] = i + 1 if i + 1 < n else 0

    return measure(one, seconds)
