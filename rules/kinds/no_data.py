"""no_data: nothing received from a device for k × its expected uplink period (from its profile).

    params: {periods: 3}          # or {after: 2h} to give the silence directly

Evaluated on the periodic tick, since by definition no data arrives to trigger it. The baseline is the last
uplink (device_state.last_seen); a device never heard from is measured from its registration. Without an
expected period (no profile, or a profile without one) and without ``after`` the verdict is ``hold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.model import HOLD, DeviceSeries, Severity, Verdict
from rules.params import Params

__all__ = ["parse", "NoData"]


@dataclass(frozen=True, slots=True)
class NoData:
    periods: float
    after: timedelta | None
    severity: Severity
    quantities: tuple[str, ...] = ()
    window: timedelta = timedelta(0)
    uses_positions: bool = False
    on_tick: bool = True

    def limit(self, uplink_period_s: float | None) -> timedelta | None:
        if self.after is not None:
            return self.after
        if not uplink_period_s:
            return None
        return timedelta(seconds=self.periods * uplink_period_s)

    def evaluate(self, series: DeviceSeries, now: datetime) -> Verdict:
        limit = self.limit(series.device.uplink_period_s)
        baseline = series.last_seen or series.device.created_at
        if limit is None or baseline is None:
            return HOLD
        silent = now - baseline
        minutes = silent.total_seconds() / 60
        details = {"last_seen": baseline.isoformat(), "limit_s": limit.total_seconds()}
        if silent > limit:
            return Verdict("firing", self.severity, round(minutes, 1), limit.total_seconds() / 60,
                           since=baseline + limit, summary=f"silent for {minutes:.0f} min", details=details)
        return Verdict("ok", value=round(minutes, 1), threshold=limit.total_seconds() / 60, details=details)


def parse(p: Params, severity: Severity) -> NoData:
    periods = p.number("periods", 3, positive=True)
    after = p.duration("after", positive=True) if p.has("after") else None
    if after is not None and p.has("periods"):
        raise p.fail("after", "give 'periods' or 'after', not both")
    p.done()
    return NoData(periods, after, severity)
