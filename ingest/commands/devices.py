"""``beffroi devices …``: the integrator's tools (new, check, decode, list) and fleet management (import, sync).

Exit codes: 0 success, 1 something failed (an example, a row, a decode), 2 unusable input (bad profile, file,
option or configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from devices.check import FolderReport, check_folder
from devices.profile import ProfileError
from devices.quantities import QUANTITIES
from devices.registry import ProfileRegistry, discover, find_profile_folders
from devices.scaffold import ScaffoldError, scaffold
from devices.schema import FAMILIES

TOKEN_ENV = "BEFFROI_SECRET_CHIRPSTACK_API_TOKEN"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="device profiles and the device fleet")
    dsub = p.add_subparsers(dest="devices_command", required=True, metavar="ACTION")

    new = dsub.add_parser("new", help="scaffold a device-model folder (profile, decoder, examples, README)")
    new.add_argument("vendor")
    new.add_argument("model")
    new.add_argument("--family", choices=FAMILIES, default="co2")
    new.add_argument("--dir", default=".", help="where <vendor>/<model>/ is created (default: current folder)")
    new.set_defaults(func=_new)

    check = dsub.add_parser("check", help="validate profiles and run every example; non-zero exit on a failure")
    check.add_argument("paths", nargs="*", help="model folders or trees (default: every loaded profile)")
    check.set_defaults(func=_check)

    decode = dsub.add_parser("decode", help="print as JSON what a profile makes of one payload")
    decode.add_argument("profile")
    decode.add_argument("fport", type=int)
    decode.add_argument("hex", help="payload in hexadecimal (spaces allowed if quoted)")
    decode.add_argument("--received-at", help="uplink time, ISO 8601 with offset (some decoders need it)")
    decode.add_argument("--params", default="{}", help="device parameters as a JSON object")
    decode.set_defaults(func=_decode)

    lst = dsub.add_parser("list", help="loaded profiles and where they come from")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_list)

    imp = dsub.add_parser("import", help="register devices from a CSV file (dev_eui,name,profile[,site,...])")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    imp.set_defaults(func=_import)

    sync = dsub.add_parser("sync", help="push profiles and devices to a network server")
    ssub = sync.add_subparsers(dest="server", required=True, metavar="SERVER")
    cs = ssub.add_parser("chirpstack", help="ChirpStack v4 gRPC API")
    cs.add_argument("--url", required=True, help="host:port of the ChirpStack API (e.g. chirpstack:8080)")
    cs.add_argument("--api-token", help=f"API key (default: ${TOKEN_ENV}; prefer the variable, "
                                        "command lines are visible to other users)")
    cs.add_argument("--tenant-id", required=True)
    cs.add_argument("--application-id", required=True)
    cs.add_argument("--region", default="EU868")
    cs.add_argument("--mac-version", default="LORAWAN_1_0_3")
    cs.add_argument("--reg-params-revision", default="RP002_1_0_3")
    cs.add_argument("--tls", action="store_true", help="TLS with the system's CA certificates")
    cs.add_argument("--all-profiles", action="store_true", help="sync every loaded profile, not only those in use")
    cs.add_argument("--dry-run", action="store_true", help="read ChirpStack and report, write nothing")
    cs.set_defaults(func=_sync_chirpstack)


def _registry(args: argparse.Namespace) -> ProfileRegistry:
    return ProfileRegistry.load(args.settings.get("devices", "extra_paths"))


def _fail(message: str, code: int = 2) -> int:
    print(f"beffroi devices: {message}", file=sys.stderr)
    return code


def _new(args: argparse.Namespace) -> int:
    try:
        folder = scaffold(Path(args.dir), args.vendor, args.model, args.family)
    except ScaffoldError as exc:
        return _fail(str(exc))
    print(f"created {folder}/ (profile.yaml, decoder.py, examples.yaml, README.md)")
    print(f"next: write the decoder and examples, then run  beffroi devices check {folder}")
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        if args.paths:
            folders = [(f, "") for p in args.paths for f in find_profile_folders(Path(p))]
        else:
            folders = discover(args.settings.get("devices", "extra_paths"))
    except ProfileError as exc:
        return _fail(str(exc))
    reports = [check_folder(folder, origin) for folder, origin in folders]
    for report in reports:
        _print_report(report)
    ids: dict[str, Path] = {}
    duplicates = []
    for r in reports:
        if r.profile is not None:
            if r.profile.id in ids:
                duplicates.append(f"profile id {r.profile.id} is defined twice: {ids[r.profile.id]} and {r.folder}")
            ids[r.profile.id] = r.folder
    for line in duplicates:
        print(f"FAIL  {line}")
    failed = sum(not r.ok for r in reports) + len(duplicates)
    examples = sum(len(r.results) for r in reports)
    print(f"{len(reports)} profile(s), {examples} example(s): "
          + ("all passed" if not failed else f"{failed} profile(s) failed"))
    return 1 if failed or not reports else 0


def _print_report(report: FolderReport) -> None:
    name = report.profile.id if report.profile else str(report.folder)
    if report.ok:
        print(f"ok    {name:<36} {len(report.results)} example(s)")
        return
    bad = [r for r in report.results if not r.ok]
    summary = f"{len(bad)} of {len(report.results)} example(s) differ" if report.results else ""
    print(f"FAIL  {name:<36} {summary}")
    for problem in report.problems:
        print(f"      {problem}")
    for result in bad:
        ex = result.example
        print(f"      example {ex.index + 1} \"{ex.description}\" (fPort {ex.fport}, {ex.payload.hex()}):")
        for line in result.problems:
            print(f"        {line}")


def _decode(args: argparse.Namespace) -> int:
    try:
        payload = bytes.fromhex("".join(args.hex.split()))
    except ValueError:
        return _fail(f"{args.hex!r} is not hexadecimal")
    try:
        received = datetime.fromisoformat(args.received_at) if args.received_at else None
        params = json.loads(args.params)
    except ValueError as exc:
        return _fail(f"--received-at or --params: {exc}")
    if received is not None and received.tzinfo is None:
        return _fail("--received-at needs a UTC offset, e.g. 2025-03-20T10:00:00+01:00")
    if not isinstance(params, dict):
        return _fail("--params must be a JSON object")
    try:
        profile = _registry(args)[args.profile]
    except (ProfileError, KeyError) as exc:
        return _fail(str(exc))
    decoded = profile.decode(args.fport, payload, params, received)
    out = {
        "profile": profile.id, "fport": args.fport, "payload": payload.hex(), "data": decoded.data,
        "readings": [{"quantity": r.quantity, "value": r.value, "unit": QUANTITIES[r.quantity].unit}
                     for r in decoded.readings],
        "positions": [{k: getattr(p, k) for k in ("latitude", "longitude", "altitude", "accuracy")}
                      for p in decoded.positions],
        "warnings": decoded.warnings, "errors": decoded.errors,
    }
    print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    return 1 if decoded.errors else 0


def _list(args: argparse.Namespace) -> int:
    try:
        registry = _registry(args)
    except ProfileError as exc:
        return _fail(str(exc))
    rows = [{"id": p.id, "family": p.family, "vendor": p.vendor, "model": p.model, "decoder": p.decoder_kind,
             "encoder": p.can_encode, "origin": p.origin, "folder": str(p.folder)} for p in registry]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    width = max((len(str(r["id"])) for r in rows), default=2)
    print(f"{'id':<{width}}  {'family':<7}  {'decoder':<10}  origin")
    for r in rows:
        print(f"{r['id']:<{width}}  {r['family']:<7}  {r['decoder']:<10}  {r['origin']}")
    print(f"{len(rows)} profile(s)")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ingest.db import connect
    from ingest.fleet import FleetFileError, import_fleet, parse_fleet_csv

    try:
        text = Path(args.file).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"{args.file}: cannot be read as UTF-8 text: {exc}")
    try:
        fleet = parse_fleet_csv(text, _registry(args))
    except (FleetFileError, ProfileError) as exc:
        return _fail(f"{args.file}: {exc}")
    for row in fleet.rejected:
        print(f"rejected  line {row.line}  {row.dev_eui or '-'}  {row.reason}")
    if args.dry_run:
        print(f"{len(fleet.devices)} valid row(s), {len(fleet.rejected)} rejected (dry run: nothing written)")
        return 1 if fleet.rejected else 0
    with connect(args.settings.get("database", "url"), autocommit=True) as conn:
        report = import_fleet(conn, fleet)
    print(f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
          f"{len(report.rejected)} rejected")
    return 1 if report.rejected else 0


def _sync_chirpstack(args: argparse.Namespace) -> int:
    from ingest.chirpstack_sync import ChirpStackSync, SyncError, SyncTarget, load_fleet, open_channel
    from ingest.db import connect

    token = args.api_token or os.environ.get(TOKEN_ENV)
    if not token:
        return _fail(f"no API token: give --api-token or set {TOKEN_ENV}")
    try:
        target = SyncTarget(args.tenant_id, args.application_id, args.region, args.mac_version,
                            args.reg_params_revision)
        registry = _registry(args)
        with connect(args.settings.get("database", "url")) as conn:
            fleet = load_fleet(conn)
        used = {d.profile for d in fleet}
        profiles = [p for p in registry if args.all_profiles or p.id in used]
        with open_channel(args.url, tls=args.tls) as channel:
            report = ChirpStackSync(channel, token, target, dry_run=args.dry_run).sync(profiles, fleet)
    except (SyncError, ProfileError) as exc:
        return _fail(str(exc))
    _print_counts("device profiles", report.profiles)
    _print_counts("devices", report.devices)
    for problem in report.problems:
        print(f"problem  {problem}")
    if args.dry_run:
        print("dry run: nothing was written to ChirpStack")
    return 1 if report.problems else 0


def _print_counts(what: str, counts: dict[str, Any]) -> None:
    print(f"{what}: " + ", ".join(f"{len(ids)} {state}" for state, ids in counts.items()))
