"""The one module that talks to aiohttp: HTTP requests with a timeout, errors translated.

Every aiohttp or timeout exception becomes :class:`KisTransportError` here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from observer.kis.exceptions import KisTransportError


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP answer: status, body bytes and the headers KIS uses (lower-cased names)."""

    status: int
    body: bytes
    headers: Mapping[str, str]


class KisTransport:
    """Sends requests over a shared aiohttp session; the caller owns the session."""

    def __init__(self, session: aiohttp.ClientSession, timeout_seconds: float) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def request(
        self,
        api: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> HttpAnswer:
        """Send one request and read the whole answer, or raise KisTransportError."""
        try:
            async with self._session.request(
                method,
                url,
                headers=dict(headers or {}),
                params=dict(params) if params else None,
                json=dict(json_body) if json_body is not None else None,
                timeout=self._timeout,
            ) as response:
                body = await response.read()
                kept = {k.lower(): v for k, v in response.headers.items()}
                return HttpAnswer(response.status, body, kept)
        except TimeoutError as exc:
            raise KisTransportError(api, "timed out") from exc
        except aiohttp.ClientError as exc:
            raise KisTransportError(api, f"{type(exc).__name__}: {exc}") from exc
