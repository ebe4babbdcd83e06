"""Yes/no conditions on parts (a machine, a parameter range, a category value) for subgroup tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.storage.window_counts import MACHINE_SEP, Histogram, LevelFeature, WindowCounts
from inspector.trace.config import RootCauseConfig
from inspector.trace.stats import format_number, hist_quantile


@dataclass(frozen=True)
class Condition:
    """One condition a part meets or not; `feature` names what it is a value of."""

    feature: str           # 'machine@<step>' or a parameter key 'step.name'
    label: str             # 'kiln-2 (firing)', 'pressing.dwell_s < 1.974', 'coating.lot = L7'
    kind: str              # machine | below | at_least | equals
    parents: tuple[str, ...]  # names of the single findings this condition belongs to
    value: str | float | None = None  # the machine, the edge, or the category value

    @property
    def numeric(self) -> bool:
        return self.kind in ("below", "at_least")


@dataclass(frozen=True)
class ConditionSet:
    """Conditions, each as the set of its feature's levels that meet it (`masks`)."""

    conditions: tuple[Condition, ...]
    masks: tuple[np.ndarray, ...]        # bool over the levels of the condition's feature
    features: tuple[str, ...]
    levels: tuple[LevelFeature, ...]     # per feature: how a part's value becomes a level
    feature_of: np.ndarray               # feature index per condition


def build_conditions(counts: WindowCounts, cfg: RootCauseConfig) -> ConditionSet:
    """Every machine of a step with several, numeric tails at quantile edges, every category
    value seen on at least min_group_parts parts (no cut to the most frequent)."""
    found: list[tuple[str, LevelFeature, list[tuple[Condition, np.ndarray]]]] = []
    for step in sorted(counts.machine_sets):
        found.append(_machines(counts, step, cfg))
    for key in sorted(parameter_keys(counts)):
        found.append(_parameter(counts, key, cfg))
    found = [f for f in found if f[2]]
    rows = [(c, m) for _, _, conds in found for c, m in conds]
    feature_of = np.array([i for i, (_, _, conds) in enumerate(found) for _ in conds],
                          dtype=np.int64)
    return ConditionSet(tuple(c for c, _ in rows), tuple(m for _, m in rows),
                        tuple(name for name, _, _ in found), tuple(lf for _, lf, _ in found),
                        feature_of)


def parameter_keys(counts: WindowCounts) -> list[str]:
    """Parameters with at least one known value in the window."""
    keys = set(counts.numbers) | set(counts.texts)
    return [k for k in keys if _total(counts.numbers.get(k)) + _total(counts.texts.get(k))]


def _total(h: Histogram | None) -> int:
    return h.total if h is not None else 0


def _keep(cond: Condition, mask: np.ndarray, level_parts: np.ndarray, cfg: RootCauseConfig,
          out: list) -> None:
    """Keep a condition only when it and its complement both hold enough parts."""
    n = int(level_parts[mask].sum())
    if n >= cfg.min_group_parts and int(level_parts.sum()) - n >= cfg.min_group_parts:
        out.append((cond, mask))


def _machines(counts: WindowCounts, step: str, cfg: RootCauseConfig):
    feature = f"machine@{step}"
    h = counts.machine_sets[step]
    names = [str(v) for v in h.values]
    level = LevelFeature("machines", step, len(names), mapping={n: i for i, n in enumerate(names)})
    out: list = []
    machines = counts.machine_names(step)
    for machine in machines if len(machines) > 1 else ():
        cond = Condition(feature, f"{machine} ({step})", "machine",
                         (machine, f"{machine}/{step}"), machine)
        mask = np.array([machine in n.split(MACHINE_SEP) for n in names], dtype=bool)
        _keep(cond, mask, h.parts, cfg, out)
    return feature, level, out


def is_numeric(counts: WindowCounts, key: str) -> bool:
    """Tested as a number: numbers are at least half of the known values."""
    return _total(counts.numbers.get(key)) >= _total(counts.texts.get(key))


def _parameter(counts: WindowCounts, key: str, cfg: RootCauseConfig):
    if is_numeric(counts, key):
        h = counts.numbers[key]
        if h.values.size > cfg.bins:
            return _numeric(key, h, cfg)
        labels = np.array([format_number(v) for v in h.values], dtype=object)
        by_label = Histogram.of(list(labels), list(h.parts), list(h.defects), numeric=False)
        position = {str(v): i for i, v in enumerate(by_label.values)}
        mapping = {float(v): position[lab] for v, lab in zip(h.values, labels, strict=True)}
        level = LevelFeature("number_value", key, by_label.values.size, mapping=mapping)
        return key, level, _categories(key, by_label, cfg)
    h = counts.texts[key]
    mapping = {str(v): i for i, v in enumerate(h.values)}
    return key, LevelFeature("text", key, h.values.size, mapping=mapping), _categories(key, h, cfg)


def _numeric(key: str, h: Histogram, cfg: RootCauseConfig):
    inner = hist_quantile(h.values, h.parts, np.linspace(0.0, 1.0, cfg.bins + 1))[1:-1]
    edges = np.unique(inner)
    level_of = np.searchsorted(edges, h.values, side="right")
    level_parts = np.bincount(level_of, weights=h.parts, minlength=edges.size + 1)
    out: list = []
    for k, edge in enumerate(edges):
        below = np.arange(edges.size + 1) <= k
        for kind, mask, sign in (("below", below, "<"), ("at_least", ~below, ">=")):
            cond = Condition(key, f"{key} {sign} {format_number(float(edge))}", kind, (key,),
                             float(edge))
            _keep(cond, mask, level_parts, cfg, out)
    level = LevelFeature("number", key, edges.size + 1, edges=tuple(float(e) for e in edges))
    return key, level, out


def _categories(key: str, h: Histogram, cfg: RootCauseConfig) -> list:
    out: list = []
    if h.values.size < 2:
        return out
    for i, (value, n) in enumerate(zip(h.values, h.parts, strict=True)):
        if n >= cfg.min_group_parts:
            mask = np.zeros(h.values.size, dtype=bool)
            mask[i] = True
            cond = Condition(key, f"{key} = {value}", "equals", (key,), str(value))
            _keep(cond, mask, h.parts, cfg, out)
    return out
