"""A separate process that asks the token cache for a token and prints what it got.

Usage: token_worker.py CACHE_DIR BASE_URL APP_KEY APP_SECRET
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import orjson

from observer.clock import Clock
from observer.config.redact import Redactor
from observer.kis.token import TokenCache
from observer.kis.transport import KisTransport
from observer.metrics import Metrics


async def main(cache_dir: str, base_url: str, app_key: str, app_secret: str) -> None:
    async with aiohttp.ClientSession() as session:
        cache = TokenCache(
            Path(cache_dir), app_key, app_secret, base_url=base_url,
            transport=KisTransport(session, 10.0), clock=Clock(), metrics=Metrics(),
            redactor=Redactor(),
        )  # fmt: skip
        token = await cache.access_token()
        sys.stdout.write(
            orjson.dumps({"token": token.get_secret_value(), "issued": cache.issued}).decode()
        )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
