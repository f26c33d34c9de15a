"""forecast: time until a quantity reaches a level, from a robust straight-line fit of recent readings.

    params: {quantity: fill_level, reaches: 90, within: 24h, history: 3d, reset_drop: 20, method: theil_sen}

Theil-Sen (median of pairwise slopes) by default, or Huber regression (iteratively reweighted least squares):
both shrug off a few wild readings (a bird on the sensor, a bag across the beam). ``reset_drop`` restarts the fit
after a move against ``direction`` (rising by default) larger than that amount (a bin being emptied). Fires when the predicted time to reach the level is
``within`` or less; clears when it exceeds ``within`` × ``clear_factor`` (default 1.25) or the trend turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from rules.model import HOLD, DeviceSeries, Severity, Verdict
from rules.params import Params

__all__ = ["parse", "Forecast", "theil_sen", "huber"]


def theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept): median of pairwise slopes, median of residual intercepts."""
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    if not keep.any():
        return 0.0, float(np.median(y))
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep]))
    return slope, float(np.median(y - slope * x))


def huber(x: np.ndarray, y: np.ndarray, k: float = 1.345, iterations: int = 30) -> tuple[float, float]:
    """(slope, intercept) by iteratively reweighted least squares with Huber weights."""
    a = np.vstack([x, np.ones_like(x)]).T
    w = np.ones_like(y)
    coef = np.zeros(2)
    for _ in range(iterations):
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
        r = y - a @ coef
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        if scale == 0:
            break
        u = np.abs(r) / (k * scale)
        w = np.where(u <= 1, 1.0, 1.0 / np.maximum(u, 1e-12))
    return float(coef[0]), float(coef[1])


_METHODS = {"theil_sen": theil_sen, "huber": huber}
_MAX_POINTS = 300      # pairwise slopes are O(n²); recent points say the most anyway


@dataclass(frozen=True, slots=True)
class Forecast:
    quantity: str
    level: float
    within: timedelta
    history: timedelta
    method: str
    min_points: int
    reset_drop: float | None
    clear_factor: float
    severity: Severity
    rising: bool = True
    uses_positions: bool = False
    on_tick: bool = True

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)

    @property
    def window(self) -> timedelta:
        return self.history

    def evaluate(self, series: DeviceSeries, now: datetime) -> Verdict:
        data = series.series(self.quantity)
        times, values = list(data.times), list(data.values)
        if self.reset_drop is not None:
            for i in range(len(values) - 1, 0, -1):
                jump = values[i - 1] - values[i] if self.rising else values[i] - values[i - 1]
                if jump > self.reset_drop:
                    times, values = times[i:], values[i:]
                    break
        times, values = times[-_MAX_POINTS:], values[-_MAX_POINTS:]
        if len(values) < self.min_points:
            return HOLD
        origin = times[0]
        x = np.array([(t - origin).total_seconds() / 3600 for t in times])
        y = np.array(values)
        slope, intercept = _METHODS[self.method](x, y)
        now_h = (now - origin).total_seconds() / 3600
        predicted_now = slope * now_h + intercept
        rising = self.rising
        toward = slope > 0 if rising else slope < 0
        reached = predicted_now >= self.level if rising else predicted_now <= self.level
        eta_h = 0.0 if reached else ((self.level - intercept) / slope - now_h if toward else float("inf"))
        details = {"slope_per_h": round(slope, 6), "eta_h": None if eta_h == float("inf") else round(eta_h, 2),
                   "points": len(values)}
        summary = f"{self.quantity} reaches {self.level:g} in {eta_h:.1f} h" if eta_h != float("inf") else ""
        within_h = self.within.total_seconds() / 3600
        if eta_h <= within_h:
            return Verdict("firing", self.severity, float(y[-1]), self.level, summary=summary, details=details)
        if eta_h > within_h * self.clear_factor:
            return Verdict("ok", value=float(y[-1]), threshold=self.level, details=details)
        return HOLD


def parse(p: Params, severity: Severity) -> Forecast:
    quantity = p.quantity()
    level = p.number("reaches")
    rising = p.choice("direction", ("rising", "falling"), "rising") == "rising"
    within = p.duration("within", positive=True)
    history = p.duration("history", timedelta(days=3), positive=True)
    method = p.choice("method", tuple(_METHODS), "theil_sen")
    min_points = int(p.number("min_points", 4, minimum=3))
    reset_drop = p.optional_number("reset_drop", positive=True)
    clear_factor = p.number("clear_factor", 1.25, minimum=1)
    p.done()
    return Forecast(quantity, level, within, history, method, min_points, reset_drop, clear_factor, severity, rising)
