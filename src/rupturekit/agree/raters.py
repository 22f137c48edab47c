"""The model as one more rater: does it agree with the humans as well as they agree with each other?

Given a subjects x raters matrix of human labels (``None`` / NaN where a rater did not code a
subject) and the model's label per subject, `model_as_rater` reports

* every human-human pair: Cohen's kappa, percent agreement, number of shared subjects;
* each human against the majority of the *other* humans (leave-one-out), and the model against
  that very same reference on the same subjects;
* the model against the majority of all humans, and against each human;
* where the model's kappa falls among the humans' leave-one-out kappas.

A majority is the unique most frequent label (``rule="plurality"``) or a label chosen by more
than half the raters (``rule="absolute"``). Ties, or no ratings at all, give no majority, and
the subject is dropped from that comparison; the counts say how many.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd

from rupturekit.agree.results import finite
from rupturekit.measures.agreement import _missing_mask, _rating_matrix, _to_1d, cohen_kappa, percent_agreement

__all__ = ["MajorityComparison", "ModelAsRater", "ModelPosition", "apa", "majority_vote", "model_as_rater",
           "rater_sentence"]

MajorityRule = Literal["plurality", "absolute"]


def _majority(labels: Sequence[Any], rule: MajorityRule) -> Any:
    if not labels:
        return None
    ranked = Counter(labels).most_common()
    top, count = ranked[0]
    if len(ranked) > 1 and ranked[1][1] == count:
        return None  # tie: no majority
    if rule == "absolute" and count * 2 <= len(labels):
        return None
    return top


def majority_vote(ratings: Any, *, rule: MajorityRule = "plurality", exclude: int | None = None) -> np.ndarray:
    """Majority label per subject of a subjects x raters matrix (object array, ``None`` = no majority).

    ``exclude`` leaves out one rater (column position), for leave-one-out comparisons.
    """
    if rule not in ("plurality", "absolute"):
        raise ValueError(f"rule must be 'plurality' or 'absolute', not {rule!r}")
    values, missing, _ = _rating_matrix(ratings)
    out = np.empty(values.shape[0], dtype=object)
    for i in range(values.shape[0]):
        labels = [values[i, j] for j in range(values.shape[1]) if j != exclude and not missing[i, j]]
        out[i] = _majority(labels, rule)
    return out


@dataclass(frozen=True)
class MajorityComparison:
    """One rater (or the model) against a majority reference."""

    kappa: float
    percent_agreement: float
    n: int  # subjects compared
    n_no_majority: int  # subjects the rater coded but where the reference had no majority (tie / no ratings)


@dataclass(frozen=True)
class ModelPosition:
    """Where the model's kappa against the human majority falls among the humans' leave-one-out kappas."""

    model_kappa: float
    human_min: float
    human_median: float
    human_max: float
    n_raters: int  # humans with a defined leave-one-out kappa
    n_raters_below_model: int  # humans whose leave-one-out kappa is below model_kappa
    n_raters_below_model_paired: int  # humans below the model on the same reference and subjects
    human_pairwise_mean: float  # mean human-human Cohen's kappa (Light's kappa)


@dataclass(frozen=True, eq=False)
class ModelAsRater:
    """Result of `model_as_rater`.

    * ``pairwise``: one row per human pair: ``rater_a, rater_b, kappa, percent_agreement, n``.
    * ``leave_one_out``: one row per human: ``kappa, percent_agreement, n, n_no_majority`` of the
      human against the majority of the other humans, and ``model_kappa, model_percent_agreement,
      model_n`` of the model against the same reference on the subjects that human coded.
    * ``model_vs_majority``: the model against the majority of all humans.
    * ``model_vs_raters``: one row per human: ``kappa, percent_agreement, n`` of model vs human.
    * ``position``: the summary.
    """

    pairwise: pd.DataFrame
    leave_one_out: pd.DataFrame
    model_vs_majority: MajorityComparison
    model_vs_raters: pd.DataFrame
    position: ModelPosition
    rule: str


def _compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    keep = ~(_missing_mask(a) | _missing_mask(b))
    n = int(keep.sum())
    if not n:
        return math.nan, math.nan, 0
    return cohen_kappa(a[keep], b[keep]), percent_agreement(a[keep], b[keep]), n


def _nan_stats(values: Sequence[float]) -> tuple[float, float, float]:
    measured = [v for v in values if math.isfinite(v)]
    if not measured:
        return math.nan, math.nan, math.nan
    return float(min(measured)), float(np.median(measured)), float(max(measured))


def model_as_rater(
    human: Any,
    model: Any,
    *,
    rule: MajorityRule = "plurality",
    rater_names: Sequence[str] | None = None,
) -> ModelAsRater:
    """Compare a model's labels with several human raters, treating the model as one more rater.

    ``human`` is subjects x raters (a DataFrame's columns name the raters; otherwise
    ``rater_names`` or ``rater1, rater2, ...``), labels as strings or numbers with ``None`` / NaN
    for missing. ``model`` has one label per subject (``None`` where it has none).
    """
    values, missing, names = _rating_matrix(human)
    if rater_names is not None:
        if len(rater_names) != values.shape[1]:
            raise ValueError(f"{len(rater_names)} rater names for {values.shape[1]} raters")
        names = list(rater_names)
    if values.shape[1] < 2:
        raise ValueError("need at least two human raters")
    m = _to_1d(model, "model")
    if len(m) != values.shape[0]:
        raise ValueError(f"model has {len(m)} labels for {values.shape[0]} subjects")

    pair_rows = [(names[i], names[j], *_compare(values[:, i], values[:, j]))
                 for i, j in combinations(range(values.shape[1]), 2)]
    pairwise = pd.DataFrame(pair_rows, columns=["rater_a", "rater_b", "kappa", "percent_agreement", "n"])
    leave_one_out = _leave_one_out(values, missing, names, m, rule)
    full = majority_vote(values, rule=rule)
    mk, mpa, mn = _compare(m, full)
    model_vs_majority = MajorityComparison(mk, mpa, mn, int((~_missing_mask(m) & _missing_mask(full)).sum()))
    vs_rows = [(name, *_compare(m, values[:, j])) for j, name in enumerate(names)]
    model_vs_raters = pd.DataFrame(vs_rows, columns=["rater", "kappa", "percent_agreement", "n"]).set_index("rater")
    return ModelAsRater(pairwise, leave_one_out, model_vs_majority, model_vs_raters,
                        _position(mk, pairwise, leave_one_out), rule)


def _leave_one_out(values: np.ndarray, missing: np.ndarray, names: Sequence[str], model: np.ndarray,
                   rule: MajorityRule) -> pd.DataFrame:
    """Each human against the majority of the others, and the model against that same majority."""
    rows = []
    for j, name in enumerate(names):
        reference = majority_vote(values, rule=rule, exclude=j)
        coded = ~missing[:, j]
        no_majority = int((coded & _missing_mask(reference)).sum())
        k, pa, n = _compare(values[:, j], reference)
        # The model on the same reference and the same subjects as this rater.
        mk, mpa, mn = _compare(np.where(coded, model, None), reference)
        rows.append((name, k, pa, n, no_majority, mk, mpa, mn))
    columns = ["rater", "kappa", "percent_agreement", "n", "n_no_majority", "model_kappa", "model_percent_agreement",
               "model_n"]
    return pd.DataFrame(rows, columns=columns).set_index("rater")


def _position(model_kappa: float, pairwise: pd.DataFrame, leave_one_out: pd.DataFrame) -> ModelPosition:
    human_k = leave_one_out["kappa"].tolist()
    lo, med, hi = _nan_stats(human_k)
    finite_pairs = [v for v in pairwise["kappa"] if math.isfinite(v)]
    paired = zip(leave_one_out["kappa"], leave_one_out["model_kappa"], strict=True)
    return ModelPosition(
        model_kappa=model_kappa,
        human_min=lo,
        human_median=med,
        human_max=hi,
        n_raters=sum(math.isfinite(v) for v in human_k),
        n_raters_below_model=sum(math.isfinite(v) and v < model_kappa for v in human_k),
        n_raters_below_model_paired=int(sum(math.isfinite(h) and math.isfinite(p) and h < p for h, p in paired)),
        human_pairwise_mean=float(np.mean(finite_pairs)) if finite_pairs else math.nan,
    )


# --------------------------------------------------------------------------- in words
def apa(value: float) -> str:
    """Two decimals without the leading zero, as statistics bounded by 1 are written: .74, −.05."""
    if not finite(value):
        return "n/a"
    text = f"{abs(float(value)):.2f}"
    text = text[1:] if text.startswith("0") else text
    return ("−" if float(value) < 0 and text != ".00" else "") + text


def rater_sentence(position: ModelPosition) -> str:
    """"κ = .74, inside the human range .64–.88, above 6 of 10 raters" from a `ModelPosition`."""
    k = position.model_kappa
    if not finite(k):
        return "κ undefined (no subjects with a reference majority, or one class only)"
    if not position.n_raters:
        return f"κ = {apa(k)}; no human leave-one-out κ is defined"
    lo, hi = position.human_min, position.human_max
    where = "inside" if lo <= k <= hi else ("below" if k < lo else "above")
    if apa(lo) == apa(hi):  # two raters, or all humans alike: a single value, not a range
        where = "equal to" if apa(k) == apa(lo) else where
        human = f"the human value {apa(lo)}"
    else:
        human = f"the human range {apa(lo)}–{apa(hi)}"
    return f"κ = {apa(k)}, {where} {human}, above {position.n_raters_below_model} of {position.n_raters} raters"
