"""The one module that talks to asyncpg: connections, statements, COPY, and the translation
of asyncpg and socket errors into :mod:`observer.store.exceptions`.

Every other store module goes through :class:`Database`, so an asyncpg exception never
escapes the store and callers only ever see ``StoreError`` subclasses.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg

from observer.store.exceptions import (
    DatabaseUnavailableError,
    DuplicateObjectError,
    QueryError,
    StoreError,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
# TCP keepalive: an idle connection whose peer vanished is dropped after about 5 + 3 x 2 s, and
# unacknowledged data gives up after TCP_USER_TIMEOUT (ms). A peer that still acknowledges but
# never answers (a stalled proxy) is caught by the statement timeout (``command_seconds``).
_KEEPALIVE: Final = (
    ("TCP_KEEPIDLE", 5),
    ("TCP_KEEPINTVL", 2),
    ("TCP_KEEPCNT", 3),
    ("TCP_USER_TIMEOUT", 15_000),
)
# SQLSTATE classes that mean "the server or the connection went away": retry later.
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_DUPLICATE_STATES = frozenset({"42P04", "42P07", "42710", "23505"})
# What ``translated`` maps (TimeoutError is an OSError).
_TRANSLATED = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)


def _translate(exc: Exception, context: str) -> StoreError:
    """Map one asyncpg / socket exception (one of ``_TRANSLATED``) onto the store's errors."""
    message = f"{context}: {type(exc).__name__}: {exc}"
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        if state[:2] in _UNAVAILABLE_CLASSES:
            return DatabaseUnavailableError(message)
        if state in _DUPLICATE_STATES:
            return DuplicateObjectError(message, sqlstate=state)
        return QueryError(message, sqlstate=state)
    # A socket error, or a connection closed or with its protocol state broken: reconnect.
    return DatabaseUnavailableError(message)


@asynccontextmanager
async def translated(context: str) -> AsyncIterator[None]:
    """Run a block, re-raising asyncpg and socket errors as StoreError subclasses."""
    try:
        yield
    except _TRANSLATED as exc:
        raise _translate(exc, context) from exc


def _keep_alive(conn: Any) -> None:
    """Turn on TCP keepalive (and a user timeout) on a connection's socket, where it has one."""
    transport = getattr(conn, "_transport", None)  # asyncpg has no keepalive option
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _KEEPALIVE:  # those this platform has
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


class Database:
    """One PostgreSQL connection with every call translated into store errors."""

    def __init__(self, conn: Any, label: str) -> None:
        self._conn = conn
        self.label = label

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        label: str,
        connect_seconds: float = CONNECT_TIMEOUT_SECONDS,
        command_seconds: float | None = None,
        server_settings: dict[str, str] | None = None,
    ) -> Database:
        """Open a connection to ``dsn``; ``label`` (a redacted DSN) names it in errors. With
        ``command_seconds`` every statement and COPY that takes longer fails as unavailable."""
        async with translated(f"connecting to {label}"):
            conn = await asyncpg.connect(
                dsn,
                timeout=connect_seconds,
                command_timeout=command_seconds,
                server_settings=server_settings or {},
            )
        _keep_alive(conn)
        return cls(conn, label)

    async def close(self) -> None:
        """Close the connection; a connection that already broke is simply dropped."""
        if self._conn.is_closed():
            return
        try:
            await self._conn.close(timeout=2.0)
        except _TRANSLATED as exc:
            log.debug("closing %s: %s", self.label, exc)
            self._conn.terminate()

    async def execute(self, sql: str, *args: Any) -> str:
        """Run a statement; returns the command status (e.g. ``INSERT 0 5``)."""
        async with translated(self.label):
            return str(await self._conn.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """All rows of a query."""
        async with translated(self.label):
            return list(await self._conn.fetch(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None."""
        async with translated(self.label):
            return await self._conn.fetchval(sql, *args)

    async def copy_records(
        self, table: str, records: Iterable[Sequence[Any]], columns: Sequence[str]
    ) -> None:
        """Binary COPY of ``records`` into ``table`` (a staging table)."""
        async with translated(f"{self.label} COPY {table}"):
            try:
                await self._conn.copy_records_to_table(table, records=records, columns=columns)
            except (TypeError, ValueError, OverflowError) as exc:
                raise QueryError(f"COPY {table}: cannot encode a row: {exc}") from exc

    async def copy_binary(self, table: str, data: Any, columns: Sequence[str]) -> None:
        """COPY ``data`` (a complete binary COPY stream, any buffer) into ``table``."""
        async with translated(f"{self.label} COPY {table}"):
            # A memoryview: asyncpg would take plain bytes for a file name.
            source = memoryview(data)
            await self._conn.copy_to_table(table, source=source, columns=columns, format="binary")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        async with translated(self.label):
            async with self._conn.transaction():
                yield
