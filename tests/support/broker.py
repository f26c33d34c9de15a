"""A private Mosquitto instance for tests that stop, restart or lock down the broker.

The shared broker on 127.0.0.1:1883 serves every other test; a fault test that restarts a broker, or a security
test that needs authentication and TLS, starts its own instance on a free port with its own persistence
directory, so the session survives a restart exactly as in production.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PrivateBroker", "TestCA", "mosquitto_available"]


def mosquitto_available() -> bool:
    return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()


def _mosquitto() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TestCA:
    """A throw-away certificate authority and a server certificate for 127.0.0.1 / localhost."""

    directory: Path
    ca_cert: Path = field(init=False)
    server_cert: Path = field(init=False)
    server_key: Path = field(init=False)

    def __post_init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Beffroi test CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress

        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_cert = self.directory / "ca.crt"
        self.server_cert = self.directory / "server.crt"
        self.server_key = self.directory / "server.key"
        self.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.server_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))


class PrivateBroker:
    """``with PrivateBroker(tmp_path) as broker:`` → ``broker.url``; ``broker.stop()`` / ``broker.start()``."""

    def __init__(self, directory: Path, *, users: dict[str, str] | None = None, tls: TestCA | None = None,
                 max_queued_messages: int = 1_000_000) -> None:
        self.directory = directory
        self.port = _free_port()
        self.users = users or {}
        self.tls = tls
        self.max_queued_messages = max_queued_messages
        self.process: subprocess.Popen[bytes] | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = self.directory / "mosquitto.conf"
        self._write_config()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def url_for(self, user: str) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{user}:{self.users[user]}@127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.directory}/",
            "autosave_interval 1",
            f"max_queued_messages {self.max_queued_messages}",
            "max_inflight_messages 0",
            f"log_dest file {self.directory}/mosquitto.log",
        ]
        if os.geteuid() == 0:
            # Mosquitto started as root drops to the 'mosquitto' user, which cannot read the test's temp dirs.
            lines.append("user root")
        if self.users:
            passwd = self.directory / "passwd"
            passwd.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            lines += [f"cafile {self.tls.ca_cert}", f"certfile {self.tls.server_cert}",
                      f"keyfile {self.tls.server_key}"]
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self.process = subprocess.Popen([_mosquitto(), "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"private mosquitto did not start on port {self.port}; see {self.directory}")

    def stop(self) -> None:
        """A clean stop (SIGTERM): Mosquitto saves its persistent sessions and queued messages first."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
