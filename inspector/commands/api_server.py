"""The station's HTTP API served in the station's own process (a uvicorn thread beside it)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from functools import partial

from inspector.config import StationConfig
from inspector.errors import ConfigError, InspectorError
from inspector.pipeline.controller import StationController
from inspector.pipeline.station import Station, data_paths

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


@contextlib.contextmanager
def station_api(cfg: StationConfig, station: Station) -> Iterator[str | None]:
    """Serve the HTTP API and start the line protocols (`lineio:`); yields the API's address."""
    with _http_api(cfg, station) as address, line_io(cfg, station):
        yield address


@contextlib.contextmanager
def _http_api(cfg: StationConfig, station: Station) -> Iterator[str | None]:
    """Serve /api/v1 over the station's database and its StationControl; yields the address.

    The API has its own database engine (the store thread keeps its own), so a slow request
    never holds up a row. Raises ConfigError when the address cannot be served.
    """
    if not cfg.api.enabled:
        yield None
        return
    from inspector.storage.store import InspectionStore

    try:
        store = InspectionStore.open(cfg.db_url())
    except InspectorError as exc:
        logger.error("HTTP API not started: %s", exc)  # --journal-only: the station still runs
        yield None
        return
    from inspector.storage.block_upkeep import BlockUpkeep

    try:
        server, thread = _start(cfg, station, store)
        try:
            # the analytics page's root cause reads hour blocks built ahead (paced)
            with BlockUpkeep(store.engine):
                yield f"http://{_host_for_url(cfg.api.host)}:{_bound_port(server)}"
        finally:
            server.should_exit = True
            thread.join(STOP_TIMEOUT_S)
    finally:
        store.close()


def _start(cfg: StationConfig, station: Station, store) -> tuple[object, threading.Thread]:
    import uvicorn

    from inspector.api.access import check_listen_allowed
    from inspector.storage.keys import KeyStore

    check_listen_allowed(cfg.api.host, KeyStore(store.engine))
    app = build_app(cfg, station, store)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.api.host, port=cfg.api.port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=_serve, args=(server,), name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(f"cannot serve the HTTP API on {cfg.api.host}:{cfg.api.port} "
                              "(port in use?): set api.port, or api.enabled: false")
        time.sleep(0.02)
    return server, thread


def _serve(server) -> None:
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind; _start reports it to the user
        logger.debug("HTTP API server exited at start")


def build_app(cfg: StationConfig, station: Station, store):
    """The API app over the station's database, its images and the running station."""
    from inspector.api import create_app
    from inspector.api.settings import ApiSettings

    control = station_control(cfg, station, store)
    settings = dataclasses.replace(
        ApiSettings.of(cfg.api, cfg.trace.root_cause, cfg.station.id),
        images_dir=data_paths(cfg.station.data_dir)[1])
    return create_app(store, settings=settings, control=control,
                      models_dir=cfg.model.bundle.resolve().parent)


_controls: weakref.WeakKeyDictionary[Station, StationController] = weakref.WeakKeyDictionary()


def station_control(cfg: StationConfig, station: Station, store=None) -> StationController:
    """The station's one StationController (the API and the line protocols share its part refs)."""
    control = _controls.get(station)
    if control is None:
        lookup = None
        if store is not None:
            from inspector.storage.progress import SourceProgress

            lookup = _safe(partial(SourceProgress(store.engine).part_for_ref, cfg.station.id))
        control = _controls[station] = StationController(
            station, cfg.model.bundle, lookup=lookup, manual=cfg.api.manual_trigger,
            backend=cfg.model.backend)
    return control


@contextlib.contextmanager
def line_io(cfg: StationConfig, station: Station) -> Iterator[list]:
    """Connect the line protocols; each takes triggers once the station runs. Stops them at exit."""
    from inspector.lineio.base import LineProtocol

    lines = [o for o in station.parts.outputs if isinstance(o, LineProtocol)]
    store = None
    if lines and station not in _controls:
        from inspector.storage.store import InspectionStore

        try:
            store = InspectionStore.open(cfg.db_url())
        except InspectorError as exc:  # part refs are then remembered in memory only
            logger.error("line protocols: cannot open the database for part refs: %s", exc)
    try:
        control = station_control(cfg, station, store) if lines else None
        for line in lines:
            line.start(control)
        yield lines
    finally:
        for line in lines:
            line.stop()
        if store is not None:
            store.close()


def _safe(lookup):
    """A lookup that treats an unreachable database as 'not seen' (the memory still knows)."""
    def find(part_ref: str) -> str | None:
        try:
            return lookup(part_ref)
        except InspectorError as exc:
            logger.warning("cannot look up part reference %r: %s", part_ref, exc)
            return None
    return find


def _bound_port(server) -> int:
    """The port really listened on (api.port 0 lets the system choose one)."""
    return server.servers[0].sockets[0].getsockname()[1]


def _host_for_url(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"  # what a browser on this PC opens
    return f"[{host}]" if ":" in host else host
