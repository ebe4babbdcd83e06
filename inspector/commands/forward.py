"""`inspector forward` and the forwarder thread `inspector run` starts when central_url is set."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from inspector.config import ConfigValidationError, StationConfig, load_config
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
    from dataclasses import replace

    from inspector.config import expand_env
    from inspector.storage.engine import create_engine_for
    from inspector.storage.forward_queue import ForwardQueue
    from inspector.storage.forwarder import Forwarder, ForwardSettings

    try:
        cfg = load_config(config) if config is not None else None
        local = db or (cfg.db_url() if cfg is not None else None)
        if local is None:
            raise InspectorError("give --config station.yaml or --db sqlite:///.../inspector.db")
        if off:
            engine = create_engine_for(local)
            try:
                dropped = ForwardQueue(engine).disable()
            finally:
                engine.dispose()
            typer.echo(f"forwarding off: {dropped} queued rows dropped")
            return
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
        settings = replace(settings, **updates)
    except ConfigValidationError as exc:
        for issue in exc.issues:
            typer.echo(issue, err=True)
        raise typer.Exit(1) from exc
    except InspectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    forwarder = Forwarder(local, settings)
    stop = _stop_on_signals(forwarder)
    try:
        forwarder.run(until_empty=once)
    finally:
        stop()
        forwarder.close()
    s = forwarder.stats
    typer.echo(f"forwarded {s.entries} queued rows in {s.batches} batches ({s.errors} failed tries)")


def _stop_on_signals(forwarder: Any) -> Any:
    """SIGINT/SIGTERM end the loop after the batch in hand; returns a function restoring them."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, lambda *_: forwarder.request_stop())
                for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
