"""battery_low: the battery below a level, judged on the median of the last few readings.

    params: {below: 15, clear: 25}                                   # battery, %
    params: {quantity: battery_voltage, below: 3.3, clear: 3.5}      # volts

Batteries sag in the cold and during radio transmissions; the median of the last ``samples`` readings (default
3) keeps one cold morning from paging anyone. A replaced battery clears the alert.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.model import HOLD, DeviceSeries, Severity, Verdict
from rules.params import Params

__all__ = ["parse", "BatteryLow"]


@dataclass(frozen=True, slots=True)
class BatteryLow:
    quantity: str
    below: float
    clear: float
    samples: int
    severity: Severity
    window: timedelta = timedelta(days=7)
    uses_positions: bool = False
    on_tick: bool = False

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)

    def evaluate(self, series: DeviceSeries, now: datetime) -> Verdict:
        values = series.series(self.quantity).values[-self.samples:]
        if not values:
            return HOLD
        level = float(statistics.median(values))
        summary = f"{self.quantity} {level:g} < {self.below:g}"
        if level < self.below:
            return Verdict("firing", self.severity, level, self.below, summary=summary)
        if level >= self.clear:
            return Verdict("ok", value=level, threshold=self.below)
        return HOLD


def parse(p: Params, severity: Severity) -> BatteryLow:
    quantity = p.choice("quantity", ("battery", "battery_voltage"), "battery")
    if quantity == "battery_voltage" and not p.has("below"):
        raise p.fail(None, "battery_voltage needs an explicit 'below' level in volts")
    below = p.number("below", 15, positive=True)
    clear = p.number("clear", below + (10 if quantity == "battery" else 0.2))
    if clear < below:
        raise p.fail("clear", f"must be at least the 'below' level ({below:g})")
    samples = int(p.number("samples", 3, minimum=1, maximum=50))
    p.done()
    return BatteryLow(quantity, below, clear, samples, severity)
