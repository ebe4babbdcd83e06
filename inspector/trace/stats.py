"""Statistical tests of the root-cause analysis: Fisher (one and many), chi-square, bins, Holm."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

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


def format_range(lo: float, hi: float) -> str:
    """A short label for a value range."""
    return f"{format_number(lo)} .. {format_number(hi)}"


def format_number(value: float) -> str:
    """A number in at most 4 significant digits."""
    return f"{value:.4g}"


def fisher_greater_many(
    d_in: np.ndarray, n_in: np.ndarray, d_out: np.ndarray, n_out: np.ndarray
) -> np.ndarray:
    """One-sided Fisher's exact p-values (group rate higher than the other's), vectorised:
    P(X >= d_in) for X hypergeometric with the table's margins."""
    d = np.asarray(d_in, dtype=np.float64)
    n = np.asarray(n_in, dtype=np.float64)
    k = d + np.asarray(d_out, dtype=np.float64)
    m = n + np.asarray(n_out, dtype=np.float64)
    mode = np.floor((n + 1) * (k + 1) / (m + 2))
    upper = d > mode  # beyond the mode: sum the falling terms up; else 1 - the lower tail
    p = np.ones_like(d)
    if upper.any():
        p[upper] = _tail(d[upper], n[upper], k[upper], m[upper], step=1)
    lower = ~upper & (d > np.maximum(0.0, n + k - m))
    if lower.any():
        p[lower] = 1.0 - _tail(d[lower] - 1, n[lower], k[lower], m[lower], step=-1)
    return np.clip(p, 0.0, 1.0)


def _tail(x: np.ndarray, n: np.ndarray, k: np.ndarray, m: np.ndarray, step: int) -> np.ndarray:
    """Sum of hypergeometric probabilities from x away from the mode (step +1 up, -1 down),
    by the ratio of neighbouring terms until what is left is below 1e-12 of the sum."""
    lo, hi = np.maximum(0.0, n + k - m), np.minimum(n, k)
    term = np.exp(_log_comb(k, x) + _log_comb(m - k, n - x) - _log_comb(m, n))
    total = term.copy()
    for _ in range(int(np.max(hi - lo)) + 1):
        if step > 0:
            ratio = (k - x) * (n - x) / ((x + 1) * (m - k - n + x + 1))
        else:
            ratio = x * (m - k - n + x) / np.maximum((k - x + 1) * (n - x + 1), 1.0)
        x = x + step
        inside = (x >= lo) & (x <= hi)
        term = np.where(inside, term * ratio, 0.0)
        total += term
        left = np.where(ratio < 1, term * ratio / np.maximum(1 - ratio, 1e-300), np.inf)
        if not np.any(inside & (left > 1e-12 * total)):
            break
    return total


def _log_comb(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return special.gammaln(a + 1) - special.gammaln(b + 1) - special.gammaln(a - b + 1)


def risk_ratio(d_in: float, n_in: float, d_out: float, n_out: float) -> float:
    """Group rate / other rate with 0.5 added per defect cell (finite when a cell is empty)."""
    return float(((d_in + 0.5) / (n_in + 1.0)) / ((d_out + 0.5) / (n_out + 1.0)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in input order: the chance of any false finding in the
    whole family stays at most alpha, under any dependence between the tests."""
    p = np.asarray(p_values, dtype=float)
    if not p.size:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate(p[order] * (p.size - np.arange(p.size)))
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return [float(q) for q in out]


def hist_quantile(values: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """np.quantile (linear) of the data a histogram (sorted distinct values, counts) stands for,
    without expanding it: the order statistics around each position, numpy's own lerp."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    pos = (n - 1) * np.asarray(q, dtype=np.float64)
    lo = np.floor(pos)
    frac = pos - lo
    below = values[np.searchsorted(cum, lo, side="right")]
    above = values[np.searchsorted(cum, np.minimum(lo + 1, n - 1), side="right")]
    diff = above - below
    lerp = below + diff * frac
    return np.where(frac >= 0.5, above - diff * (1 - frac), lerp)


def hist_quantile_bins(values: np.ndarray, counts: np.ndarray,
                       k: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """quantile_bins on a histogram: the bin index of each distinct value, and each bin's range."""
    edges = np.unique(hist_quantile(values, counts, np.linspace(0.0, 1.0, k + 1)))
    index = np.searchsorted(edges[1:-1], values, side="right")
    ranges = []
    for b in range(len(edges) - 1):
        members = values[(index == b) & (counts > 0)]
        ranges.append((float(members.min()), float(members.max())) if members.size else (0, 0))
    return index, ranges


def hist_rank_biserial(parts: np.ndarray, defects: np.ndarray) -> float:
    """rank_biserial from a histogram over sorted values: U counts (defective, good) pairs with
    the defective value higher, ties as one half (what mannwhitneyu's midranks give)."""
    bad = defects.astype(np.float64)
    good = (parts - defects).astype(np.float64)
    n_bad, n_good = bad.sum(), good.sum()
    if not n_bad or not n_good:
        return 0.0
    good_below = np.cumsum(good) - good
    u = float((bad * (good_below + 0.5 * good)).sum())
    return float(2.0 * u / (n_bad * n_good) - 1.0)
