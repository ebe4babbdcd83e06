"""A folder station in its own process for kill tests; its outputs log what they announced.

Usage: python station_proc.py FOLDER DATA_DIR ANNOUNCED [--delay S] [--jobs N] [--say-triggered N]
Each output appends `<kind> <part_id>` to ANNOUNCED (flushed before it returns), so a test that
kills the process knows exactly which parts the line had heard of. With --say-triggered N the
process prints `triggered` once N parts are triggered: a test that signals then knows the backlog
it signals into, however slowly a busy machine reads the folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from fakes import FakeClassifier

from inspector.commands.station import supervise
from inspector.config import StationConfig
from inspector.domain import Inspection
from inspector.pipeline.factory import build_parts
from inspector.pipeline.station import Station, StationSettings
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore


class AnnouncingOutput:
    """Appends each part it is told of to a file, flushed to the OS before emit() returns."""

    def __init__(self, path: Path, when: str) -> None:
        self.path, self.when = path, when
        self._fh = path.open("a", encoding="utf-8")

    def emit(self, inspection: Inspection) -> None:
        self._fh.write(f"{self.when} {inspection.part_id}\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())


def say_triggered(station: Station, n: int) -> None:
    """Print `triggered` once `n` parts are triggered (or the station has finished)."""
    while station.metrics().triggered < n and not station.wait(0.01):
        pass
    sys.stdout.write("triggered\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("data_dir", type=Path)
    p.add_argument("announced", type=Path)
    p.add_argument("--delay", type=float, default=0.01)
    p.add_argument("--jobs", type=int, default=64)
    p.add_argument("--say-triggered", type=int, default=0)
    args = p.parse_args(argv)
    cfg = StationConfig.model_validate({
        "station": {"id": "kill", "data_dir": str(args.data_dir)},
        "source": {"type": "folder", "path": str(args.folder)},
        "trigger": {"type": "per_frame"},
        "serial": {"type": "filename"},
        "queues": {"jobs": args.jobs},
        "storage": {"batch_size": 8, "flush_interval_s": 0.05},
    })
    store = InspectionStore.open(sqlite_url(args.data_dir))
    parts = build_parts(cfg, FakeClassifier(delay_s=args.delay), store)
    parts.outputs = [AnnouncingOutput(args.announced, "immediate"),
                     AnnouncingOutput(args.announced, "stored")]
    station = Station(parts, StationSettings.from_config(cfg))
    station.start()
    sys.stdout.write("started\n")
    sys.stdout.flush()
    if args.say_triggered:
        threading.Thread(target=say_triggered, args=(station, args.say_triggered),
                         daemon=True).start()
    metrics = supervise(station)
    sys.stdout.write(f"done {metrics.parts} {metrics.statuses.get('aborted', 0)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
