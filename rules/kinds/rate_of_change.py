"""rate_of_change: a rise (or fall) of at least an amount within a window — a flash flood is +20 cm in 15 min.

    params: {quantity: water_level, rise: 0.20, within: 15m, clear: 0.05}

The change is measured at the latest reading against the lowest (highest, for a fall) reading of the window
that ends there; when readings are sparser than the window, the value at the window's start is interpolated. It fires at ``rise`` or more and clears at ``clear`` or less (default: ``rise``); in between
the verdict is ``hold``. Without a reading in the last ``within`` nothing is concluded (``hold``): a silent
sensor is the no_data rule's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.model import HOLD, DeviceSeries, Severity, Verdict
from rules.params import Params

__all__ = ["parse", "RateOfChange"]


@dataclass(frozen=True, slots=True)
class RateOfChange:
    quantity: str
    rising: bool
    amount: float
    clear: float
    within: timedelta
    severity: Severity
    uses_positions: bool = False
    on_tick: bool = False

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)

    @property
    def window(self) -> timedelta:
        return self.within * 2

    def evaluate(self, series: DeviceSeries, now: datetime) -> Verdict:
        data = series.series(self.quantity)
        if len(data) < 2 or now - data.times[-1] > self.within:
            return HOLD
        end_time, end_value = data.times[-1], data.values[-1]
        start = end_time - self.within
        recent = [v for t, v in zip(data.times, data.values, strict=True) if t >= start]
        before = [(t, v) for t, v in zip(data.times, data.values, strict=True) if t < start]
        if before:
            # readings sparser than the window: interpolate the value at the window's start
            (t0, v0), t1 = before[-1], data.times[len(before)]
            v1 = data.values[len(before)]
            recent.append(v0 + (v1 - v0) * ((start - t0) / (t1 - t0)))
        if len(recent) < 2:
            return HOLD
        change = end_value - min(recent) if self.rising else max(recent) - end_value
        word = "rise" if self.rising else "fall"
        details = {"change": round(change, 6), "within_s": self.within.total_seconds(), "direction": word,
                   "level": end_value}
        summary = f"{self.quantity} {word} {change:g} in {int(self.within.total_seconds() // 60)} min"
        if change >= self.amount:
            return Verdict("firing", self.severity, round(change, 6), self.amount, summary=summary, details=details)
        if change <= self.clear:
            return Verdict("ok", value=round(change, 6), threshold=self.amount, summary=summary, details=details)
        return HOLD


def parse(p: Params, severity: Severity) -> RateOfChange:
    quantity = p.quantity()
    if p.has("rise") == p.has("fall"):
        raise p.fail(None, "give exactly one of 'rise' or 'fall' (an amount in the quantity's unit)")
    rising = p.has("rise")
    amount = p.number("rise" if rising else "fall", positive=True)
    clear = p.number("clear", amount, minimum=0)
    if clear > amount:
        raise p.fail("clear", f"must not exceed the triggering amount {amount:g}")
    within = p.duration("within", positive=True)
    p.done()
    return RateOfChange(quantity, rising, amount, clear, within, severity)
