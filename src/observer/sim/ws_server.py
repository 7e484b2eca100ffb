"""The simulator's ``/tryitout`` WebSocket: registrations, PINGPONG, trade and book frames.

One streamer task polls the market every few milliseconds of real time, takes the new trades
of every registered issue and sends them as ``0|H0STCNT0|NNN|...`` frames (trades of one
instant share a frame). Faults on demand: garbage frames, dropping every connection every N
clock seconds, OPSP codes for every refusal a real session can meet; refusals of the session
(OPSP8996, OPSP0011, OPSP9999) come in KIS's ``"(null)"`` shape, naming no request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections import Counter
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from observer.clock import Clock
from observer.sim.auth import SimAuth
from observer.sim.market import SimMarket
from observer.sim.symbol_day import SymbolDay, TradeTick
from observer.sim.wire import book_record, data_frame, trade_record

log = logging.getLogger(__name__)

TRADE_TR = "H0STCNT0"
BOOK_TR = "H0STASP0"
STREAM_TRS = (TRADE_TR, BOOK_TR)
MAX_REGISTRATIONS = 41
STREAM_INTERVAL_S = 0.02
SEND_QUEUE_MAX = 20_000
FRAME_RECORDS_MAX = 50
MESSAGES = {
    "OPSP0000": "SUBSCRIBE SUCCESS",
    "OPSP0001": "UNSUBSCRIBE SUCCESS",
    "OPSP0002": "ALREADY IN SUBSCRIBE",
    "OPSP0003": "UNSUBSCRIBE ERROR(not found!)",
    "OPSP0008": "MAX SUBSCRIBE OVER",
    "OPSP0011": "invalid approval : NOT FOUND",
    "OPSP8991": "invalid tr_id",
    "OPSP8992": "invalid tr_key",
    "OPSP8996": "ALREADY IN USE appkey",
    "OPSP9999": "JSON PARSING ERROR : invalid json format",
}
# Refusals that concern the session, not one registration: KIS answers them with tr_id "(null)",
# an empty tr_key and rt_cd "9" (captured from the real service for OPSP8996).
SESSION_REFUSALS = frozenset({"OPSP8996", "OPSP0011", "OPSP9999"})
NULL_TR_ID = "(null)"
SESSION_REFUSAL_RT_CD = "9"
GARBAGE = ("0|H0STCNT0|002|", "1|H0STCNT0|abc|^^^", "{not json", "0|H0STCNT0|001|^^^^^")


@dataclass(eq=False)
class SimWsConnection:
    """One client connection and its registrations."""

    ws: web.WebSocketResponse
    next_ping: float
    app_key: str | None = None
    registrations: set[tuple[str, str]] = field(default_factory=set)
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE_MAX))
    last_ping: str | None = None
    dropped: bool = False


@dataclass(eq=False, repr=False)
class SimWsHub:
    """Every WebSocket connection of the simulator and the task that feeds them."""

    market: SimMarket
    auth: SimAuth
    clock: Clock
    _: KW_ONLY
    pingpong_seconds: float
    extra_field: bool = False
    garbage_rate: float = 0.0
    drop_seconds: float = 0.0
    seed: InitVar[int] = 0
    connections: set[SimWsConnection] = field(init=False, default_factory=set)
    counters: Counter[str] = field(init=False, default_factory=Counter)
    answers: Counter[str] = field(init=False, default_factory=Counter)  # msg_cd -> sent
    records_sent: Counter[str] = field(init=False, default_factory=Counter)  # tr_id -> records
    _watch: Counter[str] = field(init=False, default_factory=Counter)
    _task: asyncio.Task[None] | None = field(init=False, default=None)
    _closing: set[asyncio.Task[bool]] = field(init=False, default_factory=set)

    def __post_init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._last_drop = self.clock.monotonic()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._stream(), name="sim-ws-streamer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.drop_connections()

    async def drop_connections(self) -> int:
        """Close every connection (as a server-side drop); returns how many."""
        dropped = list(self.connections)
        for conn in dropped:
            await conn.ws.close()
        self.counters["drops"] += len(dropped)
        return len(dropped)

    # -- one connection -------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        conn = SimWsConnection(ws, self.clock.monotonic() + self.pingpong_seconds)
        self.connections.add(conn)
        self.counters["connections"] += 1
        writer = asyncio.create_task(self._write(conn), name="sim-ws-writer")
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(conn, message.data)
                elif message.type == WSMsgType.BINARY:
                    self._answer(conn, "", "", "OPSP9999")
        finally:
            self.connections.discard(conn)
            for tr_id, tr_key in list(conn.registrations):
                self._release(tr_id, tr_key)
            conn.registrations.clear()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _write(self, conn: SimWsConnection) -> None:
        while True:
            text = await conn.queue.get()
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    def _send(self, conn: SimWsConnection, text: str) -> None:
        if conn.dropped:
            return
        try:
            conn.queue.put_nowait(text)
        except asyncio.QueueFull:
            conn.dropped = True
            self.counters["slow_client_drops"] += 1
            log.warning("simulator: a WebSocket client does not keep up; dropping it")
            self.connections.discard(conn)
            task = asyncio.create_task(conn.ws.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _answer(
        self, conn: SimWsConnection, tr_id: str, tr_key: str, msg_cd: str, ok: bool = False
    ) -> None:
        body: dict[str, Any] = {"rt_cd": "0" if ok else "1", "msg_cd": msg_cd}
        body["msg1"] = MESSAGES.get(msg_cd, "")
        if ok:
            body["output"] = {"iv": secrets.token_hex(8), "key": secrets.token_hex(16)}
        header = {"tr_id": tr_id, "tr_key": tr_key, "encrypt": "N"}
        if msg_cd in SESSION_REFUSALS:  # as KIS sends them: naming no request
            header = {"tr_id": NULL_TR_ID, "tr_key": "", "encrypt": "N"}
            body["rt_cd"] = SESSION_REFUSAL_RT_CD
        self.answers[msg_cd] += 1
        self._send(conn, orjson.dumps({"header": header, "body": body}).decode())

    def _on_text(self, conn: SimWsConnection, text: str) -> None:
        try:
            obj = orjson.loads(text)
            header = obj["header"]
            tr_id_header = str(header.get("tr_id", ""))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self._answer(conn, "", "", "OPSP9999")
            return
        if tr_id_header == "PINGPONG":
            self.counters["pongs"] += 1
            if text == conn.last_ping:
                self.counters["pongs_exact"] += 1
            conn.last_ping = None
            return
        try:
            tr_id = str(obj["body"]["input"]["tr_id"])
            tr_key = str(obj["body"]["input"]["tr_key"])
        except (KeyError, TypeError):
            self._answer(conn, "", "", "OPSP9999")
            return
        msg_cd = self._refusal(conn, str(header.get("approval_key", "")), tr_id, tr_key)
        if msg_cd:
            self._answer(conn, tr_id, tr_key, msg_cd)
        else:
            self._register(conn, str(header.get("tr_type", "")), tr_id, tr_key)

    def _refusal(self, conn: SimWsConnection, approval_key: str, tr_id: str, tr_key: str) -> str:
        app_key = self.auth.approvals.get(approval_key)
        if app_key is None:
            return "OPSP0011"
        if conn.app_key != app_key:
            if any(other.app_key == app_key for other in self.connections if other is not conn):
                return "OPSP8996"
            conn.app_key = app_key
        if tr_id not in STREAM_TRS:
            return "OPSP8991"
        if len(tr_key) != 6 or not tr_key.isalnum():
            return "OPSP8992"
        return ""

    def _register(self, conn: SimWsConnection, tr_type: str, tr_id: str, tr_key: str) -> None:
        pair = (tr_id, tr_key)
        if tr_type == "1":
            if pair in conn.registrations:
                self._answer(conn, tr_id, tr_key, "OPSP0002")
            elif len(conn.registrations) >= MAX_REGISTRATIONS:
                self._answer(conn, tr_id, tr_key, "OPSP0008")
            else:
                conn.registrations.add(pair)
                self._answer(conn, tr_id, tr_key, "OPSP0000", ok=True)
                if self.market.has(tr_key):
                    if self._watch[tr_key] == 0:
                        self.market.watch(tr_key)
                    self._watch[tr_key] += 1
        elif tr_type == "2":
            if pair in conn.registrations:
                conn.registrations.discard(pair)
                self._release(tr_id, tr_key)
                self._answer(conn, tr_id, tr_key, "OPSP0001", ok=True)
            else:
                self._answer(conn, tr_id, tr_key, "OPSP0003")
        else:
            self._answer(conn, tr_id, tr_key, "OPSP9999")

    def _release(self, tr_id: str, tr_key: str) -> None:
        if tr_key not in self._watch:
            return
        self._watch[tr_key] -= 1
        if self._watch[tr_key] <= 0:
            del self._watch[tr_key]
            self.market.unwatch(tr_key)

    # -- the streamer ---------------------------------------------------------------------
    async def _stream(self) -> None:
        while True:
            await asyncio.sleep(STREAM_INTERVAL_S)
            try:
                await self._tick()
            except Exception:
                log.exception("simulator streamer step failed")
                self.counters["streamer_errors"] += 1

    async def _tick(self) -> None:
        now = self.clock.monotonic()
        if self.drop_seconds > 0 and now - self._last_drop >= self.drop_seconds:
            self._last_drop = now
            await self.drop_connections()
        for conn in list(self.connections):
            if now >= conn.next_ping:
                self._ping(conn, now)
        for code in list(self._watch):
            self._stream_symbol(code)

    def _ping(self, conn: SimWsConnection, now: float) -> None:
        if conn.last_ping is not None:
            self.counters["pongs_missed"] += 1
        stamp = self.clock.now().strftime("%Y%m%d%H%M%S")
        text = orjson.dumps({"header": {"tr_id": "PINGPONG", "datetime": stamp}}).decode()
        conn.last_ping = text
        conn.next_ping = now + self.pingpong_seconds
        self.counters["pings"] += 1
        self._send(conn, text)

    def _stream_symbol(self, code: str) -> None:
        state, ticks = self.market.take_trades(code)
        if not ticks:
            return
        trades = [c for c in self.connections if (TRADE_TR, code) in c.registrations]
        books = [c for c in self.connections if (BOOK_TR, code) in c.registrations]
        frames = [data_frame(TRADE_TR, group) for group in self._groups(state, ticks)]
        for conn in trades:
            for frame in frames:
                self._maybe_garbage(conn)
                self._send(conn, frame)
            self.records_sent[TRADE_TR] += len(ticks)
        if books:
            frame = data_frame(BOOK_TR, [book_record(state, ticks[-1].ns)])
            for conn in books:
                self._send(conn, frame)
                self.records_sent[BOOK_TR] += 1

    def _groups(self, state: SymbolDay, ticks: list[TradeTick]) -> list[list[str]]:
        groups: list[list[str]] = []
        last_ns = -1
        for tick in ticks:
            record = trade_record(state, tick, self.extra_field)
            if tick.ns == last_ns and len(groups[-1]) < FRAME_RECORDS_MAX:
                groups[-1].append(record)
            else:
                groups.append([record])
            last_ns = tick.ns
        return groups

    def _maybe_garbage(self, conn: SimWsConnection) -> None:
        if self.garbage_rate > 0 and self._rng.random() < self.garbage_rate:
            self.counters["garbage"] += 1
            self._send(conn, self._rng.choice(GARBAGE))

    def status(self) -> dict[str, Any]:
        return {
            "connections": len(self.connections),
            "watched": len(self._watch),
            "counters": dict(self.counters),
            "answers": dict(self.answers),
            "records_sent": dict(self.records_sent),
        }
