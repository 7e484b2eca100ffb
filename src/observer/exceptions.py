"""The root of every error Observer raises.

    ObserverError
     +-- ConfigError                 observer.config.exceptions   (exit code 2 at start-up)
     +-- KisError                    observer.kis.exceptions
     |    +-- KisApiError              a KIS answer with rt_cd != "0" (carries msg_cd, tr_id)
     |    +-- KisTransportError        the connection failed (aiohttp translated here only)
     |    +-- TokenError               token / approval key lifecycle
     |    +-- WebSocketError           session-level failures (OPSP codes)
     +-- ArchiveError                observer.archive.exceptions
     +-- StoreError                  observer.store.exceptions    (asyncpg translated here only)
     +-- MarketError                 observer.market.exceptions
     +-- OpsError                    observer.ops.exceptions
     +-- SimulatorError              observer.sim.exceptions

Each package's own ``exceptions.py`` defines its subtree and carries structured fields.
"""

from __future__ import annotations

from typing import ClassVar


class ObserverError(Exception):
    """Base class of every error raised by Observer.

    An error whose message is made of its structured fields is a dataclass (``eq=False``: errors
    compare by identity) that declares the fields once and its message as ``template``, a
    :meth:`str.format` template over them. Without a template the message is the one given.
    """

    template: ClassVar[str] = ""

    def __str__(self) -> str:
        return self.template.format_map(vars(self)) if self.template else super().__str__()
