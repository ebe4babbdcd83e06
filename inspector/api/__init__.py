"""HTTP API over the station database: create_app(store, events) -> FastAPI."""

from inspector.api.app import ApiSettings, create_app

__all__ = ["ApiSettings", "create_app"]
