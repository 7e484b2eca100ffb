"""The KIS REST client: one per app key, sharing that key's token cache and rate limiter.

Every call goes through :meth:`KisRestClient.get`, which waits for the limiter, attaches the
token, classifies the answer by ``msg_cd`` (:mod:`observer.kis.envelope`) and decides:
retry with capped, jittered backoff (EGW00201, gateway errors, transport errors: GETs are
idempotent), refresh the token once and retry once (EGW00121/122/123), or fail at once
(EGW00103/105 bad credentials, permission and input errors). Request and answer dumps are
logged at DEBUG only through the redactor.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime
from typing import Any

from observer.backoff import Backoff
from observer.clock import Clock
from observer.config.redact import Redactor
from observer.kis.envelope import RATE_LIMITED, Action, Envelope, parse_envelope
from observer.kis.exceptions import (
    KisApiError,
    KisCredentialsError,
    KisError,
    KisProtocolError,
    KisTransportError,
    MasterError,
    RateLimitError,
    TokenError,
    TrUnavailableError,
)
from observer.kis.limiter import RateLimiter
from observer.kis.master import MASTER_FILES, Market, MasterIssue, read_master_zip
from observer.kis.quotes import (
    DAILY_FIELDS,
    Quote,
    QuoteBatch,
    map_fields,
    quote_from_multi,
    quote_from_single,
)
from observer.kis.time_sales import PATH as TIME_SALES_PATH
from observer.kis.time_sales import TR_ID as TIME_SALES_TR_ID
from observer.kis.time_sales import TimeSalesPage, parse_time_sales
from observer.kis.token import TokenCache
from observer.kis.transport import KisTransport
from observer.metrics import Metrics

logger = logging.getLogger(__name__)

QUOTATIONS = "/uapi/domestic-stock/v1/quotations"
MULTI_MAX = 30
# Answers to the multi-quote TR that mean "not offered to this account".
TR_UNAVAILABLE_CODES = frozenset({"EGW00206", "OPSQ0002"})
_UNAVAILABLE_WORDS = ("모의투자", "not available", "unavailable", "not supported")


class KisRestClient:
    """Quotes, daily prices, the holiday check and master files for one app key."""

    def __init__(
        self,
        *,
        base_url: str,
        master_url: str,
        app_key: str,
        app_secret: str,
        tokens: TokenCache,
        limiter: RateLimiter,
        transport: KisTransport,
        clock: Clock,
        metrics: Metrics,
        redactor: Redactor,
        market_code: str = "J",
        max_attempts: int = 4,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 8.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._master_url = master_url.rstrip("/")
        self._app_key = app_key
        self._app_secret = app_secret
        self.tokens = tokens
        self.limiter = limiter
        self._transport = transport
        self._clock = clock
        self._metrics = metrics
        self._redact = redactor
        self.market_code = market_code
        self._max_attempts = max(1, max_attempts)
        self._delays = Backoff(backoff_base_s, backoff_cap_s, clock)
        self._multi_unavailable_day: date | None = None
        self.fatal: KisCredentialsError | None = None
        self._market_days: dict[date, bool] = {}
        self.calls = 0

    def __repr__(self) -> str:
        return f"KisRestClient(base_url={self._base_url!r}, key={self.tokens.key_id[:12]})"

    # -- the one request path ---------------------------------------------------------------
    async def get(
        self,
        api: str,
        path: str,
        tr_id: str,
        params: dict[str, str],
        *,
        tr_cont: str = "",
        background: bool = False,
    ) -> Envelope:
        """One GET with limiter, token, classification, retries and one token refresh.

        After KIS called the credentials invalid (EGW00103/EGW00105), every call fails at
        once with that error and sends nothing: no retry storm against a wrong key.
        """
        if self.fatal is not None:
            raise self.fatal
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            envelope = await self._attempt(
                api, path, tr_id, params, attempt, tr_cont=tr_cont, background=background
            )
            if envelope is None:  # transport error, retryable
                await self._backoff(attempt, rate_limited=False)
                continue
            action = envelope.action
            if action is Action.OK:
                return envelope
            self._log_answer(api, tr_id, envelope)
            if action is Action.RETRY and attempt < self._max_attempts:
                await self._backoff(attempt, rate_limited=envelope.msg_cd == RATE_LIMITED)
                continue
            if action is Action.REFRESH_TOKEN and not refreshed:
                refreshed = True
                attempt -= 1  # the retry after a refresh is not a backoff attempt
                continue
            raise self._error(api, tr_id, envelope)

    async def _attempt(
        self,
        api: str,
        path: str,
        tr_id: str,
        params: dict[str, str],
        attempt: int,
        *,
        tr_cont: str = "",
        background: bool = False,
    ) -> Envelope | None:
        await self.limiter.acquire(background=background)
        token = await self.tokens.access_token()
        headers = {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {token.get_secret_value()}",
            "appkey": self._app_key,
            "appsecret": self._app_secret,
            "tr_id": tr_id,
            "custtype": "P",
        }
        if tr_cont:
            headers["tr_cont"] = tr_cont  # "N": the next page of a paged answer
        self.calls += 1
        started = time.perf_counter()
        try:
            answer = await self._transport.request(
                api, "GET", self._base_url + path, headers=headers, params=params
            )
        except KisTransportError as exc:
            self._metrics.kis_requests.labels(api, "transport_error").inc()
            logger.warning("KIS %s attempt %d: %s", api, attempt, self._redact(str(exc)))
            if attempt >= self._max_attempts:
                raise
            return None
        finally:
            self._metrics.kis_request_seconds.labels(api).observe(time.perf_counter() - started)
        envelope = parse_envelope(answer.body, answer.headers.get("tr_cont", ""))
        if envelope.problem and not envelope.msg_cd:
            envelope.msg1 = f"HTTP {answer.status}: {envelope.problem}"
        self._count(api, envelope)
        if envelope.action is Action.REFRESH_TOKEN:
            await self.tokens.invalidate(token)
        return envelope

    def _count(self, api: str, envelope: Envelope) -> None:
        action = envelope.action
        if action is Action.OK:
            outcome = "ok"
        elif envelope.msg_cd == RATE_LIMITED:
            outcome = "rate_limited"
            self._metrics.kis_rate_limited.inc()
        elif action is Action.RETRY:
            outcome = "retry"
        elif action is Action.REFRESH_TOKEN:
            outcome = "token_refresh"
        else:
            outcome = "error"
        self._metrics.kis_requests.labels(api, outcome).inc()

    async def _backoff(self, attempt: int, *, rate_limited: bool) -> None:
        """Wait before this request's next try; after EGW00201 from a base of at least 1 s."""
        base = max(self._delays.base, 1.0) if rate_limited else None
        await self._delays.wait(attempt=attempt - 1, base=base)

    def _log_answer(self, api: str, tr_id: str, envelope: Envelope) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("KIS %s (%s) answer: %s", api, tr_id, self._redact(str(envelope.body)))

    def _error(self, api: str, tr_id: str, envelope: Envelope) -> KisError:
        msg1 = self._redact(envelope.msg1)
        if envelope.problem and not envelope.msg_cd:
            return KisProtocolError(api, msg1 or envelope.problem)
        action = envelope.action
        if action is Action.FATAL_CONFIG:
            self.fatal = KisCredentialsError(envelope.msg_cd, msg1, tr_id=tr_id, api=api)
            logger.error("KIS refused the app key or secret (%s): calls stop", envelope.msg_cd)
            return self.fatal
        if envelope.msg_cd == RATE_LIMITED:
            return RateLimitError(envelope.msg_cd, msg1, tr_id=tr_id, api=api)
        return KisApiError(envelope.msg_cd, msg1, tr_id=tr_id, api=api)

    # -- quotes -----------------------------------------------------------------------------
    async def inquire_price(self, symbol: str) -> Quote:
        """One symbol's current quote (FHKST01010100)."""
        params = {"FID_COND_MRKT_DIV_CODE": self.market_code, "FID_INPUT_ISCD": symbol}
        envelope = await self.get(
            "inquire_price", f"{QUOTATIONS}/inquire-price", "FHKST01010100", params
        )
        if not isinstance(envelope.output, dict):
            raise KisProtocolError("inquire_price", "output is not an object")
        return quote_from_single(symbol, envelope.output, self.market_code)

    async def time_sales(
        self, symbol: str, hour: str, *, cont: bool = False, background: bool = True
    ) -> TimeSalesPage:
        """One page of today's trades at or before ``hour`` (HHMMSS), newest first (FHPST01060000).

        ``cont`` asks for the page after the previous one (request header ``tr_cont: N``); the
        page says whether more exist. Background calls (gap repair) yield to every other call.
        """
        params = {
            "FID_COND_MRKT_DIV_CODE": self.market_code,
            "FID_INPUT_ISCD": symbol,
            "FID_INPUT_HOUR_1": hour,
        }
        envelope = await self.get(
            "time_sales", TIME_SALES_PATH, TIME_SALES_TR_ID, params,
            tr_cont="N" if cont else "", background=background,
        )  # fmt: skip
        return parse_time_sales(envelope)

    async def multi_price(self, symbols: list[str]) -> list[Quote]:
        """Quotes of up to 30 symbols in one call (FHKST11300006).

        Raises TrUnavailableError when KIS says the TR is not offered to this account.
        """
        if not 0 < len(symbols) <= MULTI_MAX:
            raise ValueError(f"multi_price takes 1..{MULTI_MAX} symbols, got {len(symbols)}")
        params: dict[str, str] = {}
        for index, symbol in enumerate(symbols, start=1):
            params[f"FID_COND_MRKT_DIV_CODE_{index}"] = self.market_code
            params[f"FID_INPUT_ISCD_{index}"] = symbol
        try:
            envelope = await self.get(
                "multi_price", f"{QUOTATIONS}/intstock-multprice", "FHKST11300006", params
            )
        except KisApiError as exc:
            if type(exc) is KisApiError and _says_unavailable(exc):
                self._multi_unavailable_day = self._clock.now().date()
                raise TrUnavailableError(
                    exc.msg_cd, exc.msg1, tr_id=exc.tr_id, api=exc.api
                ) from exc
            raise
        items = envelope.output if isinstance(envelope.output, list) else []
        quotes = [
            quote_from_multi(item, self.market_code) for item in items if isinstance(item, dict)
        ]
        return [quote for quote in quotes if quote is not None]

    async def quotes(self, symbols: list[str]) -> QuoteBatch:
        """Quote every symbol: chunks of 30, or one call per symbol while multi is unavailable."""
        batch = QuoteBatch()
        calls_before = self.calls
        for start in range(0, len(symbols), MULTI_MAX):
            chunk = symbols[start : start + MULTI_MAX]
            if self._multi_unavailable_day == self._clock.now().date():
                batch.used_fallback = True
                await self._quote_each(chunk, batch)
                continue
            try:
                got = await self.multi_price(chunk)
            except TrUnavailableError as exc:
                logger.warning(
                    "multi-quote TR unavailable (%s); one call per symbol today", exc.msg_cd
                )
                self._multi_unavailable_day = self._clock.now().date()
                batch.used_fallback = True
                await self._quote_each(chunk, batch)
                continue
            except (KisCredentialsError, TokenError):
                raise
            except KisError as exc:
                logger.warning("multi-quote of %d symbols failed: %s", len(chunk), exc)
                batch.failed.extend(chunk)
                continue
            by_symbol = {quote.symbol: quote for quote in got}
            batch.quotes.extend(by_symbol[s] for s in chunk if s in by_symbol)
            batch.failed.extend(s for s in chunk if s not in by_symbol)
        batch.calls = self.calls - calls_before
        return batch

    async def _quote_each(self, symbols: list[str], batch: QuoteBatch) -> None:
        for symbol in symbols:
            try:
                batch.quotes.append(await self.inquire_price(symbol))
            except (KisCredentialsError, TokenError):
                raise
            except KisError as exc:
                logger.debug("quote of %s failed: %s", symbol, exc)
                batch.failed.append(symbol)

    # -- daily prices, calendar, masters ----------------------------------------------------
    async def daily_prices(self, symbol: str) -> list[dict[str, Any]]:
        """Recent daily OHLCV rows of one symbol, newest first (FHKST01010400)."""
        params = {
            "FID_COND_MRKT_DIV_CODE": self.market_code,
            "FID_INPUT_ISCD": symbol,
            "FID_PERIOD_DIV_CODE": "D",
            "FID_ORG_ADJ_PRC": "0",
        }
        envelope = await self.get(
            "daily_prices", f"{QUOTATIONS}/inquire-daily-price", "FHKST01010400", params
        )
        rows = envelope.output if isinstance(envelope.output, list) else []
        return [map_fields(row, DAILY_FIELDS) for row in rows if isinstance(row, dict)]

    async def is_market_day(self, day: date) -> bool:
        """Whether KRX trades on ``day`` (CTCA0903R); each answer's days are remembered."""
        if day in self._market_days:
            return self._market_days[day]
        wanted = day.strftime("%Y%m%d")
        params = {"BASS_DT": wanted, "CTX_AREA_NK": "", "CTX_AREA_FK": ""}
        envelope = await self.get("chk_holiday", f"{QUOTATIONS}/chk-holiday", "CTCA0903R", params)
        rows = envelope.output if isinstance(envelope.output, list) else [envelope.output]
        for row in rows:  # the answer lists the following days too: keep them all
            if isinstance(row, dict) and isinstance(row.get("bass_dt"), str):
                try:
                    listed = datetime.strptime(row["bass_dt"], "%Y%m%d").date()
                except ValueError:
                    continue
                self._market_days[listed] = row.get("opnd_yn") == "Y"
        if day not in self._market_days:
            raise KisProtocolError("chk_holiday", f"answer does not mention {wanted}")
        return self._market_days[day]

    async def download_masters(self) -> list[MasterIssue]:
        """Every issue of today's KOSPI and KOSDAQ master files from KIS_MASTER_URL."""
        issues: list[MasterIssue] = []
        markets: tuple[Market, ...] = ("KOSPI", "KOSDAQ")
        for market in markets:
            url = f"{self._master_url}/{MASTER_FILES[market]}.zip"
            try:
                answer = await self._transport.request("master", "GET", url)
            except KisTransportError as exc:
                raise MasterError(f"{market} master download failed: {exc.reason}") from exc
            if answer.status != 200:
                raise MasterError(f"{market} master download failed: HTTP {answer.status}")
            parsed = read_master_zip(answer.body, market)
            if parsed.rejects:
                first = parsed.rejects[0]
                logger.warning(
                    "%s master: %d lines rejected (first: line %d, %s)",
                    market,
                    len(parsed.rejects),
                    first.line_no,
                    first.reason,
                )
            if not parsed.issues:
                raise MasterError(f"{market} master holds no readable issue")
            issues.extend(parsed.issues)
        return issues


def _says_unavailable(exc: KisApiError) -> bool:
    if exc.msg_cd in TR_UNAVAILABLE_CODES:
        return True
    text = exc.msg1.lower()
    return any(word in text for word in _UNAVAILABLE_WORDS)
