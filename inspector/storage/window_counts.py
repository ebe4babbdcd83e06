"""Root-cause window aggregates: part and defect counts per machine, value and level pair."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Histogram:
    """Distinct values (sorted) with the parts and defects that carry each one."""

    values: np.ndarray          # float64 for numbers, object (str) for text
    parts: np.ndarray           # int64
    defects: np.ndarray         # int64

    @property
    def total(self) -> int:
        return int(self.parts.sum())

    @property
    def total_defects(self) -> int:
        return int(self.defects.sum())

    @classmethod
    def of(cls, values: list, parts: list[int], defects: list[int], numeric: bool) -> Histogram:
        """Rows in any order (duplicates summed) as a sorted histogram."""
        arr = np.asarray(values, dtype=np.float64 if numeric else object)
        if not arr.size:
            return cls(arr, np.zeros(0, np.int64), np.zeros(0, np.int64))
        uniq, inverse = np.unique(arr, return_inverse=True)
        n = np.bincount(inverse, weights=np.asarray(parts, float), minlength=uniq.size)
        d = np.bincount(inverse, weights=np.asarray(defects, float), minlength=uniq.size)
        return cls(uniq, n.astype(np.int64), d.astype(np.int64))


@dataclass(frozen=True)
class MachineCounts:
    """A machine's parts (through any of its steps) against every part of those steps."""

    parts: int
    defects: int
    pool_parts: int
    pool_defects: int


@dataclass
class WindowCounts:
    """What root cause needs of a window, counted (in SQL or from loaded rows), not per part.

    A part's machines at a step are one level: the machines it went through there, sorted and
    joined by '|' (a rework pass on another machine makes 'kiln-1|kiln-2').
    """

    parts: int
    defects: int
    labels: frozenset[str] = frozenset()                              # label and review label
    steps: dict[str, tuple[int, int]] = field(default_factory=dict)   # parts, defects known
    machine_sets: dict[str, Histogram] = field(default_factory=dict)  # step -> machine sets
    machines: dict[str, MachineCounts] = field(default_factory=dict)
    numbers: dict[str, Histogram] = field(default_factory=dict)      # 'step.name' -> numbers
    texts: dict[str, Histogram] = field(default_factory=dict)        # 'step.name' -> text

    def steps_of(self, machine: str) -> list[str]:
        """The steps a machine performed in this window."""
        return sorted(s for s, h in self.machine_sets.items() if any(
            machine in str(v).split(MACHINE_SEP) for v in h.values))

    def machine_step(self, machine: str, step: str) -> tuple[int, int]:
        """Parts and defects that went through `machine` at `step`."""
        h = self.machine_sets[step]
        hit = np.array([machine in str(v).split(MACHINE_SEP) for v in h.values], dtype=bool)
        return int(h.parts[hit].sum()), int(h.defects[hit].sum())

    def machine_names(self, step: str) -> list[str]:
        """Every machine seen at a step."""
        return sorted({m for v in self.machine_sets[step].values
                       for m in str(v).split(MACHINE_SEP)})


MACHINE_SEP = "|"


@dataclass(frozen=True)
class LevelFeature:
    """How a part's value of one feature becomes a level (0..size-1) for the pair counts.

    source 'machines': the machine set at `key` (a step) looked up in `mapping`; 'number':
    the count of `edges` at or below the value; 'number_label' and 'text': the value (a
    number's formatted label, or the text) looked up in `mapping`. Unmapped values: no level.
    """

    source: str
    key: str
    size: int
    edges: tuple[float, ...] = ()
    mapping: dict = field(default_factory=dict)
