"""The ``beffroi`` command line. Each command lives in ``ingest/commands/<name>.py`` with ``register(subparsers)``
adding its parser and setting ``func(args) -> int``; this module only wires them."""

from __future__ import annotations

import argparse
import importlib
import sys

from ingest.config import ConfigError, load_config

__all__ = ["main", "build_parser"]

# One line per command module; a module that fails to import is a bug, not something to hide.
COMMAND_MODULES = (
    "ingest.commands.migrate",
    "ingest.commands.demo",
    "ingest.commands.run",
    "ingest.commands.bench",
    "ingest.commands.tokens",
    "ingest.commands.devices",
    "ingest.commands.replay",
    "ingest.commands.simulate",
    "ingest.commands.dashboards",
    "ingest.commands.rules",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beffroi", description="LoRaWAN ingestion, alerting and hypervision.")
    parser.add_argument("--config", help="configuration file (default: $BEFFROI_CONFIG, else built-in defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.settings = load_config(args.config)
    except ConfigError as exc:
        print(f"beffroi: configuration error: {exc}", file=sys.stderr)
        return 2
    from ingest.logs import setup_logging

    setup_logging("DEBUG" if args.verbose else args.settings.get("log", "level"), args.settings.get("log", "format"))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"beffroi: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
