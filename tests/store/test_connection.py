"""Database connections: TCP keepalive on, and a statement past the timeout is 'unavailable'."""

from __future__ import annotations

import socket

import pytest

from observer.config.settings import Settings
from observer.store.connection import Database
from observer.store.exceptions import DatabaseUnavailableError

pytestmark = pytest.mark.db


async def test_keepalive_and_statement_timeout(db_settings: Settings) -> None:
    db = await Database.connect(db_settings.db_dsn, label="test", command_seconds=0.5)
    try:
        sock = db._conn._transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 5
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 15_000
        with pytest.raises(DatabaseUnavailableError):
            await db.execute("SELECT pg_sleep(5)")
    finally:
        await db.close()
