"""Root-cause benchmark: planted causes ranked first (one parameter; two conditions together),
and no false alarms on pure noise or on decoys (a noisy harmless parameter, a rare machine)."""

from __future__ import annotations

import argparse
import json
import time

from inspector.trace.rootcause import analyze
from inspector.trace.scenarios import Scenario, generate, interaction_power
from inspector.trace.simulate import LineSpec, PlantedCause, simulate, to_analysis_rows

DECOYS = ("coating.viscosity", "grinder-3")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", type=int, default=5_000, help="parts per simulated run")
    parser.add_argument("--seeds", type=int, default=20, help="runs with and without the cause")
    parser.add_argument("--defect-class", default=None, help="analyse one class (default: all)")
    parser.add_argument("--factor", type=float, default=5.0, help="planted cause's rate factor")
    parser.add_argument("--pair-parts", type=int, default=6_000,
                        help="parts per run of the planted-interaction line")
    parser.add_argument("--pair-factor", type=float, default=6.0,
                        help="crack rate factor of lot L03 pressed with a short dwell")
    return parser


def interaction(args: argparse.Namespace) -> dict:
    """The lot x dwell interaction over --seeds seeds, and the same line without it."""
    hits, decoys, clean_decoys, seconds, pair_tests = 0, 0, 0, [], 0
    for seed in range(args.seeds):
        for factor in (args.pair_factor, 1.0):
            sc = Scenario(parts=args.pair_parts, seed=seed, factor=factor)
            rows = generate(sc)
            t0 = time.perf_counter()
            report = analyze(*rows, defect_class="crack")
            seconds.append(time.perf_counter() - t0)
            called = any(d in f.name for f in report.significant for d in DECOYS)
            if factor == 1.0:
                clean_decoys += called
                continue
            decoys += called
            pair_tests = report.combinations_tested
            top = report.ranked[0] if report.ranked else None
            hits += bool(top and top.significant and sc.is_planted(top.conditions))
    sc = Scenario(parts=args.pair_parts, factor=args.pair_factor)
    return {"parts": args.pair_parts, "factor": args.pair_factor, "top_finding_hits": hits,
            "decoy_significant_seeds": decoys, "clean_line_decoy_significant_seeds": clean_decoys,
            "pair_tests": pair_tests, "power": round(interaction_power(sc, pair_tests), 3),
            "analyze_ms_mean": round(1000 * sum(seconds) / len(seconds), 1)}


def main(args: argparse.Namespace) -> dict:
    cause = PlantedCause(factor=args.factor)
    hits, false_significant, seconds = 0, 0, []
    top_names: dict[str, int] = {}
    for seed in range(args.seeds):
        for planted in (cause, None):
            parts = list(simulate(LineSpec(parts=args.parts, seed=seed, cause=planted)))
            rows = to_analysis_rows(parts)
            t0 = time.perf_counter()
            report = analyze(*rows, defect_class=args.defect_class)
            seconds.append(time.perf_counter() - t0)
            if planted is None:
                false_significant += bool(report.significant)
                continue
            top = report.ranked[0] if report.ranked else None
            name = top.name if top else "none"
            top_names[name] = top_names.get(name, 0) + 1
            hits += bool(top and top.significant and top.name in cause.names)
    result = {
        "bench": "rootcause", "parts": args.parts, "seeds": args.seeds,
        "defect_class": args.defect_class, "planted": f"{cause.machine} {cause.step}."
        f"{cause.parameter} > {cause.limit} -> {cause.defect_class} x{cause.factor}",
        "ranked_first_hits": hits, "false_significant_seeds": false_significant,
        "top_findings": top_names, "analyze_ms_mean": round(1000 * sum(seconds) / len(seconds), 1),
        "interaction": interaction(args),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
