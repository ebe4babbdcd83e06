"""HTTP API over the station database: create_app(store, events) -> FastAPI."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # lazy: loading station.yaml imports inspector.api.config without FastAPI and the stores
    if name in __all__:
        from inspector.api import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
