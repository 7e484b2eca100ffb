"""Access token and WebSocket approval key, cached on disk per app key.

KIS issues at most one token per minute per app key (EGW00133 beyond that) and notifies the
account owner of every issuance, so tokens are reused across restarts and processes:

* one cache file per app key in ``KIS_TOKEN_CACHE_DIR``, named by the key's sha256 (never the
  key), mode 0600, written atomically (temp file, fsync, rename, fsync of the directory);
  it never holds the app secret;
* an ``fcntl`` lock on ``<name>.lock`` serialises processes, so two processes sharing a key
  never both issue;
* the time of the last issuance attempt is written *before* the request is sent, and no
  second attempt is made within 60 s whatever happens (errors, restarts, EGW00133);
* a token is refreshed about 10 minutes before it expires;
* a corrupt cache file is moved aside to ``<name>.corrupt-<time>`` and replaced by one new
  issuance;
* the approval key (``POST /oauth2/Approval``) is cached for the KST day in the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr

from observer.clock import KST, NS_PER_S, Clock
from observer.config.redact import Redactor
from observer.durable import replace_file, temp_name
from observer.kis.envelope import Action, parse_envelope
from observer.kis.exceptions import (
    KisCredentialsError,
    TokenError,
    TokenThrottledError,
)
from observer.kis.transport import KisTransport
from observer.metrics import Metrics

logger = logging.getLogger(__name__)

MIN_ISSUE_INTERVAL_S = 60.0
REFRESH_MARGIN_S = 600.0
LOCK_POLL_S = 0.02
LOCK_TIMEOUT_S = 180.0
CACHE_VERSION = 1


def key_id(app_key: str) -> str:
    """The sha256 of an app key: names its cache file and appears in logs instead of it."""
    return hashlib.sha256(app_key.encode()).hexdigest()


class TokenCache:
    """The access token and approval key of one app key, shared through a cache file."""

    def __init__(
        self,
        cache_dir: Path,
        app_key: str,
        app_secret: str,
        *,
        base_url: str,
        transport: KisTransport,
        clock: Clock,
        metrics: Metrics,
        redactor: Redactor,
        refresh_margin_s: float = REFRESH_MARGIN_S,
    ) -> None:
        self.key_id = key_id(app_key)
        self.path = Path(cache_dir) / f"kis-token-{self.key_id}.json"
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._app_key = SecretStr(app_key)
        self._app_secret = SecretStr(app_secret)
        self._base_url = base_url.rstrip("/")
        self._transport = transport
        self._clock = clock
        self._metrics = metrics
        self._redactor = redactor
        self._margin_ns = int(refresh_margin_s * NS_PER_S)
        self._lock = asyncio.Lock()
        self._token: SecretStr | None = None
        self._expires_ns = 0
        self._rejected: str | None = None
        self._fatal: KisCredentialsError | None = None
        self.issued = 0

    def __repr__(self) -> str:
        return f"TokenCache(key={self.key_id[:12]}, path={self.path})"

    @property
    def fatal(self) -> KisCredentialsError | None:
        """The credentials error KIS answered at issuance, if any (then nothing is retried)."""
        return self._fatal

    @property
    def expires_ns(self) -> int:
        """Expiry of the token in use (epoch ns, 0 if none yet)."""
        return self._expires_ns

    # -- access token ---------------------------------------------------------------------
    async def access_token(self) -> SecretStr:
        """A valid access token: from memory, the cache file, or one new issuance."""
        if self._fatal is not None:
            raise self._fatal
        if self._token is not None and self._fresh(self._expires_ns):
            return self._token
        async with self._lock, self._file_lock():
            state = self._load()
            token = state.get("access_token")
            expires_ns = int(state.get("expires_ns", 0))
            if isinstance(token, str) and token != self._rejected and self._fresh(expires_ns):
                return self._use(token, expires_ns)
            wait_s = self._issue_wait_s(state)
            if wait_s > 0:
                alive = self._clock.now_ns() < expires_ns
                if isinstance(token, str) and token != self._rejected and alive:
                    return self._use(token, expires_ns)  # refresh once the minute has passed
                logger.warning("no usable KIS token; waiting %.0f s to issue one", wait_s)
                await self._clock.sleep(wait_s)
            return await self._issue(state)

    async def invalidate(self, token: SecretStr) -> None:
        """KIS rejected ``token`` (EGW00121/EGW00123): never hand it out again."""
        value = token.get_secret_value()
        async with self._lock:
            self._rejected = value
            if self._token is not None and self._token.get_secret_value() == value:
                self._token = None
            async with self._file_lock():
                state = self._load()
                if state.get("access_token") == value:
                    state["access_token"] = None
                    await self._save(state)
        logger.warning("KIS rejected the access token of key %s; it will be refreshed", self._id)

    def _fresh(self, expires_ns: int) -> bool:
        return self._clock.now_ns() < expires_ns - self._margin_ns

    def _issue_wait_s(self, state: dict[str, Any]) -> float:
        last = int(state.get("last_issue_ns", 0))
        if not last:
            return 0.0
        elapsed_s = (self._clock.now_ns() - last) / NS_PER_S
        # A clock behind the recorded time (a shifted clock restarted) cannot say how long
        # ago that was: wait one full interval, never more.
        return min(MIN_ISSUE_INTERVAL_S, max(0.0, MIN_ISSUE_INTERVAL_S - elapsed_s))

    def _use(self, token: str, expires_ns: int) -> SecretStr:
        self._redactor.add(token)
        self._token = SecretStr(token)
        self._expires_ns = expires_ns
        self._metrics.token_expiry.set(expires_ns / NS_PER_S)
        return self._token

    async def _issue(self, state: dict[str, Any]) -> SecretStr:
        now = self._clock.now_ns()
        state["last_issue_ns"] = now  # written before sending: a crash still counts
        await self._save(state)
        answer, obj = await self._post_credentials("token", "/oauth2/tokenP", "appsecret")
        token = obj.get("access_token")
        if not isinstance(token, str) or not token:
            raise self._failure("access token", answer)
        self._redactor.add(token)
        expires_ns = self._expiry_ns(obj, now)
        state.update(access_token=token, expires_ns=expires_ns, issued_ns=now)
        await self._save(state)
        self.issued += 1
        self._metrics.token_issued.inc()
        self._rejected = None
        expires = datetime.fromtimestamp(expires_ns / NS_PER_S, KST).isoformat()
        logger.info("issued a KIS access token for key %s, valid until %s", self._id, expires)
        return self._use(token, expires_ns)

    def _expiry_ns(self, obj: dict[str, Any], now_ns: int) -> int:
        """Expiry from ``expires_in`` (on our clock), else the absolute KST time, else 24 h."""
        expires_in = str(obj.get("expires_in", ""))
        if expires_in.isdigit():
            return now_ns + int(expires_in) * NS_PER_S
        try:
            text = str(obj["access_token_token_expired"])
            when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
            return int(when.timestamp()) * NS_PER_S
        except (KeyError, ValueError):
            return now_ns + 86_400 * NS_PER_S

    async def _post_credentials(
        self, api: str, path: str, secret_field: str
    ) -> tuple[bytes, dict[str, Any]]:
        """POST the app key and secret (named ``secret_field``): the body and its JSON object."""
        body = {
            "grant_type": "client_credentials",
            "appkey": self._app_key.get_secret_value(),
            secret_field: self._app_secret.get_secret_value(),
        }
        answer = await self._transport.request(
            api, "POST", f"{self._base_url}{path}", json_body=body
        )
        return answer.body, _json_object(answer.body)

    def _failure(self, what: str, body: bytes) -> Exception:
        envelope = parse_envelope(body)
        action = envelope.action
        detail = self._redactor(f"{envelope.msg_cd} {envelope.msg1}".strip() or envelope.problem)
        if action is Action.WAIT:
            return TokenThrottledError(MIN_ISSUE_INTERVAL_S, f"KIS answered {detail}")
        if action is Action.FATAL_CONFIG:
            self._fatal = KisCredentialsError(envelope.msg_cd, detail, api="token")
            return self._fatal
        return TokenError(f"KIS refused the {what} for key {self._id}: {detail}")

    # -- approval key ---------------------------------------------------------------------
    async def approval_key(self) -> SecretStr:
        """The WebSocket approval key for today (KST), issued at most once a day."""
        if self._fatal is not None:
            raise self._fatal
        today = self._clock.now().date().isoformat()
        async with self._lock, self._file_lock():
            state = self._load()
            key = state.get("approval_key")
            if isinstance(key, str) and key and state.get("approval_day") == today:
                self._redactor.add(key)
                return SecretStr(key)
            answer, obj = await self._post_credentials("approval", "/oauth2/Approval", "secretkey")
            key = obj.get("approval_key")
            if not isinstance(key, str) or not key:
                raise self._failure("approval key", answer)
            self._redactor.add(key)
            state.update(approval_key=key, approval_day=today)
            await self._save(state)
            logger.info("issued a KIS approval key for key %s (%s)", self._id, today)
            return SecretStr(key)

    async def invalidate_approval_key(self) -> None:
        """KIS refused the approval key (OPSP0011): the next call issues a new one."""
        async with self._lock, self._file_lock():
            state = self._load()
            if state.get("approval_key"):
                state["approval_key"] = None
                await self._save(state)
        logger.warning("KIS refused the approval key of key %s; it will be reissued", self._id)

    # -- the cache file -------------------------------------------------------------------
    @property
    def _id(self) -> str:
        return self.key_id[:12]

    @contextlib.asynccontextmanager
    async def _file_lock(self) -> AsyncIterator[None]:
        """Hold the cross-process lock (polled, so waiting never blocks the event loop)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            waited = 0.0
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waited > LOCK_TIMEOUT_S:
                        raise TokenError(f"token cache {self.path} stays locked") from None
                    await asyncio.sleep(LOCK_POLL_S)
                    waited += LOCK_POLL_S
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _load(self) -> dict[str, Any]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            state = orjson.loads(data)
            if not isinstance(state, dict) or state.get("v") != CACHE_VERSION:
                raise ValueError("not a token cache")
            int(state.get("expires_ns", 0))
            int(state.get("last_issue_ns", 0))
        except (ValueError, TypeError):
            stamp = self._clock.now().strftime("%Y%m%dT%H%M%S")
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            os.replace(self.path, aside)
            logger.warning("token cache %s was corrupt; moved aside to %s", self.path, aside.name)
            return {}
        return state

    async def _save(self, state: dict[str, Any]) -> None:
        state["v"] = CACHE_VERSION
        state["key_id"] = self.key_id
        temp = temp_name(self.path, str(os.getpid()))
        await asyncio.to_thread(replace_file, self.path, orjson.dumps(state), mode=0o600, temp=temp)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


def cache_status(cache_dir: Path) -> list[dict[str, Any]]:
    """What each cache file in ``cache_dir`` holds, without any secret (for operators)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(cache_dir).glob("kis-token-*.json")):
        row: dict[str, Any] = {"file": path.name, "key_id": path.stem.removeprefix("kis-token-")}
        try:
            state = orjson.loads(path.read_bytes())
            if not isinstance(state, dict):
                raise ValueError("not an object")
        except (OSError, ValueError) as exc:
            row["error"] = f"unreadable: {exc}"
            rows.append(row)
            continue
        row["has_token"] = bool(state.get("access_token"))
        for field in ("expires_ns", "issued_ns", "last_issue_ns"):
            value = state.get(field)
            if isinstance(value, int) and value > 0:
                name = field.removesuffix("_ns")
                row[name] = datetime.fromtimestamp(value / NS_PER_S, KST).isoformat()
        row["approval_day"] = state.get("approval_day") if state.get("approval_key") else None
        row["mode"] = oct(path.stat().st_mode & 0o777)
        rows.append(row)
    return rows
