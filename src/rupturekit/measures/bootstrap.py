"""Cluster bootstrap confidence intervals: resample whole transcripts, not utterances.

Utterances within one transcript are not independent (same therapist, same client, same
session), so resampling utterances understates the uncertainty of any agreement statistic.
`bootstrap_ci` draws transcripts with replacement and keeps all of each drawn transcript's rows.
"""

# Own code: scipy.stats.bootstrap resamples observations, not clusters, and has no way to skip
# resamples where the statistic is undefined; the cluster percentile bootstrap is a short loop.

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BootstrapCI", "bootstrap_ci"]

# A resample can make a statistic undefined (e.g. one class only); these count as skipped.
_UNDEFINED_ERRORS: tuple[type[BaseException], ...] = (ValueError, ZeroDivisionError, FloatingPointError)


@dataclass(frozen=True)
class BootstrapCI:
    """A percentile bootstrap interval. Unpacks as ``low, high, estimate = result``.

    ``n_skipped`` resamples gave an undefined statistic (NaN, infinite, or one of ValueError,
    ZeroDivisionError, FloatingPointError) and were left out; the percentiles come from the
    ``n_used`` others. ``estimate`` is the statistic on all rows.
    """

    low: float
    high: float
    estimate: float
    level: float
    n_resamples: int
    n_skipped: int
    n_groups: int
    seed: int | None

    @property
    def n_used(self) -> int:
        return self.n_resamples - self.n_skipped

    def __iter__(self) -> Iterator[float]:
        return iter((self.low, self.high, self.estimate))

    def __getitem__(self, i: int) -> float:
        return (self.low, self.high, self.estimate)[i]

    def __len__(self) -> int:
        return 3


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    groups: Any,
    n_resamples: int = 1000,
    seed: int | None = 0,
    level: float = 0.95,
) -> BootstrapCI:
    """Percentile confidence interval for ``statistic`` by resampling whole groups (transcripts).

    ``statistic(indices)`` gets an integer array of row positions (0-based, repeats allowed: a
    transcript drawn twice contributes its rows twice) and returns a float, e.g.
    ``lambda idx: cohen_kappa(human[idx], model[idx])``. ``groups`` gives the transcript id of
    every row. Each resample draws as many transcripts as there are, with replacement, and takes
    all their rows. To resample rows (utterances) instead, pass ``groups=np.arange(n_rows)``.

    Deterministic for a given ``seed`` (``numpy.random.default_rng``). Resamples where the
    statistic is undefined are skipped and counted in ``n_skipped``; if every resample is skipped
    the bounds are NaN.
    """
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be between 0 and 1")
    group_ids = np.asarray(groups)
    if group_ids.ndim != 1 or not len(group_ids):
        raise ValueError("groups must be a non-empty vector with one id per row")
    _, codes = np.unique(group_ids, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    members = [order[s : s + m] for s, m in zip(starts, sizes, strict=True)]
    n_groups = len(members)

    estimate = float(statistic(np.arange(len(group_ids))))
    rng = np.random.default_rng(seed)
    values: list[float] = []
    skipped = 0
    for _ in range(n_resamples):
        drawn = rng.integers(0, n_groups, size=n_groups)
        idx = np.concatenate([members[g] for g in drawn])
        try:
            value = float(statistic(idx))
        except _UNDEFINED_ERRORS:
            value = math.nan
        if math.isfinite(value):
            values.append(value)
        else:
            skipped += 1
    if values:
        tail = (1.0 - level) / 2.0
        low, high = (float(v) for v in np.quantile(values, [tail, 1.0 - tail]))
    else:
        low = high = math.nan
    return BootstrapCI(low, high, estimate, level, n_resamples, skipped, n_groups, seed)
