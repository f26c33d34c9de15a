"""``beffroi migrate``: apply pending schema migrations and (on TimescaleDB) the retention/compression policies."""

from __future__ import annotations

import argparse
import logging

from dashboards.profiles import sync_device_profiles
from devices.profile import ProfileError
from devices.registry import ProfileRegistry
from ingest.db import connect, detect_flavour
from ingest.migrate import SchemaTooNew, apply_policies, current_version, migrate

log = logging.getLogger("beffroi.migrate")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = args.settings
    with connect(cfg.get("database", "url"), autocommit=True) as conn:
        flavour = detect_flavour(conn, cfg.get("database", "timescaledb"))
        log.info("storage flavour: %s", flavour)
        try:
            done = migrate(conn, flavour)
        except SchemaTooNew as exc:
            log.error("%s", exc)
            return 3
        apply_policies(conn, flavour, dict(cfg["retention"]))
        try:
            registry = ProfileRegistry.load(cfg.get("devices", "extra_paths"))
        except ProfileError as exc:
            log.error("schema migrated, but a device profile is invalid: %s", exc)
            return 4
        # the dashboards read each model's family and uplink period from SQL
        sync_device_profiles(conn, registry)
        print(f"schema at version {current_version(conn)} ({flavour}); applied {len(done)} migration(s)")
    return 0
