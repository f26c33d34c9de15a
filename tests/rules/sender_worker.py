"""A sender process for the crash test: delivers due outbox rows through an HTTP SMS gateway, then exits."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import aiohttp
from psycopg_pool import AsyncConnectionPool

from rules.notifiers.http_sms import HttpSms
from rules.outbox import Sender


async def main(db_url: str, gateway: str) -> None:
    async with AsyncConnectionPool(db_url, min_size=1, max_size=2) as pool, aiohttp.ClientSession() as session:
        sms = HttpSms(session, url=gateway, body='{"to": {{ to|tojson }}, "id": {{ id }}}', timeout_s=120)
        await Sender(pool, {"sms": sms}, lambda: datetime.now(UTC)).deliver_due()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
