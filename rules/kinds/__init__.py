"""Rule kinds: one small pure module each, registered by name.

A kind module exposes ``parse(params: Params, severity: Severity) -> Condition``; the ``Condition`` it returns
holds the parsed parameters and ``evaluate(series, now) -> Verdict``. Adding a kind is adding a module here and
a line in ``KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable

from rules.kinds import battery_low, forecast, geofence, no_data, rate_of_change, sensor_fault, threshold
from rules.model import Condition, Severity
from rules.params import Params

__all__ = ["KINDS", "Parser"]

Parser = Callable[[Params, Severity], Condition]

KINDS: dict[str, Parser] = {
    "threshold": threshold.parse,
    "rate_of_change": rate_of_change.parse,
    "geofence": geofence.parse,
    "forecast": forecast.parse,
    "no_data": no_data.parse,
    "battery_low": battery_low.parse,
    "sensor_fault": sensor_fault.parse,
}
