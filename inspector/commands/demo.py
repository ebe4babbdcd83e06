"""`inspector demo`: the simulated line with the shipped model, its API, and a planted cause."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from inspector.capture.config import SimulatedSourceConfig
from inspector.commands.station import fail, run_built, summary_dict
from inspector.config import DEFAULT_MODEL, Roi, StationConfig, apply_env
from inspector.errors import InspectorError
from inspector.model.base import Classifier
from inspector.pipeline.metrics import StationMetrics
from inspector.pipeline.station import Station

if TYPE_CHECKING:
    from inspector.storage.events import EventStore
    from inspector.storage.store import InspectionStore
    from inspector.trace.simulate import PlantedCause

DEMO_PPM = 60.0
DEMO_HISTORY = 3_000
DEMO_LIVE_SEED = 1_000  # live parts draw from other simulator seeds than the history (seed 0)


def demo(
    parts: Annotated[
        int | None, typer.Option(min=1, help="stop after N parts and print a JSON summary")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="database, images, journal [default: ./var]")
    ] = None,
    model: Annotated[Path, typer.Option(help="model bundle folder")] = DEFAULT_MODEL,
    parts_per_minute: Annotated[
        float, typer.Option(min=1, max=300, help="simulated line rate")
    ] = DEMO_PPM,
    fast: Annotated[
        bool, typer.Option(help="render frames as fast as the station takes them (not real time)")
    ] = False,
    history: Annotated[int, typer.Option(
        min=0, max=200_000, help="earlier parts (rows + upstream events from 4 machines, with a "
        "planted cause) preloaded into the database")] = DEMO_HISTORY,
    no_history: Annotated[bool, typer.Option(
        "--no-history", help="preload nothing: only the live parts")] = False,
) -> None:
    """Simulated line with the default model and SQLite: finds the planted cause; Ctrl-C stops it.

    The line's upstream machines have a planted cause (kiln-2's temperature drifts above a
    limit, making cracks 5x likelier); it drives the history and which tile each live part
    shows. At the end the root cause over the demo database is printed in one line.
    """
    cfg = demo_config(data_dir, model, parts_per_minute, realtime=not fast,
                      serial_prefix=run_serial_prefix())
    run_demo(cfg, parts, 0 if no_history else history)


def run_serial_prefix(now: float | None = None) -> str:
    """A short per-run serial prefix (4 base-36 characters of the time, unique for 19 days).

    A demo database outlives a run: reusing serials would merge two parts' histories.
    """
    n = int(time.time() if now is None else now) % 36**4
    digits = ""
    for _ in range(4):
        n, d = divmod(n, 36)
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[d] + digits
    return f"{digits}-"


def run_demo(
    cfg: StationConfig, parts: int | None, history: int, classifier: Classifier | None = None
) -> StationMetrics:
    """Preload the history, run the simulated line with its upstream feed, report the cause."""
    from inspector.capture.simulated import SimulatedLine
    from inspector.commands import demo_line as story
    from inspector.pipeline.factory import build_parts
    from inspector.pipeline.station import StationSettings
    from inspector.storage.events import EventStore
    from inspector.storage.store import InspectionStore
    from inspector.trace.simulate import PlantedCause

    cause = PlantedCause()
    try:
        built = build_parts(cfg, classifier)  # loads the model: fail before writing anything
        store = InspectionStore.open(cfg.db_url())
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    try:
        events = EventStore(store.engine)
        loaded = _preload(store, events, cfg, history, cause) if history else 0
        feed = story.UpstreamFeed(events, cause, seed=DEMO_LIVE_SEED)
        assert isinstance(cfg.source, SimulatedSourceConfig)
        built.source = SimulatedLine(cfg.source, plan=feed.plan)
        station = Station(built, StationSettings.from_config(cfg, parts))
        feed.start()
        try:
            metrics = run_built(station, cfg)
        finally:
            feed.stop()
        report = story.analyse(events, cfg.trace.root_cause)
        truth = story.truth_check(store, built.source.parts)
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()
    typer.echo(story.describe(report), err=True)
    typer.echo(story.describe_truth(truth), err=True)
    if parts is not None:
        extra = {"vs_truth": truth, "history_parts": loaded, "upstream_events": feed.stored,
                 "upstream_events_dropped": feed.dropped,
                 "root_cause_top": story.top_finding(report)}
        typer.echo(json.dumps({**summary_dict(metrics, cfg), **extra}))
    return metrics


def _preload(
    store: InspectionStore, events: EventStore, cfg: StationConfig, parts: int,
    cause: PlantedCause,
) -> int:
    from inspector.commands import demo_line as story
    from inspector.trace.simulate import LineSpec

    spec = LineSpec(parts=parts, seed=0, cycle_s=story.HISTORY_CYCLE_S, cause=cause,
                    serial_prefix=story.HISTORY_PREFIX, station_id=cfg.station.id)
    result = story.preload_history(store, events, spec)
    planted = (f"planted: {cause.machine} {cause.parameter} drifting above {cause.limit:g} "
               f"makes {cause.defect_class} {cause.factor:g}x likelier")
    if result.already_loaded:
        typer.echo(f"history: {parts} earlier parts already in {store.url} ({planted})", err=True)
    else:
        typer.echo(f"history: {result.parts} earlier parts with {result.events} upstream events "
                   f"written in {result.seconds:.1f} s ({planted})", err=True)
    typer.echo(f"so far, {story.describe(story.analyse(events, cfg.trace.root_cause))}", err=True)
    return result.parts


def demo_config(
    data_dir: Path | None, model: Path, parts_per_minute: float = DEMO_PPM, realtime: bool = True,
    serial_prefix: str = "MT-",
) -> StationConfig:
    """Simulated line -> presence trigger on the rest position -> code serials -> SQLite."""
    from inspector.capture.sim_scene import Layout

    sim = SimulatedSourceConfig(
        type="simulated", parts_per_minute=parts_per_minute, realtime=realtime,
        serial_prefix=serial_prefix,
    )
    lay = Layout.for_frame(sim.width, sim.height, 0)
    roi = Roi(x=lay.centre_x / sim.width, y=lay.box_y / sim.height,
              w=lay.box_w / sim.width, h=lay.box_h / sim.height)
    raw = {
        "station": {"id": "demo"},
        "source": sim.model_dump(mode="json"),
        "trigger": {"type": "presence", "roi": roi.model_dump()},
        # The model sees the rest position, trimmed to the tile against the dark belt: the
        # conveyor and the code label are not part of what it was trained on.
        "model": {"bundle": str(model), "roi": roi.model_dump(), "trim_background": True},
        "serial": {"type": "code"},
        "outputs": [],
        # The demo runs on this PC only: reads need no key there (writes still do).
        "api": {"host": "127.0.0.1", "open_reads": True},
    }
    cfg = apply_env(StationConfig.model_validate(raw))  # env: INSPECTOR_DATA_DIR, _DB_URL
    if data_dir is not None:  # the flag beats the environment
        cfg = cfg.model_copy(
            update={"station": cfg.station.model_copy(update={"data_dir": data_dir})})
    return cfg
