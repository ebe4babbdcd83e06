"""Planted-cause lines for root-cause tests and benchmarks: interactions, decoys, tool ids (fast)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy import stats

from inspector.storage.events import EventFacts, PartOutcome

START = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)
DWELL_MEAN, DWELL_SD, DWELL_QUANTILE = 2.0, 0.05, 0.4


@dataclass(frozen=True)
class Scenario:
    """A line with a planted cause (or none) and decoys that must stay quiet.

    Planted interaction: parts of lot `lot` pressed with a dwell below the 40th percentile get
    cracks `factor` x as often; neither condition alone does anything. Decoys: coating.viscosity
    is pure noise with a large spread, grinder-3 sees about 1% of the parts. With `tools` > 0,
    grinding.tool is one of that many ids and tool T001 makes cracks `tool_factor` x as often.
    """

    parts: int = 6_000
    seed: int = 0
    lots: int = 6
    lot: str = "L03"
    factor: float = 6.0             # 1.0: no planted interaction
    base_rate: float = 0.02         # crack rate of the other parts
    other_rate: float = 0.03        # other NG classes, unrelated to anything
    tools: int = 0
    tool_factor: float = 1.0

    @property
    def dwell_limit(self) -> float:
        return float(DWELL_MEAN + DWELL_SD * stats.norm.ppf(DWELL_QUANTILE))

    def is_planted(self, conditions: tuple[str, ...]) -> bool:
        """Whether a finding's conditions name the planted interaction (any dwell edge)."""
        return (f"pressing.lot = {self.lot}" in conditions
                and any(c.startswith("pressing.dwell_s <") for c in conditions))


def generate(sc: Scenario) -> tuple[list[PartOutcome], list[EventFacts]]:
    """Outcomes and events (in time order) as root cause loads them from the store."""
    rng = np.random.default_rng(sc.seed)
    n = sc.parts
    lot = np.minimum(np.arange(n) * sc.lots // n, sc.lots - 1) + 1
    dwell = rng.normal(DWELL_MEAN, DWELL_SD, n)
    rate = np.full(n, sc.base_rate)
    rate[(lot == int(sc.lot[1:])) & (dwell < sc.dwell_limit)] *= sc.factor
    tool = rng.integers(1, sc.tools + 1, n) if sc.tools else None
    if tool is not None:
        rate[tool == 1] *= sc.tool_factor
    draw = rng.random(n)
    labels = np.where(draw < rate, "crack",
                      np.where(draw < rate + sc.other_rate, "blowhole", "free"))
    columns = {
        "press": rng.integers(1, 3, n), "force": rng.normal(120.0, 3.0, n),
        "kiln": rng.integers(1, 3, n), "temperature": rng.normal(850.0, 4.0, n),
        "grinder": rng.choice([1, 2, 3], n, p=[0.495, 0.495, 0.01]),
        "viscosity": rng.normal(80.0, 25.0, n), "coater": rng.integers(1, 3, n),
    }
    serials = [f"SC{sc.seed:03d}{i:07d}" for i in range(n)]
    outcomes = [PartOutcome(s, START + timedelta(seconds=6 * i), "OK" if lab == "free" else "NG",
                            str(lab), None) for i, (s, lab) in enumerate(zip(serials, labels,
                                                                               strict=True))]
    facts = []
    for i, serial in enumerate(serials):
        facts.extend(_part_events(serial, i, columns, dwell, lot, tool))
    return outcomes, facts


def _part_events(serial: str, i: int, c: dict[str, np.ndarray], dwell: np.ndarray,
                 lot: np.ndarray, tool: np.ndarray | None) -> list[EventFacts]:
    grinding: dict[str, float | str] = {"feed_mm_s": 1.2}
    if tool is not None:
        grinding["tool"] = f"T{int(tool[i]):03d}"
    return [
        EventFacts(serial, f"press-{c['press'][i]}", "pressing",
                   {"dwell_s": round(float(dwell[i]), 4), "force_kN": round(float(c["force"][i]), 2),
                    "lot": f"L{int(lot[i]):02d}"}),
        EventFacts(serial, f"kiln-{c['kiln'][i]}", "firing",
                   {"temperature": round(float(c["temperature"][i]), 2)}),
        EventFacts(serial, f"grinder-{c['grinder'][i]}", "grinding", grinding),
        EventFacts(serial, f"coater-{c['coater'][i]}", "coating",
                   {"viscosity": round(float(c["viscosity"][i]), 2)}),
    ]


def interaction_power(sc: Scenario, pair_tests: int, alpha: float = 0.05) -> float:
    """Chance that the planted pair is significant when `pair_tests` pairs are searched.

    Pairs get alpha/2 under Holm, whose first threshold is alpha/2/pair_tests: all three
    one-sided Fisher tests of the pair (against the rest, against the lot's long-dwell parts,
    against the short-dwell parts of other lots) must reach it. Their product given the pair's
    defect count is taken as independent, so this is an estimate from below.
    """
    lot_parts = sc.parts // sc.lots
    n1 = int(lot_parts * DWELL_QUANTILE)
    others = {"lot only": lot_parts - n1, "dwell only": int((sc.parts - lot_parts) * DWELL_QUANTILE),
              "rest": sc.parts - n1}
    p1, t = sc.base_rate * sc.factor, alpha / 2 / pair_tests
    d1 = np.arange(int(stats.binom.ppf(1 - 1e-9, n1, p1)) + 2)
    total = stats.binom.pmf(d1, n1, p1)
    for n0 in others.values():
        d0 = np.arange(int(stats.binom.ppf(1 - 1e-9, n0, sc.base_rate)) + 2)
        grid_1, grid_0 = np.meshgrid(d1, d0, indexing="ij")
        significant = stats.hypergeom.sf(grid_1 - 1, n1 + n0, grid_1 + grid_0, n1) < t
        total = total * (significant * stats.binom.pmf(d0, n0, sc.base_rate)).sum(axis=1)
    return float(total.sum())
