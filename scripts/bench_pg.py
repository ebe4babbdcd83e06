"""A throw-away PostgreSQL schema for a benchmark: created, migrated by its first store, dropped."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def throwaway_schema(pg_url: str, prefix: str) -> Iterator[str]:
    """Yield a URL whose connections use a new schema `prefix_<random>`; drop it afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"}
                                                     ).render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
