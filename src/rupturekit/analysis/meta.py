"""Meta-analysis of correlations: Fisher z, inverse-variance weights, fixed and random effects.

Each study's r becomes z = atanh(r). Its sampling variance comes from one of:

* ``n``: 1 / (N - 3), the textbook variance of Fisher's z (the default);
* ``n-weight``: 1 / N, i.e. Fisher z's weighted by N (as some older syntheses did);
* ``ci``: from a reported 95% CI of r, ((atanh(high) - atanh(low)) / (2 x 1.96))^2;
* ``z``: from a reported test statistic z of the study, (atanh(r) / z)^2.

The fixed-effect estimate, its SE and Cochran's Q come from ``statsmodels.stats.meta_analysis.
combine_effects``. Two things are computed here instead, and why:

* the DerSimonian-Laird tau^2 is truncated at 0 and I^2 = max(0, (Q - df) / Q): statsmodels
  (0.14, 0.15) returns (Q - df) / C and I^2 unclipped, so with Q < df its "random effect" uses a
  negative tau^2 (a weight above the fixed-effect one, and a NaN SE);
* REML: statsmodels offers DerSimonian-Laird and Paule-Mandel, not REML; tau^2 here maximises
  the restricted log-likelihood over tau^2 >= 0 (scipy's bounded scalar minimiser).

Pooled z's are turned back into r with tanh, CIs included; z_stat is pooled z / SE.

Known answer (Safran, Muran & Eubanks-Carter 2011, Table 1; tests/test_analysis_meta.py). At the
table's printed values (published: r = .24, z = 3.06, 95% CI [.09, .39], Q(2) = .99):

| variance | r | z | 95% CI | Q(2) |
| --- | ---: | ---: | --- | ---: |
| ``n``, 1 / (N - 3) | .244 | 2.93 | [.08, .39] | .84 |
| ``n-weight``, 1 / N | .246 | 3.06 | [.09, .39] | .93 |
| ``z``, from the reported z | .250 | 3.06 | [.09, .40] | .94 |

No variance reproduces all five figures at face value. 1 / N (N-weighted Fisher z) gives z and both
CI bounds exactly and r within .01, so it is most likely what the paper did; the z-derived variance
reaches all five only after moving the inputs within their rounding (its implied Ns are 76, 47 and
30 against the reported 79, 44 and 25, so it is a back-fit, not the paper's method).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import optimize
from scipy import stats as sps

from rupturekit.errors import InputError

__all__ = ["VARIANCES", "MetaResult", "Pooled", "Study", "meta_analysis", "study_from"]

VARIANCES = ("n", "n-weight", "ci", "z")
Z95 = float(sps.norm.ppf(0.975))


@dataclass
class Study:
    name: str
    r: float
    n: int | None
    z: float  # Fisher z
    variance: float
    variance_from: str
    ci_low: float | None = None  # of r, as reported (ci) or computed from the variance
    ci_high: float | None = None
    weight_fixed: float | None = None  # relative weights
    weight_random: float | None = None


@dataclass
class Pooled:
    model: str
    z: float
    se: float
    r: float
    ci_low: float
    ci_high: float
    z_stat: float
    p: float
    tau2: float = 0.0


@dataclass
class MetaResult:
    studies: list[Study]
    variance_from: str
    fixed: Pooled
    random_dl: Pooled
    random_reml: Pooled
    q: float
    df: int
    p_q: float
    i2: float
    tau2_dl: float
    tau2_reml: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentences(self) -> list[str]:
        def one(p: Pooled) -> str:
            return (f"{p.model}: r = {p.r:.2f}, 95% CI [{p.ci_low:.2f}, {p.ci_high:.2f}], z = {p.z_stat:.2f}, "
                    f"p = {p.p:.3g}" + (f", tau^2 = {p.tau2:.4f}" if p.model != "fixed effect" else ""))
        return [f"{len(self.studies)} studies, variance from {self.variance_from}",
                one(self.fixed), one(self.random_dl), one(self.random_reml),
                f"heterogeneity: Q({self.df}) = {self.q:.2f}, p = {self.p_q:.2f}, I^2 = {100 * self.i2:.0f}%"]


def _check(name: str, r: float, n: int | None, where: str, file: str) -> None:
    if not math.isfinite(r) or abs(r) >= 1:
        raise InputError(file, f"study '{name}': r = {r:g} is not a correlation strictly between -1 and 1",
                         "give r with |r| < 1 (Fisher's z is infinite at +-1)", location=where)
    if n is not None and n <= 3:
        raise InputError(file, f"study '{name}': N = {n} is too small (the variance 1/(N - 3) needs N > 3)",
                         "give the study's sample size, N > 3", location=where)


def study_from(name: str, r: float, *, n: int | None = None, ci: tuple[float, float] | None = None,
               z_stat: float | None = None, variance_from: str = "n", where: str = "", file: str = "<studies>"
               ) -> Study:
    """One study's Fisher z and variance (see the module docstring); InputError names the row."""
    _check(name, r, n, where, file)
    z = math.atanh(r)
    if variance_from == "n":
        if n is None:
            raise InputError(file, f"study '{name}' has no N", "give N, or choose --variance ci or z", location=where)
        variance = 1 / (n - 3)
    elif variance_from == "n-weight":
        if n is None:
            raise InputError(file, f"study '{name}' has no N", "give N, or choose --variance ci or z", location=where)
        variance = 1 / n
    elif variance_from == "ci":
        if ci is None:
            raise InputError(file, f"study '{name}' has no CI", "give ci_low and ci_high, or choose --variance n",
                             location=where)
        low, high = ci
        if not (-1 < low < r < high < 1):
            raise InputError(file, f"study '{name}': the CI [{low:g}, {high:g}] does not hold r = {r:g} strictly "
                                   "inside (-1, 1)", "check the CI bounds", location=where)
        variance = ((math.atanh(high) - math.atanh(low)) / (2 * Z95)) ** 2
    elif variance_from == "z":
        if z_stat is None or not math.isfinite(z_stat) or z_stat == 0 or r == 0:
            raise InputError(file, f"study '{name}' has no usable z (it needs z != 0 and r != 0)",
                             "give the study's z, or choose --variance n", location=where)
        if (z_stat > 0) != (r > 0):
            raise InputError(file, f"study '{name}': z = {z_stat:g} and r = {r:g} have opposite signs",
                             "check the signs of r and z", location=where)
        variance = (z / z_stat) ** 2
    else:
        raise InputError("--variance", f"'{variance_from}' is not one of {', '.join(VARIANCES)}",
                         "use n, n-weight, ci or z")
    se = math.sqrt(variance)
    low, high = ci if (variance_from == "ci" and ci) else (math.tanh(z - Z95 * se), math.tanh(z + Z95 * se))
    return Study(name, r, n, z, variance, variance_from, low, high)


def _pooled(model: str, z: float, var: float, tau2: float = 0.0) -> Pooled:
    se = math.sqrt(var)
    z_stat = z / se
    return Pooled(model, z, se, math.tanh(z), math.tanh(z - Z95 * se), math.tanh(z + Z95 * se), z_stat,
                  float(2 * sps.norm.sf(abs(z_stat))), tau2)


def _random(y: np.ndarray, v: np.ndarray, tau2: float, model: str) -> tuple[Pooled, np.ndarray]:
    w = 1 / (v + tau2)
    return _pooled(model, float(w @ y / w.sum()), float(1 / w.sum()), tau2), w / w.sum()


def _reml_tau2(y: np.ndarray, v: np.ndarray) -> float:
    def minus_ll(tau2: float) -> float:
        w = 1 / (v + tau2)
        mu = w @ y / w.sum()
        return 0.5 * (np.sum(np.log(v + tau2)) + math.log(w.sum()) + w @ (y - mu) ** 2)

    upper = max(10 * float(np.var(y, ddof=1)) if len(y) > 1 else 0.0, 10 * float(v.max()), 1e-8)
    found = optimize.minimize_scalar(minus_ll, bounds=(0.0, upper), method="bounded",
                                     options={"xatol": 1e-10})
    tau2 = float(found.x)
    return 0.0 if minus_ll(0.0) <= minus_ll(tau2) else tau2


def meta_analysis(studies: Sequence[Study], file: str = "<studies>") -> MetaResult:
    """Fixed effect, DerSimonian-Laird and REML random effects, Q, I^2 (see the module docstring)."""
    from statsmodels.stats.meta_analysis import combine_effects

    studies = list(studies)
    if len(studies) < 2:
        raise InputError(file, f"{len(studies)} study: a meta-analysis needs at least 2",
                         "add studies (one row each)")
    y = np.array([s.z for s in studies])
    v = np.array([s.variance for s in studies])
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise InputError(file, "a study's variance is not a positive number", "check N, the CI or z of each study")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # statsmodels' sqrt of its unclipped tau^2
        fitted = combine_effects(y, v, method_re="chi2", row_names=[s.name for s in studies])
    q, df = float(fitted.q), len(studies) - 1
    fixed = _pooled("fixed effect", float(fitted.mean_effect_fe), float(fitted.var_eff_w_fe))
    c = float(fitted.c) if hasattr(fitted, "c") else float((1 / v).sum() - (1 / v ** 2).sum() / (1 / v).sum())
    tau2_dl = max(0.0, (q - df) / c)
    dl, w_dl = _random(y, v, tau2_dl, "random effects (DerSimonian-Laird)")
    tau2_reml = _reml_tau2(y, v)
    reml, _ = _random(y, v, tau2_reml, "random effects (REML)")
    w_fe = (1 / v) / (1 / v).sum()
    for s, wf, wr in zip(studies, w_fe, w_dl, strict=True):
        s.weight_fixed, s.weight_random = float(wf), float(wr)
    notes = []
    if q < df:
        notes.append("Q < df: tau^2 is 0 and the random-effects estimates equal the fixed-effect one")
    return MetaResult(studies, studies[0].variance_from if len({s.variance_from for s in studies}) == 1 else "mixed",
                      fixed, dl, reml, q, df, float(sps.chi2.sf(q, df)), max(0.0, (q - df) / q) if q > 0 else 0.0,
                      tau2_dl, tau2_reml, notes)


Variance = Literal["n", "ci", "z"]
