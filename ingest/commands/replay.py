"""``beffroi replay --device DEV_EUI --since ISO [--until ISO]``: re-decode stored uplinks with the current
profile (after a decoder fix or a parameter change) and upsert the readings and positions."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from devices.profile import ProfileError
from devices.registry import ProfileRegistry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="re-decode a device's stored uplinks with its current profile")
    p.add_argument("--device", required=True, help="DevEUI (16 hex digits)")
    p.add_argument("--since", required=True, type=_time, help="ISO 8601 time with offset, inclusive")
    p.add_argument("--until", type=_time, help="ISO 8601 time with offset, exclusive (default: now)")
    p.add_argument("--prune", action="store_true",
                   help="also delete readings of the replayed uplinks that the current profile no longer produces")
    p.add_argument("--dry-run", action="store_true", help="decode and count, write nothing")
    p.set_defaults(func=run)


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. {text}+01:00")
    return value


def run(args: argparse.Namespace) -> int:
    from ingest.db import connect, detect_flavour
    from ingest.fleet import normalise_dev_eui
    from ingest.replay import ReplayError, replay

    cfg = args.settings
    try:
        dev_eui = normalise_dev_eui(args.device)
        registry = ProfileRegistry.load(cfg.get("devices", "extra_paths"))
        with connect(cfg.get("database", "url"), autocommit=True) as conn:
            flavour = detect_flavour(conn, cfg.get("database", "timescaledb"))
            report = replay(conn, registry, dev_eui, args.since, args.until, flavour=flavour, prune=args.prune,
                            dry_run=args.dry_run)
    except (ValueError, ReplayError, ProfileError) as exc:
        print(f"beffroi replay: {exc}", file=sys.stderr)
        return 2
    print(f"{report.dev_eui} ({report.profile}): {report.uplinks} uplink(s) replayed, {report.decoded} decoded, "
          f"{report.failed} failed; {report.readings} reading(s) and {report.positions} position(s) upserted"
          + (f", {report.pruned} stale reading(s) deleted" if args.prune else "")
          + f"; {report.warnings} warning(s)" + (" (dry run: nothing written)" if args.dry_run else ""))
    for error in report.errors:
        print(f"error  {error}")
    return 0   # undecodable uplinks are normal history (MAC-only frames...); they are listed above
