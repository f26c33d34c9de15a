"""The HTTP API under schemathesis, against the OpenAPI document it serves itself (``/api/openapi.json``).

Promise: whatever schemathesis makes of each operation — valid requests, requests just outside the schema,
odd strings, huge numbers, missing and extra parameters — the running ``beffroi run`` never answers 5xx (except a
503 that the document itself declares, e.g. the ChirpStack endpoint while its pipeline is unavailable).

The service runs as a real process on a database with devices, readings and an alert, and is called with an admin
token (the ChirpStack endpoint with its shared secret), so the generated requests reach the handlers rather than
stopping at 401. Bounded: a few examples per operation, derandomised, so CI time stays small and a failure
reproduces.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from ingest.api.app import ApiContext, build_app
from ingest.api.openapi import build_document
from ingest.api.tokens import create_token
from ingest.config import load_config
from tests.faults.harness import ServiceProcess, Stream, fault_env, wait_stored
from tests.ingest.conftest import module_db_url  # noqa: F401 - fixture

SECRET = "schemathesis-chirpstack-secret-0123456789"
ACK_SECRET = "schemathesis-ack-secret-0123456789abcdef"
EXAMPLES = 15          # per operation and mode: about a minute for the whole API on 2 cores


@pytest.fixture(scope="module")
def api_service(module_db_url: str, mqtt_url: str, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
                ) -> Iterator[tuple[ServiceProcess, dict[str, str]]]:
    unique = "st" + Path(module_db_url).name[-10:]
    env = fault_env(module_db_url, mqtt_url, unique, api_chirpstack_secret=SECRET, notify_ack_secret=ACK_SECRET,
                    feed_enabled="true", api_auth_max_failures="100000")
    svc = ServiceProcess(env, tmp_path_factory.mktemp("schemathesis") / "beffroi.log")
    with psycopg.connect(module_db_url, autocommit=True) as db, svc:
        tokens = {role: create_token(db, f"st-{role}", role, "test")[0].raw for role in ("viewer", "admin")}
        with Stream(mqtt_url, unique, devices=3) as stream:
            stream.register(db)
            stream.probe(db)
            stream.publish(30)
            stream.wait_acknowledged()
            wait_stored(db, stream, lambda s: True, "the seed uplinks", 30)
        first = stream.sent[0]
        db.execute("INSERT INTO alerts (id, rule, dev_eui, state, severity, route, summary, value, threshold, "
                   "started_at, fired_at, level, updated_at) VALUES (1, 'co2-classe', %s, 'firing', 'warning', "
                   "'ecoles', 'CO2 élevé', 1650, 1500, %s, %s, 1, %s)",
                   (first.dev_eui, first.time, first.time + timedelta(minutes=10), first.time))
        yield svc, tokens
        assert "Traceback" not in svc.log_text(), "an unhandled exception was logged:\n" + svc.log_tail(80)


@pytest.fixture(scope="module")
def api_schema(api_service: tuple[ServiceProcess, dict[str, str]]) -> Any:
    """The document as the running service serves it (not as the code builds it)."""
    svc, _ = api_service
    with urllib.request.urlopen(svc.http + "/api/openapi.json", timeout=10) as resp:  # noqa: S310 - local URL
        document = json.load(resp)
    return schemathesis.openapi.from_dict(document)


def _operations() -> list[str]:
    """"METHOD /path" of every documented operation, known at collection time (one test each)."""
    document = build_document(build_app(ApiContext(load_config(None, environ={}))))
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]


@pytest.mark.parametrize("label", _operations())
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_makes_the_api_answer_5xx(label: str, mode: GenerationMode, api_schema: Any,
                                            api_service: tuple[ServiceProcess, dict[str, str]]) -> None:
    svc, tokens = api_service
    method, path = label.split(" ", 1)
    operation = api_schema[path][method]
    raw = operation.definition.raw
    token = SECRET if "sharedSecret" in json.dumps(raw.get("security", [])) else tokens["admin"]
    headers = {"Authorization": f"Bearer {token}"}
    declared_503 = "503" in raw.get("responses", {})

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        # schemathesis' own transport counts pooled connections through urllib3 internals that the
        # urllib3-future override (pulled in by grafana-client → niquests) replaces: send with requests directly
        kwargs = case.as_transport_kwargs(base_url=svc.http, headers=headers)
        response = requests.request(**kwargs, timeout=30, allow_redirects=False)
        if response.status_code == 503 and declared_503:
            return
        case.validate_response(response, checks=[not_a_server_error], headers=headers)

    try:
        call()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip(f"{label} takes no input that can be made invalid")
        raise
