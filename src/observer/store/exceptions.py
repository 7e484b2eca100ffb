"""Errors of the PostgreSQL store (asyncpg errors are translated in ``store/connection.py`` only).

ObserverError
 +-- StoreError                     anything the store could not do
      +-- DatabaseUnavailableError    the server cannot be reached or the connection dropped
      |                               (retryable: the loader backs off and tries again)
      +-- QueryError                  the server rejected a statement (carries ``sqlstate``)
      |    +-- DuplicateObjectError     something to create already exists (a lost race)
      +-- MigrationError              a migration cannot be applied
           +-- MigrationChecksumError   an applied migration file was changed afterwards
"""

from __future__ import annotations

from observer.exceptions import ObserverError


class StoreError(ObserverError):
    """Base class of every error of the PostgreSQL store."""


class DatabaseUnavailableError(StoreError):
    """PostgreSQL cannot be reached or the connection was lost; retrying may succeed."""

    def __init__(self, message: str, *, target: str = "") -> None:
        self.target = target
        super().__init__(message)


class QueryError(StoreError):
    """The server rejected a statement; ``sqlstate`` is the PostgreSQL error code."""

    def __init__(self, message: str, *, sqlstate: str = "", context: str = "") -> None:
        self.sqlstate = sqlstate
        self.context = context
        super().__init__(message)


class DuplicateObjectError(QueryError):
    """A database, table or other object being created already exists."""


class RowEncodingError(QueryError):
    """A row value could not be encoded for its column (wrong type, out of range)."""


class MigrationError(StoreError):
    """A migration cannot be applied; ``name`` is the migration file."""

    def __init__(self, message: str, *, name: str = "") -> None:
        self.name = name
        super().__init__(message)


class MigrationChecksumError(MigrationError):
    """An already applied migration file differs from what was applied."""
