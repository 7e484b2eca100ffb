"""One KIS app key: its token cache, its one rate limiter and its REST client."""

from __future__ import annotations

import aiohttp

from observer.clock import Clock
from observer.config.redact import Redactor
from observer.config.settings import Settings
from observer.kis.exceptions import KisCredentialsError
from observer.kis.limiter import RateLimiter
from observer.kis.rest import KisRestClient
from observer.kis.token import TokenCache
from observer.kis.transport import KisTransport
from observer.metrics import Metrics


class KisAccount:
    """Everything that must be shared by all users of one app key (limiter, token)."""

    def __init__(
        self,
        settings: Settings,
        app_key: str,
        app_secret: str,
        clock: Clock,
        metrics: Metrics,
        redactor: Redactor,
        http: aiohttp.ClientSession,
    ) -> None:
        redactor.add(app_key, app_secret)
        self.clock = clock
        self.ws_url = settings.kis_ws_url
        self.transport = KisTransport(http, settings.kis_timeout_seconds)
        self.tokens = TokenCache(
            settings.token_cache_dir,
            app_key,
            app_secret,
            base_url=settings.kis_base_url,
            transport=self.transport,
            clock=clock,
            metrics=metrics,
            redactor=redactor,
        )
        self.limiter = RateLimiter(settings.rate_limit_per_second, clock)
        self.rest = KisRestClient(
            base_url=settings.kis_base_url,
            master_url=settings.kis_master_url,
            app_key=app_key,
            app_secret=app_secret,
            tokens=self.tokens,
            limiter=self.limiter,
            transport=self.transport,
            clock=clock,
            metrics=metrics,
            redactor=redactor,
        )

    @property
    def key_id(self) -> str:
        """sha256 of the app key: safe to log and show."""
        return self.tokens.key_id

    def __repr__(self) -> str:
        return f"KisAccount(key={self.key_id[:12]})"

    @property
    def fatal(self) -> KisCredentialsError | None:
        """Set once KIS called the app key or secret invalid: the account is unusable."""
        return self.tokens.fatal or self.rest.fatal

    async def approval_key(self) -> str:
        """Today's WebSocket approval key (cached with the token)."""
        return (await self.tokens.approval_key()).get_secret_value()

    async def access_token(self) -> str:
        """A valid access token."""
        return (await self.tokens.access_token()).get_secret_value()
