"""Logging for the service and the commands: the only place that configures logging.

Lines go to stdout and to a daily file (``observer_YYYYMMDD.log`` in the system log dir, or
``maintenance_YYYYMMDD.log`` in the maintenance log dir for maintenance jobs), as JSON lines
when LOG_FORMAT=json and readable text otherwise. Every line passes the redactor first.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from observer.clock import Clock, kst_iso
from observer.config.redact import Redactor
from observer.config.settings import Settings

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class RedactingFilter(logging.Filter):
    """Renders the message once, masks secrets in it and in the exception text."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (KST), level, logger, msg and any extra fields."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": kst_iso(self._clock.now_ns()),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                obj[key] = value
        if record.exc_text:
            obj["exc"] = record.exc_text
        return orjson.dumps(obj, default=str).decode()


class TextFormatter(logging.Formatter):
    """``2026-01-05T09:00:00.000000+09:00 INFO observer.x: message``."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def format(self, record: logging.LogRecord) -> str:
        stamp = kst_iso(self._clock.now_ns())
        line = f"{stamp} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class DailyFileHandler(logging.Handler):
    """Appends to ``<dir>/<prefix>_YYYYMMDD.log``, switching files when the KST date changes."""

    def __init__(self, directory: Path, prefix: str, clock: Clock) -> None:
        super().__init__()
        self._dir = directory
        self._prefix = prefix
        self._clock = clock
        self._day = ""
        self._stream: TextIO | None = None

    @property
    def current_path(self) -> Path:
        return self._dir / f"{self._prefix}_{self._clock.now().strftime('%Y%m%d')}.log"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            day = self._clock.now().strftime("%Y%m%d")
            stream = self._stream
            if day != self._day or stream is None:
                stream = self._open(day)
            stream.write(line + "\n")
            stream.flush()
        except Exception:  # logging must never take the service down
            self.handleError(record)

    def _open(self, day: str) -> TextIO:
        if self._stream is not None:
            self._stream.close()
        self._dir.mkdir(parents=True, exist_ok=True)
        stream = (self._dir / f"{self._prefix}_{day}.log").open("a", encoding="utf-8")
        self._stream = stream
        self._day = day
        return stream

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        super().close()


MAINTENANCE_LOGGER = "observer.ops"


def _formatter(settings: Settings, clock: Clock) -> logging.Formatter:
    return JsonFormatter(clock) if settings.log_format == "json" else TextFormatter(clock)


def attach_maintenance_log(settings: Settings, clock: Clock, redactor: Redactor) -> logging.Handler:
    """Send the ``observer.ops`` loggers of a running service to ``maintenance_YYYYMMDD.log``
    as well (replacing an earlier such handler); returns the handler."""
    ops = logging.getLogger(MAINTENANCE_LOGGER)
    for old in [h for h in ops.handlers if isinstance(h, DailyFileHandler)]:
        ops.removeHandler(old)
        old.close()
    handler = DailyFileHandler(settings.maintenance_log_dir, "maintenance", clock)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(_formatter(settings, clock))
    ops.addHandler(handler)
    return handler


def configure_logging(
    settings: Settings,
    clock: Clock,
    redactor: Redactor,
    *,
    maintenance: bool = False,
    to_file: bool = True,
    stream: TextIO | None = None,
) -> Redactor:
    """Install the handlers on the root logger (replacing earlier ones); returns the redactor."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(settings.log_level)
    formatter = _formatter(settings, clock)
    redacting = RedactingFilter(redactor)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stdout)]
    if to_file:
        if maintenance:
            handlers.append(DailyFileHandler(settings.maintenance_log_dir, "maintenance", clock))
        else:
            handlers.append(DailyFileHandler(settings.system_log_dir, "observer", clock))
    for handler in handlers:
        handler.addFilter(redacting)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if to_file and not maintenance:
        attach_maintenance_log(settings, clock, redactor)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return redactor
