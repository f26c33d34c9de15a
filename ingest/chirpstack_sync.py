"""Push Beffroi's device profiles and devices to a ChirpStack v4 server through its gRPC API, idempotently.

Every object is read first (List/Get) and written only when a field Beffroi manages differs, so running the sync
twice makes no second write. Beffroi manages:

* device profiles named ``beffroi/<profile-id>`` in the tenant: region, LoRaWAN MAC version and regional
  parameters revision (given by the operator), OTAA, class B/C support, uplink interval, no codec (Beffroi
  decodes), tags ``beffroi_profile``/``beffroi_family``. Other settings made in ChirpStack's UI are kept.
* devices of the application: name, device profile, disabled flag, tags (``beffroi_site`` plus the device's
  Beffroi tags; tags set in ChirpStack under other keys are kept). Keys (AppKey) are not Beffroi's to hold.

A device whose DevEUI exists in another ChirpStack application is reported and left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import psycopg
from chirpstack_api import api, common

from devices.profile import Profile

__all__ = ["SyncTarget", "SyncReport", "SyncError", "FleetDevice", "ChirpStackSync", "load_fleet",
           "profile_name", "open_channel"]

PROFILE_PREFIX = "beffroi/"
_TIMEOUT_S = 15.0
PROFILE_FIELDS = ("tenant_id", "name", "description", "region", "mac_version", "reg_params_revision",
                  "adr_algorithm_id", "supports_otaa", "supports_class_b", "supports_class_c", "uplink_interval",
                  "payload_codec_runtime", "tags")
DEVICE_FIELDS = ("name", "application_id", "device_profile_id", "is_disabled", "tags")
_PAGE = 100


class SyncError(Exception):
    """The sync cannot proceed at all (server unreachable, token refused, tenant or application unknown)."""


@dataclass(frozen=True)
class SyncTarget:
    tenant_id: str
    application_id: str
    region: str = "EU868"
    mac_version: str = "LORAWAN_1_0_3"
    reg_params_revision: str = "RP002_1_0_3"

    def __post_init__(self) -> None:
        for value, enum, what in ((self.region, common.Region, "region"),
                                  (self.mac_version, common.MacVersion, "MAC version"),
                                  (self.reg_params_revision, common.RegParamsRevision, "regional parameters revision")):
            if value not in enum.keys():
                raise SyncError(f"unknown {what} {value!r}; ChirpStack knows {', '.join(enum.keys())}")


@dataclass(frozen=True)
class FleetDevice:
    dev_eui: str
    name: str
    profile: str
    site: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    disabled: bool = False


@dataclass
class SyncReport:
    profiles: dict[str, list[str]] = field(default_factory=lambda: {"created": [], "updated": [], "unchanged": []})
    devices: dict[str, list[str]] = field(default_factory=lambda: {"created": [], "updated": [], "unchanged": []})
    problems: list[str] = field(default_factory=list)


def profile_name(profile_id: str) -> str:
    return PROFILE_PREFIX + profile_id


def load_fleet(conn: psycopg.Connection) -> list[FleetDevice]:
    """Devices of the Beffroi database that have a profile (auto-provisioned, unassigned ones are not synced)."""
    rows = conn.execute("SELECT dev_eui, name, profile, site, tags, status FROM devices "
                        "WHERE profile IS NOT NULL ORDER BY dev_eui").fetchall()
    return [FleetDevice(r[0], r[1], r[2], r[3], dict(r[4] or {}), r[5] == "disabled") for r in rows]


def open_channel(url: str, *, tls: bool = False) -> grpc.Channel:
    """``host:port`` of ChirpStack's API (default port 8080); TLS with the system's CA certificates."""
    return grpc.secure_channel(url, grpc.ssl_channel_credentials()) if tls else grpc.insecure_channel(url)


class ChirpStackSync:
    def __init__(self, channel: grpc.Channel, api_token: str, target: SyncTarget, *, dry_run: bool = False) -> None:
        self._profiles = api.DeviceProfileServiceStub(channel)
        self._devices = api.DeviceServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {api_token}"),)
        self.target = target
        self.dry_run = dry_run

    def _call(self, method: Any, request: Any, what: str) -> Any:
        try:
            return method(request, metadata=self._metadata, timeout=_TIMEOUT_S)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.UNAUTHENTICATED or code == grpc.StatusCode.PERMISSION_DENIED:
                raise SyncError(f"ChirpStack refused the API token ({what}): {exc.details()}") from None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise SyncError(f"ChirpStack does not answer ({what}): {exc.details()}") from None
            raise

    def sync(self, profiles: Iterable[Profile], devices: Iterable[FleetDevice]) -> SyncReport:
        report = SyncReport()
        ids = self._sync_profiles(list(profiles), report)
        for device in devices:
            profile_id = ids.get(device.profile)
            if profile_id is None:
                report.problems.append(f"device {device.dev_eui}: its profile {device.profile!r} is not loaded or "
                                       "its device profile could not be synced; skipped")
                continue
            try:
                self._sync_device(device, profile_id, report)
            except grpc.RpcError as exc:
                report.problems.append(f"device {device.dev_eui}: ChirpStack said {exc.code().name}: "
                                       f"{exc.details()}")
        return report

    # --- device profiles -----------------------------------------------------------------------------------

    def _existing_profiles(self) -> Iterator[Any]:
        offset = 0
        while True:
            page = self._call(self._profiles.List, api.ListDeviceProfilesRequest(
                tenant_id=self.target.tenant_id, limit=_PAGE, offset=offset, search=PROFILE_PREFIX),
                "listing device profiles")
            yield from page.result
            offset += len(page.result)
            if not page.result or offset >= page.total_count:
                return

    def _sync_profiles(self, profiles: list[Profile], report: SyncReport) -> dict[str, str]:
        """Create or update one ChirpStack device profile per Beffroi profile; return profile id -> CS id."""
        by_name = {item.name: item.id for item in self._existing_profiles()}
        ids: dict[str, str] = {}
        for profile in profiles:
            try:
                self._sync_profile(profile, by_name.get(profile_name(profile.id)), ids, report)
            except grpc.RpcError as exc:
                report.problems.append(f"device profile {profile.id}: ChirpStack said {exc.code().name}: "
                                       f"{exc.details()}")
        return ids

    def _sync_profile(self, profile: Profile, cs_id: str | None, ids: dict[str, str], report: SyncReport) -> None:
        name = profile_name(profile.id)
        if cs_id is None:
            ids[profile.id] = "(dry run)" if self.dry_run else self._call(
                self._profiles.Create, api.CreateDeviceProfileRequest(device_profile=self._wanted(profile)),
                f"creating device profile {name}").id
            report.profiles["created"].append(profile.id)
            return
        ids[profile.id] = cs_id
        current = self._call(self._profiles.Get, api.GetDeviceProfileRequest(id=cs_id),
                             f"reading device profile {name}").device_profile
        if _apply(current, self._wanted(profile), PROFILE_FIELDS):
            if not self.dry_run:
                self._call(self._profiles.Update, api.UpdateDeviceProfileRequest(device_profile=current),
                           f"updating device profile {name}")
            report.profiles["updated"].append(profile.id)
        else:
            report.profiles["unchanged"].append(profile.id)

    def _wanted(self, profile: Profile) -> Any:
        return api.DeviceProfile(
            tenant_id=self.target.tenant_id, name=profile_name(profile.id),
            description=f"{profile.vendor} {profile.model}" + (f": {profile.description}"[:400]
                                                                if profile.description else ""),
            region=common.Region.Value(self.target.region),
            mac_version=common.MacVersion.Value(self.target.mac_version),
            reg_params_revision=common.RegParamsRevision.Value(self.target.reg_params_revision),
            adr_algorithm_id="default", supports_otaa=True,
            supports_class_b=profile.lorawan_class == "B", supports_class_c=profile.lorawan_class == "C",
            uplink_interval=profile.uplink_period_s, payload_codec_runtime=api.CodecRuntime.Value("NONE"),
            tags={"beffroi_profile": profile.id, "beffroi_family": profile.family},
        )

    # --- devices ---------------------------------------------------------------------------------------------

    def _sync_device(self, device: FleetDevice, profile_id: str, report: SyncReport) -> None:
        tags = {"beffroi_site": device.site or ""} | {
            str(k): v if isinstance(v, str) else json.dumps(v) for k, v in device.tags.items()}
        wanted = api.Device(dev_eui=device.dev_eui, name=device.name, application_id=self.target.application_id,
                            device_profile_id=profile_id, is_disabled=device.disabled, tags=tags)
        try:
            current = self._call(self._devices.Get, api.GetDeviceRequest(dev_eui=device.dev_eui),
                                 f"reading device {device.dev_eui}").device
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            if not self.dry_run:
                self._call(self._devices.Create, api.CreateDeviceRequest(device=wanted),
                           f"creating device {device.dev_eui}")
            report.devices["created"].append(device.dev_eui)
            return
        if current.application_id != self.target.application_id:
            report.problems.append(f"device {device.dev_eui} belongs to another ChirpStack application "
                                   f"({current.application_id}); not changed")
            return
        if _apply(current, wanted, DEVICE_FIELDS):
            if not self.dry_run:
                self._call(self._devices.Update, api.UpdateDeviceRequest(device=current),
                           f"updating device {device.dev_eui}")
            report.devices["updated"].append(device.dev_eui)
        else:
            report.devices["unchanged"].append(device.dev_eui)


def _apply(current: Any, wanted: Any, fields: tuple[str, ...]) -> bool:
    """Copy Beffroi's *fields* from *wanted* onto *current* (tags merged, ours win); return whether any changed.

    Fields are named rather than taken from ``ListFields()``: proto3 does not list a field at its default value
    (EU868 is region 0, class C support is False), and a change back to the default must still be written.
    """
    changed = False
    for name in fields:
        value = getattr(wanted, name)
        if name == "tags":
            merged = dict(current.tags) | dict(value)
            if merged != dict(current.tags):
                current.tags.clear()
                current.tags.update(merged)
                changed = True
        elif getattr(current, name) != value:
            setattr(current, name, value)
            changed = True
    return changed
