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


def test_pairs(cs: ConditionSet, defect: np.ndarray, cfg: RootCauseConfig) -> PairTests:
    """Test A and B against the rest, against A without B and against B without A.

    The pair's p-value is the largest of the three one-sided Fisher tests (an
    intersection-union test): it is small only when the group is worse than the rest
    *and* than each of its conditions alone, so a single cause does not spawn pairs.
    """
    a, b = _pair_index(cs)
    if a.size == 0:
        return PairTests(np.empty(0), (), ())
    counts = _count(cs, defect.astype(np.float32), a, b)
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


def _pair_index(cs: ConditionSet) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.triu_indices(len(cs.conditions), 1)
    other = cs.feature_of[a] != cs.feature_of[b]
    return a[other], b[other]


def _count(cs: ConditionSet, defect: np.ndarray, a: np.ndarray, b: np.ndarray) -> _Counts:
    cm, pm = cs.matrix, cs.presence
    cd, pd = cm * defect, pm * defect
    fa, fb = cs.feature_of[a], cs.feature_of[b]
    both, both_d = cm @ cm.T, cd @ cm.T
    in_pool, in_pool_d = cm @ pm.T, cd @ pm.T          # condition x feature known
    pool, pool_d = pm @ pm.T, pd @ pm.T
    return _Counts(both[a, b], both_d[a, b], in_pool[a, fb], in_pool_d[a, fb], in_pool[b, fa],
                   in_pool_d[b, fa], pool[fa, fb], pool_d[fa, fb])


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
    )
