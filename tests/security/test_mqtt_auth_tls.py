"""MQTT with a username, a password and TLS, against a private Mosquitto with a throw-away CA (docs/security.md).

Promises: the consumer connects over ``mqtts://user:password@host`` verifying the broker's certificate against
``mqtt.ca_file``; a wrong password, a missing CA or a plain-text connection is refused with a log line that says
what to check, the service keeps running (and ``/readyz`` says the broker is down), and it retries with a capped
backoff rather than hammering the broker; the password never appears in the logs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.faults.conftest import ServiceFactory
from tests.faults.harness import Stream, check_stored_once, wait_stored, wait_until
from tests.support.broker import PrivateBroker
from tests.support.broker import TestCA as CertificateAuthority

pytestmark = pytest.mark.usefixtures("requires_mosquitto", "requires_mqtt5")

USERS = {"beffroi": "Tr0ub4dor&3-mqtt", "chirpstack": "corr3ct-h0rse-pub"}


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    with PrivateBroker(tmp_path / "broker", users=USERS, tls=CertificateAuthority(tmp_path / "ca")) as broker:
        yield broker


def _ca(broker: PrivateBroker) -> str:
    assert broker.tls is not None
    return str(broker.tls.ca_cert)


def test_the_consumer_stores_uplinks_over_tls_with_a_password(db: psycopg.Connection, unique: str,
                                                              secure_broker: PrivateBroker,
                                                              beffroi: ServiceFactory) -> None:
    svc = beffroi(broker_url=secure_broker.url_for("beffroi"), mqtt_ca_file=_ca(secure_broker))
    assert svc.env["BEFFROI_MQTT_URL"].startswith("mqtts://beffroi:")
    with Stream(secure_broker.url_for("chirpstack"), unique, devices=2, ca_file=_ca(secure_broker)) as stream:
        stream.register(db)
        stream.probe(db)
        stream.publish(40)
        stream.wait_acknowledged()
        wait_stored(db, stream, lambda s: True, "the uplinks sent over TLS", 30)
        assert check_stored_once(db, stream)["stored"] == 40
    assert USERS["beffroi"] not in svc.log_text()


def _refusals(text: str, pattern: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(pattern, line)]


@pytest.mark.parametrize(("case", "url_of", "ca", "expect"), [
    ("wrong password", lambda b: b.url_for("beffroi").replace(USERS["beffroi"], "not-the-password"), True,
     r"refused the connection: (Bad user name or password|Not authorized).*check mqtt\.url credentials"),
    ("no credentials", lambda b: b.url, True,
     r"refused the connection: (Bad user name or password|Not authorized)"),
    ("broker certificate not trusted (no mqtt.ca_file)", lambda b: b.url_for("beffroi"), False,
     r"cannot connect to the MQTT broker .*CERTIFICATE_VERIFY_FAILED"),
    ("plain text against the TLS listener", lambda b: b.url_for("beffroi").replace("mqtts://", "mqtt://"), True,
     r"WARNING ingest\.mqtt: the MQTT broker .* closed the connection before accepting it .*mqtts://"),
])
def test_a_refused_connection_is_logged_clearly_and_retried_with_backoff(
        secure_broker: PrivateBroker, beffroi: ServiceFactory, case: str, url_of: object, ca: bool,
        expect: str) -> None:
    url = url_of(secure_broker)  # type: ignore[operator]
    svc = beffroi(broker_url=url, mqtt_ca_file=_ca(secure_broker) if ca else "", mqtt_reconnect_max_s=2, start=False)
    svc.start()
    window = 6.0
    try:
        wait_until(lambda: bool(_refusals(svc.log_text(), expect)), f"a log line for: {case}", 20)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; log tail:\n{svc.log_tail()}") from None
    first = time.monotonic()
    time.sleep(window)
    assert svc.alive(), f"{case}: the service must keep running and retrying, not exit"
    status, body = svc.get("/readyz")
    assert status == 503 and b'"mqtt": false' in body
    attempts = _refusals(svc.log_text(), expect)
    # backoff 0.5, 1, 2, 2, ... s (jittered down to half): at most ~window / 0.25 early on, then one per 1-2 s
    assert 2 <= len(attempts) <= 2 + int(window / 0.5), f"{case}: {len(attempts)} attempts in {window:.0f} s"
    assert time.monotonic() - first >= window
    assert USERS["beffroi"] not in svc.log_text()
