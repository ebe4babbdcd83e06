"""Code reading benchmark: DataMatrix on synthetic 720p part images, full frame vs a code ROI."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.serials import CodeReader, CodeReaderConfig, Region
from inspector.serials.codegen import Stamp, part_frame

SAMPLES = Path(__file__).resolve().parents[1] / "datasets" / "magnetic-tile-sample" / "images"
WIDTH, HEIGHT = 1280, 720
ROI = Region(x=0.62, y=0.15, w=0.36, h=0.7)      # where the label lands on this line
LABEL_AREA = (0.70, 0.30, 0.90, 0.70)             # label centre range (fractions x0, y0, x1, y1)


@dataclass(frozen=True)
class Case:
    serial: str
    image: np.ndarray
    conditions: dict


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=600, help="synthetic frames (>= 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-failures", type=Path, default=None, help="folder for misses")
    return parser


def _parts() -> list[np.ndarray]:
    files = sorted(SAMPLES.glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"no sample images under {SAMPLES}")
    return [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]


def make_case(rng: np.random.Generator, parts: list[np.ndarray], k: int) -> Case:
    """A belt, a magnetic tile, and a code label at any angle, then camera degradations."""
    cond = {
        "angle": float(rng.uniform(0, 360)), "module_px": float(rng.uniform(3.5, 7.0)),
        "dark": int(rng.integers(15, 100)), "light": int(rng.integers(150, 245)),
        "blur": float(rng.uniform(0.0, 1.4)), "noise": float(rng.uniform(1.0, 8.0)),
        "gain": float(rng.uniform(0.6, 1.3)),
    }
    cx = rng.uniform(LABEL_AREA[0], LABEL_AREA[2]) * WIDTH
    cy = rng.uniform(LABEL_AREA[1], LABEL_AREA[3]) * HEIGHT
    serial = f"SN-{rng.integers(0, 10**8):08d}"
    stamp = Stamp((cx, cy), cond["module_px"], cond["angle"], cond["dark"], cond["light"])
    frame = part_frame(parts[k % len(parts)], serial, stamp, rng, (WIDTH, HEIGHT))
    if cond["blur"] > 0.05:
        frame = cv2.GaussianBlur(frame, (0, 0), cond["blur"])
    noisy = frame.astype(np.float32) * cond["gain"] + rng.normal(0, cond["noise"], frame.shape)
    frame = np.clip(noisy, 0, 255).astype(np.uint8)
    return Case(serial, cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), cond)


def no_code_ms(reader: CodeReader, cases: list[Case]) -> float:
    """Mean decode time on frames without any code (every retry pass runs, up to the budget)."""
    times = []
    for case in cases:
        blank = case.image.copy()
        blank[:, int(0.6 * WIDTH):] = 95  # the label side, emptied
        t0 = time.perf_counter()
        reader.read_image(blank)
        times.append((time.perf_counter() - t0) * 1000.0)
    return round(statistics.fmean(times), 2)


def run(reader: CodeReader, cases: list[Case], failures: Path | None, tag: str) -> dict:
    ok = wrong = 0
    times = []
    for i, case in enumerate(cases):
        t0 = time.perf_counter()
        result = reader.read_image(case.image)
        times.append((time.perf_counter() - t0) * 1000.0)
        if result.serial == case.serial:
            ok += 1
        elif result.serial is not None:
            wrong += 1
        elif failures is not None:
            failures.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(failures / f"{tag}_{i:04d}.png"), case.image)
            print(json.dumps({"miss": tag, "index": i, **case.conditions}))
    times.sort()
    return {
        "read_rate": round(ok / len(cases), 4), "wrong_reads": wrong, "misses": len(cases) - ok,
        "ms_mean": round(statistics.fmean(times), 2), "ms_p50": round(times[len(times) // 2], 2),
        "ms_p95": round(times[int(len(times) * 0.95)], 2), "ms_max": round(times[-1], 2),
    }


def main(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    parts = _parts()
    cases = [make_case(rng, parts, k) for k in range(args.images)]
    pattern = r"SN-\d{8}"
    full = CodeReader(CodeReaderConfig(pattern=pattern))
    roi = CodeReader(CodeReaderConfig(pattern=pattern, roi=ROI))
    run(roi, cases[:10], None, "warmup")
    result = {
        "bench": "serials", "images": len(cases), "frame": f"{WIDTH}x{HEIGHT}",
        "roi_fraction_of_pixels": round(ROI.w * ROI.h, 3),
        "conditions": "angle 0-360, module 3.5-7 px, dark 15-99 / light 150-244, "
                      "gaussian blur sigma 0-1.4 px, noise sd 1-8, gain 0.6-1.3, 720p BGR",
        "full_frame": run(full, cases, args.save_failures, "full"),
        "roi": run(roi, cases, args.save_failures, "roi"),
        "no_code_ms_full_frame": no_code_ms(full, cases[:30]),
        "no_code_ms_roi": no_code_ms(roi, cases[:30]),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
