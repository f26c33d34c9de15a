"""Quantities computed from decoded readings and per-device parameters (a profile's ``derive:`` entries).

Each function is pure and declares, in ``FUNCTIONS``, which vocabulary quantities it reads and which parameters
(with their unit) it needs, so that a profile naming a wrong parameter or a parameter in the wrong unit is refused
at load time rather than producing a wrong fill level for months.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DeriveFunction", "FUNCTIONS", "fill_from_distance", "level_from_distance"]


def fill_from_distance(distance: float, depth: float, offset: float = 0.0) -> float:
    """Fill level % of a container from the distance (mm) between the sensor and the waste.

    ``depth`` (mm) runs from the container's top rim (full) to its bottom (empty); ``offset`` (mm) is the distance
    from the sensor face down to that rim. Readings beyond the bottom or above the rim clamp to 0 % and 100 %.
    """
    if depth <= 0:
        raise ValueError(f"depth must be greater than 0 mm, got {depth:g}")
    fill = 100.0 * (depth - (distance - offset)) / depth
    return min(100.0, max(0.0, fill))


def level_from_distance(distance: float, height: float) -> float:
    """Water level (m) above the gauge zero, for a sensor looking down from ``height`` m above that zero."""
    return height - distance / 1000.0


@dataclass(frozen=True, slots=True)
class DeriveFunction:
    function: Callable[..., float]
    inputs: tuple[str, ...]                  # vocabulary quantities passed first, in order
    params: dict[str, str]                   # parameter name -> unit, passed by keyword
    optional: frozenset[str] = frozenset()   # parameters that have a default in the function


FUNCTIONS: dict[str, DeriveFunction] = {
    "fill_from_distance": DeriveFunction(fill_from_distance, ("distance",), {"depth": "mm", "offset": "mm"},
                                         frozenset({"offset"})),
    "level_from_distance": DeriveFunction(level_from_distance, ("distance",), {"height": "m"}),
}
