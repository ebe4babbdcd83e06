"""Yes/no conditions on parts (a machine, a parameter range, a category value) for subgroup tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from inspector.trace.config import RootCauseConfig
from inspector.trace.features import ParamValues, PartFeatures
from inspector.trace.stats import format_number


@dataclass(frozen=True)
class Condition:
    """One condition a part meets or not; `feature` names what it is a value of."""

    feature: str           # 'machine@<step>' or a parameter key 'step.name'
    label: str             # 'kiln-2 (firing)', 'pressing.dwell_s < 1.974', 'coating.lot = L7'
    kind: str              # machine | below | at_least | equals
    parents: tuple[str, ...]  # names of the single findings this condition belongs to

    @property
    def numeric(self) -> bool:
        return self.kind in ("below", "at_least")


@dataclass(frozen=True)
class ConditionSet:
    """Conditions with their part masks, and per feature the parts where it is known."""

    conditions: tuple[Condition, ...]
    matrix: np.ndarray     # float32, condition x part: 1 where the part meets it
    features: tuple[str, ...]
    presence: np.ndarray   # float32, feature x part: 1 where the feature is known
    feature_of: np.ndarray  # feature index per condition


def build_conditions(feats: PartFeatures, cfg: RootCauseConfig) -> ConditionSet:
    """Every machine of a step with several, numeric tails at quantile edges, every category
    value seen on at least min_group_parts parts (no cut to the most frequent)."""
    rows: list[tuple[Condition, np.ndarray]] = []
    presence: dict[str, np.ndarray] = {}
    for step in sorted(feats.steps):
        _machines(feats, step, cfg, rows, presence)
    for key in sorted(feats.params):
        _parameter(feats, key, cfg, rows, presence)
    features = tuple(presence)
    position = {f: i for i, f in enumerate(features)}
    matrix = np.zeros((len(rows), feats.parts), dtype=np.float32)
    for i, (_, idx) in enumerate(rows):
        matrix[i, idx] = 1.0
    present = np.zeros((len(features), feats.parts), dtype=np.float32)
    for i, f in enumerate(features):
        present[i, presence[f]] = 1.0
    feature_of = np.array([position[c.feature] for c, _ in rows], dtype=np.int64)
    return ConditionSet(tuple(c for c, _ in rows), matrix, features, present, feature_of)


def _add(rows: list, presence: dict, cond: Condition, idx: np.ndarray, known: np.ndarray,
         cfg: RootCauseConfig) -> None:
    """Keep a condition only when it and its complement both hold enough parts."""
    if idx.size >= cfg.min_group_parts and known.size - idx.size >= cfg.min_group_parts:
        rows.append((cond, idx))
        presence.setdefault(cond.feature, known)


def _machines(feats: PartFeatures, step: str, cfg: RootCauseConfig, rows: list,
              presence: dict) -> None:
    machines = sorted(m for (m, s) in feats.machine_steps if s == step)
    known = np.fromiter(feats.steps[step], dtype=np.int64)
    for machine in machines if len(machines) > 1 else ():
        cond = Condition(f"machine@{step}", f"{machine} ({step})", "machine",
                         (machine, f"{machine}/{step}"))
        idx = np.fromiter(feats.machine_steps[(machine, step)], dtype=np.int64)
        _add(rows, presence, cond, idx, known, cfg)


def _parameter(feats: PartFeatures, key: str, cfg: RootCauseConfig, rows: list,
               presence: dict) -> None:
    pv: ParamValues = feats.typed(key)
    if pv.numeric and np.unique(pv.numbers).size > cfg.bins:
        _numeric(key, pv.numeric_index, pv.numbers, cfg, rows, presence)
        return
    if pv.numeric:
        index, labels = pv.numeric_index, [format_number(v) for v in pv.numbers]
    else:
        index, labels = pv.text_index, pv.texts
    _categories(key, index, labels, cfg, rows, presence)


def _numeric(key: str, index: np.ndarray, values: np.ndarray, cfg: RootCauseConfig,
             rows: list, presence: dict) -> None:
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, cfg.bins + 1))[1:-1])
    for edge in edges:
        below = values < edge
        for kind, mask, sign in (("below", below, "<"), ("at_least", ~below, ">=")):
            cond = Condition(key, f"{key} {sign} {format_number(float(edge))}", kind, (key,))
            _add(rows, presence, cond, index[mask], index, cfg)


def _categories(key: str, index: np.ndarray, labels: list[str], cfg: RootCauseConfig,
                rows: list, presence: dict) -> None:
    counts = Counter(labels)
    if len(counts) < 2:
        return
    arr = np.asarray(labels, dtype=object)
    for value, n in sorted(counts.items()):
        if n >= cfg.min_group_parts:
            cond = Condition(key, f"{key} = {value}", "equals", (key,))
            _add(rows, presence, cond, index[arr == value], index, cfg)
