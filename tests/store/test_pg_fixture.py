"""The database fixture's last resort: a throwaway cluster from the installed binaries."""

from __future__ import annotations

import asyncpg
import pytest

from tests.pg import ThrowawayCluster

pytestmark = pytest.mark.db


async def test_throwaway_cluster_answers_queries() -> None:
    try:
        cluster = ThrowawayCluster()
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL binaries are needed for the fixture's fallback: {exc}")
    server = cluster.start()
    try:
        assert server.origin == "throwaway"
        conn = await asyncpg.connect(server.dsn("postgres"), timeout=10)
        try:
            assert await conn.fetchval("SELECT 40 + 2") == 42
            assert await conn.fetchval("SHOW port") == str(server.port)
        finally:
            await conn.close()
    finally:
        cluster.stop()
    assert not cluster.root.exists()
