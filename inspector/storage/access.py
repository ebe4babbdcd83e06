"""Shared base of the stores: one engine, dialect-aware inserts, SQLAlchemy errors as StoreError."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from inspector.errors import StoreError

INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class DatabaseAccess:
    """Connections and transactions whose failures name the action and the (password-less) URL."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in INSERTS:
            raise StoreError(f"unsupported database dialect {engine.dialect.name!r}: "
                             "use SQLite or PostgreSQL")
        self._engine = engine
        # INSERT ... ON CONFLICT DO NOTHING needs the dialect's own insert construct.
        self._insert: Any = INSERTS[engine.dialect.name]

    @property
    def url(self) -> str:
        """The database URL with any password hidden, for logs and reports."""
        return self._engine.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[Connection]:
        with self._errors(action), self._engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _connection(self, action: str) -> Iterator[Connection]:
        with self._errors(action), self._engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            raise StoreError(f"cannot {action} database {self.url}: {detail}") from exc
