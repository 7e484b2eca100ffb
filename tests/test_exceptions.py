"""The error root: messages made from an error's fields, and the template of every such error."""

from __future__ import annotations

import dataclasses
import importlib
import string

import pytest

from observer.archive.exceptions import ArchiveLocked, ArchiveWriteError
from observer.exceptions import ObserverError
from observer.kis.exceptions import KisApiError, RateLimitError, TokenThrottledError
from observer.market.exceptions import CalendarError

PACKAGES = ("archive", "config", "kis", "market", "ops", "ops.verify", "sim", "store")


def _subclasses(cls: type[ObserverError]) -> list[type[ObserverError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _templated() -> list[type[ObserverError]]:
    for package in PACKAGES:
        importlib.import_module(f"observer.{package}.exceptions")
    return [cls for cls in _subclasses(ObserverError) if cls.template]


def test_every_template_names_only_fields_of_its_error() -> None:
    templated = _templated()
    assert ArchiveLocked in templated and TokenThrottledError in templated
    for cls in templated:
        assert dataclasses.is_dataclass(cls), cls
        names = {name for _, name, _, _ in string.Formatter().parse(cls.template) if name}
        assert names <= {f.name for f in dataclasses.fields(cls)}, cls


def test_the_message_is_the_template_over_the_fields() -> None:
    err = ArchiveWriteError("/data/scalp.jsonl", 28, "No space left on device")
    assert str(err) == "archive write to /data/scalp.jsonl failed: No space left on device"
    assert err.errno == 28
    assert str(TokenThrottledError(42.4)) == (
        "token issuance refused: issued less than 60 s ago; retry in 42 s"
    )
    assert str(CalendarError("holidays.yaml", "not a date", "close")) == (
        "holidays.yaml (close): not a date"
    )
    assert str(RateLimitError("EGW00201", "too many", tr_id="FHKST01010100", api="price")) == (
        "KIS price (FHKST01010100) failed: EGW00201 too many"
    )
    assert str(KisApiError("")) == "KIS call failed: ?"


def test_errors_with_fields_compare_by_identity() -> None:
    one, two = ArchiveLocked("/data", "pid 7"), ArchiveLocked("/data", "pid 7")
    assert one != two and len({one, two}) == 2
    with pytest.raises(ArchiveLocked, match="in use by pid 7"):
        raise one


def test_an_error_without_a_template_keeps_the_message_it_was_given() -> None:
    assert str(ObserverError("plain words")) == "plain words"
