"""The ChirpStack HTTP integration endpoint: shared secret, event type, hand-off to the pipeline."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import MakeClient

SECRET = "s3cret-shared-with-chirpstack-0123456789"
ENV = {"BEFFROI_API_CHIRPSTACK_SECRET": SECRET}
BODY = b'{"deduplicationId": "5f1c2d3e-0a4b-4c6d-8e9f-112233445566", "deviceInfo": {"devEui": "24e124707c123456"}}'


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[bytes, str, str]] = []
        self.fail = fail

    async def __call__(self, raw: bytes, topic: str, source: str) -> Any:
        if self.fail:
            raise ConnectionError("database down")
        self.calls.append((raw, topic, source))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + SECRET},
                                     {"Authorization": "Bearer " + SECRET[:-1]}])
async def test_an_event_without_the_right_secret_is_refused(make_client: MakeClient, headers: dict[str, str]) -> None:
    submit = Recorder()
    client = await make_client(env=ENV, extras={"submit": submit})
    resp = await client.post("/api/chirpstack?event=up", data=BODY,
                             headers={"Content-Type": "application/json", **headers})
    assert resp.status == 401
    assert SECRET not in await resp.text()
    assert submit.calls == []


async def test_the_endpoint_is_disabled_without_a_configured_secret(make_client: MakeClient) -> None:
    submit = Recorder()
    client = await make_client(extras={"submit": submit})
    resp = await client.post("/api/chirpstack?event=up", data=BODY,
                             headers={"Content-Type": "application/json", "Authorization": "Bearer "})
    assert resp.status == 404
    assert submit.calls == []


@pytest.mark.parametrize(("content_type", "how"), [
    ("application/json", {"headers": {"Authorization": f"Bearer {SECRET}"}}),
    ("application/octet-stream", {"headers": {"Authorization": f"Bearer {SECRET}"}}),
    ("application/json", {"params": {"secret": SECRET}}),
])
async def test_an_authenticated_event_goes_to_the_pipeline_unchanged(make_client: MakeClient, content_type: str,
                                                                     how: dict[str, Any]) -> None:
    submit = Recorder()
    client = await make_client(env=ENV, extras={"submit": submit})
    headers = {"Content-Type": content_type, **how.get("headers", {})}
    resp = await client.post("/api/chirpstack", params={"event": "up", **how.get("params", {})}, data=BODY,
                             headers=headers)
    assert resp.status == 200, await resp.text()
    assert submit.calls == [(BODY, "http/chirpstack/event/up", "http")]


@pytest.mark.parametrize(("query", "content_type", "status"), [
    ("", "application/json", 400),
    ("?event=../../x", "application/json", 400),
    ("?event=up", "text/plain", 415),
])
async def test_a_bad_event_or_content_type_is_refused(make_client: MakeClient, query: str, content_type: str,
                                                      status: int) -> None:
    submit = Recorder()
    client = await make_client(env=ENV, extras={"submit": submit})
    resp = await client.post(f"/api/chirpstack{query}", data=BODY,
                             headers={"Content-Type": content_type, "Authorization": f"Bearer {SECRET}"})
    assert resp.status == status
    assert submit.calls == []


async def test_a_pipeline_failure_is_answered_503(make_client: MakeClient) -> None:
    client = await make_client(env=ENV, extras={"submit": Recorder(fail=True)})
    resp = await client.post("/api/chirpstack?event=up", data=BODY,
                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"})
    assert resp.status == 503


async def test_guessing_the_secret_is_rate_limited(make_client: MakeClient) -> None:
    submit = Recorder()
    client = await make_client(env={**ENV, "BEFFROI_API_AUTH_MAX_FAILURES": "2"}, extras={"submit": submit})
    for _ in range(2):
        resp = await client.post("/api/chirpstack?event=up", data=BODY,
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer guess"})
        assert resp.status == 401
    resp = await client.post("/api/chirpstack?event=up", data=BODY,
                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"})
    assert resp.status == 429
    assert submit.calls == []
