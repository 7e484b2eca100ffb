"""Compression of closed hours: ``.jsonl`` -> verified ``.jsonl.zst`` + a manifest line.

Steps for one file, each safe to interrupt (the next run picks up where it stopped):

1. stream-compress to ``<name>.jsonl.zst.tmp`` (zstd level 3, frame checksum), fsync;
2. decompress the temp file and compare the sha256 of its content with the plain file's;
3. rename to ``<name>.jsonl.zst``, fsync the directory;
4. append ``<sha256 of the .zst>  <name>.jsonl.zst`` to ``manifest_YYYYMMDD.sha256``, fsync;
5. delete the plain file, fsync the directory.

A leftover temp file is removed and redone; a ``.zst`` whose plain file still exists is checked
against it again; a ``.zst`` missing from its manifest gets its line. The blocking functions run
in a worker thread (:class:`CompressionWorker`), so the event loop never waits for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import zstandard

from observer.archive.exceptions import (
    ArchiveCompressionError,
    ArchiveError,
    ArchiveManifestError,
)
from observer.archive.files import scan
from observer.archive.paths import (
    TMP_SUFFIX,
    ArchiveName,
    day_label,
    hour_index,
    hour_start_ns,
    manifest_name,
    parse_name,
)
from observer.archive.segment import whole_lines_end
from observer.clock import KST, NS_PER_S
from observer.durable import fsync_dir
from observer.metrics import Metrics

log = logging.getLogger(__name__)
LEVEL: Final = 3
CHUNK: Final = 1 << 20
STALE_TEMP_SECONDS: Final = 300.0
_TEMP_RE: Final = re.compile(r"^[a-z]+_\d{8}_\d{2}\.jsonl\.zst\.(\d+)-\d+\.tmp$")


class CompressionStopped(ArchiveError):
    """Compression was interrupted by shutdown; the temp file was removed."""


def read_manifest(path: Path) -> dict[str, str]:
    """``{file name: sha256}`` from one manifest (the last line wins); empty when absent.

    A last line without ``\\n`` is a torn append (it is redone by the next run) and is ignored.
    """
    listed: dict[str, str] = {}
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return listed
    for no, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ArchiveManifestError(str(path), no)
        listed[name] = digest
    return listed


def _append_manifest(path: Path, digest: str, name: str) -> None:
    """Append one line and fsync; a torn last line is cut first, a failed append cut back."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        keep = whole_lines_end(fd, size)
        if keep != size:
            size = keep
            os.ftruncate(fd, size)
        try:
            os.write(fd, f"{digest}  {name}\n".encode())
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise CompressionStopped("compression stopped for shutdown")


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def digest_zst(path: Path) -> tuple[str, str]:
    """(sha256 of the .zst file, sha256 of its decompressed content); raises on a bad frame."""
    file_sha, content_sha = hashlib.sha256(), hashlib.sha256()
    dobj = zstandard.ZstdDecompressor().decompressobj()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                file_sha.update(chunk)
                content_sha.update(dobj.decompress(chunk))
    except zstandard.ZstdError as exc:
        raise ArchiveCompressionError(str(path), f"not a valid zstd file: {exc}") from exc
    if not dobj.eof:
        raise ArchiveCompressionError(str(path), "truncated zstd file")
    return file_sha.hexdigest(), content_sha.hexdigest()


def _compress_to(plain: Path, tmp: Path, stop: threading.Event | None) -> str:
    """Stream-compress ``plain`` into ``tmp`` and fsync it; the sha256 of the plain content."""
    content_sha = hashlib.sha256()
    cobj = zstandard.ZstdCompressor(level=LEVEL, write_checksum=True).compressobj()
    try:
        with plain.open("rb") as src, tmp.open("wb") as dst:
            while chunk := src.read(CHUNK):
                _check_stop(stop)
                content_sha.update(chunk)
                dst.write(cobj.compress(chunk))
            dst.write(cobj.flush())
            dst.flush()
            os.fsync(dst.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return content_sha.hexdigest()


def compress_hour(plain: Path, *, stop: threading.Event | None = None) -> str:
    """Compress one closed plain hour file (all five steps); returns the ``.zst`` name.

    Safe to run again after any interruption, and concurrently with another run on the same
    file (each run has its own temp file; the rename, manifest and delete tolerate each other).
    """
    parsed = parse_name(plain.name)
    if parsed is None or parsed.compressed:
        raise ArchiveCompressionError(str(plain), "not a plain archive file name")
    try:
        return _compress_parsed(plain, parsed, stop)
    except FileNotFoundError:
        if plain.exists() or not (plain.parent / parsed.zst).exists():
            raise
        # another run finished this hour while we worked on it: make sure it is listed
        _list_orphan_zst(plain.parent, parsed.day, parsed.zst)
        return parsed.zst


def _compress_parsed(plain: Path, parsed: ArchiveName, stop: threading.Event | None) -> str:
    directory = plain.parent
    zst = directory / parsed.zst
    if not plain.exists():
        if not zst.exists():
            raise ArchiveCompressionError(str(plain), "neither the file nor its .zst exists")
        _list_orphan_zst(directory, parsed.day, parsed.zst)
        return parsed.zst
    if zst.exists():  # an earlier run stopped after the rename: check it against the plain
        checked, content_sha = zst, sha256_file(plain)
    else:
        checked = directory / f"{parsed.zst}.{os.getpid()}-{threading.get_ident()}{TMP_SUFFIX}"
        content_sha = _compress_to(plain, checked, stop)
        _check_stop(stop)
    try:
        zst_sha, unpacked_sha = digest_zst(checked)
        if unpacked_sha != content_sha:
            raise ArchiveCompressionError(str(checked), "decompressed content differs")
    except ArchiveCompressionError:
        if checked != zst:
            checked.unlink(missing_ok=True)
        raise
    if checked != zst:
        os.replace(checked, zst)
        fsync_dir(directory)
    _record_in_manifest(directory, parsed.day, parsed.zst, zst_sha)
    plain.unlink(missing_ok=True)
    fsync_dir(directory)
    log.info("archive: compressed %s", parsed.zst)
    return parsed.zst


def _record_in_manifest(directory: Path, day: str, name: str, zst_sha: str) -> None:
    manifest = directory / manifest_name(day)
    listed = read_manifest(manifest).get(name)
    if listed is None:
        _append_manifest(manifest, zst_sha, name)
    elif listed != zst_sha:
        raise ArchiveCompressionError(name, "manifest lists a different sha256 for this file")


def compress_closed(
    assets_dir: Path, now: datetime, *, stop: threading.Event | None = None
) -> list[str]:
    """Compress every plain hour before ``now``'s KST hour and repair unfinished runs."""
    before = hour_index(int(now.timestamp() * NS_PER_S))
    done: list[str] = []
    if not assets_dir.is_dir():
        return done
    names = sorted(os.listdir(assets_dir))
    for name in names:
        if _is_stale_temp(assets_dir / name):  # a run that stopped mid-way: it is redone
            (assets_dir / name).unlink(missing_ok=True)
    for name in names:
        parsed = parse_name(name)
        if parsed is None or parsed.index >= before:
            continue
        if not parsed.compressed:
            _check_stop(stop)
            done.append(compress_hour(assets_dir / name, stop=stop))
        elif parsed.plain not in names:
            _list_orphan_zst(assets_dir, parsed.day, name)
    return done


def _is_stale_temp(path: Path) -> bool:
    """A compression temp file of a run that ended (its process is gone, or it went quiet)."""
    m = _TEMP_RE.match(path.name)
    if m is None:
        return False
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # the process exists (someone else's)
    try:
        return time.time() - path.stat().st_mtime > STALE_TEMP_SECONDS
    except FileNotFoundError:
        return False


def _list_orphan_zst(assets_dir: Path, day: str, name: str) -> None:
    """A .zst whose plain file is gone but which its manifest does not list: add its line."""
    manifest = assets_dir / manifest_name(day)
    if name in read_manifest(manifest):
        return
    zst_sha, _ = digest_zst(assets_dir / name)  # raises when the file does not decompress
    _append_manifest(manifest, zst_sha, name)
    log.warning("archive: added the missing manifest line of %s", name)


@dataclass(slots=True)
class ManifestCheck:
    """The result of :func:`verify_manifest` for one day."""

    day: str
    ok: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every listed file exists with its sha256 and nothing is unlisted."""
        return not (self.mismatched or self.missing or self.unlisted)


def verify_manifest(assets_dir: Path, day: date | str) -> ManifestCheck:
    """Check every ``.zst`` of a KST day against its manifest line (sha256 of the file)."""
    label = day_label(day)
    check = ManifestCheck(label)
    listed = read_manifest(assets_dir / manifest_name(label))
    for name, digest in sorted(listed.items()):
        path = assets_dir / name
        if not path.exists():
            check.missing.append(name)
        elif sha256_file(path) == digest:
            check.ok.append(name)
        else:
            check.mismatched.append(name)
    for parsed, path in scan(assets_dir):
        if parsed.compressed and parsed.day == label and path.name not in listed:
            check.unlisted.append(path.name)
    return check


class CompressionWorker:
    """Runs :func:`compress_closed` in a worker thread whenever the writer closes an hour."""

    def __init__(self, assets_dir: Path, metrics: Metrics) -> None:
        self._assets_dir = assets_dir
        self._metrics = metrics
        self._before = 0  # hour index: every plain file before it may be compressed
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self.compressed = 0
        self.last_error: str | None = None

    def start(self, before_index: int) -> None:
        """Start the worker; it first compresses hours left over from before a restart."""
        self._before = before_index
        self._task = asyncio.create_task(self._run(), name="archive-compressor")

    def request(self, before_index: int) -> None:
        """Every writer file before KST hour ``before_index`` is closed: compress them."""
        if before_index > self._before:
            self._before = before_index
            self._idle.clear()
            self._wake.set()

    async def _run(self) -> None:
        while not self._stop.is_set():
            before = self._before
            now = datetime.fromtimestamp(hour_start_ns(before) / NS_PER_S, KST)
            try:
                names = await asyncio.to_thread(
                    compress_closed, self._assets_dir, now, stop=self._stop
                )
                self.compressed += len(names)
                self._metrics.compressed_files.inc(len(names))
                self.last_error = None
            except CompressionStopped:
                break
            except (ArchiveError, OSError) as exc:
                self.last_error = str(exc)
                log.error("archive: compression failed (retried at the next hour): %s", exc)
            if self._before == before and not self._stop.is_set():
                self._wake.clear()
                self._idle.set()
                await self._wake.wait()
        self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until the worker has caught up with every request."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Interrupt compression (the temp file is removed) and end the worker."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task

    def status(self) -> dict[str, Any]:
        """Counters for /status."""
        return {"compressed": self.compressed, "last_error": self.last_error}
