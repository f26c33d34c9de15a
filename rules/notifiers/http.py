"""One HTTP request with the retry decision every HTTP notifier shares: 5xx, 408 and 429 and network trouble
are retryable, other 4xx are not. Response bodies quoted in errors are cut short and scrubbed of secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp

from rules.notifiers import DeliveryError, redact

__all__ = ["request", "RETRYABLE_STATUS"]

RETRYABLE_STATUS = frozenset({408, 425, 429})


async def request(session: aiohttp.ClientSession, method: str, url: str, *, what: str,
                  secrets: Iterable[str | None], headers: Mapping[str, str] | None = None,
                  data: Any = None, timeout_s: float = 10.0) -> str:
    """Send; return the response text on 2xx, raise DeliveryError otherwise."""
    secrets = list(secrets)
    try:
        async with session.request(method, url, headers=dict(headers or {}), data=data,
                                   timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            text = await resp.text(errors="replace")
            if 200 <= resp.status < 300:
                return text
            retryable = resp.status >= 500 or resp.status in RETRYABLE_STATUS
            excerpt = " ".join(text.split())[:200]
            raise DeliveryError(redact(f"{what}: HTTP {resp.status} {resp.reason}: {excerpt}", secrets),
                                retryable=retryable)
    except DeliveryError:
        raise
    except TimeoutError:
        raise DeliveryError(f"{what}: no answer within {timeout_s:g} s", retryable=True) from None
    except asyncio.CancelledError:
        raise
    except (aiohttp.ClientError, OSError) as exc:
        raise DeliveryError(redact(f"{what}: {type(exc).__name__}: {exc}", secrets), retryable=True) from None
