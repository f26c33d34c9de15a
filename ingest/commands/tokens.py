"""``beffroi tokens create|list|revoke``: API bearer tokens. The raw token is printed once, at creation."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from ingest.api.tokens import ROLES, TokenError, create_token, list_tokens, revoke_token
from ingest.db import connect


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokens", help="create, list and revoke API tokens")
    tsub = p.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="create a token and print it (once)")
    create.add_argument("--name", required=True, help="who or what holds it, e.g. astreinte-voirie or grafana")
    create.add_argument("--role", required=True, choices=ROLES, help="viewer < operator < admin")
    create.set_defaults(func=_create)
    listing = tsub.add_parser("list", help="list tokens (never their secret)")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_list)
    revoke = tsub.add_parser("revoke", help="revoke a token by name or key id")
    revoke.add_argument("token", metavar="NAME_OR_KEY_ID")
    revoke.set_defaults(func=_revoke)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):   # no passwd entry (containers with an arbitrary uid)
        return "cli:unknown"


def _create(args: argparse.Namespace) -> int:
    with connect(args.settings.get("database", "url"), autocommit=True) as conn:
        try:
            token, _ = create_token(conn, args.name, args.role, _actor())
        except TokenError as exc:
            print(f"beffroi tokens: {exc}", file=sys.stderr)
            return 1
    print(f"token for {args.name} ({args.role}), key id {token.key_id}. It is shown only now; store it safely:",
          file=sys.stderr)
    print(token.raw)
    return 0


def _list(args: argparse.Namespace) -> int:
    with connect(args.settings.get("database", "url"), autocommit=True) as conn:
        tokens = list_tokens(conn, include_revoked=args.all)
    if args.json:
        for t in tokens:
            print(json.dumps(t.as_json()))
        return 0
    print(f"{'key id':<12}  {'name':<24}  {'role':<8}  {'created':<16}  {'last used':<16}  revoked")
    for t in tokens:
        print(f"{t.key_id:<12}  {t.name:<24}  {t.role:<8}  {t.created_at:%Y-%m-%d %H:%M}  "
              f"{f'{t.last_used_at:%Y-%m-%d %H:%M}' if t.last_used_at else '-':<16}  "
              f"{f'{t.revoked_at:%Y-%m-%d %H:%M}' if t.revoked_at else ''}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    with connect(args.settings.get("database", "url"), autocommit=True) as conn:
        try:
            name = revoke_token(conn, args.token, _actor())
        except TokenError as exc:
            print(f"beffroi tokens: {exc}", file=sys.stderr)
            return 1
    print(f"revoked the token of {name}")
    return 0
