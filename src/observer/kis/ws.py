"""The KIS real-time WebSocket session of one app key.

One connection to ``<ws_url>/tryitout``; registrations are (tr_id, tr_key) pairs, at most 41.
The session keeps the *desired* registrations and re-sends every one of them after each
reconnect. It echoes PINGPONG unchanged, reconnects forever with the capped, jittered
exponential backoff of :mod:`observer.backoff` (1 s doubling to 30 s, real seconds whatever the
clock's speed, reset after a healthy connection), and forces a reconnect when nothing arrives
for ``silence_seconds`` during market hours. OPSP8996 (the app key is used by another session)
is recognised by its msg_cd alone (KIS sends it as ``tr_id`` "(null)"): on a first connection
it is fatal (one ``fatal`` event, no reconnect storm); after a reconnect of a session that had
registrations it is retried slowly, since it is most likely our own old connection the server
has not yet released.

aiohttp errors are translated into :class:`KisTransportError` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import aiohttp
import orjson

from observer.backoff import Backoff
from observer.clock import NS_PER_S, Clock
from observer.kis.exceptions import (
    AppKeyInUseError,
    KisTransportError,
    RegistrationLimitError,
    WebSocketError,
)
from observer.kis.frames import ControlMessage, DataMessage, PingPong, Reject, parse_message
from observer.metrics import Metrics

log = logging.getLogger(__name__)

MAX_REGISTRATIONS = 41
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
ANSWER_TIMEOUT_S = 10.0  # real seconds to wait for a (un)subscribe answer
CONNECT_TIMEOUT_S = 10.0
WATCHDOG_TICK_S = 0.25  # real seconds between silence checks
REGISTERED_CODES = ("OPSP0000", "OPSP0002")
UNREGISTERED_CODES = ("OPSP0001", "OPSP0003")
LIMIT_CODE = "OPSP0008"
IN_USE_CODE = "OPSP8996"
BAD_APPROVAL_CODE = "OPSP0011"
# After a reconnect the server may still hold this session's previous connection (OPSP8996):
# retry that many times at the longest backoff before calling the key taken.
STALE_SESSION_RETRIES = 3
CLOSED_TYPES = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)

EventKind = Literal["connected", "disconnected", "reregistered", "fatal"]
Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class WsData:
    """A data frame as parsed (or a frame that could not be parsed), with its receive time."""

    recv_ns: int
    message: DataMessage | Reject


@dataclass(frozen=True, slots=True)
class WsEvent:
    """A change of the session's state."""

    kind: EventKind
    at_ns: int
    reason: str = ""


class SessionAccount(Protocol):
    """What the session needs from a KIS account: the approval key."""

    async def approval_key(self) -> str: ...


class _Reconnect(WebSocketError):
    """The current connection must be replaced (silence, bad approval key)."""


class KisWebSocketSession:
    """One app key's WebSocket session: registrations, PINGPONG, watchdog and reconnects."""

    def __init__(
        self,
        ws_url: str,
        account: SessionAccount,
        clock: Clock,
        metrics: Metrics,
        *,
        name: str,
        silence_seconds: float,
        market_hours: Callable[[], bool],
        out: asyncio.Queue[WsData | WsEvent],
        http: aiohttp.ClientSession | None = None,
        backoff_first_s: float = BACKOFF_FIRST_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.url = ws_url.rstrip("/") + "/tryitout"
        self.account = account
        self.clock = clock
        self.metrics = metrics
        self.name = name
        self.silence_seconds = silence_seconds
        self.market_hours = market_hours
        self.out = out
        self._http = http
        self.desired: set[Pair] = set()
        self._registered: set[Pair] = set()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._answers: dict[Pair, asyncio.Future[str | None]] = {}
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._last_message = clock.monotonic()
        self._delays = Backoff(backoff_first_s, backoff_max_s, clock)
        self._connections = 0
        self._had_registrations = False
        self._stale_retries = 0
        self._refused_on = 0  # the connection whose OPSP8996 is being retried
        self.fatal: WebSocketError | None = None

    # -- public ---------------------------------------------------------------------------
    @property
    def registered(self) -> set[Pair]:
        """The pairs the server has confirmed on the current connection."""
        return set(self._registered)

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._connected.is_set()

    async def register(self, tr_id: str, tr_key: str) -> None:
        """Add a registration; sent now when connected, else at the next connection.

        Raises RegistrationLimitError at the 41 cap or on OPSP0008, AppKeyInUseError when the
        session has met OPSP8996.
        """
        if self.fatal is not None:
            raise self.fatal
        pair = (tr_id, tr_key)
        if pair in self.desired:
            return
        if len(self.desired) >= MAX_REGISTRATIONS:
            raise RegistrationLimitError(
                f"session {self.name}: {MAX_REGISTRATIONS} registrations in use", LIMIT_CODE
            )
        self.desired.add(pair)
        if self._ws is not None:
            await self._request(pair, "1")

    async def unregister(self, tr_id: str, tr_key: str) -> None:
        """Drop a registration (tr_type 2 when connected)."""
        pair = (tr_id, tr_key)
        self.desired.discard(pair)
        if self._ws is not None and pair in self._registered:
            await self._request(pair, "2")
        self._registered.discard(pair)
        self._count_registrations()

    async def run(self) -> None:
        """Stay connected until stop() (or a fatal OPSP8996)."""
        own_http = self._http is None
        http = self._http or aiohttp.ClientSession()
        try:
            while not self._stopping.is_set():
                reason = await self._connection(http)
                if self._stopping.is_set() or self.fatal is not None:
                    break
                await self._emit("disconnected", reason)
                await self._delays.wait(stop=self._stopping)
        finally:
            self.metrics.ws_connected.labels(session=self.name).set(0)
            if own_http:
                await http.close()

    async def stop(self) -> None:
        """Close the connection; run() returns."""
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    # -- one connection -------------------------------------------------------------------
    async def _connection(self, http: aiohttp.ClientSession) -> str:
        """Connect, re-register, read until the connection ends; returns why it ended."""
        try:
            ws = await asyncio.wait_for(
                http.ws_connect(self.url, autoping=True, heartbeat=None), CONNECT_TIMEOUT_S
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = KisTransportError("websocket", f"{type(exc).__name__}: {exc}")
            log.warning("session %s: cannot connect: %s", self.name, error.reason)
            return error.reason
        self._ws = ws
        self._last_message = self.clock.monotonic()
        self._connections += 1
        if self._connections > 1:
            self.metrics.ws_reconnects.labels(session=self.name).inc()
        self.metrics.ws_connected.labels(session=self.name).set(1)
        self._connected.set()
        await self._emit("connected", self.url)
        reader = asyncio.create_task(self._read(ws), name=f"ws-read-{self.name}")
        try:
            await self._restore()
            return await reader
        except _Reconnect as exc:
            return str(exc)
        finally:
            self._connected.clear()
            self._ws = None
            self._registered.clear()
            self._count_registrations()
            self.metrics.ws_connected.labels(session=self.name).set(0)
            for future in self._answers.values():
                if not future.done():
                    future.set_result(None)
            self._answers.clear()
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Reconnect):
                await reader
            await ws.close()

    async def _restore(self) -> None:
        """Send every desired registration again (after a reconnect)."""
        pairs = sorted(self.desired)
        for pair in pairs:
            if self._ws is None or pair not in self.desired:
                continue
            try:
                await self._request(pair, "1")
            except WebSocketError as exc:
                log.warning("session %s: %s", self.name, exc)
        ws = self._ws
        if self._connections > 1 and self.fatal is None and ws is not None and not ws.closed:
            restored = len(self._registered)
            await self._emit("reregistered", f"{restored} of {len(pairs)} registrations restored")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        while True:
            try:
                message = await ws.receive(timeout=WATCHDOG_TICK_S)
            except TimeoutError:
                self._watchdog()
                continue
            except (aiohttp.ClientError, OSError) as exc:
                return KisTransportError("websocket", str(exc)).reason
            if message.type == aiohttp.WSMsgType.TEXT:
                await self._on_text(ws, message.data)
            elif message.type in CLOSED_TYPES:
                return "closed by the server" if not self._stopping.is_set() else "stopped"
            elif message.type == aiohttp.WSMsgType.ERROR:
                return f"connection error: {ws.exception()}"
            self._watchdog()

    def _watchdog(self) -> None:
        silent = self.clock.monotonic() - self._last_message
        if silent >= self.silence_seconds and self.market_hours():
            log.warning("session %s: silent for %.0f s; reconnecting", self.name, silent)
            raise _Reconnect(f"silence for {silent:.0f} s")

    async def _on_text(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> None:
        recv_ns = self.clock.now_ns()
        self._last_message = self.clock.monotonic()
        self.metrics.ws_last_message.labels(session=self.name).set(recv_ns / NS_PER_S)
        message = parse_message(text, recv_ns)
        if isinstance(message, PingPong):
            self._delays.reset()  # the connection is healthy
            async with self._send_lock:
                await ws.send_str(message.text)
        elif isinstance(message, ControlMessage):
            await self._on_control(message)
        else:
            if isinstance(message, DataMessage):
                self._delays.reset()
                self.metrics.ws_frames.labels(tr_id=message.tr_id).inc()
            await self.out.put(WsData(recv_ns, message))

    async def _on_control(self, message: ControlMessage) -> None:
        """Classify an answer by msg_cd first: session refusals need not name a request.

        KIS answers OPSP8996 with ``tr_id`` "(null)" and no ``tr_key``, so it cannot be matched
        to the request that caused it; it concerns the whole session either way.
        """
        pair = (message.tr_id, message.tr_key)
        future = self._answers.get(pair)
        if message.msg_cd == IN_USE_CODE:
            self._settle_pending()
            if not await self._stale_session():
                await self._fail(message.msg1)
        elif future is not None and not future.done():
            future.set_result(message.msg_cd)
        elif message.msg_cd == BAD_APPROVAL_CODE:
            self._settle_pending()
            await self._refresh_approval()
        elif message.msg_cd not in REGISTERED_CODES + UNREGISTERED_CODES:
            log.warning("session %s: unexpected answer %s %s", self.name, message.msg_cd, pair)

    def _settle_pending(self) -> None:
        """A session-level answer ends every request in flight on this connection."""
        for future in self._answers.values():
            if not future.done():
                future.set_result(None)

    # -- requests -------------------------------------------------------------------------
    async def _request(self, pair: Pair, tr_type: str) -> None:
        ws = self._ws
        if ws is None:
            return
        in_flight = self._answers.get(pair)
        if in_flight is not None and not in_flight.done():
            return  # the request already on its way settles the pair
        key = await self.account.approval_key()
        header = {"approval_key": key, "custtype": "P", "tr_type": tr_type, "content-type": "utf-8"}
        request = {"header": header, "body": {"input": {"tr_id": pair[0], "tr_key": pair[1]}}}
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._answers[pair] = future
        try:
            async with self._send_lock:
                await ws.send_str(orjson.dumps(request).decode())
            msg_cd = await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("session %s: no answer for %s: %s", self.name, pair, exc)
            return
        finally:
            if self._answers.get(pair) is future:
                del self._answers[pair]
        await self._settle(pair, tr_type, msg_cd)
        if self.fatal is not None:
            raise self.fatal

    async def _settle(self, pair: Pair, tr_type: str, msg_cd: str | None) -> None:
        if msg_cd is None:  # the connection ended first: the next one registers it
            return
        if tr_type == "2":
            self._registered.discard(pair)
        elif msg_cd in REGISTERED_CODES:
            self._registered.add(pair)
            self._had_registrations = True
            self._stale_retries = 0
        elif msg_cd == LIMIT_CODE:
            self.desired.discard(pair)
            raise RegistrationLimitError(
                f"session {self.name}: the server refused {pair} (maximum registrations)", msg_cd
            )
        elif msg_cd == BAD_APPROVAL_CODE:
            await self._refresh_approval()
        else:
            self.desired.discard(pair)
            raise WebSocketError(f"session {self.name}: {pair} refused ({msg_cd})", msg_cd)
        self._count_registrations()

    async def _refresh_approval(self) -> None:
        """OPSP0011: forget the approval key and reconnect; registrations stay desired."""
        tokens = getattr(self.account, "tokens", None)
        invalidate = getattr(tokens, "invalidate_approval_key", None)
        if invalidate is not None:
            await invalidate()
        log.warning("session %s: approval key refused (OPSP0011); reconnecting", self.name)
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def _stale_session(self) -> bool:
        """OPSP8996 after this session had registrations: maybe our own old connection."""
        if self._refused_on == self._connections:
            return True  # this connection's refusal is already being handled
        if not self._had_registrations or self._stale_retries >= STALE_SESSION_RETRIES:
            return False
        self._refused_on = self._connections
        self._stale_retries += 1
        self._delays.hold_at_cap()  # the longest backoff: no reconnect storm
        log.warning(
            "session %s: app key in use after a reconnect (try %d of %d); retrying slowly",
            *(self.name, self._stale_retries, STALE_SESSION_RETRIES),
        )
        ws = self._ws
        if ws is not None:
            await ws.close()
        return True

    async def _fail(self, reason: str) -> None:
        if self.fatal is not None:
            return
        self.fatal = AppKeyInUseError(
            f"session {self.name}: KIS refused the app key as in use by another session "
            f"({IN_USE_CODE} {reason!r}); one app key allows one WebSocket session",
            IN_USE_CODE,
        )
        log.error("%s", self.fatal)
        await self._emit("fatal", str(self.fatal))
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    # -- small pieces ---------------------------------------------------------------------
    async def _emit(self, kind: EventKind, reason: str) -> None:
        await self.out.put(WsEvent(kind, self.clock.now_ns(), reason))

    def _count_registrations(self) -> None:
        self.metrics.ws_registrations.labels(session=self.name).set(len(self._registered))
