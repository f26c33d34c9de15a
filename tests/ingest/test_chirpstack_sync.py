"""``beffroi devices sync chirpstack`` against an in-process gRPC server built from chirpstack-api's own service
definitions. The fake keeps state like ChirpStack (ids, tenants, applications, NOT_FOUND, ALREADY_EXISTS), checks
the bearer token on every call and records every call, so idempotence is asserted on the calls themselves."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import psycopg
import pytest
from chirpstack_api import api, common
from google.protobuf import empty_pb2

from devices.registry import ProfileRegistry
from ingest.chirpstack_sync import ChirpStackSync, SyncError, SyncTarget, load_fleet
from ingest.cli import main
from ingest.fleet import import_fleet, parse_fleet_csv

TOKEN = "test-token-7f3a"
TENANT = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
APPLICATION = "a0b4c2b2-1a2b-4d33-9f1e-0e2f3c4d5e6f"
OTHER_APPLICATION = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


class FakeChirpStack(api.DeviceProfileServiceServicer, api.DeviceServiceServicer):
    def __init__(self) -> None:
        self.profiles: dict[str, Any] = {}
        self.devices: dict[str, Any] = {}
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def _enter(self, name: str, request: Any, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        if metadata.get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid token")
        with self.lock:
            copy = type(request)()
            copy.CopyFrom(request)
            self.calls.append((name, copy))

    def writes(self) -> list[str]:
        return [name for name, _ in self.calls if name.split(".")[1] in ("Create", "Update")]

    # DeviceProfileService ------------------------------------------------------------------------------------
    def _profile_call(self, name: str, request: Any, context: grpc.ServicerContext) -> None:
        self._enter(f"DeviceProfile.{name}", request, context)

    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - both services
        if isinstance(request, api.CreateDeviceProfileRequest):
            self._profile_call("Create", request, context)
            dp = request.device_profile
            if dp.tenant_id != TENANT:
                context.abort(grpc.StatusCode.NOT_FOUND, f"tenant {dp.tenant_id} does not exist")
            if not dp.name:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name is required")
            stored = api.DeviceProfile()
            stored.CopyFrom(dp)
            stored.id = str(uuid.uuid4())
            self.profiles[stored.id] = stored
            return api.CreateDeviceProfileResponse(id=stored.id)
        self._enter("Device.Create", request, context)
        device = request.device
        if device.application_id not in (APPLICATION, OTHER_APPLICATION):
            context.abort(grpc.StatusCode.NOT_FOUND, f"application {device.application_id} does not exist")
        if device.device_profile_id not in self.profiles:
            context.abort(grpc.StatusCode.NOT_FOUND, f"device-profile {device.device_profile_id} does not exist")
        if device.dev_eui in self.devices:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "object already exists")
        stored = api.Device()
        stored.CopyFrom(device)
        self.devices[device.dev_eui] = stored
        return _empty()

    def Get(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        if isinstance(request, api.GetDeviceProfileRequest):
            self._profile_call("Get", request, context)
            if request.id not in self.profiles:
                context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
            return api.GetDeviceProfileResponse(device_profile=self.profiles[request.id])
        self._enter("Device.Get", request, context)
        if request.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
        return api.GetDeviceResponse(device=self.devices[request.dev_eui])

    def Update(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        if isinstance(request, api.UpdateDeviceProfileRequest):
            self._profile_call("Update", request, context)
            if request.device_profile.id not in self.profiles:
                context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
            self.profiles[request.device_profile.id].CopyFrom(request.device_profile)
            return _empty()
        self._enter("Device.Update", request, context)
        if request.device.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
        if request.device.device_profile_id not in self.profiles:
            context.abort(grpc.StatusCode.NOT_FOUND, "device-profile does not exist")
        self.devices[request.device.dev_eui].CopyFrom(request.device)
        return _empty()

    def List(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        if not isinstance(request, api.ListDeviceProfilesRequest):
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "device listing is not used by the sync")
        self._profile_call("List", request, context)
        found = sorted((p for p in self.profiles.values()
                        if p.tenant_id == request.tenant_id and request.search in p.name), key=lambda p: p.name)
        page = found[request.offset:request.offset + (request.limit or 10)]
        return api.ListDeviceProfilesResponse(total_count=len(found), result=[
            api.DeviceProfileListItem(id=p.id, name=p.name, region=p.region, mac_version=p.mac_version)
            for p in page])


def _empty() -> Any:
    return empty_pb2.Empty()


@pytest.fixture
def chirpstack() -> Iterator[tuple[FakeChirpStack, str]]:
    fake = FakeChirpStack()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api.add_DeviceProfileServiceServicer_to_server(fake, server)
    api.add_DeviceServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture(scope="module")
def registry() -> ProfileRegistry:
    return ProfileRegistry.load()


FLEET = """\
dev_eui,name,profile,site,tags
70b3d57ed0051234,Salle du conseil,milesight-am307,Mairie,"{""floor"": 1}"
a84041000181c9d1,Pont de la Deûle,dragino-ldds75,Quai,
a84041000181c9d2,Bac rue Nationale,milesight-em310-udl,,
a84041000181c9d3,Second bac,milesight-em310-udl,,
"""


@pytest.fixture
def fleet_db(db: psycopg.Connection, registry: ProfileRegistry) -> psycopg.Connection:
    import_fleet(db, parse_fleet_csv(FLEET, registry))
    db.execute("INSERT INTO devices (dev_eui, name, status) VALUES ('ffffffffffffffff', 'provisioned', 'unassigned')")
    return db


def _sync(address: str, db: psycopg.Connection, registry: ProfileRegistry, token: str = TOKEN,
          dry_run: bool = False) -> Any:
    fleet = load_fleet(db)
    profiles = [p for p in registry if p.id in {d.profile for d in fleet}]
    with grpc.insecure_channel(address) as channel:
        return ChirpStackSync(channel, token, SyncTarget(TENANT, APPLICATION), dry_run=dry_run).sync(profiles, fleet)


def test_first_sync_creates_profiles_and_devices(chirpstack: tuple[FakeChirpStack, str],
                                                 fleet_db: psycopg.Connection, registry: ProfileRegistry) -> None:
    fake, address = chirpstack
    report = _sync(address, fleet_db, registry)
    assert sorted(report.profiles["created"]) == ["dragino-ldds75", "milesight-am307", "milesight-em310-udl"]
    assert sorted(report.devices["created"]) == ["70b3d57ed0051234", "a84041000181c9d1", "a84041000181c9d2",
                                                 "a84041000181c9d3"]
    assert report.problems == []
    by_name = {p.name: p for p in fake.profiles.values()}
    am307 = by_name["beffroi/milesight-am307"]
    assert am307.region == common.Region.Value("EU868")
    assert am307.mac_version == common.MacVersion.Value("LORAWAN_1_0_3")
    assert am307.supports_otaa and not am307.supports_class_b and not am307.supports_class_c
    assert am307.uplink_interval == registry["milesight-am307"].uplink_period_s
    assert dict(am307.tags) == {"beffroi_profile": "milesight-am307", "beffroi_family": "co2"}
    device = fake.devices["70b3d57ed0051234"]
    assert (device.name, device.application_id, device.device_profile_id) == ("Salle du conseil", APPLICATION,
                                                                              am307.id)
    assert dict(device.tags) == {"beffroi_site": "Mairie", "floor": "1"}
    assert not device.is_disabled
    assert "ffffffffffffffff" not in fake.devices           # unassigned devices are not pushed
    assert len(fake.writes()) == 3 + 4


def test_second_sync_writes_nothing(chirpstack: tuple[FakeChirpStack, str], fleet_db: psycopg.Connection,
                                    registry: ProfileRegistry) -> None:
    fake, address = chirpstack
    _sync(address, fleet_db, registry)
    fake.calls.clear()
    report = _sync(address, fleet_db, registry)
    assert fake.writes() == []
    assert len(report.profiles["unchanged"]) == 3 and len(report.devices["unchanged"]) == 4
    assert {name for name, _ in fake.calls} == {"DeviceProfile.List", "DeviceProfile.Get", "Device.Get"}


def test_changes_on_either_side_are_reconciled_keeping_chirpstack_only_settings(
        chirpstack: tuple[FakeChirpStack, str], fleet_db: psycopg.Connection, registry: ProfileRegistry) -> None:
    fake, address = chirpstack
    _sync(address, fleet_db, registry)
    fleet_db.execute("UPDATE devices SET name = 'Pont Neuf', status = 'disabled' WHERE dev_eui = 'a84041000181c9d1'")
    device = fake.devices["a84041000181c9d2"]
    device.tags["installer"] = "ACME"           # set by hand in ChirpStack's UI: kept
    device.skip_fcnt_check = True
    (profile,) = [p for p in fake.profiles.values() if p.name == "beffroi/dragino-ldds75"]
    profile.region = common.Region.Value("US915")   # someone switched the region: put back
    profile.device_status_req_interval = 5      # a ChirpStack-only setting: kept
    fake.calls.clear()
    report = _sync(address, fleet_db, registry)
    assert sorted(fake.writes()) == ["Device.Update", "DeviceProfile.Update"]
    assert report.devices["updated"] == ["a84041000181c9d1"] and report.profiles["updated"] == ["dragino-ldds75"]
    assert fake.devices["a84041000181c9d1"].name == "Pont Neuf" and fake.devices["a84041000181c9d1"].is_disabled
    assert fake.devices["a84041000181c9d2"].tags["installer"] == "ACME"
    assert fake.devices["a84041000181c9d2"].skip_fcnt_check
    assert profile.region == common.Region.Value("EU868") and profile.device_status_req_interval == 5


def test_a_device_of_another_application_is_reported_and_left_alone(
        chirpstack: tuple[FakeChirpStack, str], fleet_db: psycopg.Connection, registry: ProfileRegistry) -> None:
    fake, address = chirpstack
    fake.devices["a84041000181c9d3"] = api.Device(dev_eui="a84041000181c9d3", name="theirs",
                                                  application_id=OTHER_APPLICATION)
    report = _sync(address, fleet_db, registry)
    assert report.problems == [f"device a84041000181c9d3 belongs to another ChirpStack application "
                               f"({OTHER_APPLICATION}); not changed"]
    assert fake.devices["a84041000181c9d3"].name == "theirs"


def test_a_refused_token_stops_the_sync(chirpstack: tuple[FakeChirpStack, str], fleet_db: psycopg.Connection,
                                        registry: ProfileRegistry) -> None:
    fake, address = chirpstack
    with pytest.raises(SyncError, match="ChirpStack refused the API token"):
        _sync(address, fleet_db, registry, token="wrong")
    assert fake.profiles == {} and fake.devices == {}


def test_dry_run_reads_but_never_writes(chirpstack: tuple[FakeChirpStack, str], fleet_db: psycopg.Connection,
                                        registry: ProfileRegistry) -> None:
    fake, address = chirpstack
    report = _sync(address, fleet_db, registry, dry_run=True)
    assert len(report.profiles["created"]) == 3 and len(report.devices["created"]) == 4
    assert fake.writes() == [] and fake.devices == {}


def test_cli_sync(chirpstack: tuple[FakeChirpStack, str], fleet_db: psycopg.Connection, db_url: str,
                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake, address = chirpstack
    monkeypatch.delenv("BEFFROI_CONFIG", raising=False)
    monkeypatch.setenv("BEFFROI_DATABASE_URL", db_url)
    monkeypatch.setenv("BEFFROI_SECRET_CHIRPSTACK_API_TOKEN", TOKEN)
    args = ["devices", "sync", "chirpstack", "--url", address, "--tenant-id", TENANT,
            "--application-id", APPLICATION]
    assert main(args) == 0
    assert "device profiles: 3 created, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert main(args) == 0
    assert "devices: 0 created, 0 updated, 4 unchanged" in capsys.readouterr().out
    assert main([*args, "--region", "MARS"]) == 2
    assert "unknown region 'MARS'" in capsys.readouterr().err


def test_an_unreachable_server_is_a_clear_error(fleet_db: psycopg.Connection, registry: ProfileRegistry) -> None:
    with pytest.raises(SyncError, match="ChirpStack does not answer"):
        _sync("127.0.0.1:1", fleet_db, registry)
