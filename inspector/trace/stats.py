"""Statistical tests of the root-cause analysis: 2x2 Fisher, k x 2 chi-square, bins, FDR."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_EXPECTED = 5  # chi-square needs about this many expected defects (and goods) per bin


@dataclass(frozen=True)
class Bin:
    """One group of parts in a finding: a value range, a category, or a machine vs the rest."""

    label: str
    parts: int
    defects: int
    rate: float
    lift: float          # rate / rate of all parts the test rests on


@dataclass(frozen=True)
class TestResult:
    """Outcome of one test: p-value, effect size (Cramér's V / phi, 0..1) and its groups."""

    test: str
    p_value: float
    effect: float
    bins: tuple[Bin, ...]


def make_bins(labels: Sequence[str], parts: np.ndarray, defects: np.ndarray) -> tuple[Bin, ...]:
    """Bins with rates and lifts from per-group part and defect counts."""
    overall = defects.sum() / parts.sum()
    out = []
    for label, n, d in zip(labels, parts, defects, strict=True):
        rate = float(d / n) if n else 0.0
        out.append(Bin(label, int(n), int(d), rate, rate / overall if overall else 0.0))
    return tuple(out)


def fisher_greater(d_in: int, n_in: int, d_out: int, n_out: int) -> tuple[float, float]:
    """One-sided Fisher's exact test that the group has a higher defect rate; (p, phi >= 0).

    phi is 0 when the group does better than the rest: that is no effect in the tested sense.
    """
    table = [[d_in, n_in - d_in], [d_out, n_out - d_out]]
    p = float(stats.fisher_exact(table, alternative="greater").pvalue)
    return p, max(0.0, _phi(d_in, n_in - d_in, d_out, n_out - d_out))


def _phi(a: int, b: int, c: int, d: int) -> float:
    denom = math.sqrt(float(a + b) * (c + d) * (a + c) * (b + d))
    return (a * d - b * c) / denom if denom else 0.0


def chi2_groups(parts: np.ndarray, defects: np.ndarray) -> tuple[float, float]:
    """Chi-square test of defect rate equal across k groups; (p, Cramér's V)."""
    table = np.stack([defects, parts - defects], axis=1).astype(float)
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
        return 1.0, 0.0
    result = stats.chi2_contingency(table, correction=False)
    n = table.sum()
    return float(result.pvalue), float(math.sqrt(result.statistic / n))


def bin_count(parts: int, defects: int, wanted: int) -> int:
    """How many quantile bins the data supports (>= MIN_EXPECTED defects and goods per bin)."""
    support = min(defects, parts - defects) // MIN_EXPECTED
    return max(2, min(wanted, support))


def quantile_bins(values: np.ndarray, k: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Bin index per value over k quantile bins (ties may merge bins) and each bin's range."""
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, k + 1)))
    index = np.searchsorted(edges[1:-1], values, side="right")
    ranges = []
    for b in range(len(edges) - 1):
        members = values[index == b]
        ranges.append((float(members.min()), float(members.max())) if members.size else (0, 0))
    return index, ranges


def rank_biserial(values: np.ndarray, is_defect: np.ndarray) -> float:
    """Rank-biserial correlation: > 0 when defective parts tend to have higher values."""
    bad, good = values[is_defect], values[~is_defect]
    if not bad.size or not good.size:
        return 0.0
    u = stats.mannwhitneyu(bad, good, alternative="two-sided").statistic
    return float(2.0 * u / (bad.size * good.size) - 1.0)


def fdr(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in input order."""
    if not p_values:
        return []
    return [float(q) for q in stats.false_discovery_control(np.asarray(p_values), method="bh")]


def format_range(lo: float, hi: float) -> str:
    """A short label for a value range."""
    return f"{_num(lo)} .. {_num(hi)}"


def _num(value: float) -> str:
    return f"{value:.4g}"
