"""Notification sinks for the fault tests, in threads so a test can drive ``beffroi run`` (a process) synchronously:
a real SMTP server (aiosmtpd) and an HTTP SMS gateway that can answer, fail or hang on demand; plus the rules
directory and the ``BEFFROI_*`` overrides that point the service's notifiers at them.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.faults.harness import free_port
from tests.rules.smtp import Inbox

__all__ = ["SmsGateway", "SmtpSink", "write_rules", "alerting_env", "PHONE", "EMAIL", "CO2_RULE"]

PHONE, EMAIL = "+33612345678", "marie@mairie.test"
ONCALL = f"""
contacts:
  - {{id: marie, name: Marie Durand, email: {EMAIL}, phone: "{PHONE}"}}
escalations:
  - id: simple
    levels:
      - notify: [{{contact: marie}}]
routes:
  - {{id: faults, escalation: simple, repeat: never}}
"""
CO2_RULE = """
rules:
  - id: co2-fort
    title: CO2 trop élevé
    select: {family: co2}
    kind: threshold
    params: {quantity: co2, above: 1500, clear: 1000}
    severity: warning
    route: faults
"""


def write_rules(directory: Path, rules: str = CO2_RULE, oncall: str = ONCALL) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "oncall.yaml").write_text(textwrap.dedent(oncall))
    (directory / "rules.yaml").write_text(textwrap.dedent(rules))
    return directory


@dataclass
class SmsGateway:
    """``POST /sms`` with ``{"to", "text"}``. ``mode``: ``ok`` (201), ``down`` (503) or ``hang`` (answer after
    ``hang_s``); every request that reached it is in ``received`` (``answered`` once it got its 201).
    ``echo_failures``: that many first requests get a 500 whose body echoes the request's headers, as a careless
    gateway would (the secret in them must not travel on into Beffroi's logs)."""

    mode: str = "ok"
    hang_s: float = 5.0
    echo_failures: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    answered: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                gateway.received.append(body)
                gateway.headers.append(dict(self.headers))
                if gateway.mode == "hang":
                    time.sleep(gateway.hang_s)
                status = 503 if gateway.mode == "down" else 201
                payload = b'{"error": "service unavailable"}' if status == 503 else b'{"status": "queued"}'
                if gateway.echo_failures > 0:
                    gateway.echo_failures -= 1
                    status, payload = 500, json.dumps({"error": "internal", "request": dict(self.headers)}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    if status == 201:
                        gateway.answered.append(body)
                except OSError:
                    pass             # the caller died meanwhile (the SIGKILL tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """A plain SMTP server (no TLS, no auth) collecting messages; ``stop()``/``start()`` make it go down and
    come back on the same port."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller: Controller | None = None
        self.start()

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Message]:
        return self.inbox.messages


def alerting_env(rules_dir: Path, smtp: SmtpSink | int, sms: SmsGateway, **extra: object) -> dict[str, object]:
    """Overrides (``section_key`` names) for ``beffroi``/``fault_env``: rules on, notifiers at the sinks (``smtp``:
    a sink or the port of another SMTP server)."""
    return {"rules_dir": str(rules_dir), "rules_tick_s": 1, "notify_smtp_host": "127.0.0.1",
            "notify_smtp_port": smtp.port if isinstance(smtp, SmtpSink) else smtp, "notify_smtp_security": "none", "notify_sms_provider": "http",
            "notify_http_sms_url": sms.url, "notify_http_sms_body": '{"to": {{ to|tojson }}, "text": {{ text|tojson }}}',
            **extra}
