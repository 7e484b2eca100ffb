"""Errors of the PostgreSQL store (asyncpg errors are translated in ``store/connection.py`` only).

ObserverError
 +-- StoreError                     anything the store could not do
      +-- DatabaseUnavailableError    the server cannot be reached or the connection dropped
      |                               (retryable: the loader backs off and tries again)
      +-- QueryError                  the server (or the row encoder) rejected a statement
      |    +-- DuplicateObjectError     something to create already exists (a lost race)
      +-- MigrationChecksumError      an applied migration file was changed afterwards
"""

from __future__ import annotations

from observer.exceptions import ObserverError


class StoreError(ObserverError):
    """Base class of every error of the PostgreSQL store."""


class DatabaseUnavailableError(StoreError):
    """PostgreSQL cannot be reached or the connection was lost; retrying may succeed."""


class QueryError(StoreError):
    """The server rejected a statement; ``sqlstate`` is the PostgreSQL error code ("" when the
    client could not encode a row for its column: wrong type, out of range)."""

    def __init__(self, message: str, *, sqlstate: str = "") -> None:
        self.sqlstate = sqlstate
        super().__init__(message)


class DuplicateObjectError(QueryError):
    """A database, table or other object being created already exists."""


class MigrationChecksumError(StoreError):
    """An already applied migration file (``name``) differs from what was applied."""

    def __init__(self, message: str, *, name: str) -> None:
        self.name = name
        super().__init__(message)
