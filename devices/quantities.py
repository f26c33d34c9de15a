"""The shared vocabulary of measured quantities.

Every decoder output is normalised into these quantities, in their canonical unit. A value outside a quantity's
physical bounds is not stored: it becomes a decode warning (sensors encode faults as sentinel values such as
0xFFFF or -327.68, and storing those would poison averages and trigger false alerts).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Quantity", "QUANTITIES", "quantity", "check_value", "UnknownQuantity"]


class UnknownQuantity(KeyError):
    """A profile or rule names a quantity that is not in the vocabulary."""


@dataclass(frozen=True, slots=True)
class Quantity:
    name: str
    unit: str
    minimum: float
    maximum: float
    description: str

    def contains(self, value: float) -> bool:
        return self.minimum <= value <= self.maximum


_TABLE: tuple[Quantity, ...] = (
    # indoor air
    Quantity("co2", "ppm", 0, 40_000, "carbon dioxide concentration"),
    Quantity("temperature", "°C", -60, 125, "air or water temperature"),
    Quantity("humidity", "%", 0, 100, "relative humidity"),
    Quantity("pressure", "hPa", 300, 1_100, "barometric pressure"),
    Quantity("tvoc", "µg/m³", 0, 100_000, "total volatile organic compounds, mass concentration"),
    Quantity("tvoc_ppb", "ppb", 0, 100_000, "total volatile organic compounds, volume ratio"),
    Quantity("tvoc_index", "index", 0, 500, "vendor TVOC / IAQ index or level"),
    Quantity("light", "lx", 0, 200_000, "illuminance"),
    Quantity("light_level", "level", 0, 10, "vendor illuminance level (coarse scale)"),
    Quantity("pm2_5", "µg/m³", 0, 1_000, "fine particulate matter PM2.5"),
    Quantity("pm10", "µg/m³", 0, 1_000, "particulate matter PM10"),
    Quantity("hcho", "mg/m³", 0, 10, "formaldehyde"),
    Quantity("o3", "ppm", 0, 10, "ozone"),
    Quantity("occupancy", "bool", 0, 1, "room occupied (1) or vacant (0), from a PIR sensor"),
    Quantity("motion_count", "count", 0, 1_000_000, "PIR motion events counted over the uplink period"),
    # water level / flood
    Quantity("distance", "mm", 0, 100_000, "distance from the sensor to the target (water, waste)"),
    Quantity("water_level", "m", -100, 1_000, "water level above the gauge zero (or above the probe)"),
    Quantity("water_pressure", "bar", 0, 100, "hydrostatic pressure measured by a submersible probe"),
    # bins
    Quantity("fill_level", "%", 0, 100, "container fill level"),
    Quantity("tilt", "bool", 0, 1, "tilt / fall / lid-open alarm flag"),
    Quantity("tilt_angle", "°", 0, 180, "inclination from vertical"),
    Quantity("fire", "bool", 0, 1, "fire / high temperature alarm flag"),
    Quantity("full_alarm", "bool", 0, 1, "vendor full-level alarm flag"),
    # trackers
    Quantity("latitude", "°", -90, 90, "WGS84 latitude"),
    Quantity("longitude", "°", -180, 180, "WGS84 longitude"),
    Quantity("altitude", "m", -500, 9_000, "altitude above sea level"),
    Quantity("gps_accuracy", "m", 0, 100_000, "horizontal accuracy of a position fix"),
    Quantity("hdop", "hdop", 0, 100, "horizontal dilution of precision"),
    Quantity("speed", "km/h", 0, 300, "ground speed"),
    Quantity("heading", "°", 0, 360, "course over ground"),
    Quantity("satellites", "count", 0, 64, "satellites used in a fix"),
    Quantity("motion", "bool", 0, 1, "device moving (1) or static (0)"),
    Quantity("alarm", "bool", 0, 1, "SOS / alarm button flag"),
    # device health
    Quantity("battery_voltage", "V", 0, 30, "battery voltage"),
    Quantity("battery", "%", 0, 100, "battery level"),
    Quantity("rssi", "dBm", -200, 20, "received signal strength of the uplink at the best gateway"),
    Quantity("snr", "dB", -40, 40, "signal-to-noise ratio of the uplink at the best gateway"),
    Quantity("margin", "dB", -40, 60, "link margin reported by the device (DevStatusAns)"),
)

QUANTITIES: dict[str, Quantity] = {q.name: q for q in _TABLE}


def quantity(name: str) -> Quantity:
    try:
        return QUANTITIES[name]
    except KeyError:
        raise UnknownQuantity(
            f"unknown quantity {name!r}; known quantities: {', '.join(sorted(QUANTITIES))}"
        ) from None


def check_value(name: str, value: float) -> str | None:
    """Return a warning text when *value* is not a finite number within the quantity's bounds, else None."""
    q = quantity(name)
    if value != value or value in (float("inf"), float("-inf")):
        return f"{name}: {value} is not a finite number; not stored"
    if not q.contains(value):
        return f"{name}: {value:g} {q.unit} outside physical bounds [{q.minimum:g}, {q.maximum:g}]; not stored"
    return None
