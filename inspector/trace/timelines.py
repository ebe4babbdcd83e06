"""Planted changes in time for change-point and alert tests: a bad tool going in, a rising rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy import stats

from inspector.storage.events import EventFacts, PartOutcome
from inspector.trace.changepoints import MachineSequence

START = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class ToolLine:
    """Parts through a press (lot changes line-wide), a kiln, one of two grinders (each changes
    its tool every 150-250 of its parts, a new id each time: about 30 ids per grinder) and a
    coater. The tool that goes in on grinder-2 at about `at` of its parts makes cracks `factor`
    x as often from then on; factor 1: a stable line, every change a decoy.
    """

    parts: int = 6_000
    seed: int = 0
    base_rate: float = 0.02
    other_rate: float = 0.03        # other NG classes, unrelated to anything
    factor: float = 3.0
    at: float = 0.6
    lot_parts: int = 1_000

    def layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grinder of each part (1 or 2), tool number of each part, and the bad tool's number."""
        rng = np.random.default_rng((self.seed, 1))
        grinder = rng.integers(1, 3, self.parts)
        tool = np.zeros(self.parts, dtype=np.int64)
        bad = 0
        for g in (1, 2):
            mine = np.flatnonzero(grinder == g)
            lives = rng.integers(150, 251, mine.size // 150 + 2)
            starts = np.concatenate(([0], np.cumsum(lives)))
            ids = np.searchsorted(starts, np.arange(mine.size), side="right")
            tool[mine] = ids + 100 * g        # T101.. on grinder-1, T201.. on grinder-2
            if g == 2:
                bad = 200 + int(np.searchsorted(starts, self.at * mine.size, side="right"))
        return grinder, tool, bad

    def planted(self) -> tuple[str, str]:
        """The bad tool's id and the serial of the first part it ground."""
        _, tool, bad = self.layout()
        first = int(np.flatnonzero(tool == bad)[0])
        return f"T{bad}", serial(self.seed, first)

    def power(self, searched: int = 8, alpha: float = 0.05) -> float:
        """Chance that grinder-2's step is significant (see change_power)."""
        grinder, tool, bad = self.layout()
        on_2 = tool[grinder == 2]
        before = int(np.searchsorted(on_2, bad))
        return change_power(before, on_2.size - before, self.base_rate,
                            self.base_rate * self.factor, searched, alpha)


def serial(seed: int, i: int) -> str:
    return f"TL{seed:03d}{i:07d}"


def _draw(line: ToolLine) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(line.seed)
    n = line.parts
    grinder, tool, bad = line.layout()
    rate = np.full(n, line.base_rate)
    rate[(grinder == 2) & (tool >= bad)] *= line.factor
    draw = rng.random(n)
    labels = np.where(draw < rate, "crack",
                      np.where(draw < rate + line.other_rate, "blowhole", "free"))
    return {"labels": labels, "grinder": grinder, "tool": tool, "press": rng.integers(1, 3, n),
            "kiln": rng.integers(1, 3, n), "coater": rng.integers(1, 3, n),
            "zone": rng.integers(0, 2, n), "lot": np.arange(n) // line.lot_parts + 1}


def tool_line_sequences(line: ToolLine) -> tuple[np.ndarray, list[MachineSequence]]:
    """What build_sequences makes of generate_tool_line's crack rows, built in bulk (20-seed
    loops stay fast); machines work on their parts in the line's order."""
    c = _draw(line)
    serials = np.char.add(f"TL{line.seed:03d}", np.char.zfill(
        np.arange(line.parts).astype(str), 7)).astype(object)
    settings = {"press": ("pressing", "lot", np.char.add("L", np.char.zfill(
                    c["lot"].astype(str), 2))),
                "kiln": ("firing", "zone", np.where(c["zone"] == 0, "A", "B")),
                "grinder": ("grinding", "tool", np.char.add("T", c["tool"].astype(str))),
                "coater": ("coating", None, None)}
    sequences = []
    for kind, (step, name, values) in sorted(settings.items()):
        for unit in (1, 2):
            parts = np.flatnonzero(c[kind] == unit)
            own = {} if name is None else {
                f"{step}.{name}": (np.arange(parts.size), values[parts].astype(object))}
            sequences.append(MachineSequence(f"{kind}-{unit}", (step,), parts,
                                             list(serials[parts]), own))
    return c["labels"] == "crack", sequences


def generate_tool_line(line: ToolLine) -> tuple[list[PartOutcome], list[EventFacts]]:
    """Outcomes and events (in time order) as root cause loads them from the store."""
    c = _draw(line)
    labels, grinder, tool, press = c["labels"], c["grinder"], c["tool"], c["press"]
    kiln, coater, zone, lot = c["kiln"], c["coater"], c["zone"], c["lot"]
    n = line.parts
    serials = [serial(line.seed, i) for i in range(n)]
    outcomes = [PartOutcome(s, START + timedelta(seconds=6 * i), "OK" if lab == "free" else "NG",
                            str(lab), None)
                for i, (s, lab) in enumerate(zip(serials, labels, strict=True))]
    facts = []
    for i, s in enumerate(serials):
        facts += [
            EventFacts(s, f"press-{press[i]}", "pressing", {"lot": f"L{lot[i]:02d}"}),
            EventFacts(s, f"kiln-{kiln[i]}", "firing", {"zone": "AB"[zone[i]]}),
            EventFacts(s, f"grinder-{grinder[i]}", "grinding", {"tool": f"T{tool[i]}"}),
            EventFacts(s, f"coater-{coater[i]}", "coating", {"viscosity": 80.0}),
        ]
    return outcomes, facts


def change_power(n_before: int, n_after: int, p_before: float, p_after: float,
                 searched: int = 8, alpha: float = 0.05) -> float:
    """Chance that a step from p_before to p_after after n_before parts (n_after follow) is
    significant: the CUSUM's distance at the true change alone, |S/d - n_before/n| with S the
    defects before it and d all of them, must reach kstwo(d)'s upper alpha/2/searched quantile
    (the family's level). Exact
    over both binomial counts; a lower bound, since the scan takes the largest distance."""
    n = n_before + n_after
    s = np.arange(int(stats.binom.ppf(1 - 1e-9, n_before, p_before)) + 2)
    t = np.arange(int(stats.binom.ppf(1 - 1e-9, n_after, p_after)) + 2)
    ss, tt = np.meshgrid(s, t, indexing="ij")
    d = np.maximum(ss + tt, 1)
    distance = np.abs(ss / d - n_before / n)
    # kstwo's quantile by Stephens' approximation (within 1% of it from 5 defects on; the
    # exact one takes seconds over this grid)
    critical = stats.kstwobign.isf(alpha / 2 / searched) / (np.sqrt(d) + 0.12 + 0.11 / np.sqrt(d))
    significant = (distance >= critical) & (ss + tt > 0)
    weight = np.outer(stats.binom.pmf(s, n_before, p_before), stats.binom.pmf(t, n_after, p_after))
    return float((weight * significant).sum())


@dataclass(frozen=True)
class RisingLine:
    """A station's defect flags for one class: `stable` parts at `base_rate`, then the rate rises
    linearly to `factor` x base over `ramp` parts (it has doubled halfway when factor is 3).
    factor 1: a stable line of the same length."""

    stable: int = 2_000
    ramp: int = 6_000
    base_rate: float = 0.02
    factor: float = 3.0

    @property
    def parts(self) -> int:
        return self.stable + self.ramp

    def rates(self) -> np.ndarray:
        rise = np.linspace(0.0, 1.0, self.ramp) * (self.factor - 1.0)
        return self.base_rate * np.concatenate((np.ones(self.stable), 1.0 + rise))

    def doubled_at(self) -> int | None:
        """The first part at twice the base rate (None when it never gets there)."""
        above = np.flatnonzero(self.rates() >= 2 * self.base_rate)
        return int(above[0]) if above.size else None

    def draw(self, seeds: int) -> np.ndarray:
        """Defect flags, one row per seed (seeds 0..seeds-1)."""
        rates = self.rates()
        return np.stack([np.random.default_rng((s, 7)).random(self.parts) < rates
                         for s in range(seeds)])
