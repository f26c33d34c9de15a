"""Rule kinds are pure: (parameters, series, now) → verdict, table-driven."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rules.kinds.forecast import huber, theil_sen
from rules.kinds.geofence import distance_to_line_m, inside_polygon
from rules.model import Severity
from rules.params import ParamError
from tests.rules.helpers import at, condition, series

CO2_STEPS = {"quantity": "co2", "steps": [{"above": 800, "clear": 700, "severity": "info"},
                                           {"above": 1500, "clear": 1300, "severity": "warning"}]}

THRESHOLD_CASES: list[tuple[str, dict[str, Any], list[tuple[float, float]], float, str, Severity | None]] = [
    ("below level is ok", {"quantity": "co2", "above": 1000}, [(0, 600), (10, 700)], 10, "ok", None),
    ("above level fires", {"quantity": "co2", "above": 1000}, [(0, 600), (10, 1200)], 10, "firing",
     Severity.WARNING),
    ("equal to level is not above", {"quantity": "co2", "above": 1000}, [(0, 1000)], 0, "ok", None),
    ("above but not for long enough is pending", {"quantity": "co2", "above": 1000, "for": "15m"},
     [(0, 600), (10, 1200), (20, 1250)], 20, "pending", Severity.WARNING),
    ("above for the whole duration fires", {"quantity": "co2", "above": 1000, "for": "15m"},
     [(0, 600), (10, 1200), (20, 1250)], 25, "firing", Severity.WARNING),
    ("a dip below clear restarts the duration", {"quantity": "co2", "above": 1000, "clear": 900, "for": "15m"},
     [(0, 1200), (10, 850), (20, 1200)], 30, "pending", Severity.WARNING),
    ("a dip inside the band does not restart it", {"quantity": "co2", "above": 1000, "clear": 900, "for": "15m"},
     [(0, 1200), (10, 950), (20, 1200)], 20, "firing", Severity.WARNING),
    ("inside the band after a breach stays active", {"quantity": "co2", "above": 1000, "clear": 900},
     [(0, 1200), (10, 950)], 10, "firing", Severity.WARNING),
    ("inside the band after a clear is ok", {"quantity": "co2", "above": 1000, "clear": 900},
     [(0, 1200), (10, 850), (20, 950)], 20, "ok", None),
    ("only inside the band is unknown: hold", {"quantity": "co2", "above": 1000, "clear": 900},
     [(0, 950), (10, 960)], 10, "hold", None),
    ("no data: hold", {"quantity": "co2", "above": 1000}, [], 10, "hold", None),
    ("below direction", {"quantity": "temperature", "below": 5, "clear": 7}, [(0, 8), (10, 4)], 10, "firing",
     Severity.WARNING),
    ("steps: the advisory level", CO2_STEPS, [(0, 600), (10, 900)], 10, "firing", Severity.INFO),
    ("steps: the highest step wins", CO2_STEPS, [(0, 600), (10, 1600)], 10, "firing", Severity.WARNING),
    ("steps: higher step cleared, lower still active", CO2_STEPS, [(0, 1600), (10, 1200)], 10, "firing",
     Severity.INFO),
    ("steps: everything cleared", CO2_STEPS, [(0, 1600), (10, 650)], 10, "ok", None),
]


@pytest.mark.parametrize(("name", "params", "samples", "now", "status", "severity"), THRESHOLD_CASES,
                         ids=[c[0] for c in THRESHOLD_CASES])
def test_threshold(name: str, params: dict[str, Any], samples: list[tuple[float, float]], now: float,
                   status: str, severity: Severity | None) -> None:
    verdict = condition("threshold", params).evaluate(series("co2" if "steps" in params or params["quantity"] ==
                                                             "co2" else params["quantity"], samples), at(now))
    assert verdict.status == status
    assert verdict.severity == severity if status in ("firing", "pending") else True


def test_a_value_flapping_inside_the_band_never_resolves_nor_refires() -> None:
    cond = condition("threshold", {"quantity": "water_level", "above": 2.0, "clear": 1.8})
    values = [1.0, 2.1, 1.95, 2.05, 1.9, 2.02, 1.85, 2.01]
    statuses = [cond.evaluate(series("water_level", [(i * 5, v) for i, v in enumerate(values[:n + 1])]),
                              at(n * 5)).status for n in range(len(values))]
    assert statuses == ["ok"] + ["firing"] * 7


ROC_CASES = [
    ("flash flood: +25 cm in 10 min", {"rise": 0.20, "within": "15m"}, [(0, 1.0), (5, 1.1), (10, 1.25)], 10,
     "firing"),
    ("slow rise over an hour is fine", {"rise": 0.20, "within": "15m"},
     [(0, 1.0), (20, 1.08), (40, 1.16), (60, 1.24)], 60, "ok"),
    ("rise measured from the lowest point of the window", {"rise": 0.20, "within": "15m"},
     [(0, 1.3), (5, 1.0), (10, 1.21)], 10, "firing"),
    ("falling water", {"fall": 0.5, "within": "30m"}, [(0, 2.0), (20, 1.4)], 20, "firing"),
    ("between clear and rise: hold", {"rise": 0.20, "within": "15m", "clear": 0.05}, [(0, 1.0), (10, 1.1)], 10,
     "hold"),
    ("stale data: hold", {"rise": 0.20, "within": "15m"}, [(0, 1.0), (5, 1.5)], 60, "hold"),
    ("one reading: hold", {"rise": 0.20, "within": "15m"}, [(0, 1.0)], 0, "hold"),
]


@pytest.mark.parametrize(("name", "params", "samples", "now", "status"), ROC_CASES, ids=[c[0] for c in ROC_CASES])
def test_rate_of_change(name: str, params: dict[str, Any], samples: list[tuple[float, float]], now: float,
                        status: str) -> None:
    cond = condition("rate_of_change", {"quantity": "water_level", **params}, Severity.CRITICAL)
    verdict = cond.evaluate(series("water_level", samples), at(now))
    assert verdict.status == status
    if status == "firing":
        assert verdict.severity is Severity.CRITICAL


PASTURE = [[45.0, 6.0], [45.0, 6.01], [45.01, 6.01], [45.01, 6.0]]
TRAIL = [[45.0, 6.0], [45.0, 6.02]]
GEO_CASES = [
    ("outside: a sheep in the pasture is fine", {"mode": "outside", "polygon": PASTURE},
     [(0, 45.005, 6.005)], 1, "ok"),
    ("outside: a sheep beyond the fence", {"mode": "outside", "polygon": PASTURE}, [(0, 45.02, 6.005)], 1, "firing"),
    ("inside: a tracker entering a forbidden area", {"mode": "inside", "polygon": PASTURE},
     [(0, 45.005, 6.005)], 1, "firing"),
    ("leave: crossing out recently", {"mode": "leave", "polygon": PASTURE},
     [(0, 45.005, 6.005), (10, 45.02, 6.005)], 20, "firing"),
    ("leave: crossing too long ago", {"mode": "leave", "polygon": PASTURE, "event_window": "30m"},
     [(0, 45.005, 6.005), (10, 45.02, 6.005)], 50, "ok"),
    ("enter is not leave", {"mode": "enter", "polygon": PASTURE}, [(0, 45.005, 6.005), (10, 45.02, 6.005)], 20,
     "ok"),
    ("enter", {"mode": "enter", "polygon": PASTURE}, [(0, 45.02, 6.005), (10, 45.005, 6.005)], 20, "firing"),
    ("near a trail", {"mode": "near_line", "line": TRAIL, "buffer_m": 150}, [(0, 45.001, 6.01)], 1, "firing"),
    ("far from a trail", {"mode": "near_line", "line": TRAIL, "buffer_m": 150}, [(0, 45.01, 6.01)], 1, "ok"),
    ("between buffer and clear: hold", {"mode": "near_line", "line": TRAIL, "buffer_m": 100, "clear_m": 200},
     [(0, 45.0015, 6.01)], 1, "hold"),
    ("no recent position: hold", {"mode": "outside", "polygon": PASTURE}, [(0, 45.02, 6.005)], 60 * 25, "hold"),
]


@pytest.mark.parametrize(("name", "params", "track", "now", "status"), GEO_CASES, ids=[c[0] for c in GEO_CASES])
def test_geofence(name: str, params: dict[str, Any], track: list[tuple[float, float, float]], now: float,
                  status: str) -> None:
    verdict = condition("geofence", params).evaluate(series("co2", [], track=track), at(now))
    assert verdict.status == status


def test_geometry_against_known_distances() -> None:
    # 0.001° of latitude is about 111 m everywhere
    assert distance_to_line_m((45.001, 6.01), [(45.0, 6.0), (45.0, 6.02)]) == pytest.approx(111.2, abs=0.5)
    # beyond the end of the segment, the distance is to the end point
    assert distance_to_line_m((45.0, 6.03), [(45.0, 6.0), (45.0, 6.02)]) == pytest.approx(786.3, rel=0.01)
    concave = [(0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (2.0, 0.0), (1.0, 1.0)]  # a notch cut into the western edge
    assert inside_polygon((1.0, 1.5), concave) and not inside_polygon((1.0, 0.5), concave)


def _fill(hours_values: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(h * 60, v) for h, v in hours_values]


FORECAST_CASES = [
    ("bin full within 24 h", {"reaches": 90, "within": "24h"}, _fill([(0, 30), (6, 40), (12, 50), (18, 60)]), 18,
     "firing"),
    ("bin filling slowly", {"reaches": 90, "within": "24h"}, _fill([(0, 10), (12, 12), (24, 14), (36, 16)]), 36,
     "ok"),
    ("an outlier does not fool the fit", {"reaches": 90, "within": "24h"},
     _fill([(0, 10), (12, 12), (18, 95), (24, 14), (36, 16)]), 36, "ok"),
    ("huber agrees", {"reaches": 90, "within": "24h", "method": "huber"},
     _fill([(0, 10), (12, 12), (18, 95), (24, 14), (30, 15), (36, 16)]), 36, "ok"),
    ("emptying restarts the fit", {"reaches": 90, "within": "24h", "reset_drop": 30},
     _fill([(0, 50), (6, 70), (12, 85), (13, 5), (20, 6), (27, 7), (34, 8)]), 34, "ok"),
    ("too few points: hold", {"reaches": 90, "within": "24h"}, _fill([(0, 30), (6, 80)]), 6, "hold"),
    ("already beyond the level", {"reaches": 90, "within": "24h"}, _fill([(0, 80), (1, 88), (2, 91), (3, 95)]), 3,
     "firing"),
    ("falling battery", {"reaches": 20, "within": "7d", "direction": "falling"},
     _fill([(0, 40), (24, 37), (48, 34), (72, 31)]), 72, "firing"),
]


@pytest.mark.parametrize(("name", "params", "samples", "now_h", "status"), FORECAST_CASES,
                         ids=[c[0] for c in FORECAST_CASES])
def test_forecast(name: str, params: dict[str, Any], samples: list[tuple[float, float]], now_h: float,
                  status: str) -> None:
    cond = condition("forecast", {"quantity": "fill_level", **params})
    assert cond.evaluate(series("fill_level", samples), at(now_h * 60)).status == status


def test_robust_fits_recover_a_line_despite_outliers() -> None:
    x = np.arange(20, dtype=float)
    y = 2.0 * x + 5
    y[[3, 11]] = [80, -40]
    for fit in (theil_sen, huber):
        slope, intercept = fit(x, y)
        assert slope == pytest.approx(2.0, abs=0.05) and intercept == pytest.approx(5.0, abs=0.5)


NO_DATA_CASES = [
    ("heard recently", {"periods": 3}, 600, 0, 20, "ok"),
    ("silent for 3 periods and more", {"periods": 3}, 600, 0, 31, "firing"),
    ("explicit silence duration", {"after": "2h"}, 600, 0, 121, "firing"),
    ("unknown period: hold", {"periods": 3}, None, 0, 500, "hold"),
    ("never heard: measured from registration", {"periods": 2}, 600, None, 21, "firing"),
]


@pytest.mark.parametrize(("name", "params", "period", "last_seen", "now", "status"), NO_DATA_CASES,
                         ids=[c[0] for c in NO_DATA_CASES])
def test_no_data(name: str, params: dict[str, Any], period: float | None, last_seen: float | None, now: float,
                 status: str) -> None:
    verdict = condition("no_data", params).evaluate(series("co2", [], period_s=period, last_seen=last_seen), at(now))
    assert verdict.status == status


BATTERY_CASES = [
    ("healthy", {}, [(0, 80), (10, 79), (20, 79)], "ok"),
    ("low on the median", {}, [(0, 14), (10, 12), (20, 13)], "firing"),
    ("one cold reading does not page", {}, [(0, 40), (10, 9), (20, 40)], "ok"),
    ("recovering inside the band: hold", {"below": 15, "clear": 25}, [(0, 20), (10, 20), (20, 20)], "hold"),
    ("voltage", {"quantity": "battery_voltage", "below": 3.3}, [(0, 3.2), (10, 3.1), (20, 3.2)], "firing"),
]


@pytest.mark.parametrize(("name", "params", "samples", "status"), BATTERY_CASES, ids=[c[0] for c in BATTERY_CASES])
def test_battery_low(name: str, params: dict[str, Any], samples: list[tuple[float, float]], status: str) -> None:
    quantity = params.get("quantity", "battery")
    assert condition("battery_low", params).evaluate(series(quantity, samples), at(20)).status == status


FAULT_CASES = [
    ("stuck for 12 h", {"stuck_for": "12h"}, [(h * 60, 1234.0) for h in range(0, 13)], 12 * 60, "firing"),
    ("moving values", {"stuck_for": "12h"}, [(h * 60, 1234.0 + h) for h in range(0, 13)], 12 * 60, "ok"),
    ("within tolerance counts as stuck", {"stuck_for": "2h", "tolerance": 1},
     [(0, 10.0), (60, 10.5), (120, 10.2)], 120, "firing"),
    ("not long enough to tell: hold", {"stuck_for": "12h"}, [(0, 5.0), (60, 5.0), (120, 5.0)], 120, "hold"),
    ("out of plausible range", {"max": 3800}, [(0, 5000.0)], 0, "firing"),
    ("in range", {"min": 100, "max": 3800}, [(0, 1500.0)], 0, "ok"),
]


@pytest.mark.parametrize(("name", "params", "samples", "now", "status"), FAULT_CASES, ids=[c[0] for c in FAULT_CASES])
def test_sensor_fault(name: str, params: dict[str, Any], samples: list[tuple[float, float]], now: float,
                      status: str) -> None:
    cond = condition("sensor_fault", {"quantity": "distance", **params})
    assert cond.evaluate(series("distance", samples), at(now)).status == status


BAD_PARAMS = [
    ("threshold", {"quantity": "co2"}, "exactly one of 'above' or 'below'"),
    ("threshold", {"quantity": "co2", "above": 1000, "clear": 1100}, "safe side"),
    ("threshold", {"quantity": "nope", "above": 1}, "unknown quantity"),
    ("threshold", {"quantity": "co2", "above": 1000, "clera": 900}, "unknown parameter"),
    ("threshold", {"quantity": "co2", "above": "high"}, "expected a number"),
    ("threshold", {"quantity": "co2", "above": 1, "for": "soon"}, "not a duration"),
    ("threshold", {"quantity": "co2", "steps": [{"above": 1500, "severity": "info"},
                                                {"above": 800, "severity": "warning"}]}, "more extreme"),
    ("rate_of_change", {"quantity": "water_level", "rise": 0.2}, "missing parameter 'within'"),
    ("geofence", {"mode": "outside", "polygon": [[45, 6], [45, 7]]}, "at least 3"),
    ("geofence", {"mode": "sideways"}, "must be one of"),
    ("forecast", {"quantity": "fill_level", "reaches": 90, "within": "1d", "method": "magic"}, "must be one of"),
    ("no_data", {"periods": 3, "after": "1h"}, "not both"),
    ("battery_low", {"quantity": "battery_voltage"}, "explicit 'below'"),
    ("sensor_fault", {"quantity": "distance"}, "stuck_for"),
]


@pytest.mark.parametrize(("kind", "params", "message"), BAD_PARAMS, ids=[f"{k}-{m}" for k, _, m in BAD_PARAMS])
def test_wrong_parameters_are_refused_with_a_reason(kind: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        condition(kind, params)
