"""The one redactor every log line and request/response dump goes through."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# Field names whose values are secret wherever they appear (JSON, headers, query strings).
_SECRET_FIELDS = (
    "appkey",
    "appsecret",
    "secretkey",
    "app_key",
    "app_secret",
    "access_token",
    "approval_key",
    "authorization",
    "token",
    "password",
    "db_password",
    "kis_app_key",
    "kis_app_secret",
    "kis_hts_id",
)
_FIELD_RE = re.compile(
    r"(?i)(?P<key>(?P<kq>[\"']?)(?:" + "|".join(_SECRET_FIELDS) + r")[\"']?\s*(?P<sep>[:=])\s*)"
    r"(?P<q>[\"']?)(?P<val>(?:Bearer\s+)?[^\"'\s,&}]+)"
)
# An unquoted ``name: value`` is prose unless the value looks like a credential.
_CREDENTIAL_RE = re.compile(r"(?i)^(?:Bearer\s+\S+|\S*\d\S*|\S{16,})$")
_BEARER_RE = re.compile(r"(?i)(Bearer\s+)[A-Za-z0-9._\-+/=]{8,}")
_DSN_RE = re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@")


class Redactor:
    """Masks known secret values and anything that looks like a credential field."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register further secret values (e.g. a token once it is issued)."""
        for secret in secrets:
            if secret and len(secret) >= 4 and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _FIELD_RE.sub(_mask_field, text)
        text = _BEARER_RE.sub(rf"\g<1>{MASK}", text)
        return _DSN_RE.sub(rf"\g<1>{MASK}@", text)


def _mask_field(match: re.Match[str]) -> str:
    """Mask a credential field's value: always when quoted or ``name=value`` (JSON, query
    strings, env lines); in ``name: value`` prose only a value that looks like a credential,
    so "KIS_APP_SECRET: required when ..." keeps its words."""
    structured = match["kq"] or match["q"] or match["sep"] == "="
    if not structured and not _CREDENTIAL_RE.match(match["val"]):
        return match[0]
    return f"{match['key']}{match['q']}{MASK}"
