"""threshold: a quantity above (or below) a level, optionally for a duration, with a separate clear level.

    params: {quantity: co2, above: 1500, clear: 1300, for: 10m}
    params: {quantity: water_level, for: 5m, steps: [{above: 2.0, clear: 1.9, severity: info},
                                                     {above: 2.5, clear: 2.4, severity: warning}, ...]}

Hysteresis is read from the series itself: a step is active from the first reading beyond its level that follows
the last reading back past its clear level. Values in between change nothing, so a value flapping inside the
band neither resolves nor re-raises the alert. When the whole window lies inside the band the verdict is
``hold`` (the engine keeps the alert as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.model import HOLD, OK, DeviceSeries, Series, Severity, Verdict
from rules.params import Params

__all__ = ["parse", "Step", "Threshold", "step_state"]


@dataclass(frozen=True, slots=True)
class Step:
    above: bool        # True: breach when value > level; False: breach when value < level
    level: float
    clear: float
    severity: Severity

    def breached(self, value: float) -> bool:
        return value > self.level if self.above else value < self.level

    def cleared(self, value: float) -> bool:
        return value <= self.clear if self.above else value >= self.clear


def step_state(step: Step, series: Series) -> tuple[str, datetime | None]:
    """``("active", since)``, ``("clear", None)`` or ``("unknown", None)`` after walking the series."""
    state, since = "unknown", None
    for time, value in zip(series.times, series.values, strict=True):
        if step.breached(value):
            if state != "active":
                state, since = "active", time
        elif step.cleared(value):
            state, since = "clear", None
    return state, since


@dataclass(frozen=True, slots=True)
class Threshold:
    quantity: str
    steps: tuple[Step, ...]          # ascending severity
    hold_for: timedelta
    window: timedelta
    uses_positions: bool = False
    on_tick: bool = True             # a pending alert becomes firing when `for` elapses, data or not

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)

    def evaluate(self, series: DeviceSeries, now: datetime) -> Verdict:
        data = series.series(self.quantity)
        if not data.times:
            return HOLD
        value = data.values[-1]
        firing: Step | None = None
        pending_since: datetime | None = None
        unknown = False
        for step in self.steps:
            state, since = step_state(step, data)
            if state == "active" and since is not None:
                if now - since >= self.hold_for:
                    firing = step if firing is None or step.severity > firing.severity else firing
                else:
                    pending_since = since if pending_since is None else min(pending_since, since)
            elif state == "unknown":
                unknown = True
        sign = ">" if self.steps[0].above else "<"
        if firing is not None:
            return Verdict("firing", firing.severity, value, firing.level,
                           summary=f"{self.quantity} {value:g} {sign} {firing.level:g}")
        if pending_since is not None:
            first = self.steps[0]
            return Verdict("pending", first.severity, value, first.level, since=pending_since,
                           summary=f"{self.quantity} {value:g} {sign} {first.level:g}")
        if unknown:
            return HOLD
        return Verdict(OK.status, value=value, threshold=self.steps[0].level)


def _step(p: Params, default: Severity) -> Step:
    if p.has("above") == p.has("below"):
        raise p.fail(None, "give exactly one of 'above' or 'below'")
    above = p.has("above")
    level = p.number("above" if above else "below")
    clear = p.number("clear", level)
    if (above and clear > level) or (not above and clear < level):
        raise p.fail("clear", f"the clear level must be on the safe side of the level ({'≤' if above else '≥'} {level:g})")
    severity = default
    if p.has("severity"):
        try:
            severity = Severity.parse(p.get("severity"))
        except ValueError as exc:
            raise p.fail("severity", str(exc)) from None
    return Step(above, level, clear, severity)


def parse(p: Params, severity: Severity) -> Threshold:
    quantity = p.quantity()
    hold_for = p.duration("for", timedelta(0))
    if p.has("steps"):
        steps = []
        for item in p.items("steps"):
            steps.append(_step(item, severity))
            item.done()
        if len({s.above for s in steps}) != 1:
            raise p.fail("steps", "all steps must use the same direction (all 'above' or all 'below')")
        steps.sort(key=lambda s: s.severity)
        if len({s.severity for s in steps}) != len(steps):
            raise p.fail("steps", "each step needs its own severity")
        ordered = [s.level for s in steps]
        if ordered != sorted(ordered, reverse=not steps[0].above):
            raise p.fail("steps", "a more severe step must have a more extreme level")
    else:
        steps = [_step(p, severity)]
    p.done()
    # enough history to see the last crossing of the clear level, and at least the `for` duration
    window = max(hold_for * 2, timedelta(hours=6))
    return Threshold(quantity, tuple(steps), hold_for, window)
