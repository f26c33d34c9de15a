"""Vendor JavaScript codecs (``decodeUplink(input)``, The Things Stack / ChirpStack convention) run in V8.

Each codec gets its own V8 isolate (mini-racer) holding nothing but the ECMAScript built-ins: no ``require``,
no ``fetch``, no file or network API exists in it. Every call runs under a time limit and the isolate under a
hard heap limit; a codec that loops, allocates without end or throws yields a ``JsCodecError`` with a clear
message, and after a timeout or an out-of-memory stop the isolate is thrown away and rebuilt from the source, so
one bad payload cannot leave a half-dead codec behind.

mini-racer runs V8 tasks on an asyncio loop of its own, and refuses per-call timeouts when that loop is the
caller's running loop; the isolate is therefore always created from a worker thread, so that calls from the
ingest consumer's event loop block only for the call itself (bounded by the time limit).

Three mini-racer behaviours shape the rest (seen with mini-racer 0.14): V8 must be initialised on the main
thread (done at import; isolates made from worker threads then close cleanly), an isolate left open at
interpreter exit after a timed-out call can hang the exit (so every codec is closed by an ``atexit`` hook), and
closing right after a timeout races with the cancelled task (so a no-op call flushes it first).
"""

from __future__ import annotations

import atexit
import json
import re
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException, MiniRacer, init_mini_racer

__all__ = ["JsCodec", "JsCodecError", "DEFAULT_TIMEOUT_S", "DEFAULT_MAX_MEMORY"]

DEFAULT_TIMEOUT_S = 0.25          # a real codec decodes in well under a millisecond
DEFAULT_MAX_MEMORY = 64 * 2**20    # bytes of V8 heap per codec

# Adapts the TTS/ChirpStack input object and always returns a JSON text (undefined becomes null).
_GLUE = """
function __beffroi_decode(fPort, bytes, recvTime, variables) {
  const input = {fPort: fPort, bytes: bytes, variables: variables};
  if (recvTime !== null) { input.recvTime = new Date(recvTime); }
  const out = decodeUplink(input);
  return JSON.stringify(out === undefined ? null : out);
}
function __beffroi_encode(data) {
  const out = encodeUplink({data: data});
  return JSON.stringify(out === undefined ? null : out);
}
"""
_LOCATION = re.compile(r"^<anonymous>:\d+: ")
_OPEN: weakref.WeakSet[JsCodec] = weakref.WeakSet()

init_mini_racer(ignore_duplicate_init=True)


@atexit.register
def _close_all() -> None:
    for codec in list(_OPEN):
        codec.close()


class JsCodecError(Exception):
    """The codec could not be loaded, or one call failed (threw, looped, ran out of memory, returned junk)."""


class JsCodec:
    """One JavaScript codec file in its own sandboxed isolate. Thread-safe (calls are serialised)."""

    def __init__(self, path: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_memory: int = DEFAULT_MAX_MEMORY) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.max_memory = max_memory
        try:
            self._source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise JsCodecError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        self._lock = threading.Lock()
        self._mr: MiniRacer | None = None
        self._mr = self._new_isolate()
        self.has_encoder = self._mr.eval("typeof encodeUplink === 'function'") is True
        _OPEN.add(self)

    def _new_isolate(self) -> MiniRacer:
        with ThreadPoolExecutor(1, thread_name_prefix="beffroi-v8") as pool:
            mr = pool.submit(MiniRacer).result()
        mr.set_hard_memory_limit(self.max_memory)
        try:
            mr.eval(self._source + "\n;" + _GLUE, timeout_sec=self.timeout_s * 4)
            defined = mr.eval("typeof decodeUplink === 'function'")
        except JSEvalException as exc:
            if isinstance(exc, JSTimeoutException):
                _drain(mr, self.timeout_s)
            mr.close()
            raise JsCodecError(f"{self.path}: the codec does not load: {_js_message(exc)}") from None
        if defined is not True:
            mr.close()
            raise JsCodecError(f"{self.path}: defines no decodeUplink(input) function")
        return mr

    def _run(self, expression: str, what: str) -> Any:
        with self._lock:
            if self._mr is None:
                self._mr = self._new_isolate()
            try:
                text = self._mr.eval(expression, timeout_sec=self.timeout_s)
            except JSTimeoutException:
                # V8 terminates the script and the isolate stays usable; a no-op call queued behind the cancelled
                # task returns once that task is fully gone, so a later close() cannot race with it
                self._flush()
                raise JsCodecError(f"{what} did not finish within {self.timeout_s * 1000:g} ms "
                                   "(endless loop?); stopped") from None
            except JSOOMException:
                self._discard()
                raise JsCodecError(f"{what} exceeded the {self.max_memory // 2**20} MiB memory limit; "
                                   "stopped") from None
            except JSEvalException as exc:
                raise JsCodecError(f"{what} threw {_js_message(exc)}") from None
        if not isinstance(text, str):
            raise JsCodecError(f"{what} returned something that is not JSON-serialisable")
        return json.loads(text)

    def _flush(self) -> None:
        if self._mr is not None and not _drain(self._mr, self.timeout_s):
            self._discard()

    def _discard(self) -> None:
        """Drop an isolate stopped mid-call (its heap limit flag stays set); the next call builds a fresh one."""
        mr, self._mr = self._mr, None
        if mr is not None:
            mr.close()

    def decode(self, fport: int, payload: bytes, recv_time: datetime | None = None,
               variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run ``decodeUplink`` and return its ``{data, warnings, errors}`` (raise JsCodecError on failure)."""
        recv = json.dumps(recv_time.isoformat() if recv_time else None)
        expression = (f"__beffroi_decode({int(fport)},{json.dumps(list(payload))},{recv},"
                      f"{json.dumps(variables or {}, default=str)})")
        result = self._run(expression, f"{self.path.name} decodeUplink")
        if not isinstance(result, dict):
            raise JsCodecError(f"{self.path.name} decodeUplink returned {type(result).__name__}, not an object "
                               "{data, warnings, errors}")
        return result

    def encode(self, readings: dict[str, float]) -> tuple[int, bytes]:
        """Run the optional ``encodeUplink({data})``, which returns ``{fPort, bytes}``."""
        if not self.has_encoder:
            raise JsCodecError(f"{self.path.name} defines no encodeUplink function")
        result = self._run(f"__beffroi_encode({json.dumps(readings)})", f"{self.path.name} encodeUplink")
        try:
            return int(result["fPort"]), bytes(result["bytes"])
        except (TypeError, KeyError, ValueError) as exc:
            raise JsCodecError(f"{self.path.name} encodeUplink must return {{fPort, bytes}}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._discard()


def _drain(mr: MiniRacer, timeout_s: float) -> bool:
    """Wait until a cancelled call is really gone (a no-op queued behind it returns); False if it did not."""
    try:
        mr.eval("0", timeout_sec=timeout_s)
    except JSEvalException:
        return False
    return True


def _js_message(exc: Exception) -> str:
    """The ``TypeError: ...`` line of a V8 error, without the source excerpt and stack mini-racer appends."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _LOCATION.sub("", first)
