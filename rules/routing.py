"""Who is told, how, and when: contacts, teams, weekly on-call rotations, escalation policies and routes.

Routes form a tree: a route names its ``parent`` and inherits every setting it does not give (escalation policy,
repeat interval, notification on resolve, active hours per severity, webhooks). A rule names the route of its
alerts. An escalation policy is a list of levels; level 1 is notified when the alert fires, level N once the
alert has been firing ``after`` that long without acknowledgement. Each level notifies targets (a contact, a
whole team, or whoever holds a rotation at that moment) on channels (sms, email).

Rotations hand over weekly at a local day and time (Europe/Paris by default, daylight saving time included):
members take turns in order from ``start``, the date of a hand-over at which the first member takes over.
Overrides (holidays, swaps) replace the holder for a period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.model import Severity
from rules.mute import Schedule

__all__ = ["Contact", "Team", "Override", "Rotation", "Target", "Level", "Escalation", "Webhook", "Route",
           "Recipient", "Routing", "CHANNELS"]

CHANNELS = ("sms", "email")
PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    name: str
    email: str | None = None
    phone: str | None = None      # E.164

    def address(self, channel: str) -> str | None:
        return self.phone if channel == "sms" else self.email if channel == "email" else None


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Override:
    contact: str
    starts: datetime
    ends: datetime


@dataclass(frozen=True, slots=True)
class Rotation:
    id: str
    members: tuple[str, ...]
    start: date                   # a hand-over date: the first member is on call from start + handoff_time
    handoff_weekday: int          # 0 = Monday
    handoff_time: time
    overrides: tuple[Override, ...] = ()
    tz: ZoneInfo = PARIS

    def on_call(self, at: datetime) -> str:
        for o in self.overrides:
            if o.starts <= at < o.ends:
                return o.contact
        local = at.astimezone(self.tz)
        # the most recent hand-over at or before `at`, as a local calendar date (weeks are counted in dates, so
        # the 23- and 25-hour days of DST changes do not shift the hand-over hour)
        days_back = (local.weekday() - self.handoff_weekday) % 7
        last = local.date() - timedelta(days=days_back)
        if days_back == 0 and local.time() < self.handoff_time:
            last -= timedelta(days=7)
        weeks = (last - self.start).days // 7
        return self.members[weeks % len(self.members)]


@dataclass(frozen=True, slots=True)
class Target:
    kind: str                     # contact | team | rotation
    ref: str
    channels: tuple[str, ...] = CHANNELS


@dataclass(frozen=True, slots=True)
class Level:
    after: timedelta
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Escalation:
    id: str
    levels: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Webhook:
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    escalation: str
    repeat: timedelta | None = None          # re-notify while firing and unacknowledged; None: never
    notify_resolved: bool = True
    active_hours: Mapping[Severity, Schedule] = field(default_factory=dict)   # severity → when to notify
    webhooks: tuple[Webhook, ...] = ()

    def notify_from(self, severity: Severity, at: datetime) -> datetime:
        """When a notification of this severity may go out: ``at``, or the next opening of its schedule."""
        schedule = self.active_hours.get(severity)
        return schedule.next_open(at) if schedule is not None else at


@dataclass(frozen=True, slots=True)
class Recipient:
    contact: str
    channel: str
    address: str


@dataclass(frozen=True)
class Routing:
    contacts: Mapping[str, Contact] = field(default_factory=dict)
    teams: Mapping[str, Team] = field(default_factory=dict)
    rotations: Mapping[str, Rotation] = field(default_factory=dict)
    escalations: Mapping[str, Escalation] = field(default_factory=dict)
    routes: Mapping[str, Route] = field(default_factory=dict)

    def route(self, name: str) -> Route:
        return self.routes[name]

    def levels(self, route: str) -> tuple[Level, ...]:
        return self.escalations[self.routes[route].escalation].levels

    def _people(self, target: Target, at: datetime) -> list[str]:
        if target.kind == "contact":
            return [target.ref]
        if target.kind == "team":
            return list(self.teams[target.ref].members)
        return [self.rotations[target.ref].on_call(at)]

    def recipients(self, route: str, level: int, at: datetime) -> list[Recipient]:
        """Who level ``level`` (1-based) of the route's policy reaches at ``at``, without duplicates."""
        out: list[Recipient] = []
        seen: set[tuple[str, str]] = set()
        target_level = self.levels(route)[level - 1]
        for target in target_level.targets:
            for person in self._people(target, at):
                contact = self.contacts[person]
                for channel in target.channels:
                    address = contact.address(channel)
                    if address and (person, channel) not in seen:
                        seen.add((person, channel))
                        out.append(Recipient(person, channel, address))
        return out

    def next_escalation(self, route: str, level: int, fired_at: datetime) -> datetime | None:
        """When level ``level + 1`` is due (None when ``level`` is the last)."""
        levels = self.levels(route)
        return fired_at + levels[level].after if level < len(levels) else None
