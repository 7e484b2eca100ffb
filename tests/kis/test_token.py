"""TokenCache: one issuance per app key across processes and restarts, the 60 s rule, the file."""

from __future__ import annotations

import asyncio
import itertools
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from observer.clock import ManualClock
from observer.kis.account import KisAccount
from observer.kis.exceptions import KisCredentialsError, TokenThrottledError
from observer.kis.token import key_id
from tests.kis.fake_kis import APP_KEY, APP_SECRET, FakeKis

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("token_worker.py")


def cache_files(account: KisAccount) -> list[Path]:
    return sorted(p for p in account.tokens.path.parent.iterdir() if not p.name.endswith(".lock"))


async def test_issues_once_and_reuses_from_memory_and_file(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    account = make_account()
    first = await account.access_token()
    assert await account.access_token() == first
    restarted = make_account()  # a new process would read the same file
    assert await restarted.access_token() == first
    assert len(fake.token_times) == 1


async def test_cache_file_is_private_named_by_hash_and_holds_no_secret(
    make_account: Callable[..., KisAccount],
) -> None:
    account = make_account()
    await account.access_token()
    await account.approval_key()
    path = account.tokens.path
    assert path.name == f"kis-token-{key_id(APP_KEY)}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    assert APP_SECRET.encode() not in content
    assert APP_KEY.encode() not in content
    assert APP_KEY not in str(path)
    state = orjson.loads(content)
    assert state["access_token"].startswith("fake-access-token-")
    assert state["approval_key"].startswith("fake-approval-key-")


async def test_two_processes_racing_issue_exactly_once_then_a_restart_reuses(
    make_settings: object, fake: FakeKis, tmp_path: Path
) -> None:
    fake.token_delay = 0.5  # the first issuer holds the lock while the second arrives
    cache_dir = tmp_path / "cache"
    args = [str(WORKER), str(cache_dir), fake.base_url, APP_KEY, APP_SECRET]

    async def run_worker() -> dict[str, object]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        result: dict[str, object] = orjson.loads(out)
        return result

    first, second = await asyncio.gather(run_worker(), run_worker())
    assert len(fake.token_times) == 1
    assert first["token"] == second["token"]
    assert sorted([first["issued"], second["issued"]]) == [0, 1]
    restart = await run_worker()
    assert restart == {"token": first["token"], "issued": 0}
    assert len(fake.token_times) == 1


async def test_two_caches_in_one_process_share_the_lock(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    fake.token_delay = 0.2
    a, b = make_account(), make_account()
    tokens = await asyncio.gather(a.access_token(), b.access_token(), a.access_token())
    assert len(set(tokens)) == 1
    assert len(fake.token_times) == 1


async def test_refreshes_ten_minutes_before_expiry(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    account = make_account()
    first = await account.access_token()
    clock.advance(86400 - 700)
    assert await account.access_token() == first
    clock.advance(120)  # now within 10 minutes of expiry
    second = await account.access_token()
    assert second != first
    assert len(fake.token_times) == 2


async def test_corrupt_cache_is_moved_aside_and_replaced_by_one_issuance(
    make_account: Callable[..., KisAccount], fake: FakeKis, caplog: pytest.LogCaptureFixture
) -> None:
    account = make_account()
    path = account.tokens.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"v": 1, "access_token": "trunc')
    token = await account.access_token()
    assert token.startswith("fake-access-token-")
    aside = [p for p in path.parent.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1
    assert aside[0].read_bytes() == b'{"v": 1, "access_token": "trunc'
    assert "corrupt" in caplog.text
    assert orjson.loads(path.read_bytes())["access_token"] == token
    assert len(fake.token_times) == 1


async def test_throttled_issuance_waits_a_minute_and_never_loops(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    throttled = {"error_code": "EGW00133", "error_description": "issued too often"}
    fake.script("/oauth2/tokenP", *[(403, throttled)] * 5)
    account = make_account()
    for _ in range(5):
        with pytest.raises(TokenThrottledError):
            await account.access_token()
    times = fake.token_times
    assert len(times) == 5
    assert all(b - a >= 60 for a, b in itertools.pairwise(times))
    token = await account.access_token()  # the script is used up: KIS issues again
    assert token.startswith("fake-access-token-")
    assert fake.token_times[-1] - fake.token_times[-2] >= 60


async def test_no_issuance_within_60_s_after_a_restart(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    account = make_account()
    token = await account.access_token()
    await account.tokens.invalidate(account.tokens._token or pytest.fail("no token"))
    clock.advance(10)
    restarted = make_account()
    new = await restarted.access_token()  # must wait out the minute, then issue once
    assert new != token
    assert fake.token_times[1] - fake.token_times[0] >= 60


async def test_bad_credentials_are_fatal_without_a_storm(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    account = make_account(app_secret="fake-wrong-secret")
    for _ in range(3):
        with pytest.raises(KisCredentialsError) as info:
            await account.access_token()
        clock.advance(120)
    assert info.value.msg_cd == "EGW00103"
    assert len(fake.token_times) == 1
    assert account.fatal is info.value


async def test_approval_key_is_cached_for_the_day(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    account = make_account()
    key = await account.approval_key()
    assert await make_account().approval_key() == key
    body = next(b for p, _h, b in fake.requests if p == "/oauth2/Approval")
    assert body["secretkey"] == APP_SECRET and "appsecret" not in body
    clock.advance(86400)
    assert await account.approval_key() != key
    assert fake.approval_count == 2


async def test_refused_approval_key_is_reissued(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    account = make_account()
    key = await account.approval_key()
    await account.tokens.invalidate_approval_key()
    assert await account.approval_key() != key
    assert fake.approval_count == 2


async def test_token_status_command_shows_no_secret(
    make_account: Callable[..., KisAccount], home: Path
) -> None:
    account = make_account()
    token = await account.access_token()
    await account.approval_key()
    env = {"OBSERVER_HOME": str(home), "PATH": "/usr/bin:/bin"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "observer", "kis", "token", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    (row,) = [orjson.loads(line) for line in out.splitlines()]
    assert row["key_id"] == key_id(APP_KEY) and row["has_token"] is True
    assert row["mode"] == "0o600" and row["expires"].endswith("+09:00")
    assert row["approval_day"] == "2026-01-05"
    for secret in (token, APP_KEY, APP_SECRET, await account.approval_key()):
        assert secret.encode() not in out


async def test_expiry_from_the_absolute_time_when_no_lifetime_is_given(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    from datetime import datetime

    from observer.clock import KST

    answer = {"access_token": "fake-access-token-abs", "token_type": "Bearer",
              "access_token_token_expired": "2026-01-05 21:00:00"}  # fmt: skip
    fake.script("/oauth2/tokenP", (200, answer))
    account = make_account()
    assert await account.access_token() == "fake-access-token-abs"
    expected = datetime(2026, 1, 5, 21, 0, tzinfo=KST).timestamp()
    assert account.tokens.expires_ns / 1e9 == expected
