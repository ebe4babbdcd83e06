"""Group the magnetic-tile images into physical tiles and list the tiles whose views carry different labels.

The magnetic-tile data photographs each tile under six exposures (`exp1` ... `exp6` in the file
name, with frame numbers a few dozen apart), and its split is per image: the views of one tile
fall into train, val and test alike. A tile whose views carry different labels is a labelling
disagreement a model cannot resolve. Heuristic: each image is linked to the next later image of
the next exposure within 150 frame numbers whose height and width are within 8 %; linked chains
are tiles. Prints one JSON line (with --table, one line per disputed tile after it).

    .venv/bin/python scripts/mt_view_groups.py ../shared/datasets/magnetic-tile [--table]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import cv2

MAX_FRAME_GAP = 150
MAX_SIZE_DIFF = 0.08
VIEW = re.compile(r"exp(\d+)_num_(\d+)")


def _views(root: Path, split_csv: Path) -> list[dict]:
    views = []
    with split_csv.open() as f:
        for row in csv.DictReader(f):
            match = VIEW.search(row["image"])
            image = cv2.imread(str(root / row["image"]), cv2.IMREAD_GRAYSCALE)
            if match is None or image is None:
                raise SystemExit(f"{row['image']}: not an expN_num_M view that can be read")
            views.append({**row, "exp": int(match[1]), "num": int(match[2]), "shape": image.shape})
    return sorted(views, key=lambda v: v["num"])


def _same_size(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return all(abs(x - y) <= MAX_SIZE_DIFF * max(x, y) for x, y in zip(a, b, strict=True))


def group_views(views: list[dict]) -> list[list[dict]]:
    """Chains of views linked exposure to exposure: the physical tiles (sorted by frame number)."""
    parent = list(range(len(views)))

    def root_of(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(views):
        for j in range(i + 1, len(views)):
            b = views[j]
            if b["num"] - a["num"] > MAX_FRAME_GAP:
                break
            if b["exp"] == a["exp"] + 1 and _same_size(a["shape"], b["shape"]):
                parent[root_of(j)] = root_of(i)
                break
    groups: dict[int, list[dict]] = defaultdict(list)
    for i, view in enumerate(views):
        groups[root_of(i)].append(view)
    return list(groups.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", type=Path)
    p.add_argument("--split-csv", type=Path, default=None, help="default: DATASET/split.csv")
    p.add_argument("--table", action="store_true", help="also print each disputed tile")
    args = p.parse_args()
    groups = group_views(_views(args.dataset, args.split_csv or args.dataset / "split.csv"))
    disputed = [g for g in groups if len({v["label"] for v in g}) > 1]
    per_split = Counter(v["split"] for g in disputed for v in g)
    print(json.dumps({"images": sum(len(g) for g in groups), "tiles": len(groups),
                      "tiles_by_views": dict(sorted(Counter(len(g) for g in groups).items())),
                      "disputed_tiles": len(disputed), "disputed_views_by_split": dict(per_split)}))
    if args.table:
        for g in disputed:
            print("  ".join(f"{v['split']}:{v['label']}:{Path(v['image']).stem}" for v in g))


if __name__ == "__main__":
    main()
