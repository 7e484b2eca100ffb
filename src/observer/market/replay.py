"""The replay source: captured frames fed through the same pipeline as live data.

``OBSERVER_SOURCE=replay`` reads ``OBSERVER_REPLAY_PATH`` (a file, or a directory of files) and
hands every frame to a :class:`ScalpStreamer`, exactly as if a WebSocket session had received
it: parsing, validation, gap detection, quarantine and the archive all behave as live. Records
carry ``source: replay``. Two line formats are accepted, detected per line:

- raw WebSocket text as received (``0|H0STCNT0|002|...``, one message a line, as
  ``observer kis decode`` reads it); its receive time is the replay clock's;
- archive lines (``{"stream":"scalp",...,"raw":...}``), so an old archive can be re-parsed after
  KIS changes a format; the original receive time is kept.

Lines that are neither go to the quarantine with a reason. Files ending in ``.zst`` are read
compressed.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import zstandard

from observer.clock import Clock
from observer.kis.frames import DataMessage, Reject, parse_message
from observer.market.streamer import ScalpStreamer

log = logging.getLogger(__name__)
BATCH_LINES = 1024


@dataclass(slots=True)
class ReplayItem:
    """One replayed message, shaped like a WebSocket data item."""

    recv_ns: int
    message: Any


@dataclass(slots=True)
class ReplayProgress:
    """What /status shows about a replay."""

    files: int = 0
    lines: int = 0
    messages: int = 0
    control: int = 0
    unreadable: int = 0
    done: bool = False


def replay_files(path: Path) -> list[Path]:
    """The files under ``path`` in name order (``path`` itself when it is a file)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as raw:
        if path.suffix == ".zst":
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
            yield from io.BufferedReader(reader)
        else:
            yield from raw


def frame_of(line: bytes) -> tuple[str, int | None] | None:
    """(WebSocket text, original receive time or None) for one line, or None if unusable.

    Control messages (JSON with a ``header``) are returned as they are: the parser knows them.
    """
    text = line.rstrip(b"\r\n")
    if not text.strip():
        return None
    if text[:1] != b"{":
        return text.decode("utf-8", "replace"), None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    if "header" in obj:
        return text.decode("utf-8", "replace"), None
    raw, tr_id = obj.get("raw"), obj.get("tr_id")
    if not isinstance(raw, str) or not isinstance(tr_id, str) or obj.get("stream") != "scalp":
        return None
    recv_ns = obj.get("recv_ns")
    return f"0|{tr_id}|001|{raw}", recv_ns if isinstance(recv_ns, int) else None


class ReplaySource:
    """Feeds the frames under ``path`` to ``streamer`` once, then stays idle."""

    def __init__(self, path: Path, clock: Clock, streamer: ScalpStreamer) -> None:
        self.path = path
        self.clock = clock
        self.streamer = streamer
        self.progress = ReplayProgress()
        self._unreadable: list[str] = []

    async def run(self) -> None:
        """Replay every file; each batch waits for archive queue space (back-pressure)."""
        files = replay_files(self.path)
        self.progress.files = len(files)
        for file in files:
            batch: list[ReplayItem] = []
            for line in _lines(file):
                self.progress.lines += 1
                item = self._item(line)
                if item is not None:
                    batch.append(item)
                if len(batch) >= BATCH_LINES:
                    await self._hand(batch)
                    batch = []
            await self._hand(batch)
        self.progress.done = True
        log.info(
            "replay finished: %d files, %d messages, %d unreadable lines",
            self.progress.files,
            self.progress.messages,
            self.progress.unreadable,
        )

    def _item(self, line: bytes) -> ReplayItem | None:
        found = frame_of(line)
        if found is None:
            if line.strip():
                self.progress.unreadable += 1
                self._unreadable.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            return None
        text, recv_ns = found
        recv_ns = recv_ns or self.clock.now_ns()
        message = parse_message(text, recv_ns)
        if not isinstance(message, DataMessage | Reject):
            self.progress.control += 1  # subscribe answers and PINGPONG carry no market data
            return None
        return ReplayItem(recv_ns, message)

    async def _hand(self, batch: list[ReplayItem]) -> None:
        unreadable, self._unreadable = self._unreadable, []
        if unreadable:
            rejects = [("unreadable_line", line, None) for line in unreadable]
            await self.streamer.outlet.reject_many(rejects)
        if batch:
            self.progress.messages += len(batch)
            await self.streamer.handle(batch)
        await asyncio.sleep(0)

    def status(self) -> dict[str, Any]:
        p = self.progress
        return {
            "sources": [
                {
                    "name": "replay",
                    "kind": "replay",
                    "connected": not p.done,
                    "reconnects": 0,
                    "last_message_age_seconds": None,
                    "registrations": 0,
                    "path": str(self.path),
                    "files": p.files,
                    "lines": p.lines,
                    "messages": p.messages,
                    "control": p.control,
                    "unreadable": p.unreadable,
                    "done": p.done,
                }
            ]
        }
