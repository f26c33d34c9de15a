"""Bearer tokens and roles, revocation, failure rate limiting, CORS, audit of writes, no token in logs."""

from __future__ import annotations

import hashlib
import logging

import psycopg
import pytest

from ingest.api.app import ROUTE_MODULES
from ingest.api.auth import FailureLimiter
from ingest.api.tokens import create_token, parse_token, revoke_token
from ingest.cli import main
from tests.api.conftest import MakeClient, bearer

PROBES = (*ROUTE_MODULES, "tests.api.probe_routes")


async def test_a_request_without_a_token_is_refused_with_401(make_client: MakeClient) -> None:
    client = await make_client(modules=PROBES)
    resp = await client.get("/probe/viewer")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "bearer token is required" in (await resp.json())["error"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer bfr_nothex_xyz", "Bearer " + "x" * 60])
async def test_a_malformed_or_unknown_token_is_refused_with_401(make_client: MakeClient, header: str) -> None:
    client = await make_client(modules=PROBES)
    resp = await client.get("/probe/viewer", headers={"Authorization": header})
    assert resp.status == 401


@pytest.mark.parametrize(("role", "path", "method", "expected"), [
    ("viewer", "/probe/viewer", "GET", 200),
    ("viewer", "/probe/operator", "GET", 403),
    ("viewer", "/probe/admin", "POST", 403),
    ("operator", "/probe/viewer", "GET", 200),
    ("operator", "/probe/operator", "GET", 200),
    ("operator", "/probe/admin", "POST", 403),
    ("admin", "/probe/operator", "GET", 200),
    ("admin", "/probe/admin", "POST", 200),
])
async def test_roles_are_ordered_viewer_operator_admin(make_client: MakeClient, tokens: dict[str, str], role: str,
                                                       path: str, method: str, expected: int) -> None:
    client = await make_client(modules=PROBES)
    resp = await client.request(method, path, headers=bearer(tokens[role]))
    assert resp.status == expected
    if expected == 200:
        assert (await resp.json())["who"] == f"test-{role}"


async def test_a_revoked_token_is_refused_at_its_next_request(make_client: MakeClient, tokens: dict[str, str],
                                                              db_url: str) -> None:
    client = await make_client(modules=PROBES)
    assert (await client.get("/probe/viewer", headers=bearer(tokens["viewer"]))).status == 200
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert revoke_token(conn, "test-viewer", "test") == "test-viewer"
    assert (await client.get("/probe/viewer", headers=bearer(tokens["viewer"]))).status == 401


async def test_tokens_are_stored_only_as_a_hash_of_their_secret(tokens: dict[str, str], db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute("SELECT key_id, secret_hash, t::text FROM api_tokens t").fetchall()
    for raw in tokens.values():
        parsed = parse_token(raw)
        assert parsed is not None
        key_id, secret = parsed
        (stored,) = [bytes(r[1]) for r in rows if r[0] == key_id]
        assert stored == hashlib.sha256(secret.encode()).digest()
        assert all(secret not in r[2] for r in rows)


async def test_repeated_failures_from_one_address_are_refused_with_429_then_others_still_pass(
        make_client: MakeClient, tokens: dict[str, str]) -> None:
    client = await make_client(modules=PROBES, env={"BEFFROI_API_AUTH_MAX_FAILURES": "3",
                                                    "BEFFROI_API_TRUSTED_PROXIES": "127.0.0.1"})
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(3):
        resp = await client.get("/probe/viewer", headers={**attacker, **bearer("bfr_000000000000_" + "A" * 43)})
        assert resp.status == 401
    # now even a valid token from that address waits out the window
    resp = await client.get("/probe/viewer", headers={**attacker, **bearer(tokens["viewer"])})
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    other = {"X-Forwarded-For": "198.51.100.9"}
    assert (await client.get("/probe/viewer", headers={**other, **bearer(tokens["viewer"])})).status == 200


def test_the_failure_limiter_forgets_failures_older_than_its_window() -> None:
    now = [1000.0]
    limiter = FailureLimiter(max_failures=2, window_s=60, clock=lambda: now[0])
    limiter.failure("a")
    now[0] += 30
    limiter.failure("a")
    assert limiter.retry_after("a") == pytest.approx(30)
    assert limiter.retry_after("b") == 0
    now[0] += 31
    assert limiter.retry_after("a") == 0


def test_the_failure_limiter_keeps_a_bounded_number_of_addresses() -> None:
    limiter = FailureLimiter(max_failures=1, window_s=60, clock=lambda: 0.0, max_clients=100)
    for i in range(1000):
        limiter.failure(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._failures) <= 100


async def test_cors_is_closed_by_default(make_client: MakeClient, tokens: dict[str, str]) -> None:
    client = await make_client(modules=PROBES)
    resp = await client.get("/probe/viewer", headers={"Origin": "https://evil.example", **bearer(tokens["viewer"])})
    assert "Access-Control-Allow-Origin" not in resp.headers
    pre = await client.options("/probe/viewer", headers={"Origin": "https://evil.example",
                                                         "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in pre.headers


async def test_cors_opens_only_to_configured_origins(make_client: MakeClient, tokens: dict[str, str]) -> None:
    client = await make_client(modules=PROBES, env={"BEFFROI_API_CORS_ORIGINS": "https://carto.ville.example"})
    ok = {"Origin": "https://carto.ville.example"}
    pre = await client.options("/probe/viewer", headers={**ok, "Access-Control-Request-Method": "GET"})
    assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "https://carto.ville.example"
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    resp = await client.get("/probe/viewer", headers={**ok, **bearer(tokens["viewer"])})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://carto.ville.example"
    other = await client.get("/probe/viewer", headers={"Origin": "https://other.example",
                                                       **bearer(tokens["viewer"])})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_every_successful_write_is_audited_with_its_caller(make_client: MakeClient, tokens: dict[str, str],
                                                                 db_url: str) -> None:
    client = await make_client(modules=PROBES)
    assert (await client.post("/probe/admin", headers=bearer(tokens["admin"]))).status == 200
    assert (await client.post("/probe/admin", headers=bearer(tokens["viewer"]))).status == 403
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute("SELECT actor, action, target, status, client, detail FROM audit_log "
                            "WHERE action LIKE 'POST %' ORDER BY id").fetchall()
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE audit_log SET actor = 'someone else'")
    assert rows == [("token:test-admin", "POST /probe/admin", "thing-42", 200, "127.0.0.1", {"size": 3})]


async def test_no_token_appears_in_the_logs(make_client: MakeClient, tokens: dict[str, str],
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = await make_client(modules=PROBES)
    await client.get("/probe/viewer", headers=bearer(tokens["viewer"]))
    await client.get("/probe/operator", headers=bearer(tokens["viewer"]))
    wrong = tokens["viewer"][:-4] + "AAAA"
    await client.get("/probe/viewer", headers=bearer(wrong))
    assert any("authentication failed" in r.getMessage() for r in caplog.records)
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for raw in (*tokens.values(), wrong):
        assert parse_token(raw) and parse_token(raw)[1] not in text  # type: ignore[index]


def test_the_tokens_command_prints_the_token_once_and_revokes_it(db_url: str, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEFFROI_DATABASE_URL", db_url)
    assert main(["tokens", "create", "--name", "astreinte", "--role", "operator"]) == 0
    raw = capsys.readouterr().out.strip()
    assert parse_token(raw) is not None
    assert main(["tokens", "create", "--name", "astreinte", "--role", "viewer"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert "astreinte" in listing and "operator" in listing and raw.split("_")[2] not in listing
    assert main(["tokens", "revoke", "astreinte"]) == 0
    assert "revoked the token of astreinte" in capsys.readouterr().out
    assert main(["tokens", "list"]) == 0
    assert "astreinte" not in capsys.readouterr().out
    with psycopg.connect(db_url, autocommit=True) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE target = 'astreinte' ORDER BY id")]
        assert actions == ["tokens.create", "tokens.revoke"]
        with pytest.raises(Exception, match="not allowed"):
            create_token(conn, "bad name; drop", "viewer", "test")


def test_the_safe_access_logger_prints_neither_query_strings_nor_link_tokens(caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp.test_utils import make_mocked_request
    from aiohttp.web import Response

    from ingest.api.auth import SafeAccessLogger

    caplog.set_level(logging.INFO, logger="access")
    logger = SafeAccessLogger(logging.getLogger("access"), "")
    for path in ("/api/chirpstack?event=up&secret=s3cret-value", "/ack/AAAAtoken-in-the-pathBBBB"):
        logger.log(make_mocked_request("POST", path), Response(status=200), 0.01)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/api/chirpstack 200" in text and "/ack/… 200" in text
    assert "s3cret-value" not in text and "token-in-the-path" not in text
