"""Secrets are compared in constant time: ``hmac.compare_digest``, never ``==``.

A static check over the service's code: no ``==``/``!=`` has a secret-looking operand (a name or attribute
mentioning secret, token, password, digest, signature, mac or hash), except the reviewed places below; and each
place that checks a presented credential uses ``hmac.compare_digest``. (The API helper's tests cover tokens
stored hashed and their lookup: ``tests/api/test_auth.py``.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingest", "rules", "devices")
_SECRETISH = re.compile(r"secret|token|password|passwd|digest|signature|\bmac\b|hmac|hash", re.IGNORECASE)

# (file, comparison) -> why it is not a secret comparison
REVIEWED = {
    ("ingest/mqtt.py", "token.generation == generation"): "an MQTT acknowledgement token's connection counter",
}
# Where a presented credential is checked: each must use hmac.compare_digest.
CREDENTIAL_CHECKS = ("ingest/api/tokens.py", "ingest/api/chirpstack_http.py", "rules/acklinks.py")


def _equalities(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(isinstance(p, ast.Constant) for p in operands):
                continue                       # x == None / == "" / == 0: not a comparison of two secrets
            if _SECRETISH.search(" ".join(ast.unparse(p) for p in operands)):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_secret_is_compared_with_equality() -> None:
    problems, seen = [], set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, text in _equalities(path.read_text(encoding="utf-8")):
                seen.add((rel, text))
                if (rel, text) not in REVIEWED:
                    problems.append(f"{rel}:{line}: {text}")
    assert not problems, "compare secrets with hmac.compare_digest (timing-safe):\n" + "\n".join(problems)
    assert set(REVIEWED) <= seen, f"stale REVIEWED entries: {set(REVIEWED) - seen}"


def test_every_credential_check_uses_compare_digest() -> None:
    for rel in CREDENTIAL_CHECKS:
        assert "hmac.compare_digest(" in (ROOT / rel).read_text(encoding="utf-8"), rel


def test_the_scan_catches_an_equality_on_a_secret() -> None:
    assert _equalities("ok = presented == config.chirpstack_secret")
    assert _equalities("if mac != expected_mac: raise Forbidden")
    assert not _equalities("if token is None or secret == '': pass")
