"""Window counts and per-part levels from rows already in memory (the simulator's and tests' path)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np

from inspector.storage.window_counts import (
    MACHINE_SEP,
    Histogram,
    LevelFeature,
    MachineCounts,
    WindowCounts,
)
from inspector.trace.features import PartFeatures


def window_counts(feats: PartFeatures, labels: frozenset[str] = frozenset()) -> WindowCounts:
    """Count what root cause tests, from parts joined to their events in Python."""
    defect = feats.defect
    counts = WindowCounts(feats.parts, feats.defects, labels)
    for step, members in feats.steps.items():
        idx = np.fromiter(members, dtype=np.int64)
        counts.steps[step] = (idx.size, int(defect[idx].sum()))
    for step, sets in _machine_sets(feats).items():
        names = list(sets)
        parts = [len(sets[n]) for n in names]
        defects = [int(defect[list(sets[n])].sum()) for n in names]
        counts.machine_sets[step] = Histogram.of(names, parts, defects, numeric=False)
    for machine in sorted(feats.machines):
        pool: set[int] = set()
        for step in feats.steps_of(machine):
            pool |= feats.steps[step]
        group = feats.machines[machine]
        counts.machines[machine] = MachineCounts(
            len(group), int(defect[list(group)].sum()), len(pool), int(defect[list(pool)].sum()))
    for key in feats.params:
        pv = feats.typed(key)
        counts.numbers[key] = Histogram.of(list(pv.numbers), [1] * pv.numbers.size,
                                           list(defect[pv.numeric_index]), numeric=True)
        counts.texts[key] = Histogram.of(pv.texts, [1] * len(pv.texts),
                                         list(defect[pv.text_index]), numeric=False)
    return counts


def _machine_sets(feats: PartFeatures) -> dict[str, dict[str, set[int]]]:
    """Per step: the parts of each machine set ('kiln-1', or 'kiln-1|kiln-2' after rework)."""
    per_part: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for (machine, step), members in feats.machine_steps.items():
        for i in members:
            per_part[step][i].append(machine)
    out: dict[str, dict[str, set[int]]] = {}
    for step, parts in per_part.items():
        sets: dict[str, set[int]] = defaultdict(set)
        for i, machines in parts.items():
            sets[MACHINE_SEP.join(sorted(machines))].add(i)
        out[step] = dict(sets)
    return out


def level_codes(feats: PartFeatures, features: Sequence[LevelFeature],
                chunk: int = 100_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of (level per part and feature, -1 where unknown; defect per part)."""
    codes = np.full((feats.parts, len(features)), -1, dtype=np.int32)
    machine_sets = _machine_sets(feats)
    for j, f in enumerate(features):
        if f.source == "machines":
            for name, members in machine_sets.get(f.key, {}).items():
                if name in f.mapping:
                    codes[list(members), j] = f.mapping[name]
            continue
        pv = feats.typed(f.key)
        if f.source == "number":
            codes[pv.numeric_index, j] = np.searchsorted(np.asarray(f.edges), pv.numbers,
                                                         side="right")
        elif f.source == "number_value":
            for i, v in zip(pv.numeric_index, pv.numbers, strict=True):
                codes[i, j] = f.mapping.get(float(v), -1)
        else:
            for i, v in zip(pv.text_index, pv.texts, strict=True):
                codes[i, j] = f.mapping.get(v, -1)
    for start in range(0, feats.parts, chunk):
        yield codes[start:start + chunk], feats.defect[start:start + chunk]
