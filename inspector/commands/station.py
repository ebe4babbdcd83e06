"""Station commands: run and check-config (typer functions the CLI registers)."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inspector.capture.config import SPEC_HELP, parse_source_spec
from inspector.commands.forward import forwarding
from inspector.commands.mqtt_events import mqtt_ingestion
from inspector.config import (
    ConfigValidationError,
    PerFrameTrigger,
    PresenceTrigger,
    StationConfig,
    apply_env,
    load_config,
    summary,
)
from inspector.errors import ConfigError, InspectorError
from inspector.model.base import Classifier
from inspector.pipeline.metrics import StationMetrics
from inspector.pipeline.station import Station

if TYPE_CHECKING:
    from inspector.storage.store import InspectionStore

logger = logging.getLogger(__name__)

LIVE_TYPES = ("usb", "stream", "simulated")  # flag-only runs: these get the presence trigger
STATUS_EVERY_S = 0.5
STATUS_EVERY_S_NOT_TTY = 5.0
EXIT_DB_UNREACHABLE = 2  # the database could not be opened at start (and no --journal-only)
EXIT_ABORTED = 3         # a forced stop left parts unjudged (`aborted` rows)
EXIT_JOURNALED = 4       # the run ended with rows only in the journal (database away)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


# ---- check-config ------------------------------------------------------------------------


def check_config(
    path: Annotated[Path, typer.Argument(help="station.yaml to validate")],
) -> None:
    """Validate a station.yaml and what it names (database URL, model bundle, camera device):
    each error as `path.to.key: message` (exit 1), else OK."""
    from inspector.commands import preflight

    try:
        cfg = load_config(path)
    except ConfigValidationError as exc:
        for issue in exc.issues:
            typer.echo(issue, err=True)
        raise typer.Exit(1) from exc
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    errors = preflight.problems(cfg)
    for error in errors:
        typer.echo(error, err=True)
    for warning in preflight.warnings(cfg):
        typer.echo(f"warning: {warning}", err=True)
    if errors:
        raise typer.Exit(1)
    typer.echo(f"OK {summary(cfg)}")


# ---- run -----------------------------------------------------------------------------------


def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="station.yaml")] = None,
    source: Annotated[str | None, typer.Option(help=f"frame source: {SPEC_HELP}")] = None,
    model: Annotated[Path | None, typer.Option(help="model bundle folder")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="database, images, journal")] = None,
    parts: Annotated[
        int | None, typer.Option(min=1, help="stop after N parts and print a JSON summary")
    ] = None,
    journal_only: Annotated[bool, typer.Option(
        "--journal-only", help="start even when the database is unreachable: rows go to the "
        "journal until it is back")] = False,
) -> None:
    """Run the station until the source ends or Ctrl-C.

    SIGINT/SIGTERM stop it cleanly: every part already triggered is judged and stored, however
    long that takes; a second signal records the rest as `aborted` at once. Exit code: 0 clean,
    2 database unreachable at start, 3 parts aborted, 4 rows left in the journal.
    """
    try:
        cfg = _config_from_flags(config, source, model, data_dir)
    except ConfigValidationError as exc:
        for issue in exc.issues:
            typer.echo(issue, err=True)
        raise typer.Exit(1) from exc
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    code = exit_code(run_station(cfg, parts, journal_only=journal_only))
    if code:
        raise typer.Exit(code)


def _config_from_flags(
    config: Path | None, source: str | None, model: Path | None, data_dir: Path | None
) -> StationConfig:
    """The config file (or defaults) with the command-line flags applied over it."""
    if config is None and source is None:
        raise ConfigError("give --config station.yaml or --source (e.g. --source usb:0)")
    if config is not None:
        cfg = load_config(config)
    else:
        src = parse_source_spec(source)
        trigger = (PresenceTrigger(type="presence") if src.type in LIVE_TYPES
                   else PerFrameTrigger(type="per_frame"))
        cfg = apply_env(StationConfig(source=src, trigger=trigger))
    updates: dict[str, Any] = {}
    if config is not None and source is not None:
        updates["source"] = parse_source_spec(source)
    if model is not None:
        updates["model"] = cfg.model.model_copy(update={"bundle": model})
    if data_dir is not None:
        updates["station"] = cfg.station.model_copy(update={"data_dir": data_dir})
    return cfg.model_copy(update=updates)


def run_station(
    cfg: StationConfig, parts: int | None, classifier: Classifier | None = None,
    journal_only: bool = False,
) -> StationMetrics:
    """Build, start and supervise a station; print the JSON summary when `parts` is set."""
    store = None if journal_only else _open_store(cfg)
    try:
        station = Station.from_config(cfg, classifier, max_parts=parts, store=store)
    except InspectorError as exc:
        if store is not None:
            store.close()
        raise fail(str(exc)) from exc
    metrics = run_built(station, cfg)
    if parts is not None:
        summary = summary_dict(metrics, cfg)
        summary["resumed"] = getattr(station.parts.source, "resumed", 0)
        typer.echo(json.dumps(summary))
    return metrics


def _open_store(cfg: StationConfig) -> InspectionStore:
    """The station's database, opened (and migrated) before anything runs: unreachable is loud."""
    from inspector.storage.store import InspectionStore

    try:
        return InspectionStore.open(cfg.db_url())
    except InspectorError as exc:
        raise fail(f"{exc}\nthe database is unreachable: fix storage.url, or start with "
                    "--journal-only to record into the journal until it is back",
                    code=EXIT_DB_UNREACHABLE) from exc


def exit_code(m: StationMetrics) -> int:
    """0 when every part has its judged-or-recorded row in the database, else why not."""
    if m.statuses.get("aborted", 0):
        return EXIT_ABORTED
    if m.journal_pending or not m.db_online:
        return EXIT_JOURNALED
    return 0


def run_built(station: Station, cfg: StationConfig) -> StationMetrics:
    """Serve the API, start the station (and the MQTT event subscriber) and supervise it."""
    from inspector.commands.api_server import station_api

    with contextlib.ExitStack() as stack:
        stack.enter_context(mqtt_ingestion(cfg.trace.mqtt, cfg.db_url()))
        try:
            stack.enter_context(forwarding(cfg))  # own thread and engines: never slows the line
            address = stack.enter_context(station_api(cfg, station))
            station.start()
        except InspectorError as exc:
            raise fail(str(exc)) from exc
        if address is not None:
            typer.echo(f"API: {address}/api/v1 (docs: {address}/docs) dashboard: {address}/", err=True)
        return supervise(station)


def supervise(station: Station) -> StationMetrics:
    """Show the status line until the station finishes; signals stop it, then force it."""
    signals = SignalCount()
    previous = _install_signals(signals)
    tty = sys.stderr.isatty()
    every = STATUS_EVERY_S if tty else STATUS_EVERY_S_NOT_TTY
    try:
        next_line = time.monotonic() + every
        while not station.wait(STATUS_EVERY_S):
            _obey(station, signals.count)
            if time.monotonic() >= next_line:
                next_line += every
                _print_status(station.metrics(), tty)
    finally:
        _restore_signals(previous)
    metrics = station.metrics()
    _print_status(metrics, tty, final=True)
    return metrics


class SignalCount:
    """How many SIGINT/SIGTERM arrived (a handler only counts: the supervisor loop acts)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: object) -> None:
        self.count += 1


def _obey(station: Station, signals: int) -> None:
    """First signal: stop capturing and store every triggered part. Second: abort the rest."""
    if signals >= 1 and not station.stopping:
        m = station.metrics()
        backlog = sum(m.queue_depths.get(q, 0) for q in ("jobs", "results", "rows"))
        typer.echo(f"\nstopping: judging and storing the {backlog} parts already triggered "
                   "(signal again to record them as aborted and quit)...", err=True)
        station.request_stop()
    if signals >= 2 and not station.aborted:
        typer.echo("\nforced stop: unjudged parts are recorded as aborted", err=True)
        station.abort()


def _install_signals(handler: SignalCount) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def status_line(m: StationMetrics) -> str:
    """One line: parts, verdicts, capture fps, latency, camera and storage state."""
    v = m.verdicts
    p50 = "-" if m.e2e_ms_p50 is None else f"{m.e2e_ms_p50:.0f}"
    p99 = "-" if m.e2e_ms_p99 is None else f"{m.e2e_ms_p99:.0f}"
    flags = [] if m.db_online else [f"DB AWAY ({m.journal_pending} journaled)"]
    if m.disk_problem:
        flags.append("DISK PROBLEM")
    if m.dropped_frames:
        flags.append(f"dropped {m.dropped_frames}")
    return (
        f"parts {m.parts}  OK {v['OK']}  NG {v['NG']}  REVIEW {v['REVIEW']}  "
        f"| {m.capture_fps:.1f} fps  {m.parts_per_min:.0f}/min  "
        f"| latency p50 {p50} ms p99 {p99} ms | camera {m.camera_state}"
        + ("  | " + ", ".join(flags) if flags else "")
    )


def _print_status(m: StationMetrics, tty: bool, final: bool = False) -> None:
    line = status_line(m)
    if tty:
        sys.stderr.write("\r\x1b[2K" + line + ("\n" if final else ""))
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def summary_dict(m: StationMetrics, cfg: StationConfig) -> dict[str, Any]:
    """The one-line JSON summary of a run."""
    from inspector.storage.engine import parse_url

    return {
        "parts": m.parts,
        "ok": m.verdicts["OK"],
        "ng": m.verdicts["NG"],
        "review": m.verdicts["REVIEW"],
        "errors": m.parts - m.statuses["ok"],
        "dropped_frames": m.dropped_frames,
        "p50_ms": m.e2e_ms_p50,
        "p99_ms": m.e2e_ms_p99,
        "db": parse_url(cfg.db_url()).render_as_string(hide_password=True),
        "statuses": m.statuses,
        "no_read": m.no_read,
    }
