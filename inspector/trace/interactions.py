"""Two-condition groups whose defect rate exceeds the rest and each condition alone (vectorised)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.trace.conditions import Condition, ConditionSet
from inspector.trace.config import RootCauseConfig
from inspector.trace.report import TESTED, Finding
from inspector.trace.stats import fisher_greater_many, make_bins, risk_ratio


@dataclass(frozen=True)
class PairTests:
    """Every eligible pair's p-value (the family), and one finding per pair of features."""

    p_values: np.ndarray           # all eligible pairs: the size of the correction family
    chosen: tuple[int, ...]        # positions in p_values of the findings below
    findings: tuple[Finding, ...]  # the best pair of each pair of features, q not yet set
    parents: tuple[frozenset[str], ...] = ()  # per finding: the single findings it refines


@dataclass(frozen=True)
class _Counts:
    """Parts and defects of A and B, A only, B only and both features known (the pool)."""

    n_ab: np.ndarray
    d_ab: np.ndarray
    n_a: np.ndarray
    d_a: np.ndarray
    n_b: np.ndarray
    d_b: np.ndarray
    n_pool: np.ndarray
    d_pool: np.ndarray


def test_pairs(cs: ConditionSet, crosstabs: Crosstabs, cfg: RootCauseConfig) -> PairTests:
    """Test A and B against the rest, against A without B and against B without A.

    The pair's p-value is the largest of the three one-sided Fisher tests (an
    intersection-union test): it is small only when the group is worse than the rest
    *and* than each of its conditions alone, so a single cause does not spawn pairs.
    """
    a, b, counts = _count(cs, crosstabs)
    if a.size == 0:
        return PairTests(np.empty(0), (), ())
    ok = _eligible(counts, cfg)
    a, b = a[ok], b[ok]
    c = _Counts(*(getattr(counts, f)[ok] for f in _Counts.__dataclass_fields__))
    p_rest = fisher_greater_many(c.d_ab, c.n_ab, c.d_pool - c.d_ab, c.n_pool - c.n_ab)
    p_a = fisher_greater_many(c.d_ab, c.n_ab, c.d_a - c.d_ab, c.n_a - c.n_ab)
    p_b = fisher_greater_many(c.d_ab, c.n_ab, c.d_b - c.d_ab, c.n_b - c.n_ab)
    p = np.maximum(p_rest, np.maximum(p_a, p_b))
    chosen = _best_per_feature_pair(cs.feature_of[a], cs.feature_of[b], p, c)
    conds = [(cs.conditions[a[i]], cs.conditions[b[i]]) for i in chosen]
    findings = tuple(_finding(ca, cb, c, i, float(p[i])) for (ca, cb), i in zip(conds, chosen,
                                                                                  strict=True))
    parents = tuple(frozenset(ca.parents + cb.parents) for ca, cb in conds)
    return PairTests(p, tuple(int(i) for i in chosen), findings, parents)


class Crosstabs:
    """Parts and defects per pair of features and pair of their levels, summed over chunks of
    per-part level codes (memory depends on the levels, not on the number of parts)."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes
        self.parts: dict[tuple[int, int], np.ndarray] = {}
        self.defects: dict[tuple[int, int], np.ndarray] = {}
        for fa in range(len(sizes)):
            for fb in range(fa + 1, len(sizes)):
                self.parts[(fa, fb)] = np.zeros(sizes[fa] * sizes[fb], dtype=np.float64)
                self.defects[(fa, fb)] = np.zeros(sizes[fa] * sizes[fb], dtype=np.float64)

    def add(self, codes: np.ndarray, defect: np.ndarray) -> None:
        """Count one chunk: codes is part x feature (-1: unknown), defect 0/1 per part."""
        flag = np.asarray(defect, dtype=np.int64)
        columns = [np.ascontiguousarray(codes[:, f], dtype=np.int64)
                   for f in range(codes.shape[1])]
        known = [c >= 0 for c in columns]
        for (fa, fb), n in self.parts.items():
            both = known[fa] & known[fb]
            # one count per (cell, defect): parts are its sum over defect, defects its second
            cell = (columns[fa][both] * self.sizes[fb] + columns[fb][both]) * 2 + flag[both]
            counted = np.bincount(cell, minlength=2 * n.size).reshape(-1, 2)
            n += counted.sum(axis=1)
            self.defects[(fa, fb)] += counted[:, 1]

    def table(self, fa: int, fb: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (self.sizes[fa], self.sizes[fb])
        return self.parts[(fa, fb)].reshape(shape), self.defects[(fa, fb)].reshape(shape)


def _count(cs: ConditionSet, tabs: Crosstabs) -> tuple[np.ndarray, np.ndarray, _Counts]:
    """Counts of every pair of conditions on different features, block by block of features
    (within a block in the order np.triu_indices gives: row-major)."""
    members = [np.flatnonzero(cs.feature_of == f) for f in range(len(cs.features))]
    a_all, b_all, parts = [], [], {k: [] for k in _Counts.__dataclass_fields__}
    for fa in range(len(members)):
        ma = np.array([cs.masks[i] for i in members[fa]], dtype=np.float64)
        for fb in range(fa + 1, len(members)):
            mb = np.array([cs.masks[i] for i in members[fb]], dtype=np.float64)
            n, d = tabs.table(fa, fb)
            shape = (len(members[fa]), len(members[fb]))
            values = {
                "n_ab": ma @ n @ mb.T, "d_ab": ma @ d @ mb.T,
                "n_a": np.broadcast_to((ma @ n.sum(1))[:, None], shape),
                "d_a": np.broadcast_to((ma @ d.sum(1))[:, None], shape),
                "n_b": np.broadcast_to((mb @ n.sum(0))[None, :], shape),
                "d_b": np.broadcast_to((mb @ d.sum(0))[None, :], shape),
                "n_pool": np.full(shape, n.sum()), "d_pool": np.full(shape, d.sum()),
            }
            for k, v in values.items():
                parts[k].append(np.rint(v).ravel())
            ia, ib = np.meshgrid(members[fa], members[fb], indexing="ij")
            a_all.append(ia.ravel())
            b_all.append(ib.ravel())
    if not a_all:
        return np.empty(0, np.int64), np.empty(0, np.int64), _Counts(*([np.empty(0)] * 8))
    return (np.concatenate(a_all), np.concatenate(b_all),
            _Counts(*(np.concatenate(parts[k]) for k in _Counts.__dataclass_fields__)))


def _eligible(c: _Counts, cfg: RootCauseConfig) -> np.ndarray:
    """Enough parts in the group and in each group it is compared with, enough defects."""
    m = cfg.min_group_parts
    return ((c.n_ab >= m) & (c.n_a - c.n_ab >= m) & (c.n_b - c.n_ab >= m)
            & (c.n_pool - c.n_ab >= m) & (c.d_pool >= cfg.min_defects))


def _best_per_feature_pair(fa: np.ndarray, fb: np.ndarray, p: np.ndarray,
                           c: _Counts) -> list[int]:
    """Per pair of features, the pair with the smallest p (then the higher rate ratio)."""
    rr = (c.d_ab + 0.5) / (c.n_ab + 1.0) / ((c.d_pool - c.d_ab + 0.5) / (c.n_pool - c.n_ab + 1.0))
    order = np.lexsort((-rr, p))
    best: dict[tuple[int, int], int] = {}
    for i in order:
        best.setdefault((int(fa[i]), int(fb[i])), int(i))
    return sorted(best.values(), key=lambda i: (p[i], -rr[i]))


def _finding(ca: Condition, cb: Condition, c: _Counts, i: int, p: float) -> Finding:
    if ca.numeric and not cb.numeric:  # the category or machine first: 'lot L7 with dwell < 1.8'
        ca, cb = cb, ca
        n_a, d_a, n_b, d_b = c.n_b[i], c.d_b[i], c.n_a[i], c.d_a[i]
    else:
        n_a, d_a, n_b, d_b = c.n_a[i], c.d_a[i], c.n_b[i], c.d_b[i]
    n_ab, d_ab, n_pool, d_pool = c.n_ab[i], c.d_ab[i], c.n_pool[i], c.d_pool[i]
    parts = np.array([n_ab, n_a - n_ab, n_b - n_ab, n_pool - n_a - n_b + n_ab], dtype=np.int64)
    defects = np.array([d_ab, d_a - d_ab, d_b - d_ab, d_pool - d_a - d_b + d_ab], dtype=np.int64)
    name = f"{ca.label} & {cb.label}"
    labels = [name, f"{ca.label} only", f"{cb.label} only", "neither"]
    bins = make_bins(labels, parts, defects)
    n_rest, d_rest = int(n_pool - n_ab), int(d_pool - d_ab)
    return Finding(
        "combination", name, int(n_pool), int(d_pool), TESTED, "fisher_iut", p,
        lift=bins[0].lift, worst=name, bins=bins, conditions=(ca.label, cb.label),
        group_parts=int(n_ab), group_defects=int(d_ab),
        rest_rate=d_rest / n_rest if n_rest else 0.0,
        risk_ratio=risk_ratio(d_ab, n_ab, d_rest, n_rest),
        note="both conditions together, against the rest and against each condition alone",
        where=(inspection_condition(ca), inspection_condition(cb)),
    )


def inspection_condition(c: Condition) -> str:
    """The condition as an inspections filter, with the exact edge (the label rounds it)."""
    if c.kind == "machine":
        return f"{c.value} ({c.feature.removeprefix('machine@')})"
    if c.kind == "below":
        return f"{c.feature} < {c.value!r}"
    if c.kind == "at_least":
        return f"{c.feature} >= {c.value!r}"
    return f"{c.feature} = {c.value}"
