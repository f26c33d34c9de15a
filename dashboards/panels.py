"""Panel factories: the few panel shapes the boards use, with Beffroi's defaults (data source, units, colours).

Each factory returns a Foundation SDK builder; the board adds it with ``with_panel`` and the SDK lays it out
(24-column grid, left to right, wrapping). Geomap layer options are untyped in the SDK (``config: object``), so
the layer dictionaries are built here, following the options the 11.x geomap editor writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grafana_foundation_sdk.builders import bargauge, geomap, stat, table, text, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm
from grafana_foundation_sdk.models import text as tm

from dashboards.grafana import PG_REF, PROM_REF, SqlFormat, SqlTarget, prom_target

__all__ = [
    "thresholds", "value_colors", "time_series", "prom_time_series", "table_panel", "stat_panel", "bar_gauge",
    "geomap_panel", "markers_layer", "route_layer", "note", "unit_override", "colour_override",
]

Step = tuple[float | None, str]


def thresholds(*steps: Step) -> db.ThresholdsConfig:
    """Absolute thresholds; the first step's value is None (minus infinity)."""
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(value=value, color=color) for value, color in steps])


def value_colors(colours: Mapping[str, str]) -> list[dm.ValueMapping]:
    """Text values → colours (used by tables and by geomap markers coloured by a text field)."""
    return [dm.ValueMap(options={
        value: dm.ValueMappingResult(color=colour, index=i) for i, (value, colour) in enumerate(colours.items())})]


def unit_override(unit: str) -> list[dm.DynamicConfigValue]:
    return [dm.DynamicConfigValue(id_val="unit", value=unit)]


def colour_override(colour: str) -> list[dm.DynamicConfigValue]:
    return [dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})]


def _sql(sql: str, fmt: SqlFormat) -> SqlTarget:
    return SqlTarget(sql, fmt=fmt)


def time_series(title: str, sql: str, *, unit: str = "", h: int = 8, w: int = 12, description: str = "",
                steps: Sequence[Step] = (), draw: str = "line", stacked: bool = False,
                show_thresholds: bool = False) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).datasource(PG_REF).with_target(_sql(sql, "time_series"))
             .height(h).span(w).line_width(1).fill_opacity(10 if draw == "line" else 80).span_nulls(False)
             .show_points(cm.VisibilityMode.NEVER))
    if draw == "bars":
        panel = panel.draw_style(cm.GraphDrawStyle.BARS)
    if stacked:
        panel = panel.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    if unit:
        panel = panel.unit(unit)
    if description:
        panel = panel.description(description)
    if steps:
        panel = panel.thresholds(thresholds(*steps))
    if show_thresholds:
        panel = panel.thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE_AND_AREA))
    return panel


def prom_time_series(title: str, queries: Sequence[tuple[str, str]], *, unit: str = "", h: int = 8, w: int = 12,
                     description: str = "") -> timeseries.Panel:
    """A time series of PromQL expressions, given as (expression, legend) pairs."""
    panel = (timeseries.Panel().title(title).datasource(PROM_REF).height(h).span(w).line_width(1)
             .fill_opacity(10).show_points(cm.VisibilityMode.NEVER))
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(prom_target(expr, legend=legend, ref_id=chr(ord("A") + i)))
    if unit:
        panel = panel.unit(unit)
    if description:
        panel = panel.description(description)
    return panel


def table_panel(title: str, sql: str, *, h: int = 8, w: int = 12, description: str = "",
                units: Mapping[str, str] | None = None, colours: Mapping[str, Mapping[str, str]] | None = None,
                sort_by: str = "", desc: bool = True) -> table.Panel:
    """A table; ``units`` and ``colours`` are per-column overrides (column → unit; column → value → colour)."""
    panel = (table.Panel().title(title).datasource(PG_REF).with_target(_sql(sql, "table")).height(h).span(w)
             .align(cm.FieldTextAlignment.AUTO).inspect(False))
    if description:
        panel = panel.description(description)
    for column, unit in (units or {}).items():
        panel = panel.override_by_name(column, unit_override(unit))
    for column, mapping in (colours or {}).items():
        panel = panel.override_by_name(column, [
            dm.DynamicConfigValue(id_val="mappings", value=value_colors(mapping)),
            dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
        ])
    if sort_by:
        panel = panel.sort_by([cb.TableSortByFieldState().display_name(sort_by).desc(desc)])
    return panel


def stat_panel(title: str, sql: str, *, unit: str = "", h: int = 4, w: int = 6, description: str = "",
               steps: Sequence[Step] = (), text_mode: cm.BigValueTextMode = cm.BigValueTextMode.AUTO) -> stat.Panel:
    panel = (stat.Panel().title(title).datasource(PG_REF).with_target(_sql(sql, "table")).height(h).span(w)
             .text_mode(text_mode).graph_mode(cm.BigValueGraphMode.NONE)
             .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(True)))
    if unit:
        panel = panel.unit(unit)
    if description:
        panel = panel.description(description)
    if steps:
        panel = panel.thresholds(thresholds(*steps)).color_mode(cm.BigValueColorMode.BACKGROUND)
    return panel


def bar_gauge(title: str, sql: str, *, unit: str = "", h: int = 8, w: int = 12, description: str = "",
              steps: Sequence[Step] = (), minimum: float | None = None,
              maximum: float | None = None) -> bargauge.Panel:
    """Horizontal bars, one per row of a table query whose text column names the bar."""
    panel = (bargauge.Panel().title(title).datasource(PG_REF).with_target(_sql(sql, "table")).height(h).span(w)
             .orientation(cm.VizOrientation.HORIZONTAL).display_mode(cm.BarGaugeDisplayMode.BASIC)
             .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(True)))
    if unit:
        panel = panel.unit(unit)
    if description:
        panel = panel.description(description)
    if steps:
        panel = panel.thresholds(thresholds(*steps))
    if minimum is not None:
        panel = panel.min(minimum)
    if maximum is not None:
        panel = panel.max(maximum)
    return panel


def markers_layer(name: str, *, ref_id: str = "A", color_field: str = "", fixed_color: str = "blue",
                  size: int = 6, text_field: str = "", latitude: str = "latitude",
                  longitude: str = "longitude") -> cb.MapLayerOptions:
    """Points at (latitude, longitude) columns, optionally coloured by a field's thresholds or value mappings."""
    colour: dict[str, object] = {"fixed": fixed_color}
    if color_field:
        colour["field"] = color_field
    style: dict[str, object] = {
        "color": colour,
        "opacity": 0.8,
        "size": {"fixed": size, "min": 2, "max": 15},
        "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
        "symbolAlign": {"horizontal": "center", "vertical": "center"},
    }
    if text_field:
        style["text"] = {"field": text_field, "fixed": "", "mode": "field"}
        style["textConfig"] = {"fontSize": 10, "offsetX": 0, "offsetY": -12, "textAlign": "center",
                               "textBaseline": "middle"}
    return _layer("markers", name, ref_id, {"showLegend": bool(color_field), "style": style}, latitude, longitude)


def route_layer(name: str, *, ref_id: str = "A", fixed_color: str = "orange", latitude: str = "latitude",
                longitude: str = "longitude") -> cb.MapLayerOptions:
    """A line through the rows in time order. Grafana's route layer draws the first data frame only: one
    route layer shows one track, so per-flock tracks come from a panel repeated per flock."""
    style = {"color": {"fixed": fixed_color}, "lineWidth": 2, "opacity": 1, "size": {"fixed": 3, "min": 1, "max": 8}}
    return _layer("route", name, ref_id, {"arrow": 1, "style": style}, latitude, longitude)


def _layer(kind: str, name: str, ref_id: str, config: dict[str, object], latitude: str,
           longitude: str) -> cb.MapLayerOptions:
    location = cb.FrameGeometrySource().mode(cm.FrameGeometrySourceMode.COORDS).latitude(latitude).longitude(longitude)
    return (cb.MapLayerOptions().type(kind).name(name).config(config).location(location).tooltip(True)
            .filter_data({"id": "byRefId", "options": ref_id}))


def geomap_panel(title: str, queries: Sequence[tuple[str, str]], layers: Sequence[cb.MapLayerOptions], *,
                 h: int = 12, w: int = 12, description: str = "", center: tuple[float, float] = (46.6, 2.4),
                 zoom: int = 6, color_steps: Sequence[Step] = (), colours: Mapping[str, str] | None = None,
                 unit: str = "") -> geomap.Panel:
    """A map of table queries given as (ref id, SQL) pairs; each layer reads the frame of its ref id.

    ``color_steps`` / ``colours`` colour markers whose colour field is numeric / text. The default view fits
    the data (``fit``); ``center``/``zoom`` only matter before the first query returns.
    """
    panel = geomap.Panel().title(title).datasource(PG_REF).height(h).span(w)
    for ref_id, sql in queries:
        panel = panel.with_target(SqlTarget(sql, fmt="table", ref_id=ref_id))
    basemap = cb.MapLayerOptions().type("default").name("Basemap").config({})
    view = geomap.MapViewConfig().id("fit").lat(int(center[0])).lon(int(center[1])).zoom(zoom).all_layers(True)
    panel = (panel.basemap(basemap).layers(list(layers)).view(view)
             .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True).show_scale(True))
             .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS)))
    if description:
        panel = panel.description(description)
    if color_steps:
        panel = panel.thresholds(thresholds(*color_steps)).color_scheme(
            db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
    if colours:
        panel = panel.mappings(value_colors(colours))
    if unit:
        panel = panel.unit(unit)
    return panel


def note(title: str, markdown: str, *, h: int = 4, w: int = 24) -> text.Panel:
    return text.Panel().title(title).content(markdown).mode(tm.TextMode.MARKDOWN).height(h).span(w)
