"""The reply-shape fixtures under tests/kis/data/replies/, written from KIS_PROTOCOL.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

REPLIES = Path(__file__).parent / "data" / "replies"


def reply(name: str) -> dict[str, Any]:
    """One fixture: ``exchange``, ``tr_id``, ``follows`` and the reply (body/message/frame)."""
    fixture: dict[str, Any] = orjson.loads((REPLIES / f"{name}.json").read_bytes())
    return fixture


def names() -> list[str]:
    return sorted(p.stem for p in REPLIES.glob("*.json"))


def shape(value: Any) -> Any:
    """The key structure of a JSON value: dicts as {key: shape}, lists as [shape of items]."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = [shape(item) for item in value]
        return [shapes[0]] if shapes and all(s == shapes[0] for s in shapes) else shapes
    return type(value).__name__
