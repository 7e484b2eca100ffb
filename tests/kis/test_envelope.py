"""REST envelopes and the error table."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from observer.kis.envelope import Action, classify, parse_envelope


def test_classification_by_msg_cd_not_status() -> None:
    assert classify("EGW00201", "1") is Action.RETRY
    for code in ("EGW00121", "EGW00122", "EGW00123"):
        assert classify(code, "1") is Action.REFRESH_TOKEN
    assert classify("EGW00133", "1") is Action.WAIT
    assert classify("EGW00103", "1") is Action.FATAL_CONFIG
    assert classify("EGW00105", "1") is Action.FATAL_CONFIG
    assert classify("EGW00206", "1") is Action.FATAL_CALL
    for code in ("EGW00001", "EGW00002", "EGW00202", "EGW00203", "EGW00300"):
        assert classify(code, "1") is Action.RETRY
    assert classify("MCA00000", "0") is Action.OK
    assert classify("OPSQ9999", "1") is Action.FATAL_CALL


def test_standard_envelope() -> None:
    body = b'{"rt_cd":"0","msg_cd":"MCA00000","msg1":"ok  ","output":{"stck_prpr":"100"}}'
    envelope = parse_envelope(body, "M")
    assert envelope.action is Action.OK and envelope.more
    assert envelope.output == {"stck_prpr": "100"} and envelope.msg1 == "ok"


def test_token_throttle_body_is_read_as_an_envelope() -> None:
    envelope = parse_envelope(b'{"error_code":"EGW00133","error_description":"once a minute"}')
    assert envelope.msg_cd == "EGW00133" and envelope.msg1 == "once a minute"
    assert envelope.action is Action.WAIT


def test_unreadable_bodies_are_problems_not_exceptions() -> None:
    for body in (b"<html>502</html>", b"[1,2]", b""):
        envelope = parse_envelope(body)
        assert envelope.problem and envelope.action is Action.RETRY


@given(st.binary(max_size=200))
def test_parse_envelope_never_raises(body: bytes) -> None:
    assert isinstance(parse_envelope(body).action, Action)
