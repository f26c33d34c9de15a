"""Registering a fleet of devices from a CSV file (``beffroi devices import``, reused by the HTTP API).

Header row required. Columns: ``dev_eui,name,profile`` (required) and ``site,latitude,longitude,tags,params``
(optional; ``tags`` and ``params`` are JSON objects). Comma, semicolon or tab separated, UTF-8 with or without BOM
(as spreadsheets save it); a decimal comma is accepted in coordinates.

Each bad row is rejected with its line and the reason, the good rows are imported in one transaction.
Re-importing the same file changes nothing: a row equal to what is stored is left alone (``updated_at`` too).
Columns absent from the file leave the stored values untouched; a present but empty cell clears the value.
Text that a spreadsheet would run as a formula (``=cmd|' /C calc'!A0``, ``+``, ``-``, ``@``...) is refused:
these files travel between offices and are opened in spreadsheets again.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from devices.registry import ProfileRegistry

__all__ = ["DeviceRecord", "RejectedRow", "FleetFile", "FleetFileError", "ImportReport", "parse_fleet_csv",
           "import_fleet", "normalise_dev_eui", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS"]

REQUIRED_COLUMNS = ("dev_eui", "name", "profile")
OPTIONAL_COLUMNS = ("site", "latitude", "longitude", "tags", "params")
_EUI_SEPARATORS = re.compile(r"[\s:\-]")
_EUI = re.compile(r"^[0-9a-f]{16}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MAX_TEXT = 200


class FleetFileError(Exception):
    """The file as a whole cannot be imported (no header, missing or unknown column)."""


@dataclass(frozen=True)
class DeviceRecord:
    line: int
    dev_eui: str
    name: str
    profile: str
    site: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedRow:
    line: int
    dev_eui: str | None
    reason: str


@dataclass
class FleetFile:
    columns: tuple[str, ...]
    devices: list[DeviceRecord] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


class _Reject(Exception):
    pass


def normalise_dev_eui(text: str) -> str:
    """``70-B3-D5-7E-D0-05-12-34`` -> ``70b3d57ed0051234``; ValueError if not 8 bytes of hex."""
    eui = _EUI_SEPARATORS.sub("", text).lower()
    eui = eui[2:] if eui.startswith("0x") else eui
    if not _EUI.match(eui):
        raise ValueError(f"DevEUI {text!r} is not 16 hexadecimal digits")
    return eui


def parse_fleet_csv(text: str, registry: ProfileRegistry) -> FleetFile:
    """Validate every row against the loaded profiles; never touches the database."""
    text = text.removeprefix("\ufeff")
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        raise FleetFileError("the file is empty; the first row must name the columns "
                             f"({', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})")
    columns = tuple(name.strip().lower() for name in reader.fieldnames)
    reader.fieldnames = list(columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing:
        raise FleetFileError(f"required column(s) missing: {', '.join(missing)} (header: {', '.join(columns)})")
    if unknown:
        raise FleetFileError(f"unknown column(s): {', '.join(unknown)}; known columns: "
                             f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}")
    if len(set(columns)) != len(columns):
        raise FleetFileError(f"a column is named twice (header: {', '.join(columns)})")
    if ("latitude" in columns) != ("longitude" in columns):
        raise FleetFileError("latitude and longitude columns go together")
    out = FleetFile(columns)
    first_line: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        raw_eui = (row.get("dev_eui") or "").strip()
        try:
            if None in row:
                raise _Reject(f"{len(row[None]) + len(columns)} cells for {len(columns)} columns")
            record = _record(line, row, registry)
        except _Reject as exc:
            out.rejected.append(RejectedRow(line, raw_eui or None, str(exc)))
            continue
        if record.dev_eui in first_line:
            out.rejected.append(RejectedRow(line, record.dev_eui,
                                            f"DevEUI already on line {first_line[record.dev_eui]}"))
            continue
        first_line[record.dev_eui] = line
        out.devices.append(record)
    return out


def _record(line: int, row: Mapping[str, str | None], registry: ProfileRegistry) -> DeviceRecord:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    try:
        dev_eui = normalise_dev_eui(cell("dev_eui"))
    except ValueError as exc:
        raise _Reject(str(exc)) from None
    name = _text("name", cell("name"))
    if not name:
        raise _Reject("name is empty")
    profile_id = cell("profile")
    profile = registry.get(profile_id)
    if profile is None:
        raise _Reject(f"unknown profile {profile_id!r} (see `beffroi devices list`)")
    lat, lon = _coordinate("latitude", cell("latitude"), 90), _coordinate("longitude", cell("longitude"), 180)
    if (lat is None) != (lon is None):
        raise _Reject("latitude and longitude go together: give both or neither")
    tags = _json_object("tags", cell("tags"))
    for key, value in tags.items():
        _text("tags key", key)
        if isinstance(value, str):
            _text(f"tags.{key}", value)
    params = _json_object("params", cell("params"))
    for key, value in params.items():
        spec = profile.params.get(key)
        if spec is None:
            known = ", ".join(profile.params) or "none"
            raise _Reject(f"params: profile {profile_id} has no parameter {key!r} (its parameters: {known})")
        if not _same_kind(spec.default, spec.unit, value):
            raise _Reject(f"params.{key}: {value!r} is not a {_kind_name(spec.default, spec.unit)}")
        if isinstance(value, str):
            _text(f"params.{key}", value)
    return DeviceRecord(line, dev_eui, name, profile_id, _text("site", cell("site")) or None, lat, lon, tags, params)


def _text(what: str, value: str) -> str:
    if value.startswith(_FORMULA_START) and not _is_number(value):
        raise _Reject(f"{what}: {value[:40]!r} starts with {value[0]!r}, which a spreadsheet would run as a formula")
    if len(value) > _MAX_TEXT:
        raise _Reject(f"{what}: longer than {_MAX_TEXT} characters")
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _coordinate(what: str, value: str, limit: float) -> float | None:
    if not value:
        return None
    try:
        number = float(value.replace(",", ".") if "." not in value else value)
    except ValueError:
        raise _Reject(f"{what}: {value!r} is not a number") from None
    if not -limit <= number <= limit:
        raise _Reject(f"{what}: {number:g} is outside [-{limit:g}, {limit:g}]")
    return number


def _json_object(what: str, value: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise _Reject(f"{what}: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(parsed, dict):
        raise _Reject(f"{what}: must be a JSON object such as {{\"key\": \"value\"}}, got {type(parsed).__name__}")
    return parsed


def _same_kind(default: Any, unit: str | None, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)) or (default is None and unit):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    return value is None or isinstance(value, (int, float, str, bool))


def _kind_name(default: Any, unit: str | None) -> str:
    if isinstance(default, bool):
        return "boolean (true/false)"
    if isinstance(default, (int, float)) or (default is None and unit):
        return f"number{f' in {unit}' if unit else ''}"
    return "text" if isinstance(default, str) else "number, text or boolean"


def import_fleet(conn: psycopg.Connection, fleet: FleetFile) -> ImportReport:
    """Upsert the valid rows in one transaction; a row equal to the stored device is not touched."""
    report = ImportReport(rejected=list(fleet.rejected))
    columns = ["name", "profile"] + [c for c in OPTIONAL_COLUMNS if c in fleet.columns]
    insert_cols = ["dev_eui", *columns, "status"]
    ident = sql.Identifier
    statement = sql.SQL(
        "INSERT INTO devices ({cols}) VALUES ({values}) ON CONFLICT (dev_eui) DO UPDATE SET {sets}, "
        "status = CASE WHEN devices.status = 'unassigned' THEN 'active' ELSE devices.status END, "
        "updated_at = now() "
        "WHERE ({old}) IS DISTINCT FROM ({new}) OR devices.status = 'unassigned' "
        "RETURNING (xmax = 0) AS created"
    ).format(
        cols=sql.SQL(", ").join(map(ident, insert_cols)),
        values=sql.SQL(", ").join(sql.Placeholder(c) for c in insert_cols),
        sets=sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(ident(c), ident(c)) for c in columns),
        old=sql.SQL(", ").join(sql.SQL("devices.{}").format(ident(c)) for c in columns),
        new=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(ident(c)) for c in columns),
    )
    with conn.transaction(), conn.cursor() as cur:
        for device in fleet.devices:
            values = {"dev_eui": device.dev_eui, "name": device.name, "profile": device.profile,
                      "site": device.site, "latitude": device.latitude, "longitude": device.longitude,
                      "tags": Jsonb(device.tags),
                      "params": Jsonb(device.params), "status": "active"}
            cur.execute(statement, values)
            row = cur.fetchone()
            if row is None:
                report.unchanged.append(device.dev_eui)
            elif row[0]:
                report.created.append(device.dev_eui)
            else:
                report.updated.append(device.dev_eui)
    return report
