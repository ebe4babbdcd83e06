"""A station in its own process for the kill-and-restart test; prints rows as they are stored.

Usage: python station_proc.py FOLDER DATA_DIR [--down-after N] [--max-parts N] [--delay S]
Each line on stdout is `committed <part_id>` (in the database) or `journaled <part_id>`
(fsynced to the journal), printed only after the store or journal reported it durable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import FakeClassifier

from inspector.capture.config import FolderSourceConfig
from inspector.capture.folder import FolderSource
from inspector.domain import Inspection
from inspector.errors import StoreError
from inspector.pipeline.station import Station, StationParts, StationSettings
from inspector.storage.engine import sqlite_url
from inspector.storage.journal import Journal
from inspector.storage.store import InspectionStore


class FailingAfter:
    """The real store, which 'goes away' (raises StoreError) after `n` successful writes."""

    def __init__(self, store: InspectionStore, n: int | None) -> None:
        self.store, self.left = store, n

    def write(self, rows: Sequence[Inspection]) -> int:
        if self.left is not None:
            if self.left <= 0:
                raise StoreError("database unplugged by the test")
            self.left -= 1
        return self.store.write(rows)

    def set_station_status(self, station_id: str, state: dict) -> None:
        self.store.set_station_status(station_id, state)


def report(event: str, rows: Sequence[Inspection]) -> None:
    sys.stdout.write("".join(f"{event} {r.part_id}\n" for r in rows))
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--down-after", type=int, default=None)
    p.add_argument("--max-parts", type=int, default=None)
    p.add_argument("--delay", type=float, default=0.005)
    args = p.parse_args(argv)
    store = InspectionStore.open(sqlite_url(args.data_dir))
    parts = StationParts(
        source=FolderSource(FolderSourceConfig(type="folder", path=args.folder)),
        classifier=FakeClassifier(delay_s=args.delay),
        journal=Journal(args.data_dir / "journal.jsonl"),
        store=FailingAfter(store, args.down_after),
    )
    settings = StationSettings(
        batch_max=2, store_batch_size=4, flush_interval_s=0.02, retry_interval_s=60,
        max_parts=args.max_parts,
    )
    station = Station(parts, settings)
    station.add_listener(report)
    station.start()
    station.wait()
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
