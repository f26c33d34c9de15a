"""Fault tests: every test here is marked ``faults`` (CI runs them as their own step, ``make faults``).

``recovery`` records how long each fault took to heal; the figures are printed at the end of the run, in the
terminal summary, so CI logs carry them (tests/faults/README.md quotes them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import ServiceProcess, fault_env
from tests.faults.sinks import SmsGateway, SmtpSink
from tests.support.broker import mosquitto_available

_FIGURES: list[tuple[str, str, float]] = []
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("fault recovery times (measured)")
        for test, what, seconds in _FIGURES:
            terminalreporter.write_line(f"{seconds:8.2f} s  {what}  [{test}]")


@pytest.fixture
def recovery(request: pytest.FixtureRequest) -> Callable[[str, float], None]:
    """``recovery("after the broker restart, every reading stored", seconds)``."""

    def record(what: str, seconds: float) -> None:
        _FIGURES.append((request.node.name, what, seconds))
        print(f"recovery: {what}: {seconds:.2f} s")
    return record


@pytest.fixture
def requires_mosquitto() -> None:
    if not mosquitto_available():
        pytest.skip("needs the mosquitto binary to start a private broker")


ServiceFactory = Callable[..., ServiceProcess]


@pytest.fixture
def beffroi(db_url: str, mqtt_url: str, unique: str, tmp_path: Path) -> Iterator[ServiceFactory]:
    """``beffroi(mqtt_url=..., client_id=..., **overrides)`` → a started, ready ``ServiceProcess``.

    Every process started here is stopped at the end of the test (SIGTERM, then SIGKILL)."""
    started: list[ServiceProcess] = []

    def make(*, broker_url: str | None = None, name: str = "beffroi", start: bool = True,
             **overrides: object) -> ServiceProcess:
        env = fault_env(db_url, broker_url or mqtt_url, unique, **overrides)
        if name != "beffroi":
            env["BEFFROI_MQTT_CLIENT_ID"] = f"{env['BEFFROI_MQTT_CLIENT_ID']}-{name}"
        svc = ServiceProcess(env, tmp_path / f"{name}.log")
        started.append(svc)
        if start:
            svc.start()
            svc.wait_ready()
        return svc

    yield make
    for svc in started:
        if svc.alive():
            try:
                svc.stop()
            except AssertionError:
                pass


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server that the test can take down and bring back."""
    sink = SmtpSink()
    yield sink
    sink.stop()


@pytest.fixture
def sms() -> Iterator[SmsGateway]:
    """An SMS gateway that can fail or hang on request."""
    gateway = SmsGateway()
    yield gateway
    gateway.close()
