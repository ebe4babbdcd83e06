"""`inspector forward` and the forwarder thread `inspector run` starts when central_url is set."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from inspector.commands.startup import exit_on_setup_errors, stop_on_signals
from inspector.config import StationConfig, load_config
from inspector.errors import InspectorError

logger = logging.getLogger(__name__)


def settings_for(cfg: StationConfig, central_url: str) -> Any:
    """The forwarder's settings from station.yaml (central_url already expanded)."""
    from inspector.storage.forwarder import ForwardSettings

    fwd = cfg.storage.forward
    return ForwardSettings(station_id=cfg.station.id, central_url=central_url,
                           api_url=cfg.storage.station_api_url, batch_rows=fwd.batch_rows,
                           heartbeat_s=fwd.heartbeat_s, backoff_max_s=fwd.backoff_max_s)


@contextlib.contextmanager
def forwarding(cfg: StationConfig) -> Iterator[Any]:
    """Run the forwarder on its own thread while the station runs (nothing when central_url is
    unset). A central database that is away only grows the queue; the station never waits."""
    central = cfg.central_db_url()
    if central is None:
        yield None
        return
    from inspector.storage.forwarder import Forwarder

    forwarder = Forwarder(cfg.db_url(), settings_for(cfg, central))
    forwarder.start()
    try:
        yield forwarder
    finally:
        forwarder.stop()


def forward(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="station.yaml")] = None,
    db: Annotated[str | None, typer.Option(help="the station's SQLite database URL")] = None,
    central: Annotated[str | None, typer.Option(
        help="central database URL (${NAME} is read from the environment)")] = None,
    station_id: Annotated[str | None, typer.Option(help="this station's id")] = None,
    api_url: Annotated[str | None, typer.Option(help="this station's API as the central side "
                                                     "reaches it")] = None,
    batch_rows: Annotated[int | None, typer.Option(
        min=1, max=10_000, help="queued rows per central transaction at most")] = None,
    once: Annotated[bool, typer.Option("--once", help="ship until the queue is empty, then "
                                       "exit (retrying while the central side is away)")] = False,
    off: Annotated[bool, typer.Option("--off", help="switch forwarding off: drop the queue "
                                      "and its triggers (rows stay in the station database)")] = False,
) -> None:
    """Forward the station's rows to the central database as its own process (instead of the
    thread `inspector run` starts): in order, in batches, each row stored once, retrying with
    backoff while the central side is away. SIGINT/SIGTERM stop it; the queue keeps the rest."""
    from inspector.storage.forwarder import Forwarder

    with exit_on_setup_errors():
        cfg = load_config(config) if config is not None else None
        local = db or (cfg.db_url() if cfg is not None else None)
        if local is None:
            raise InspectorError("give --config station.yaml or --db sqlite:///.../inspector.db")
        if off:
            typer.echo(f"forwarding off: {_switch_off(local)} queued rows dropped")
            return
        settings = _command_settings(cfg, central, station_id, api_url, batch_rows)
    forwarder = Forwarder(local, settings)
    stop = stop_on_signals(forwarder.request_stop)
    try:
        forwarder.run(until_empty=once)
    finally:
        stop()
        forwarder.close()
    s = forwarder.stats
    typer.echo(f"forwarded {s.entries} queued rows in {s.batches} batches ({s.errors} failed tries)")



def _switch_off(local: str) -> int:
    """Drop the queue and its triggers; the number of queued rows dropped."""
    from inspector.storage.engine import create_engine_for
    from inspector.storage.forward_queue import ForwardQueue

    engine = create_engine_for(local)
    try:
        return ForwardQueue(engine).disable()
    finally:
        engine.dispose()


def _command_settings(cfg: StationConfig | None, central: str | None, station_id: str | None,
                      api_url: str | None, batch_rows: int | None) -> Any:
    """The forwarder's settings: station.yaml's when given, each flag given in its place."""
    from dataclasses import replace

    from inspector.config import expand_env
    from inspector.storage.forwarder import ForwardSettings

    central_url = (expand_env("--central", central) if central is not None
                   else cfg.central_db_url() if cfg is not None else None)
    if central_url is None:
        raise InspectorError("no central database: give --central or storage.central_url")
    if cfg is not None:
        settings = settings_for(cfg, central_url)
    elif station_id is None:
        raise InspectorError("give --station-id (or --config station.yaml)")
    else:
        settings = ForwardSettings(station_id=station_id, central_url=central_url)
    updates = {k: v for k, v in (("station_id", station_id), ("api_url", api_url),
                                 ("batch_rows", batch_rows)) if v is not None}
    return replace(settings, **updates)
