"""Simulate a line: parts with serials, upstream events, a planted cause, written to a store."""

from __future__ import annotations

import argparse
import csv
import json
import time
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np

from inspector.serials.codegen import Stamp, part_frame
from inspector.storage.engine import sqlite_url
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.rootcause import root_cause
from inspector.trace.simulate import LineSpec, PlantedCause, SimulatedPart, simulate, to_inspection

SAMPLES = Path(__file__).resolve().parents[1] / "datasets" / "magnetic-tile-sample" / "images"
BATCH = 2_000


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in --data-dir)")
    parser.add_argument("--data-dir", type=Path, default=Path("var/simulated"))
    parser.add_argument("--no-cause", action="store_true", help="pure noise: nothing planted")
    parser.add_argument("--factor", type=float, default=5.0, help="planted defect-rate factor")
    parser.add_argument("--drift", type=float, default=30.0, help="kiln-2 temperature drift")
    parser.add_argument("--limit", type=float, default=865.0, help="temperature limit")
    parser.add_argument("--images", type=Path, default=None,
                        help="also write part images with DataMatrix serials + manifest.csv here")
    parser.add_argument("--image-count", type=int, default=50, help="how many images to write")
    parser.add_argument("--analyze", action="store_true", help="run the root-cause query after")
    return parser


def write_images(parts: list[SimulatedPart], folder: Path, count: int, seed: int) -> int:
    """Real magnetic-tile images of each part's class, with its serial printed as DataMatrix."""
    rng = np.random.default_rng(seed)
    tiles = {d.name: sorted(d.glob("*.jpg")) for d in SAMPLES.iterdir() if d.is_dir()}
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for part in parts[:count]:
        files = tiles.get(part.label) or tiles["free"]
        tile = cv2.imread(str(files[int(rng.integers(len(files)))]), cv2.IMREAD_GRAYSCALE)
        stamp = Stamp((0.8 * 1280, 0.5 * 720), 5.0, float(rng.uniform(0, 360)))
        name = f"{part.serial}.png"
        cv2.imwrite(str(folder / name), part_frame(tile, part.serial, stamp, rng))
        rows.append({"image": name, "serial": part.serial})
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "serial"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main(args: argparse.Namespace) -> dict:
    cause = None if args.no_cause else PlantedCause(
        drift=args.drift, limit=args.limit, factor=args.factor)
    spec = LineSpec(parts=args.parts, seed=args.seed, cause=cause)
    t0 = time.perf_counter()
    parts = list(simulate(spec))
    store = InspectionStore.open(args.db or sqlite_url(args.data_dir))
    events = EventStore(store.engine)
    try:
        stored = 0
        for start in range(0, len(parts), BATCH):
            chunk = parts[start:start + BATCH]
            store.write([to_inspection(p, spec.station_id) for p in chunk])
            stored += events.insert([e for p in chunk for e in p.events])
        result = {
            "db": store.url, "parts": len(parts), "events": stored,
            "defects": sum(p.verdict.value == "NG" for p in parts),
            "since": parts[0].inspected_at.isoformat(),
            "until": parts[-1].inspected_at.isoformat(),
            "planted": None if cause is None else sorted(cause.names),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        if args.images is not None:
            result["images"] = write_images(parts, args.images, args.image_count, args.seed)
        if args.analyze:
            until = parts[-1].inspected_at + timedelta(seconds=1)  # until is exclusive
            report = root_cause(events, parts[0].inspected_at, until)
            result["root_cause"] = report.message
            result["top"] = [f.name for f in report.significant[:3]]
    finally:
        store.close()
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
