"""API tokens: made, stored hashed, looked up in constant time, listed and revoked.

A token reads ``bfr_<key_id>_<secret>``: 12 hex characters of public key id (finds the row, tells tokens apart in
listings and logs) and 43 characters of URL-safe secret (256 random bits). Only SHA-256 of the secret is stored; a
salted slow hash would add nothing for a secret of that entropy. The raw token is returned once, at creation.

Used by the ``beffroi tokens`` command (synchronous connection) and by the API (async pool); the SQL is shared.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

__all__ = ["ROLES", "Principal", "TokenInfo", "NewToken", "TokenError", "make_token", "parse_token",
           "lookup_token", "create_token", "list_tokens", "revoke_token"]

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
_FORMAT = re.compile(r"^bfr_(?P<key>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_DUMMY = hashlib.sha256(b"no such token").digest()


class TokenError(Exception):
    """A token cannot be created or revoked (bad name or role, name in use, no such token)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a valid token (or another authenticated caller such as a signed link)."""

    name: str
    role: str
    token_id: int | None = None
    kind: str = "token"

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.kind}:{self.name}"

    def allows(self, role: str) -> bool:
        return _RANK.get(self.role, -1) >= _RANK[role]


@dataclass(frozen=True, slots=True)
class NewToken:
    raw: str          # shown once to the person who created it, never stored
    key_id: str
    secret_hash: bytes


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    key_id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "key_id": self.key_id, "name": self.name, "role": self.role,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def make_token() -> NewToken:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewToken(f"bfr_{key_id}_{secret}", key_id, _digest(secret))


def parse_token(raw: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    match = _FORMAT.match(raw)
    return (match["key"], match["secret"]) if match else None


_LOOKUP = "SELECT id, name, role, secret_hash FROM api_tokens WHERE key_id = %s AND revoked_at IS NULL"
# last_used_at is informative ("is this token still in use?"): refreshed at most every 5 minutes, not per request
_TOUCH = ("UPDATE api_tokens SET last_used_at = now() WHERE id = %s "
          "AND (last_used_at IS NULL OR last_used_at < now() - interval '5 minutes')")


async def lookup_token(pool: Any, raw: str) -> Principal | None:
    """The principal of a live token, or None for a malformed, unknown or revoked one."""
    parsed = parse_token(raw)
    if parsed is None:
        return None
    key_id, secret = parsed
    async with pool.connection() as conn:
        row = await (await conn.execute(_LOOKUP, (key_id,))).fetchone()
        # compare even when no row matched, so the answer takes the same time either way
        stored = bytes(row[3]) if row else _DUMMY
        if not hmac.compare_digest(_digest(secret), stored) or row is None:
            return None
        await conn.execute(_TOUCH, (row[0],))
    return Principal(name=row[1], role=row[2], token_id=row[0])


def _check(name: str, role: str) -> None:
    if not _NAME.match(name):
        raise TokenError(f"token name {name!r} is not allowed: 1-64 characters among letters, digits and ._@- "
                         "(start with a letter or digit)")
    if role not in _RANK:
        raise TokenError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")


_INSERT = ("INSERT INTO api_tokens (key_id, secret_hash, name, role, created_by) VALUES (%s, %s, %s, %s, %s) "
           "RETURNING id")
_AUDIT = "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)"
_LIST = ("SELECT id, key_id, name, role, created_at, created_by, last_used_at, revoked_at FROM api_tokens "
         "WHERE revoked_at IS NULL OR %s ORDER BY created_at, id")
_REVOKE = ("UPDATE api_tokens SET revoked_at = now(), revoked_by = %s WHERE revoked_at IS NULL "
           "AND (name = %s OR key_id = %s) RETURNING id, name, role")


def create_token(conn: psycopg.Connection, name: str, role: str, actor: str) -> tuple[NewToken, int]:
    """Store a new token for ``name`` and audit it; return it (with the raw value, to show once) and its id."""
    _check(name, role)
    token = make_token()
    try:
        with conn.transaction():
            row = conn.execute(_INSERT, (token.key_id, token.secret_hash, name, role, actor)).fetchone()
            conn.execute(_AUDIT, (actor, "tokens.create", name, Jsonb({"role": role, "key_id": token.key_id})))
    except psycopg.errors.UniqueViolation:
        raise TokenError(f"a live token named {name!r} already exists; revoke it first or choose another name") \
            from None
    assert row is not None
    return token, int(row[0])


def list_tokens(conn: psycopg.Connection, include_revoked: bool = False) -> list[TokenInfo]:
    return [TokenInfo(*row) for row in conn.execute(_LIST, (include_revoked,))]


def revoke_token(conn: psycopg.Connection, name_or_key_id: str, actor: str) -> str:
    """Revoke the live token with this name or key id; return its name. Takes effect on the next request."""
    with conn.transaction():
        row = conn.execute(_REVOKE, (actor, name_or_key_id, name_or_key_id)).fetchone()
        if row is None:
            raise TokenError(f"no live token named or with key id {name_or_key_id!r} (see `beffroi tokens list`)")
        conn.execute(_AUDIT, (actor, "tokens.revoke", row[1], Jsonb({"role": row[2]})))
    return str(row[1])
