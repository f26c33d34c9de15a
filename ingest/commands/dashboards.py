"""``beffroi dashboards``: generate the Grafana boards and provisioning files, push them to a running Grafana,
and fill the tables the boards read (device profiles, pastures).

    beffroi dashboards build [--check]
    beffroi dashboards push --url http://grafana:3000 (--token T | --user U --password P) [--pg-url URL]
    beffroi dashboards sync-profiles
    beffroi dashboards pastures FILE.geojson
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from urllib.parse import unquote, urlsplit

log = logging.getLogger("beffroi.dashboards")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboards", help="Grafana boards: build, check, push; tables they read")
    cmds = p.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")

    build = cmds.add_parser("build", help="write dashboards/generated/*.json and dashboards/provisioning/")
    build.add_argument("--check", action="store_true",
                       help="write nothing; exit 1 when the files on disk differ from what the code generates")
    build.set_defaults(func=run_build)

    push = cmds.add_parser("push", help="create or update data sources, folder and boards in a running Grafana")
    push.add_argument("--url", required=True, help="Grafana base URL, e.g. http://127.0.0.1:3000")
    push.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"),
                      help="service-account token (default: $GRAFANA_TOKEN); needs the Admin role")
    push.add_argument("--user", help="basic-auth user instead of a token")
    push.add_argument("--password", default=os.environ.get("GRAFANA_PASSWORD"),
                      help="basic-auth password (default: $GRAFANA_PASSWORD)")
    push.add_argument("--pg-url", help="PostgreSQL URL as Grafana reaches it (default: database.url)")
    push.add_argument("--prometheus-url", default="http://127.0.0.1:9090",
                      help="Prometheus URL as Grafana reaches it (default: %(default)s)")
    push.add_argument("--postgres-version", type=int, default=15, help="PostgreSQL major version (default: 15)")
    push.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request (default: 10)")
    push.set_defaults(func=run_push)

    sync = cmds.add_parser("sync-profiles", help="copy the device profiles' family and period into the database")
    sync.set_defaults(func=run_sync_profiles)

    pastures = cmds.add_parser("pastures", help="load pasture outlines (GeoJSON polygons) for the Flocks board")
    pastures.add_argument("file", help="GeoJSON FeatureCollection of Polygons (properties: id, name, flock, site)")
    pastures.set_defaults(func=run_pastures)


def run_build(args: argparse.Namespace) -> int:
    from dashboards.build import ROOT, check, write

    if args.check:
        problems = check()
        for problem in problems:
            print(f"dashboards/{problem}", file=sys.stderr)
        if problems:
            print("beffroi: generated dashboards are out of date: run `beffroi dashboards build` and commit",
                  file=sys.stderr)
            return 1
        print("dashboards: generated files are up to date")
        return 0
    changed = write()
    print(f"dashboards: {len(changed)} file(s) written under {ROOT}")
    return 0


def run_push(args: argparse.Namespace) -> int:
    from dashboards.build import render_all
    from dashboards.provision import Connection, datasources, folder
    from dashboards.push import PushError, connect, push

    if not args.token and not args.user:
        print("beffroi: dashboards push needs --token (or $GRAFANA_TOKEN) or --user/--password", file=sys.stderr)
        return 2
    pg = urlsplit(args.pg_url or args.settings.get("database", "url"))
    conn = Connection(
        pg_host=f"{pg.hostname or '127.0.0.1'}:{pg.port or 5432}", pg_database=pg.path.lstrip("/") or "beffroi",
        pg_user=unquote(pg.username or "grafana"), pg_password=unquote(pg.password or ""),
        prometheus_url=args.prometheus_url, postgres_version=args.postgres_version * 100)
    api = connect(args.url, token=args.token, user=None if args.token else args.user, password=args.password,
                  timeout=args.timeout)
    try:
        report = push(api, datasources=datasources(conn), folder=folder(), boards=render_all())
    except PushError as exc:
        print(f"beffroi: dashboards push to {args.url} failed: {exc}", file=sys.stderr)
        return 1
    print(f"dashboards: {report.summary()}")
    return 0


def run_sync_profiles(args: argparse.Namespace) -> int:
    from dashboards.profiles import sync_device_profiles
    from devices.registry import ProfileRegistry
    from ingest.db import connect

    registry = ProfileRegistry.load(args.settings.get("devices", "extra_paths"))
    with connect(args.settings.get("database", "url"), autocommit=True) as conn:
        changed = sync_device_profiles(conn, registry)
    print(f"device_profiles: {len(registry)} profile(s), {changed} inserted or changed")
    return 0


def run_pastures(args: argparse.Namespace) -> int:
    from dashboards.pastures import PastureError, load_geojson, upsert_pastures
    from ingest.db import connect

    try:
        pastures = load_geojson(args.file)
    except (PastureError, OSError) as exc:
        print(f"beffroi: {args.file}: {exc}", file=sys.stderr)
        return 2
    with connect(args.settings.get("database", "url"), autocommit=True) as conn:
        count = upsert_pastures(conn, pastures)
    print(f"pastures: {count} loaded from {args.file}")
    return 0
