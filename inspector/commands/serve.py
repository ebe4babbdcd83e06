"""`inspector serve`: the HTTP API over the station database (uvicorn)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from inspector.commands.mqtt_events import mqtt_ingestion
from inspector.commands.trace import DataDirOption, DbOption, fail, resolve_db
from inspector.config import ConfigValidationError, load_config
from inspector.errors import InspectorError
from inspector.trace.config import MqttEventsConfig, RootCauseConfig

logger = logging.getLogger(__name__)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every interface)")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8080,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="station.yaml: its database, root-cause settings and, when "
        "enabled, its MQTT event subscriber")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level")] = "info",
) -> None:
    """Serve the HTTP API (events, serials, root cause, inspections, health) until Ctrl-C.

    Set INSPECTOR_API_TOKEN to require `Authorization: Bearer <token>` on every route but
    /health.
    """
    import uvicorn

    from inspector.api import ApiSettings, create_app
    from inspector.storage.store import InspectionStore

    try:
        url, mqtt, root_cause = _settings(config, db, data_dir)
        store = InspectionStore.open(url)
    except ConfigValidationError as exc:
        for issue in exc.issues:
            typer.echo(issue, err=True)
        raise typer.Exit(1) from exc
    except InspectorError as exc:
        raise fail(str(exc), code=1) from exc
    try:
        with mqtt_ingestion(mqtt, url) as subscriber:
            app = create_app(store, settings=ApiSettings.from_env(root_cause=root_cause),
                             mqtt=subscriber)
            typer.echo(f"serving {store.url} on http://{host}:{port} (docs: /docs)", err=True)
            uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        store.close()


def _settings(
    config: Path | None, db: str | None, data_dir: Path | None
) -> tuple[str, MqttEventsConfig, RootCauseConfig]:
    """Database URL (flags beat the config file), MQTT and root-cause settings."""
    if config is None:
        return resolve_db(db, data_dir), MqttEventsConfig(), RootCauseConfig()
    cfg = load_config(config)
    url = resolve_db(db, data_dir) if (db or data_dir) else cfg.db_url()
    return url, cfg.trace.mqtt, cfg.trace.root_cause
