"""Template variables: site, family, device and the per-board ones (building, station, flock...).

All are multi-value with an *All* option whose value is the custom ``'__all'`` (see ``dashboards.sql.any_of``);
a variable's query may use the variables defined before it, so choosing a site narrows the device list.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.grafana import PG_REF
from dashboards.sql import ALL_VALUE, any_of, quote

__all__ = ["query_variable", "site", "family", "device", "building", "station", "flock", "team", "custom"]

_ALL = dm.VariableOption(selected=True, text="All", value="$__all")


def query_variable(name: str, label: str, sql: str, *, multi: bool = True) -> db.QueryVariable:
    sql = " ".join(sql.split())
    return (db.QueryVariable(name).label(label).datasource(PG_REF).query(sql)
            .multi(multi).include_all(True).all_value(ALL_VALUE).current(_ALL)
            .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD).sort(dm.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC))


def _device_filter(before: Sequence[str], families: Sequence[str]) -> str:
    column = {"site": "d.site", "family": "coalesce(p.family, 'unassigned')",
              "building": "coalesce(d.tags->>'building', d.site)"}
    parts = ["d.status <> 'disabled'"]
    if families:
        parts.append(f"coalesce(p.family, 'unassigned') IN ({', '.join(quote(f) for f in families)})")
    parts += [any_of(column[v], v) for v in before]
    return " AND ".join(parts)


_FROM = "FROM devices d LEFT JOIN device_profiles p ON p.id = d.profile"


def site() -> db.QueryVariable:
    return query_variable("site", "Site", "SELECT DISTINCT site FROM devices WHERE site IS NOT NULL ORDER BY 1")


def family() -> db.QueryVariable:
    return query_variable("family", "Family", "SELECT DISTINCT family FROM device_profiles ORDER BY 1")


def device(*, families: Sequence[str] = (), before: Sequence[str] = ("site", "family"), name: str = "device",
           label: str = "Device") -> db.QueryVariable:
    """Devices (name shown, DevEUI as value) among those the earlier variables select."""
    return query_variable(name, label, f"SELECT d.name AS __text, d.dev_eui AS __value {_FROM} "
                                       f"WHERE {_device_filter(before, families)} ORDER BY 1")


def building(*, families: Sequence[str] = ("co2",)) -> db.QueryVariable:
    return query_variable("building", "Building",
                          f"SELECT DISTINCT coalesce(d.tags->>'building', d.site) {_FROM} "
                          f"WHERE {_device_filter(('site',), families)} "
                          "AND coalesce(d.tags->>'building', d.site) IS NOT NULL ORDER BY 1")


def station() -> db.QueryVariable:
    return device(families=("flood",), before=("site",), name="station", label="Station")


def flock() -> db.QueryVariable:
    return query_variable("flock", "Flock",
                          f"SELECT DISTINCT coalesce(d.tags->>'flock', d.name) {_FROM} "
                          f"WHERE {_device_filter(('site',), ('tracker',))} ORDER BY 1")


def team(sql: str) -> db.QueryVariable:
    return query_variable("team", "Team", sql)


def custom(name: str, label: str, values: Sequence[str], default: str) -> db.CustomVariable:
    """A single-value list of constants (e.g. a factor used in SQL)."""
    options = [dm.VariableOption(selected=v == default, text=v, value=v) for v in values]
    return (db.CustomVariable(name).label(label).values(",".join(values)).options(options)
            .current(dm.VariableOption(selected=True, text=default, value=default)).multi(False)
            .include_all(False))
