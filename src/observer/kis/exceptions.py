"""Errors of the KIS protocol client.

    ObserverError
     +-- KisError                        anything the KIS side of Observer raises
          +-- KisApiError                  KIS answered rt_cd != "0" (msg_cd, msg1, tr_id, api)
          |    +-- RateLimitError            EGW00201: the per-second limit was hit
          |    +-- KisCredentialsError       EGW00103 / EGW00105: bad app key or secret (fatal)
          |    +-- TrUnavailableError        the TR is not offered (e.g. on paper accounts)
          +-- KisTransportError            the connection failed or timed out (api, reason)
          +-- KisProtocolError             the answer could not be understood (not JSON, ...)
          +-- TokenError                   token / approval key lifecycle
          |    +-- TokenThrottledError       one issuance per minute: retry_after seconds
          +-- MasterError                  a master file could not be downloaded or read
          +-- WebSocketError               session-level failures (OPSP codes)
               +-- RegistrationLimitError    OPSP0008 or the client-side 41 registration cap
               +-- AppKeyInUseError          OPSP8996: another session holds the app key

aiohttp exceptions are translated into KisTransportError in observer.kis.transport only.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from observer.exceptions import ObserverError


class KisError(ObserverError):
    """Base class of every KIS protocol error."""


@dataclass(eq=False)
class KisApiError(KisError):
    """KIS answered with an error envelope; ``msg_cd`` says which."""

    msg_cd: str
    msg1: str = ""
    _: KW_ONLY
    tr_id: str = ""
    api: str = ""

    def __str__(self) -> str:
        where = f"{self.api} ({self.tr_id})" if self.tr_id else self.api
        return f"KIS {where or 'call'} failed: {self.msg_cd or '?'} {self.msg1}".rstrip()


class RateLimitError(KisApiError):
    """EGW00201: more requests per second than KIS allows for this app key."""


class KisCredentialsError(KisApiError):
    """EGW00103 / EGW00105: the app key or app secret is invalid; retrying cannot help."""


class TrUnavailableError(KisApiError):
    """The TR is not offered to this account (for example multi-price on paper accounts)."""


@dataclass(eq=False)
class KisTransportError(KisError):
    """The request did not get an answer: connection refused or reset, timeout, bad TLS."""

    template = "KIS {api} transport error: {reason}"
    api: str
    reason: str


@dataclass(eq=False)
class KisProtocolError(KisError):
    """The answer arrived but is not a KIS envelope (not JSON, missing fields)."""

    template = "KIS {api} answer not understood (HTTP {status}): {reason}"
    api: str
    reason: str
    status: int = 0


class TokenError(KisError):
    """An access token or approval key could not be obtained."""


@dataclass(eq=False)
class TokenThrottledError(TokenError):
    """A token may be issued at most once a minute per app key; try again after a wait."""

    template = "token issuance refused: {reason}; retry in {retry_after:.0f} s"
    retry_after: float
    reason: str = "issued less than 60 s ago"


class MasterError(KisError):
    """A symbol master file could not be downloaded or contained no issues."""


class WebSocketError(KisError):
    """A WebSocket session failure, usually an OPSP answer code."""

    def __init__(self, message: str, msg_cd: str = "") -> None:
        self.msg_cd = msg_cd
        super().__init__(message)


class RegistrationLimitError(WebSocketError):
    """OPSP0008 or the 41-registration cap: no more (tr_id, tr_key) pairs on this session."""


class AppKeyInUseError(WebSocketError):
    """OPSP8996: another session is connected with the same app key."""
