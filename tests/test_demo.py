"""`make demo`, driven as a newcomer would run it: it starts, ingests from all four families, raises at least one
alert per family, delivers notifications to its local captures, and stops cleanly on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ingest.embedded import free_port, reachable

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("co2", "flood", "bin", "tracker")


@pytest.mark.slow
def test_make_demo_runs_the_whole_system_and_stops_on_sigint(tmp_path: Path, pg_server_url: str) -> None:
    name = f"beffroi_demo_{uuid.uuid4().hex[:8]}"
    port = free_port()
    args = (f"--workdir {tmp_path} --database {name} --topic-prefix demo-{uuid.uuid4().hex[:8]} "
            f"--http-listen 127.0.0.1:{port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEFFROI_")}
    proc = subprocess.Popen(["make", "--no-print-directory", "demo", f"DEMO_ARGS={args}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    summary = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("DEMO READY "):
                summary = json.loads(line.removeprefix("DEMO READY "))
                break
        assert summary is not None, "the demo never became ready:\n" + "".join(lines[-40:])
        for family in FAMILIES:
            assert summary["uplinks"].get(family, 0) > 0, f"nothing ingested for {family}: {summary}"
            assert summary["alerts"].get(family, 0) >= 1, f"no alert for {family}: {summary}"
        assert summary["emails"] > 0 and summary["sms"] > 0
        assert reachable("127.0.0.1", port), "the status page / API is not served while the demo runs"
        assert any(f"http://127.0.0.1:{port}/status" in line for line in lines)
        os.killpg(proc.pid, signal.SIGINT)   # Ctrl-C in the terminal reaches the whole process group
        rest, _ = proc.communicate(timeout=60)
        assert "demo stopped" in rest, rest[-2000:]
        assert not reachable("127.0.0.1", port), "beffroi run is still serving after Ctrl-C"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
