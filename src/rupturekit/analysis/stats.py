"""Correlations with confidence intervals: Fisher z (analytic) and a bootstrap over groups.

Sessions of one patient are not independent, so the bootstrap resamples whole groups (patients)
with replacement, keeping each group's rows together; with one row per group it is the ordinary
bootstrap. Percentile intervals; a resample in which x or y is constant has no correlation and
is not counted (the number counted is reported).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

__all__ = ["Correlation", "correlate", "fisher_ci"]

Z95 = float(sps.norm.ppf(0.975))


def fisher_ci(r: float, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """CI of a correlation by Fisher's z, SE 1/sqrt(n - 3); None when n <= 3 or |r| = 1."""
    if n <= 3 or not math.isfinite(r) or abs(r) >= 1:
        return None
    z, se = math.atanh(r), 1 / math.sqrt(n - 3)
    crit = float(sps.norm.ppf(0.5 + level / 2))
    return math.tanh(z - crit * se), math.tanh(z + crit * se)


@dataclass
class Correlation:
    x: str
    y: str
    method: Literal["pearson", "spearman"]
    r: float
    n: int  # rows with both values
    n_groups: int
    p: float
    ci_fisher: tuple[float, float] | None
    ci_bootstrap: tuple[float, float] | None
    n_bootstrap: int  # resamples counted
    resampled: str  # what the bootstrap resamples: "patients", "sessions", ...
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        if not math.isfinite(self.r):
            return f"{self.y} ~ {self.x}: no correlation (n = {self.n}; constant values or too few rows)"
        parts = [f"{self.y} ~ {self.x}: {self.method} r = {self.r:.2f} (n = {self.n}"
                 + (f" in {self.n_groups} {self.resampled}" if self.n_groups != self.n else "") + ")"]
        if self.ci_fisher:
            parts.append(f"95% CI (Fisher z) [{self.ci_fisher[0]:.2f}, {self.ci_fisher[1]:.2f}]")
        if self.ci_bootstrap:
            parts.append(f"bootstrap over {self.resampled} [{self.ci_bootstrap[0]:.2f}, {self.ci_bootstrap[1]:.2f}]")
        return ", ".join(parts)


def _r(x: np.ndarray, y: np.ndarray, method: str) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sps.pearsonr(x, y) if method == "pearson" else sps.spearmanr(x, y)
    return float(result[0])


def correlate(x: Sequence[float], y: Sequence[float], groups: Sequence[Any] | None = None, *,
              x_name: str = "x", y_name: str = "y", method: Literal["pearson", "spearman"] = "pearson",
              n_bootstrap: int = 2000, seed: int = 0, resampled: str = "patients") -> Correlation:
    """r of x and y over rows where both are finite, with a Fisher-z CI and a bootstrap CI over
    `groups` (default: each row its own group)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    labels = np.asarray(list(groups) if groups is not None else range(len(xs)), dtype=object)[ok]
    xs, ys = xs[ok], ys[ok]
    r = _r(xs, ys, method)
    p = math.nan
    if math.isfinite(r):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float((sps.pearsonr if method == "pearson" else sps.spearmanr)(xs, ys)[1])
    unique = list(dict.fromkeys(labels.tolist()))
    boot_ci, counted = None, 0
    if math.isfinite(r) and n_bootstrap > 0 and len(unique) >= 3:
        members = [np.flatnonzero(labels == g) for g in unique]
        rng = np.random.default_rng(seed)
        values = []
        for _ in range(n_bootstrap):
            idx = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
            value = _r(xs[idx], ys[idx], method)
            if math.isfinite(value):
                values.append(value)
        counted = len(values)
        if counted:
            boot_ci = (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
    ci = fisher_ci(r, len(xs)) if method == "pearson" else None
    return Correlation(x_name, y_name, method, r, int(len(xs)), len(unique), p, ci, boot_ci, counted, resampled, seed)
