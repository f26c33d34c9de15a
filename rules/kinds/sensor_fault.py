"""sensor_fault: a value stuck for too long, or outside the range plausible for this installation.

    params: {quantity: distance, stuck_for: 12h, tolerance: 0, min: 200, max: 3800}

Values outside a quantity's physical bounds never reach the readings table (the decoder turns them into
warnings), so ``min``/``max`` here are the installation's plausible range: a gauge 4 m above the river bed
cannot measure 6 m. A value is stuck when at least ``min_samples`` readings spanning most of ``stuck_for``
(three quarters of it) stay within ``tolerance`` of each other: a frozen ultrasonic sensor keeps repeating its
last echo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.model import HOLD, DeviceSeries, Severity, Verdict
from rules.params import Params

__all__ = ["parse", "SensorFault"]


@dataclass(frozen=True, slots=True)
class SensorFault:
    quantity: str
    stuck_for: timedelta | None
    tolerance: float
    min_samples: int
    minimum: float | None
    maximum: float | None
    severity: Severity
    uses_positions: bool = False
    on_tick: bool = False

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)

    @property
    def window(self) -> timedelta:
        return self.stuck_for or timedelta(hours=1)

    def evaluate(self, series: DeviceSeries, now: datetime) -> Verdict:
        data = series.series(self.quantity)
        if not data.times:
            return HOLD
        value = data.values[-1]
        if self.minimum is not None and value < self.minimum:
            return Verdict("firing", self.severity, value, self.minimum, summary=f"{self.quantity} {value:g} "
                           f"below plausible {self.minimum:g}", details={"fault": "out_of_range"})
        if self.maximum is not None and value > self.maximum:
            return Verdict("firing", self.severity, value, self.maximum, summary=f"{self.quantity} {value:g} "
                           f"above plausible {self.maximum:g}", details={"fault": "out_of_range"})
        if self.stuck_for is not None:
            recent = [(t, v) for t, v in zip(data.times, data.values, strict=True) if now - t <= self.stuck_for]
            if len(recent) >= self.min_samples:
                span = recent[-1][0] - recent[0][0]
                spread = max(v for _, v in recent) - min(v for _, v in recent)
                if span >= self.stuck_for * 0.75 and spread <= self.tolerance:
                    hours = span.total_seconds() / 3600
                    return Verdict("firing", self.severity, value, None,
                                   summary=f"{self.quantity} stuck at {value:g} for {hours:.1f} h",
                                   details={"fault": "stuck", "samples": len(recent)})
                if spread > self.tolerance:
                    return Verdict("ok", value=value)
            return HOLD
        return Verdict("ok", value=value)


def parse(p: Params, severity: Severity) -> SensorFault:
    quantity = p.quantity()
    stuck_for = p.duration("stuck_for", positive=True) if p.has("stuck_for") else None
    tolerance = p.number("tolerance", 0.0, minimum=0)
    min_samples = int(p.number("min_samples", 3, minimum=2))
    minimum = p.optional_number("min")
    maximum = p.optional_number("max")
    if stuck_for is None and minimum is None and maximum is None:
        raise p.fail(None, "give 'stuck_for' and/or a plausible range ('min', 'max')")
    if minimum is not None and maximum is not None and minimum >= maximum:
        raise p.fail("max", f"must be greater than min ({minimum:g})")
    p.done()
    return SensorFault(quantity, stuck_for, tolerance, min_samples, minimum, maximum, severity)
