"""The vectorised one-sided Fisher test agrees with scipy's hypergeometric tail; Holm."""

from __future__ import annotations

import numpy as np
from scipy import stats

from inspector.trace.stats import fisher_greater_many, holm


def test_fisher_greater_many_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    n_in, n_out = rng.integers(1, 2000, 3000), rng.integers(1, 8000, 3000)
    rate = rng.uniform(0.0, 0.2, 3000)
    d_in = np.minimum(rng.binomial(n_in, np.minimum(rate * rng.uniform(0.3, 4, 3000), 1)), n_in)
    d_out = rng.binomial(n_out, rate)
    edges = np.array([[0, 10, 0, 10], [10, 10, 0, 10], [0, 10, 10, 10], [3, 100, 0, 1000],
                      [1, 1, 0, 1], [5, 5, 5, 5]])
    d_in, n_in = np.r_[d_in, edges[:, 0]], np.r_[n_in, edges[:, 1]]
    d_out, n_out = np.r_[d_out, edges[:, 2]], np.r_[n_out, edges[:, 3]]
    ours = fisher_greater_many(d_in, n_in, d_out, n_out)
    theirs = stats.hypergeom.sf(d_in - 1, n_in + n_out, d_in + d_out, n_in)
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-12)


def test_holm() -> None:
    assert holm([0.01, 0.04, 0.03, 0.5]) == [0.04, 0.09, 0.09, 0.5]
    assert holm([]) == []
