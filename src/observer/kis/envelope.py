"""REST answers: the envelope every KIS endpoint returns, and what each error code means.

Envelope fields are ``rt_cd`` ("0" = success), ``msg_cd``, ``msg1`` and ``output`` /
``output1`` / ``output2``; every value is a string. Errors are classified by ``msg_cd`` and
never by HTTP status: KIS answers HTTP 500 both for the per-second limit and for gateway
errors, and treating a 500 as "token invalid" locks a service out (one token per minute).
The token endpoint answers throttling (EGW00133) with a non-standard body
``{"error_code": ..., "error_description": ...}``, which is read the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import orjson


class Action(enum.Enum):
    """What the client does with an answer."""

    OK = "ok"
    RETRY = "retry"  # back off and try again (idempotent calls only)
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - an action name; refresh the token once, then retry once
    WAIT = "wait"  # token issuance throttled: wait 60 s or more, never loop
    FATAL_CONFIG = "fatal_config"  # credentials are wrong: stop, do not retry
    FATAL_CALL = "fatal_call"  # this call cannot succeed (permission, bad input)


RATE_LIMITED = "EGW00201"
TOKEN_THROTTLED = "EGW00133"  # noqa: S105 - a KIS error code
# msg_cd -> (action, meaning). Anything not listed: OK when rt_cd is "0", else FATAL_CALL.
ERROR_TABLE: dict[str, tuple[Action, str]] = {
    RATE_LIMITED: (Action.RETRY, "per-second request limit exceeded"),
    "EGW00001": (Action.RETRY, "temporary gateway error"),
    "EGW00002": (Action.RETRY, "temporary server error"),
    "EGW00202": (Action.RETRY, "gateway error"),
    "EGW00203": (Action.RETRY, "gateway error"),
    "EGW00300": (Action.RETRY, "gateway error"),
    "EGW00121": (Action.REFRESH_TOKEN, "token invalid"),
    "EGW00122": (Action.REFRESH_TOKEN, "token missing"),
    "EGW00123": (Action.REFRESH_TOKEN, "token expired"),
    TOKEN_THROTTLED: (Action.WAIT, "token issued too often (one per minute)"),
    "EGW00103": (Action.FATAL_CONFIG, "invalid app key"),
    "EGW00105": (Action.FATAL_CONFIG, "invalid app secret"),
    "EGW00206": (Action.FATAL_CALL, "no permission for this API"),
}


def classify(msg_cd: str, rt_cd: str = "0") -> Action:
    """The action for an answer's ``msg_cd`` (unlisted codes follow ``rt_cd``)."""
    known = ERROR_TABLE.get(msg_cd)
    if known is not None:
        return known[0]
    return Action.OK if rt_cd == "0" else Action.FATAL_CALL


@dataclass(slots=True)
class Envelope:
    """One parsed REST answer; ``problem`` is set when the body was not a KIS envelope."""

    rt_cd: str = ""
    msg_cd: str = ""
    msg1: str = ""
    output: Any = None
    output1: Any = None
    output2: Any = None
    tr_cont: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    problem: str = ""

    @property
    def action(self) -> Action:
        """How to treat this answer (an unreadable body is retried like a gateway error)."""
        if self.problem:
            return Action.RETRY
        return classify(self.msg_cd, self.rt_cd)

    @property
    def more(self) -> bool:
        """True when KIS has another page (``tr_cont`` M or F)."""
        return self.tr_cont in ("M", "F")


def parse_envelope(body: bytes | str, tr_cont: str = "") -> Envelope:
    """Read a REST answer body; never raises (an unreadable body sets ``problem``)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Envelope(tr_cont=tr_cont, problem="body is not JSON")
    if not isinstance(obj, dict):
        return Envelope(tr_cont=tr_cont, problem="body is not a JSON object")
    if "error_code" in obj and "rt_cd" not in obj:
        return Envelope(
            rt_cd="1",
            msg_cd=_text(obj.get("error_code")),
            msg1=_text(obj.get("error_description")),
            tr_cont=tr_cont,
            body=obj,
        )
    return Envelope(
        rt_cd=_text(obj.get("rt_cd")),
        msg_cd=_text(obj.get("msg_cd")),
        msg1=_text(obj.get("msg1")).strip(),
        output=obj.get("output"),
        output1=obj.get("output1"),
        output2=obj.get("output2"),
        tr_cont=tr_cont,
        body=obj,
    )


def _text(value: object) -> str:
    return "" if value is None else str(value)
