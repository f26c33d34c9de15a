"""``beffroi rules check [DIR]``: validate a rules directory without starting anything.

Prints every rule with its kind, severity, route and selector, and the people set-up; on the first problem
prints ``file:line: reason`` and exits 1 (the same check the service makes at start-up)."""

from __future__ import annotations

import argparse
import sys

from rules.directory import load_directory
from rules.yamlmarks import ConfigFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="alert rules: check a rules directory")
    rules_sub = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser("check", help="validate rule, people and silence files (file:line: reason)")
    check.add_argument("dir", nargs="?", help="rules directory (default: the rules.dir setting)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    directory = args.dir or args.settings.get("rules", "dir")
    if not directory:
        print("beffroi rules check: no directory given and rules.dir is not set", file=sys.stderr)
        return 2
    try:
        setup = load_directory(directory)
    except ConfigFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for rule in setup.rules:
        selector = ", ".join(f"{k}={'|'.join(v)}" for k, v in rule.selector.as_matchers().items()) or "all devices"
        if rule.selector.tags:
            selector += ", tags " + ", ".join(f"{k}={v}" for k, v in rule.selector.tags.items())
        print(f"{rule.id:<28} {rule.kind:<15} {rule.severity.label:<8} route={rule.route:<12} {selector}")
    r = setup.routing
    print(f"ok: {len(setup.rules)} rules, {len(r.routes)} routes, {len(r.escalations)} escalation policies, "
          f"{len(r.contacts)} contacts, {len(r.teams)} teams, {len(r.rotations)} rotations, "
          f"{len(setup.silences)} silences in {len(setup.files)} files")
    return 0
