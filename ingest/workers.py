"""``beffroi run --workers N``: N consumer processes sharing one MQTT v5 subscription on one machine.

Python runs one core per process; the broker and the database are the distributed engines, so scaling out is N
ordinary ingest services, each with its own MQTT session, in one shared-subscription group: the broker hands each
message to one of them, each acknowledges what it committed, and PostgreSQL (idempotent inserts, alert state) stays
the single source of truth. The same holds across machines: start ``beffroi run`` on several hosts with the same
``mqtt.shared_group`` and distinct ``mqtt.client_id``.

Worker ``i`` (0-based) runs with:

* ``mqtt.client_id = <client_id>-<i>``: stable across restarts, so a restarted worker resumes its own persistent
  session (and whatever the broker queued for it) instead of abandoning it;
* ``mqtt.shared_group = <shared_group>`` or ``beffroi`` when none is configured;
* ``http.listen`` on port ``<port> + i``: each worker serves its own ``/metrics``, ``/healthz`` and API.

The parent only supervises: it forwards SIGINT/SIGTERM (each worker then commits and acknowledges what it holds,
then disconnects), and restarts a worker that died on its own, with capped backoff.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

from ingest.config import Config

__all__ = ["worker_config", "run_workers", "DEFAULT_GROUP"]

log = logging.getLogger("beffroi.workers")

DEFAULT_GROUP = "beffroi"
_RESTART_MAX_S = 30.0
_FATAL = (2, 3)          # configuration and start-up errors (ingest.service.StartupError): restarting cannot help


def worker_config(config: Config, index: int, count: int) -> Config:
    """The configuration of worker *index* of *count* (see the module docstring)."""
    values: dict[str, dict[str, Any]] = {section: dict(keys) for section, keys in config.values.items()}
    mqtt, http = values["mqtt"], values["http"]
    if count > 1:
        mqtt["client_id"] = f"{mqtt['client_id']}-{index}"
        mqtt["shared_group"] = mqtt["shared_group"] or DEFAULT_GROUP
        host, _, port = str(http["listen"]).rpartition(":")
        http["listen"] = f"{host}:{int(port) + index}" if int(port) else http["listen"]
    return Config(values, f"{config.source} (worker {index} of {count})")


def _worker_main(values: Mapping[str, Mapping[str, Any]], source: str, level: str, fmt: str) -> None:
    import asyncio

    from ingest.logs import setup_logging
    from ingest.service import run_service, settle_gc

    setup_logging(level, fmt)
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent turns Ctrl-C into one SIGTERM per worker
    raise SystemExit(asyncio.run(run_service(Config(values, source), ready=settle_gc)))


def run_workers(config: Config, count: int, *, level: str = "INFO",
                stop_requested: Callable[[], bool] | None = None) -> int:
    """Start *count* workers and supervise them until SIGINT/SIGTERM; return the exit code."""
    ctx = multiprocessing.get_context("spawn")         # a clean interpreter per worker: no inherited loop or sockets
    fmt = config.get("log", "format")
    stopping = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start(i: int) -> multiprocessing.process.BaseProcess:
        cfg = worker_config(config, i, count)
        proc = ctx.Process(target=_worker_main, args=(cfg.values, cfg.source, level, fmt),
                           name=f"beffroi-worker-{i}", daemon=False)
        proc.start()
        log.info("worker %d started (pid %s, MQTT client id %s, HTTP %s)", i, proc.pid,
                 cfg.get("mqtt", "client_id"), cfg.get("http", "listen"))
        return proc

    procs = [start(i) for i in range(count)]
    restarts = [0] * count
    code = 0
    try:
        while not stopping and not (stop_requested and stop_requested()):
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                if proc.is_alive():
                    continue
                if proc.exitcode in _FATAL:
                    log.error("worker %d cannot start (exit code %s, see its log); stopping", i, proc.exitcode)
                    stopping = True
                    break
                restarts[i] += 1
                delay = min(_RESTART_MAX_S, 0.5 * 2 ** min(restarts[i], 8))
                log.error("worker %d exited with code %s; restarting it in %.1f s", i, proc.exitcode, delay)
                time.sleep(delay)
                procs[i] = start(i)
    finally:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        for i, proc in enumerate(procs):
            proc.join(60)
            if proc.is_alive():
                log.error("worker %d did not stop within 60 s; killing it (its uncommitted messages are not "
                          "acknowledged and will be redelivered)", i)
                proc.kill()
                proc.join()
            code = code or (proc.exitcode or 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
