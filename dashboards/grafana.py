"""What the boards target in Grafana, and the glue the Foundation SDK lacks.

The boards are built with grafana-foundation-sdk pinned to its Grafana 11.6 build (``schemaVersion`` 41): typed
builders generated from Grafana's own schemas. The SDK has no query type for the PostgreSQL data source, so
``SqlTarget`` adds one (the fields Grafana's SQL data sources read: ``rawSql``, ``format``, ``rawQuery``,
``editorMode``); Prometheus queries use the SDK's own builder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import prometheus as prom_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

__all__ = [
    "GRAFANA_VERSION", "MIN_GRAFANA_VERSION", "SCHEMA_VERSION", "POSTGRES", "PROMETHEUS", "PG_REF", "PROM_REF",
    "FOLDER_UID", "FOLDER_TITLE", "SqlFormat", "SqlTarget", "prom_target", "to_plain",
]

# The Grafana release the JSON is generated for, and the oldest one `beffroi dashboards push` accepts: the
# geomap layers, the PostgreSQL data source type name and schemaVersion 41 all need 11.x.
GRAFANA_VERSION = "11.6"
MIN_GRAFANA_VERSION = (11, 0)
SCHEMA_VERSION = 41

# Data source type ids and the stable uids every panel refers to (provisioning and push create them).
POSTGRES = "grafana-postgresql-datasource"
PROMETHEUS = "prometheus"
PG_REF = dm.DataSourceRef(type_val=POSTGRES, uid="beffroi-postgres")
PROM_REF = dm.DataSourceRef(type_val=PROMETHEUS, uid="beffroi-prometheus")

FOLDER_UID = "beffroi"
FOLDER_TITLE = "Beffroi"

SqlFormat = Literal["time_series", "table"]


@dataclass(frozen=True)
class _SqlQuery(cogvariants.Dataquery):
    ref_id: str
    sql: str
    format: SqlFormat

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": {"type": POSTGRES, "uid": PG_REF.uid},
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.sql,
            "refId": self.ref_id,
        }


class SqlTarget(cogbuilder.Builder[cogvariants.Dataquery]):
    """A raw-SQL query on the Beffroi PostgreSQL data source (code mode, as a person would type it)."""

    def __init__(self, sql: str, *, fmt: SqlFormat = "table", ref_id: str = "A") -> None:
        if fmt not in ("time_series", "table"):
            raise ValueError(f"unknown SQL query format {fmt!r}")
        self._query = _SqlQuery(ref_id, _dedent(sql), fmt)

    def build(self) -> cogvariants.Dataquery:
        return self._query


def prom_target(expr: str, *, legend: str = "", ref_id: str = "A") -> prom_builder.Dataquery:
    query = prom_builder.Dataquery().expr(expr).ref_id(ref_id).datasource(PROM_REF).range()
    if legend:
        query = query.legend_format(legend)
    return query


def to_plain(obj: Any) -> Any:
    """SDK objects → plain JSON values (dicts, lists, str, numbers), the form written to disk and pushed."""
    return json.loads(json.dumps(obj, cls=JSONEncoder))


def _dedent(sql: str) -> str:
    # Stored SQL is what an operator sees in the panel editor: no common indentation, no blank edges.
    import textwrap

    return textwrap.dedent(sql).strip("\n")
