"""Load and validate a rules directory: every ``*.yaml`` / ``*.yml`` file below it, merged into one ``Setup``.

A file may hold any of the top-level keys ``rules``, ``contacts``, ``teams``, ``rotations``, ``escalations``,
``routes``, ``silences`` (conventionally rules per family in their own files, people in ``oncall.yaml``).
Every problem, including a reference to something that does not exist, raises ``ConfigFileError`` naming the
file, the line and the reason; ``beffroi rules check`` prints it, and the service refuses to start on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from rules.model import Severity
from rules.mute import SILENCE_KEYS, Schedule, Silence, parse_window
from rules.params import parse_duration
from rules.routing import (
    CHANNELS,
    PARIS,
    Contact,
    Escalation,
    Level,
    Override,
    Rotation,
    Route,
    Routing,
    Target,
    Team,
    Webhook,
)
from rules.ruleset import Rule, parse_rule
from rules.yamlmarks import ConfigFileError, line_of, load

__all__ = ["Setup", "load_directory", "E164"]

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOP = ("rules", "contacts", "teams", "rotations", "escalations", "routes", "silences")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
T = TypeVar("T")


@dataclass(frozen=True)
class Setup:
    rules: tuple[Rule, ...]
    routing: Routing
    silences: tuple[Silence, ...]
    files: tuple[str, ...]


class _Ctx:
    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, container: Any, key: Any, reason: str) -> ConfigFileError:
        return ConfigFileError(self.file, line_of(container, key), reason)

    def need(self, raw: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
        if key not in raw or not isinstance(raw[key], kind) or isinstance(raw[key], bool):
            raise self.error(raw, key if key in raw else None, f"{what}: needs {key!r} ({kind.__name__})")
        return raw[key]

    def keys(self, raw: Mapping[str, Any], allowed: set[str], what: str) -> None:
        for key in raw:
            if key not in allowed:
                raise self.error(raw, key, f"{what}: unknown key {key!r}; known: {', '.join(sorted(allowed))}")

    def call(self, container: Any, key: Any, what: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except (ValueError, TypeError) as exc:
            raise self.error(container, key, f"{what}: {exc}") from None


def _instant(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=PARIS)


def _contact(c: _Ctx, raw: Any) -> Contact:
    c.keys(raw, {"id", "name", "email", "phone"}, "contact")
    cid = c.need(raw, "id", str, "contact")
    email, phone = raw.get("email"), raw.get("phone")
    if email is not None and not _EMAIL.match(str(email)):
        raise c.error(raw, "email", f"contact {cid}: {email!r} is not an e-mail address")
    if phone is not None and not E164.match(str(phone)):
        raise c.error(raw, "phone", f"contact {cid}: phone {phone!r} must be in E.164 form (+33612345678)")
    if email is None and phone is None:
        raise c.error(raw, None, f"contact {cid}: give an email and/or a phone")
    return Contact(cid, str(raw.get("name", cid)), email, None if phone is None else str(phone))


def _rotation(c: _Ctx, raw: Any) -> Rotation:
    c.keys(raw, {"id", "members", "start", "handoff", "overrides"}, "rotation")
    rid = c.need(raw, "id", str, "rotation")
    members = tuple(c.need(raw, "members", list, f"rotation {rid}"))
    handoff = raw.get("handoff", {"day": "monday", "time": "09:00"})
    if not isinstance(handoff, Mapping) or str(handoff.get("day", "")).lower() not in _DAYS:
        raise c.error(raw, "handoff", f"rotation {rid}: handoff needs day (monday..sunday) and time (HH:MM)")
    at = c.call(handoff, "time", f"rotation {rid}", lambda: time.fromisoformat(str(handoff.get("time", "09:00"))))
    start = c.call(raw, "start", f"rotation {rid}", lambda: date.fromisoformat(str(raw.get("start"))))
    weekday = _DAYS.index(str(handoff["day"]).lower())
    if start.weekday() != weekday:
        raise c.error(raw, "start", f"rotation {rid}: start {start} is not a {_DAYS[weekday]} (the hand-over day)")
    overrides = []
    for i, o in enumerate(raw.get("overrides") or []):
        if not isinstance(o, Mapping) or not isinstance(o.get("contact"), str):
            raise c.error(raw.get("overrides"), i, f"rotation {rid}: override needs contact, starts, ends")
        o_starts = c.call(o, "starts", f"rotation {rid}", _instant, o.get("starts"))
        o_ends = c.call(o, "ends", f"rotation {rid}", _instant, o.get("ends"))
        overrides.append(Override(o["contact"], o_starts, o_ends))
    return Rotation(rid, tuple(str(m) for m in members), start, weekday, at, tuple(overrides))


def _escalation(c: _Ctx, raw: Any) -> Escalation:
    c.keys(raw, {"id", "levels"}, "escalation")
    eid = c.need(raw, "id", str, "escalation")
    levels: list[Level] = []
    for i, lv in enumerate(c.need(raw, "levels", list, f"escalation {eid}")):
        where = f"escalation {eid} level {i + 1}"
        if not isinstance(lv, Mapping):
            raise c.error(raw["levels"], i, f"{where}: expected a mapping with notify (and after)")
        c.keys(lv, {"after", "notify"}, where)
        after = c.call(lv, "after", where, parse_duration, lv.get("after", 0))
        if i == 0 and after.total_seconds() != 0:
            raise c.error(lv, "after", f"{where}: the first level is notified when the alert fires (no 'after')")
        if i > 0 and after <= levels[-1].after:
            raise c.error(lv, "after", f"{where}: 'after' must be later than the previous level's")
        targets = []
        for j, t in enumerate(c.need(lv, "notify", list, where)):
            kinds = [k for k in ("contact", "team", "rotation") if isinstance(t, Mapping) and k in t]
            if len(kinds) != 1:
                raise c.error(lv["notify"], j, f"{where}: each target is one of contact, team or rotation")
            c.keys(t, {kinds[0], "channels"}, where)
            channels = tuple(t.get("channels", CHANNELS))
            if not channels or not set(channels) <= set(CHANNELS):
                raise c.error(t, "channels", f"{where}: channels are {', '.join(CHANNELS)}")
            targets.append(Target(kinds[0], str(t[kinds[0]]), channels))
        levels.append(Level(after, tuple(targets)))
    return Escalation(eid, tuple(levels))


def _silence(c: _Ctx, raw: Any) -> Silence:
    c.keys(raw, {"matchers", "starts", "ends", "comment"}, "silence")
    matchers = c.need(raw, "matchers", Mapping, "silence")
    c.keys(matchers, set(SILENCE_KEYS), "silence matchers")
    starts = c.call(raw, "starts", "silence", lambda: _instant(raw.get("starts")))
    ends = c.call(raw, "ends", "silence", lambda: _instant(raw.get("ends")))
    if ends <= starts:
        raise c.error(raw, "ends", "silence: ends must be after starts")
    return Silence(dict(matchers), starts, ends, str(raw.get("comment", "")), "file")


def _routes(raw_routes: dict[str, tuple[_Ctx, Any]], escalations: Mapping[str, Escalation]) -> dict[str, Route]:
    out: dict[str, Route] = {}

    def resolve(rid: str, trail: tuple[str, ...]) -> dict[str, Any]:
        c, raw = raw_routes[rid]
        settings: dict[str, Any] = {"active_hours": {}}
        parent = raw.get("parent")
        if parent is not None:
            if parent not in raw_routes:
                raise c.error(raw, "parent", f"route {rid}: unknown parent route {parent!r}")
            if parent in trail:
                raise c.error(raw, "parent", f"route {rid}: parent cycle {' -> '.join((*trail, parent))}")
            settings = resolve(parent, (*trail, parent))
            settings["active_hours"] = dict(settings["active_hours"])
        if "escalation" in raw:
            if raw["escalation"] not in escalations:
                raise c.error(raw, "escalation", f"route {rid}: unknown escalation {raw['escalation']!r}")
            settings["escalation"] = raw["escalation"]
        if "repeat" in raw:
            settings["repeat"] = None if raw["repeat"] in (None, "never") else c.call(
                raw, "repeat", f"route {rid}", lambda: parse_duration(raw["repeat"]))
        if "notify_resolved" in raw:
            settings["notify_resolved"] = bool(raw["notify_resolved"])
        for sev, windows in (raw.get("active_hours") or {}).items():
            severity = c.call(raw["active_hours"], sev, f"route {rid}", Severity.parse, sev)
            items = windows if isinstance(windows, list) else [windows]
            settings["active_hours"][severity] = Schedule(tuple(
                c.call(raw["active_hours"], sev, f"route {rid}", parse_window, w) for w in items))
        if "webhooks" in raw:
            hooks = raw["webhooks"] or []
            if not all(isinstance(h, Mapping) and isinstance(h.get("url"), str) for h in hooks):
                raise c.error(raw, "webhooks", f"route {rid}: webhooks are a list of {{name, url}}")
            settings["webhooks"] = tuple(Webhook(str(h.get("name", h["url"])), h["url"]) for h in hooks)
        return settings

    for rid, (c, raw) in raw_routes.items():
        c.keys(raw, {"id", "parent", "escalation", "repeat", "notify_resolved", "active_hours", "webhooks"},
               f"route {rid}")
        settings = resolve(rid, (rid,))
        if "escalation" not in settings:
            raise c.error(raw, None, f"route {rid}: no escalation policy (give one here or in a parent route)")
        out[rid] = Route(rid, **settings)
    return out


def load_directory(path: str | Path) -> Setup:
    """Every YAML file below ``path``; raises ConfigFileError on the first problem."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigFileError(root, None, "the rules directory does not exist (setting rules.dir)")
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    found: dict[str, dict[str, tuple[_Ctx, Any]]] = {k: {} for k in _TOP}
    silences: list[Silence] = []
    rules: list[Rule] = []
    for file in files:
        c = _Ctx(str(file))
        data = load(file)
        if data is None:
            continue
        if not isinstance(data, Mapping):
            raise ConfigFileError(file, 1, "expected a mapping with keys among " + ", ".join(_TOP))
        c.keys(data, set(_TOP), "file")
        for key, items in data.items():
            if not isinstance(items, list):
                raise c.error(data, key, f"{key}: expected a list")
            for i, item in enumerate(items):
                if key == "rules":
                    rules.append(parse_rule(item, str(file), line_of(items, i)))
                elif key == "silences":
                    silences.append(_silence(c, item))
                else:
                    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                        raise c.error(items, i, f"{key}: each entry needs an id")
                    if item["id"] in found[key]:
                        raise c.error(item, "id", f"{key}: duplicate id {item['id']!r}")
                    found[key][item["id"]] = (c, item)
    seen: dict[str, Rule] = {}
    for r in rules:
        if r.id in seen:
            raise ConfigFileError(r.file, r.line, f"duplicate rule id {r.id!r} (also {seen[r.id].file}:{seen[r.id].line})")
        seen[r.id] = r
    contacts = {k: _contact(c, raw) for k, (c, raw) in found["contacts"].items()}
    teams = {}
    for k, (c, raw) in found["teams"].items():
        c.keys(raw, {"id", "name", "members"}, "team")
        members = c.need(raw, "members", list, f"team {k}")
        for i, m in enumerate(members):
            if m not in contacts:
                raise c.error(members, i, f"team {k}: unknown contact {m!r}")
        teams[k] = Team(k, tuple(members))
    rotations = {k: _rotation(c, raw) for k, (c, raw) in found["rotations"].items()}
    for k, rot in rotations.items():
        c, raw = found["rotations"][k]
        for m in (*rot.members, *(o.contact for o in rot.overrides)):
            if m not in contacts:
                raise c.error(raw, "members", f"rotation {k}: unknown contact {m!r}")
    escalations = {k: _escalation(c, raw) for k, (c, raw) in found["escalations"].items()}
    pools: dict[str, Mapping[str, Any]] = {"contact": contacts, "team": teams, "rotation": rotations}
    for k, esc in escalations.items():
        c, raw = found["escalations"][k]
        for level in esc.levels:
            for t in level.targets:
                if t.ref not in pools[t.kind]:
                    raise c.error(raw, "levels", f"escalation {k}: unknown {t.kind} {t.ref!r}")
    routes = _routes(found["routes"], escalations)
    for r in rules:
        if r.route not in routes:
            raise ConfigFileError(r.file, r.line, f"rule {r.id}: unknown route {r.route!r}"
                                  + (f"; known: {', '.join(sorted(routes))}" if routes else " (no routes defined)"))
    routing = Routing(contacts, teams, rotations, escalations, routes)
    return Setup(tuple(rules), routing, tuple(silences), tuple(str(f) for f in files))
