"""`inspector bench`: how fast this PC inspects with a bundle, against the camera's frame rate."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from inspector.commands.model import fail
from inspector.errors import InspectorError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = ROOT / "weights" / "magnetic-tile"
DEFAULT_IMAGES = ROOT / "datasets" / "magnetic-tile-sample" / "images"


def bench(
    bundle: Annotated[Path, typer.Argument(help="model bundle folder")] = DEFAULT_BUNDLE,
    images: Annotated[Path, typer.Option(help="folder of part images (searched recursively)")
                      ] = DEFAULT_IMAGES,
    fps: Annotated[float, typer.Option(help="your camera's frame rate (parts/s to keep up with)")] = 30.0,
    frames: Annotated[int, typer.Option(help="frames through the classifier and the station")] = 300,
    seconds: Annotated[float, typer.Option(help="seconds of the paced run at --fps (0: skip)")] = 10.0,
    batch_max: Annotated[int | None, typer.Option(
        help="model.batch_max, as in station.yaml (default: the station's default)")] = None,
    rounds: Annotated[int, typer.Option(help="bare and station alternated this often (medians)")] = 1,
    inference_threads: Annotated[int | None, typer.Option(
        help="model.inference_threads, as in station.yaml (default: the station's default)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON line")] = False,
) -> None:
    """Parts/s, latency p50/p99 and headroom over --fps of a bundle on this PC, and which CPU."""
    from inspector.bench.report import BenchSettings, format_report, run_bench

    given = [v for v in (batch_max, inference_threads) if v is not None]
    if fps <= 0 or frames < 1 or seconds < 0 or rounds < 1 or any(v < 1 for v in given):
        raise fail("--fps must be > 0, --frames, --batch-max, --inference-threads and --rounds "
                   ">= 1, --seconds >= 0")
    extra = {k: v for k, v in (("batch_max", batch_max), ("inference_threads", inference_threads))
             if v is not None}
    root, level = logging.getLogger(), logging.getLogger().level
    if not root.isEnabledFor(logging.DEBUG):  # the stations' start/stop lines are noise here
        root.setLevel(logging.ERROR)
    try:
        result = run_bench(BenchSettings(model=bundle, images=images, fps=fps, frames=frames,
                                         paced_seconds=seconds, rounds=rounds, **extra))
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    finally:
        root.setLevel(level)
    typer.echo(json.dumps(result) if as_json else format_report(result))
