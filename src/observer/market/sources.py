"""Where the market runtime gets quotes and master issues: one app key's REST calls.

The universe build and track A code to :class:`QuoteSource`; :class:`AccountQuoteSource` is it
over one ``observer.kis.account.KisAccount`` (its REST client and its one rate limiter), so every
REST call of the universe build and of track A goes through the account's shared limiter. The
quotes and master issues are the KIS client's own types.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from observer.clock import Clock
from observer.kis.account import KisAccount
from observer.kis.exceptions import TrUnavailableError
from observer.kis.master import MasterIssue
from observer.kis.quotes import Quote

log = logging.getLogger(__name__)
QUOTES_PER_CALL = 30
# Calls in flight per pass: enough to hide the round trip at ~20 requests/s, few enough that
# a stalled event loop cannot release a burst of reserved limiter slots at once.
QUOTE_CALLS_IN_FLIGHT = 2


class QuoteSource(Protocol):
    """REST calls of one app key, paced by that key's rate limiter."""

    async def multi_quotes(self, symbols: Sequence[str]) -> Sequence[Quote]:
        """Quotes of up to 30 symbols in one call (symbols without an answer are missing)."""
        ...

    async def masters(self) -> Sequence[MasterIssue]:
        """Every issue of today's KOSPI and KOSDAQ master files."""
        ...


class AccountQuoteSource:
    """A :class:`QuoteSource` over one KIS account's REST client.

    When KIS says the multi-symbol TR is not offered to the account (paper accounts), the rest
    of the day is quoted one symbol per call through the client's fallback.
    """

    def __init__(self, account: KisAccount, clock: Clock) -> None:
        self._account = account
        self._clock = clock
        self._fallback_day: date | None = None

    async def multi_quotes(self, symbols: Sequence[str]) -> Sequence[Quote]:
        rest = self._account.rest
        if self._fallback_day == self._clock.now().date():
            return (await rest.quotes(list(symbols))).quotes
        try:
            return await rest.multi_price(list(symbols))
        except TrUnavailableError:
            log.warning("multi-symbol quotes unavailable: quoting one symbol per call today")
            self._fallback_day = self._clock.now().date()
            return (await rest.quotes(list(symbols))).quotes

    async def masters(self) -> Sequence[MasterIssue]:
        return await self._account.rest.download_masters()


@dataclass(slots=True)
class QuoteHarvest:
    """The answers of one pass over a symbol list, each quote with its own receive time."""

    quotes: list[tuple[int, Quote]] = field(default_factory=list)
    calls: int = 0
    errors: int = 0
    failed: list[str] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)


async def gather_quotes(
    source: QuoteSource,
    symbols: Sequence[str],
    clock: Clock,
    *,
    concurrency: int = QUOTE_CALLS_IN_FLIGHT,
    chunk: int = QUOTES_PER_CALL,
) -> QuoteHarvest:
    """Quote ``symbols`` in calls of ``chunk`` with a few calls in flight.

    The pace is the source's: its rate limiter is shared by every caller of that app key.
    A failed call counts as an error and its symbols as failed; it never stops the others.
    """
    harvest = QuoteHarvest()
    chunks = [list(symbols[i : i + chunk]) for i in range(0, len(symbols), chunk)]
    pending = iter(chunks)

    async def worker() -> None:
        for part in pending:
            harvest.calls += 1
            try:
                answers = await source.multi_quotes(part)
            except Exception as exc:  # one call failing must not end the pass
                harvest.errors += 1
                kind = type(exc).__name__
                harvest.error_kinds[kind] = harvest.error_kinds.get(kind, 0) + 1
                harvest.failed.extend(part)
                log.warning("quote call for %d symbols failed: %s", len(part), kind)
                continue
            recv_ns = clock.now_ns()
            answered = set()
            for quote in answers:
                harvest.quotes.append((recv_ns, quote))
                answered.add(quote.symbol)
            harvest.failed.extend(s for s in part if s not in answered)

    workers = max(1, min(concurrency, len(chunks)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return harvest
