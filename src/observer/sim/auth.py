"""The simulator's gatekeeper: access tokens, approval keys, header checks and the limits.

Answers carry the real KIS codes: EGW00133 (token issued again within a minute, non-standard
body), EGW00121 / EGW00122 / EGW00123 (token invalid / missing / expired), EGW00201 (per-second
limit, HTTP 500), EGW00300 (gateway error bursts), EGW00103 / EGW00105 (unknown app key or
wrong secret, only when the server is given a fixed set of keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from observer.clock import KST, NS_PER_S, Clock

TOKEN_LIFETIME_S = 86_400
TOKEN_INTERVAL_S = 60.0
GATEWAY_BURST_MAX = 3

MESSAGES = {
    "EGW00103": "유효하지 않은 AppKey입니다.",
    "EGW00105": "유효하지 않은 AppSecret입니다.",
    "EGW00121": "유효하지 않은 token 입니다.",
    "EGW00122": "token을 찾을 수 없습니다.",
    "EGW00123": "기간이 만료된 token 입니다.",
    "EGW00133": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
    "EGW00201": "초당 거래건수를 초과하였습니다.",
    "EGW00300": "일시적인 오류가 발생했습니다. 잠시 후 다시 시도하세요.",
    "OPSQ0002": "없는 서비스 코드 입니다",
}


@dataclass(slots=True)
class Refusal:
    """An error answer: HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]


def envelope_error(msg_cd: str, status: int = 500) -> Refusal:
    """A standard KIS error envelope."""
    return Refusal(status, {"rt_cd": "1", "msg_cd": msg_cd, "msg1": MESSAGES.get(msg_cd, "")})


@dataclass(slots=True)
class IssuedToken:
    app_key: str
    expires_ns: int


class SimAuth:
    """Tokens, approval keys and per-app-key limits, on the process clock."""

    def __init__(
        self,
        clock: Clock,
        *,
        rate_limit: float,
        gateway_error_rate: float = 0.0,
        app_keys: Mapping[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        self._clock = clock
        self._rate_limit = rate_limit
        self._gateway_error_rate = gateway_error_rate
        self._app_keys = dict(app_keys) if app_keys is not None else None
        self._rng = random.Random(seed)
        # Tokens are signed, not only remembered: like KIS, a token stays valid when the server
        # restarts, so a client's cached token survives a restart of the simulator too.
        self._signing_key = hashlib.sha256(f"observer-sim-token-{seed}".encode()).digest()
        self._tokens: dict[str, IssuedToken] = {}
        self._revoked: set[str] = set()
        self._last_issue: dict[str, float] = {}
        self._windows: dict[str, deque[float]] = {}
        self._burst = 0
        self.approvals: dict[str, str] = {}  # approval key -> app key
        self.tokens_issued: Counter[str] = Counter()
        self.tokens_refused: Counter[str] = Counter()
        self.approvals_issued: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.gateway_errors = 0

    # -- issuance -------------------------------------------------------------------------
    def credentials_refusal(self, app_key: str, app_secret: str) -> Refusal | None:
        """EGW00103 / EGW00105 when the server knows its keys and these are not among them."""
        if self._app_keys is None:
            return None if app_key and app_secret else envelope_error("EGW00103", 403)
        if app_key not in self._app_keys:
            return envelope_error("EGW00103", 403)
        if self._app_keys[app_key] != app_secret:
            return envelope_error("EGW00105", 403)
        return None

    def issue_token(self, app_key: str, app_secret: str) -> Refusal | dict[str, Any]:
        """A new access token, or EGW00133 when one was issued less than a minute ago."""
        refusal = self.credentials_refusal(app_key, app_secret)
        if refusal is not None:
            return refusal
        now = self._clock.monotonic()
        last = self._last_issue.get(app_key)
        if last is not None and now - last < TOKEN_INTERVAL_S:
            self.tokens_refused[app_key] += 1
            return Refusal(
                403, {"error_code": "EGW00133", "error_description": MESSAGES["EGW00133"]}
            )
        self._last_issue[app_key] = now
        expires_ns = self._clock.now_ns() + TOKEN_LIFETIME_S * NS_PER_S
        token = self._sign(app_key, expires_ns)
        self._tokens[token] = IssuedToken(app_key, expires_ns)
        self.tokens_issued[app_key] += 1
        expiry = datetime.fromtimestamp(expires_ns / NS_PER_S, KST)
        return {
            "access_token": token,
            "access_token_token_expired": expiry.strftime("%Y-%m-%d %H:%M:%S"),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
        }

    def _sign(self, app_key: str, expires_ns: int) -> str:
        nonce = secrets.token_urlsafe(12)
        payload = f"{hashlib.sha256(app_key.encode()).hexdigest()[:32]}.{expires_ns}.{nonce}"
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        mac = hmac.new(self._signing_key, body.encode(), hashlib.sha256).hexdigest()
        return f"sim.{body}.{mac}"

    def _verify(self, token: str, app_key: str) -> IssuedToken | None:
        """A token this server (or an earlier run with the same seed) signed, else None."""
        prefix, _, rest = token.partition(".")
        body, _, mac = rest.rpartition(".")
        expected = hmac.new(self._signing_key, body.encode(), hashlib.sha256).hexdigest()
        if prefix != "sim" or token in self._revoked or not hmac.compare_digest(mac, expected):
            return None
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
            key_hash, expires, _nonce = payload.split(".")
            expires_ns = int(expires)
        except ValueError:
            return None
        if key_hash != hashlib.sha256(app_key.encode()).hexdigest()[:32]:
            return None
        issued = self._tokens[token] = IssuedToken(app_key, expires_ns)
        return issued

    def revoke(self, token: str) -> bool:
        self._revoked.add(token)
        return self._tokens.pop(token, None) is not None

    def issue_approval(self, app_key: str, secret_key: str) -> Refusal | dict[str, Any]:
        """A WebSocket approval key for the app key."""
        refusal = self.credentials_refusal(app_key, secret_key)
        if refusal is not None:
            return refusal
        key = secrets.token_hex(18)
        key = f"{key[:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:]}"
        self.approvals[key] = app_key
        self.approvals_issued[app_key] += 1
        return {"approval_key": key}

    # -- checks ---------------------------------------------------------------------------
    def check_call(self, headers: Mapping[str, str]) -> Refusal | None:
        """The gateway's checks of one API call: keys, token, per-second limit, faults."""
        app_key = headers.get("appkey", "")
        refusal = self.credentials_refusal(app_key, headers.get("appsecret", ""))
        if refusal is not None:
            return envelope_error(str(refusal.body["msg_cd"]), 500)
        refusal = self._token_refusal(app_key, headers.get("authorization", ""))
        if refusal is not None:
            return refusal
        if not self._admit(app_key):
            self.rate_limited[app_key] += 1
            return envelope_error("EGW00201")
        if self._gateway_fault():
            self.gateway_errors += 1
            return envelope_error("EGW00300")
        return None

    def _token_refusal(self, app_key: str, authorization: str) -> Refusal | None:
        scheme, _, token = authorization.partition(" ")
        if not token or scheme.lower() != "bearer":
            return envelope_error("EGW00122")
        issued = self._tokens.get(token.strip()) or self._verify(token.strip(), app_key)
        if issued is None or issued.app_key != app_key:
            return envelope_error("EGW00121")
        if issued.expires_ns <= self._clock.now_ns():
            return envelope_error("EGW00123")
        return None

    def _admit(self, app_key: str) -> bool:
        window = self._windows.setdefault(app_key, deque())
        now = self._clock.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self._rate_limit:
            return False
        window.append(now)
        return True

    def _gateway_fault(self) -> bool:
        if self._burst > 0:
            self._burst -= 1
            return True
        if self._gateway_error_rate > 0 and self._rng.random() < self._gateway_error_rate:
            self._burst = self._rng.randint(0, GATEWAY_BURST_MAX - 1)
            return True
        return False

    # -- test hooks -----------------------------------------------------------------------
    def expire_tokens(self, app_key: str | None = None) -> int:
        """Make every token (of one app key) expired now; returns how many."""
        now = self._clock.now_ns()
        count = 0
        for issued in self._tokens.values():
            if app_key is None or issued.app_key == app_key:
                issued.expires_ns = now
                count += 1
        return count

    def forget_issuance(self, app_key: str | None = None) -> None:
        """Drop the one-per-minute memory, so a new token may be issued at once."""
        if app_key is None:
            self._last_issue.clear()
        else:
            self._last_issue.pop(app_key, None)
