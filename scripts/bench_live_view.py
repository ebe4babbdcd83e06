"""Benchmark: what one dashboard live view costs the station (issue 33: < 5% throughput).

The station runs at full rate; windows without and with one browser-like viewer polling the live
page's routes at its rates (frame 2 Hz, status and last parts 1 Hz, stats every 10 s) alternate.
One JSON line (scripts/bench_api.py with --viewer --clients 1):

    python scripts/bench_live_view.py --seconds 30 --rounds 3
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_api


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return bench_api.main(["--viewer", "--clients", "1", *argv])


if __name__ == "__main__":
    raise SystemExit(main())
