"""Fault-test harness: ``beffroi run`` as a real process, a steady stream of real uplinks, and the ledger.

* ``ServiceProcess`` starts ``python -m ingest.cli run`` with ``BEFFROI_*`` variables (a test's database, broker,
  topic prefix, client id and a free HTTP port), appends its output to a log file (read back by the secret-leak
  test), waits for ``/readyz``, and kills it (SIGKILL) or stops it (SIGTERM) and restarts it.
* ``Stream`` publishes ChirpStack uplinks of registered devices from a background thread at a steady rate, the way
  ChirpStack's MQTT integration does (QoS 1), each payload encoded by the device model's own encoder so the real
  decoder runs. It remembers every message and whether the broker acknowledged it (PUBACK): a message the
  broker acknowledged is one Beffroi promised to store.
* ``check_stored_once`` compares the database with what was sent: every acknowledged uplink stored once, with
  the readings its payload decodes to, and nothing else.

The environment variables and the ``Publisher`` come from the ingest tests (``tests/ingest/ingest_support.py``),
so both suites start the service the same way; this module adds what an in-process service cannot give: a
process to kill.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg

from devices.base import Radio, Uplink
from devices.registry import ProfileRegistry
from ingest.config import parse_mqtt_url
from simulator import envelopes
from tests.ingest.ingest_support import register, service_env, topics

__all__ = ["ServiceProcess", "Stream", "Sent", "free_port", "wait_until", "wait_stored", "check_stored_once",
           "count_uplinks", "fault_env", "REPO", "PROFILES"]

REPO = Path(__file__).resolve().parents[2]
PROFILES = ProfileRegistry.load()
T0 = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], what: str, limit_s: float = 30.0, every_s: float = 0.05) -> float:
    """Poll *predicate* until true; return the seconds it took, or fail naming *what* after *limit_s*."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > limit_s:
            raise AssertionError(f"timed out after {limit_s:.0f} s waiting for {what}")
        time.sleep(every_s)
    return time.monotonic() - started


def fault_env(db_url: str, mqtt_url: str, unique: str, **overrides: object) -> dict[str, str]:
    """``service_env`` of the ingest tests with a fixed free HTTP port (a restarted process keeps its address)."""
    return service_env(db_url, mqtt_url, unique, http_listen=f"127.0.0.1:{free_port()}", **overrides)


class ServiceProcess:
    """``beffroi run`` in a child process. ``with ServiceProcess(env, log) as svc:`` starts it and waits until ready."""

    def __init__(self, env: dict[str, str], log_path: Path, *, args: tuple[str, ...] = ("run",)) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BEFFROI_")} | env
        self.log_path = log_path
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        host, _, port = env["BEFFROI_HTTP_LISTEN"].rpartition(":")
        self.http = f"http://{host}:{port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen([sys.executable, "-m", "ingest.cli", *self.args], cwd=REPO,
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.http + path, timeout=timeout) as resp:  # noqa: S310 - local test URL
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def ready(self) -> bool:
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def wait_ready(self, limit_s: float = 60.0) -> float:
        def check() -> bool:
            if not self.alive():
                raise AssertionError(f"beffroi exited with {self.process and self.process.returncode}; "
                                     f"log tail:\n{self.log_tail()}")
            return self.ready()
        return wait_until(check, "beffroi /readyz", limit_s, every_s=0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed, the broker sees the TCP connection drop."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM and wait: the clean shutdown (commit, acknowledge, DISCONNECT)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"beffroi did not stop within {timeout:.0f} s of SIGTERM") from None

    def restart(self) -> float:
        """Start again after a kill or stop; return the seconds until ready."""
        self.start()
        return self.wait_ready()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> ServiceProcess:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            try:
                self.stop()
            except AssertionError:
                pass


def _default_readings(index: int) -> dict[str, float]:
    """Values that vary so a mixed-up row would show, within every quantity's bounds."""
    return {"co2": 400.0 + index % 1600, "temperature": 15.0 + (index % 100) / 10, "humidity": 30.0 + index % 50,
            "battery": 100.0 - index % 60}


@dataclass
class Sent:
    dev_eui: str
    f_cnt: int
    time: datetime
    readings: int                     # how many readings its payload decodes to
    mid: int                          # MQTT packet id of the publication
    at: float                         # time.monotonic() when handed to the client
    accepted: bool = False            # the broker acknowledged it (PUBACK): from then on it is Beffroi's to keep


class Stream:
    """Uplinks of ``devices`` (registered with ``profile``), round robin, ``rate`` messages per second."""

    def __init__(self, mqtt_url: str, unique: str, devices: int = 4, *, profile: str = "milesight-am307",
                 rate: float = 100.0, pb: bool = False, ca_file: str | None = None, start: datetime = T0,
                 readings: Callable[[int], dict[str, float]] | None = None) -> None:
        """``start``: time of the first uplink (one second apart after it); ``readings(index)``: the values of
        uplink ``index`` (default: values that vary within every quantity's bounds)."""
        self.unique = unique
        self.start_time = start
        self.readings = readings or _default_readings
        self.devices = [secrets.token_hex(8) for _ in range(devices)]
        self.profile = PROFILES[profile]
        self.rate = rate
        self.pb = pb
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._ack_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._f_cnt = 0
        url = parse_mqtt_url(mqtt_url)
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"stream-{unique}-{secrets.token_hex(3)}",
                                  protocol=paho.MQTTv5)
        if url.username is not None:
            self.client.username_pw_set(url.username, url.password)
        if url.tls:
            self.client.tls_set(ca_certs=ca_file)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        # PUBACKs, by packet id: a message published while the broker is away gets an error code from publish()
        # but stays queued in paho and is sent on reconnection, so PUBACK is the only sure sign
        self._by_mid: dict[int, Sent] = {}
        self._acked_early: set[int] = set()
        self.client.on_publish = self._on_publish
        self.client.connect(url.host, url.port)
        self.client.loop_start()

    def register(self, db: psycopg.Connection) -> None:
        for eui in self.devices:
            register(db, eui, self.profile.id)

    def topic(self, dev_eui: str, event: str = "up") -> str:
        return envelopes.chirpstack_topic("app-faults", dev_eui, event, template=topics(self.unique)[0])

    def _message(self, index: int) -> tuple[str, bytes, Uplink, int]:
        dev_eui = self.devices[index % len(self.devices)]
        f_cnt = index // len(self.devices) + 1
        port, payload = self.profile.encode(self.readings(index))
        decoded = self.profile.decode(port, payload)
        assert not decoded.errors, decoded.errors
        up = Uplink(dev_eui, self.start_time + timedelta(seconds=index), f_cnt, port, payload, "faults",
                    radio=Radio(rssi=-90, snr=7.5, gateways=1, gateway_id="7276ff002e0601aa", frequency=868_100_000,
                                dr=5))
        build = envelopes.chirpstack_pb_uplink if self.pb else envelopes.chirpstack_json_uplink
        body = build(up, application_id="app-faults", device_profile_name=self.profile.id)
        return self.topic(dev_eui), body, up, len(decoded.readings)

    def publish(self, n: int) -> list[Sent]:
        """Publish *n* messages now (no pacing), in this thread."""
        return [self._publish_one() for _ in range(n)]

    def _publish_one(self) -> Sent:
        with self._lock:
            index = self._f_cnt
            self._f_cnt += 1
            topic, body, up, readings = self._message(index)
            info = self.client.publish(topic, body, qos=1)
            sent = Sent(up.dev_eui, up.f_cnt, up.time, readings, info.mid, time.monotonic())
            self.sent.append(sent)
        # paho calls on_publish holding its own lock: never hold _ack_lock while calling paho
        with self._ack_lock:
            if info.mid in self._acked_early:       # the PUBACK overtook us
                self._acked_early.discard(info.mid)
                sent.accepted = True
            else:
                self._by_mid[info.mid] = sent
        return sent

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._ack_lock:
            sent = self._by_mid.pop(mid, None)
            if sent is None:
                self._acked_early.add(mid)
            elif not getattr(reason, "is_failure", False):
                sent.accepted = True

    def start(self, total: int | None = None) -> None:
        """Publish in the background at ``rate`` per second, until ``stop()`` or *total* messages."""
        self._stop.clear()

        def pace() -> None:
            period = 1.0 / self.rate
            next_at = time.monotonic()
            count = 0
            while not self._stop.is_set() and (total is None or count < total):
                self._publish_one()
                count += 1
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
        self._thread = threading.Thread(target=pace, name=f"stream-{self.unique}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def wait_acknowledged(self, limit_s: float = 60.0) -> float:
        """Wait until the broker acknowledged every message sent so far (the publisher reconnects if needed)."""
        return wait_until(lambda: all(s.accepted for s in list(self.sent)),
                          f"PUBACK of every published message ({len(self.sent) - len(self.accepted())} missing)",
                          limit_s)

    def accepted(self) -> list[Sent]:
        return [s for s in list(self.sent) if s.accepted]

    def probe(self, db: psycopg.Connection, limit_s: float = 30.0) -> float:
        """Wait until the service consumes this stream's topics: a marker message (a reject) comes back stored.

        Needed before the first publication of a test: a new session has no queue until it has subscribed."""
        marker = f"probe-{secrets.token_hex(4)}"
        topic = envelopes.chirpstack_topic(marker, "ffffffffffffffff", "up", template=topics(self.unique)[0])
        last = [0.0]

        def seen() -> bool:
            if time.monotonic() - last[0] > 1.0:
                self.client.publish(topic, b"probe", qos=1)
                last[0] = time.monotonic()
            row = db.execute("SELECT count(*) FROM rejects WHERE topic = %s", (topic,)).fetchone()
            return bool(row and row[0])
        return wait_until(seen, "the service to consume the stream's topic", limit_s)

    def close(self) -> None:
        self.stop()
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stored(db: psycopg.Connection, devices: list[str]) -> dict[tuple[str, int], int]:
    """(dev_eui, fCnt) -> number of uplink rows."""
    rows = db.execute("SELECT dev_eui, f_cnt, count(*) FROM uplinks WHERE dev_eui = ANY(%s) GROUP BY 1, 2",
                      (devices,)).fetchall()
    return {(r[0], int(r[1])): int(r[2]) for r in rows}


def count_uplinks(db: psycopg.Connection, devices: list[str]) -> int:
    row = db.execute("SELECT count(*) FROM uplinks WHERE dev_eui = ANY(%s)", (devices,)).fetchone()
    return int(row[0]) if row else 0


def wait_stored(db: psycopg.Connection, stream: Stream, which: Callable[[Sent], bool], what: str,
                limit_s: float = 30.0) -> float:
    """Wait until every message selected by *which* is acknowledged by the broker and stored; return seconds."""
    def done() -> bool:
        chosen = [s for s in list(stream.sent) if which(s)]
        if not all(s.accepted for s in chosen):
            return False
        rows = stored(db, stream.devices)
        return all((s.dev_eui, s.f_cnt) in rows for s in chosen)
    return wait_until(done, what, limit_s, every_s=0.1)


def check_stored_once(db: psycopg.Connection, stream: Stream, must: list[Sent] | None = None) -> dict[str, Any]:
    """Every message in *must* (default: every acknowledged one) is stored exactly once with all its readings;
    nothing that was not sent is stored. Returns figures for the test's report."""
    must = stream.accepted() if must is None else must
    sent_keys = {(s.dev_eui, s.f_cnt) for s in stream.sent}
    rows = stored(db, stream.devices)
    missing = [(s.dev_eui, s.f_cnt) for s in must if rows.get((s.dev_eui, s.f_cnt), 0) == 0]
    doubled = [key for key, n in rows.items() if n > 1]
    phantom = [key for key in rows if key not in sent_keys]
    assert not missing, f"{len(missing)} acknowledged uplinks not stored, e.g. {missing[:5]}"
    assert not doubled, f"uplinks stored more than once: {doubled[:5]}"
    assert not phantom, f"uplinks stored that were never sent: {phantom[:5]}"
    stored_sent = [s for s in stream.sent if (s.dev_eui, s.f_cnt) in rows]
    row = db.execute("SELECT count(*) FROM readings WHERE dev_eui = ANY(%s)", (stream.devices,)).fetchone()
    readings = int(row[0]) if row else 0
    assert readings == sum(s.readings for s in stored_sent), \
        f"{readings} readings stored for {len(stored_sent)} uplinks that decode to {sum(s.readings for s in stored_sent)}"
    return {"sent": len(stream.sent), "acknowledged": len(must), "stored": len(rows), "readings": readings}
