"""Change points and alerts over seeds: a bad tool found and named, a rising rate alerted before it
doubles, and how often stable lines raise either (one JSON line)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from inspector.machine import cpu_model
from inspector.trace.changepoints import RISE, segment_machines
from inspector.trace.config import ChangePointConfig
from inspector.trace.monitor import RateMonitor, design
from inspector.trace.timelines import RisingLine, ToolLine, tool_line_sequences


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--parts", type=int, default=6_000, help="parts of the tool line")
    parser.add_argument("--factor", type=float, default=3.0, help="crack rate x after the bad tool")
    parser.add_argument("--stable", type=int, default=10_000, help="baseline parts (alerts)")
    parser.add_argument("--ramp", type=int, default=8_000, help="parts over which the rate rises")
    parser.add_argument("--rise", type=float, default=3.0, help="rate x at the end of the ramp")
    parser.add_argument("--shift", type=float, default=1.5)
    parser.add_argument("--false-alarm", type=float, default=0.05)
    return parser


def change_points(args: argparse.Namespace) -> dict:
    cfg, hits, false_alarms, lags, seconds = ChangePointConfig(), 0, 0, [], []
    for seed in range(args.seeds):
        for factor in (args.factor, 1.0):
            line = ToolLine(parts=args.parts, seed=seed, factor=factor)
            t0 = time.perf_counter()
            found = segment_machines(*tool_line_sequences(line), "crack", cfg, 0.05)
            seconds.append(time.perf_counter() - t0)
            if factor == 1.0:
                false_alarms += any(c.significant for c in found)
                continue
            tool, _ = line.planted()
            top = found[0]
            if (top.significant and top.direction == RISE and top.machine == "grinder-2"
                    and top.change is not None and top.change.after == tool):
                hits += 1
                lags.append(top.lag)
    return {"planted_top": f"{hits}/{args.seeds}", "stable_significant":
            f"{false_alarms}/{args.seeds}", "power": round(ToolLine(
                parts=args.parts, factor=args.factor).power(), 3),
            "power_at_2x": round(ToolLine(parts=args.parts, factor=2.0).power(), 3),
            "median_lag_parts": statistics.median(lags) if lags else None,
            "median_s_per_line": round(statistics.median(seconds), 4)}


def alerts(args: argparse.Namespace) -> dict:
    rising = RisingLine(args.stable, args.ramp, 0.02, args.rise)
    stable = RisingLine(args.stable, args.ramp, 0.02, 1.0)
    doubled = rising.doubled_at()
    firsts, false_alarms, ratios, hs = [], 0, [], []
    rates = rising.rates()
    for line, flags_all in ((rising, rising.draw(args.seeds)), (stable, stable.draw(args.seeds))):
        for flags in flags_all:
            plan = design(line.stable, int(flags[:line.stable].sum()), args.shift, line.ramp,
                          args.false_alarm)
            hs.append(plan.h)
            serials = [str(i) for i in range(line.stable, line.parts)]
            raised = [c for c in RateMonitor("s", "crack", plan).update(
                flags[line.stable:], serials) if c.raised]
            if line is stable:
                false_alarms += bool(raised)
            elif raised:
                firsts.append(int(raised[0].serial))
                ratios.append(rates[int(raised[0].serial)] / 0.02)
    before = sum(f < (doubled or 0) for f in firsts)
    return {"before_doubling": f"{before}/{args.seeds}", "stable_raised":
            f"{false_alarms}/{args.seeds}", "doubled_at_part": doubled,
            "median_first_alert_part": statistics.median(firsts) if firsts else None,
            "median_rate_x_at_alert": round(statistics.median(ratios), 2) if ratios else None,
            "median_h": round(statistics.median(hs), 3)}


def main(args: argparse.Namespace | None = None) -> dict:
    args = args or get_args_parser().parse_args()
    t0 = time.perf_counter()
    out = {"cpu": cpu_model(), "load_avg_1m": round(os.getloadavg()[0], 2),
           "change_points": change_points(args), "alerts": alerts(args)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
