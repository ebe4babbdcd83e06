"""`inspector serve`: the HTTP API over the station database (uvicorn)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from inspector.api.config import ApiSection
from inspector.commands.mqtt_events import mqtt_ingestion
from inspector.commands.startup import exit_on_setup_errors
from inspector.commands.trace import DataDirOption, DbOption, fail, resolve_db
from inspector.config import load_config
from inspector.errors import InspectorError
from inspector.trace.config import MqttEventsConfig, RootCauseConfig

if TYPE_CHECKING:
    from inspector.api.settings import ApiSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeSetup:
    """What `serve` runs: database, address (flags beat the config's `api:`), MQTT, app settings."""

    url: str
    host: str
    port: int
    mqtt: MqttEventsConfig
    settings: ApiSettings


def serve(
    host: Annotated[str | None, typer.Option(
        help="address to listen on (default: the config's api.host, else 127.0.0.1; 0.0.0.0: "
        "every interface, which needs an API key)")] = None,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="TCP port (default: the config's api.port, else 8000)")] = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="station.yaml: its database, api section, root-cause settings "
        "and, when enabled, its MQTT event subscriber")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level")] = "info",
    central: Annotated[bool | None, typer.Option(
        "--central/--no-central", help="serve as the plant's central service: the fleet page, "
        "part images fetched through their stations (keys: $INSPECTOR_STATION_API_KEY_<ID>, else "
        "$INSPECTOR_STATION_API_KEY). "
        "Default: on for a PostgreSQL database served without --config")] = None,
    station_timeout: Annotated[float, typer.Option(
        min=0.1, max=120, help="central: seconds a station has to answer an image request")] = 5.0,
    keep_days: Annotated[int | None, typer.Option(
        "--keep-days", min=1, help="PostgreSQL only: drop inspections older than N days, once a "
        "day (whole monthly partitions; the hourly rollups stay). Default: keep every row")] = None,
) -> None:
    """Serve the HTTP API (events, serials, root cause, inspections, audit, health) until Ctrl-C.

    Over the plant's central PostgreSQL (`--db postgresql+psycopg://...`) it is the central
    service: every station's rows, a station filter on every list, GET /fleet, and each part's
    image fetched through the station that took it.

    Every route but /health needs an API key (`inspector keys create`); reads are open to
    anyone only with `api.open_reads: true` in the config. Listening on any address but
    loopback is refused while no key exists.
    """
    from inspector.storage.store import InspectionStore

    with exit_on_setup_errors():
        setup = _setup(config, db, data_dir, host, port)
        setup = _with_central(setup, central, config is None, station_timeout)
        store = InspectionStore.open(setup.url)
    try:
        _serve_store(store, setup, keep_days, log_level)
    except InspectorError as exc:
        raise fail(str(exc), code=1) from exc
    finally:
        store.close()


def _serve_store(store, setup: ServeSetup, keep_days: int | None, log_level: str) -> None:
    """The API over an open store, with its background upkeep, until uvicorn stops."""
    import uvicorn

    from inspector.api import create_app
    from inspector.api.access import check_listen_allowed
    from inspector.storage.block_upkeep import BlockUpkeep
    from inspector.storage.keys import KeyStore
    from inspector.storage.partitions import PartitionUpkeep

    check_listen_allowed(setup.host, KeyStore(store.engine))
    # PostgreSQL: partitions for the months ahead every hour (and retention daily), as long
    # as the service runs; nothing on SQLite
    upkeep = PartitionUpkeep(store.engine, keep_days)
    # root cause over a month reads cached hour blocks: built ahead as hours close
    blocks = BlockUpkeep(store.engine)
    with mqtt_ingestion(setup.mqtt, setup.url) as subscriber, upkeep, blocks:
        app = create_app(store, settings=setup.settings, mqtt=subscriber)
        role = " as the central service" if setup.settings.central is not None else ""
        typer.echo(f"serving {store.url}{role} on http://{setup.host}:{setup.port} "
                   "(docs: /docs)", err=True)
        uvicorn.run(app, host=setup.host, port=setup.port, log_level=log_level)


def _setup(config: Path | None, db: str | None, data_dir: Path | None, host: str | None,
           port: int | None) -> ServeSetup:
    """Database URL, address and settings: flags beat the config file, which beats defaults."""
    from inspector.api.settings import ApiSettings

    configured_dir = None
    if config is None:
        api, url, mqtt, root_cause, station_id = (ApiSection(), resolve_db(db, data_dir),
                                                  MqttEventsConfig(), RootCauseConfig(), None)
    else:
        cfg = load_config(config)
        configured_dir = cfg.station.data_dir
        api, mqtt, root_cause, station_id = cfg.api, cfg.trace.mqtt, cfg.trace.root_cause, cfg.station.id
        url = resolve_db(db, data_dir) if (db or data_dir) else cfg.db_url()
    settings = replace(ApiSettings.of(api, root_cause, station_id),
                       images_dir=_images_dir(data_dir or configured_dir))
    return ServeSetup(url=url, host=host or api.host, port=port or api.port, mqtt=mqtt,
                      settings=settings)


def _with_central(setup: ServeSetup, central: bool | None, no_station: bool,
                  timeout_s: float) -> ServeSetup:
    """Central settings when asked, or by default for PostgreSQL without a station config; the
    stations' key comes from the environment only, never from a file or the database."""
    from inspector.api.station_fetch import STATION_KEY_ENV, CentralSettings

    if central is None:
        central = no_station and setup.url.startswith("postgresql")
    if not central:
        return setup
    fetch = CentralSettings.from_environment(os.environ, timeout_s=timeout_s)
    if fetch.station_api_key is None and not fetch.station_keys:
        logger.warning("neither %s nor %s_<STATION> is set: stations that need a key will "
                       "refuse image requests", STATION_KEY_ENV, STATION_KEY_ENV)
    settings = replace(setup.settings, central=fetch)
    return replace(setup, settings=settings)


def _images_dir(data_dir: Path | None) -> Path:
    """The station's image archive, whose relative paths the rows hold: <data dir>/images."""
    from inspector.pipeline.station import data_paths

    return data_paths(data_dir or Path(os.environ.get("INSPECTOR_DATA_DIR") or "./var"))[1]
