"""Agreement statistics: machine tags against human codes, and humans against each other.

Every function is pure: numpy / pandas in, numbers or small tables out, no I/O.

Conventions
-----------
* Rating matrices are **subjects x raters** (rows are utterances or segments, columns are
  raters), as a ``pandas.DataFrame`` (column names become rater names) or anything
  ``numpy.asarray`` accepts. Missing ratings are ``None``, ``NaN`` or ``pd.NA``.
* Label vectors may hold strings or numbers; pairs where either side is missing are dropped.
* Undefined statistics (one class only, no pairs, ...) come back as ``NaN`` rather than raising.

Libraries: scikit-learn (precision/recall/F1, confusion matrices, ROC-AUC, average precision,
Cohen's and weighted kappa), statsmodels (Fleiss' kappa), krippendorff (Krippendorff's alpha).
Gwet's AC1/AC2, PABAK, the unequal-raters Fleiss' kappa and the ICC family are our own code;
each says why next to it.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as _sps
from sklearn import metrics as _skm

__all__ = ["ChanceCorrected", "cohen_kappa", "confusion_table", "fleiss_kappa", "fleiss_table", "gwet_ac1", "gwet_ac2",
           "icc", "krippendorff_alpha", "label_report", "multilabel_confusion_table", "pabak", "percent_agreement",
           "score_report", "weight_matrix", "weighted_kappa"]

WeightKind = Literal["identity", "linear", "quadratic", "ordinal"]


# --------------------------------------------------------------------------- #
# Input helpers
# --------------------------------------------------------------------------- #
def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        result = pd.isna(value)
    except (TypeError, ValueError):
        return False
    return bool(result) if np.ndim(result) == 0 else False


def _to_1d(values: Any, name: str) -> np.ndarray:
    if isinstance(values, pd.DataFrame):
        raise ValueError(f"{name} must be one-dimensional, got a DataFrame")
    arr = np.asarray(values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _missing_mask(arr: np.ndarray) -> np.ndarray:
    return np.frompyfunc(_is_missing, 1, 1)(arr).astype(bool) if arr.size else np.zeros(arr.shape, bool)


def _all_numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, numbers.Number) for v in values)


def _tidy(values: np.ndarray) -> np.ndarray:
    """Labels as an array sklearn accepts: float if every label is a number, else the objects."""
    if len(values) and _all_numeric(values):
        return values.astype(float)
    return values


def _pairs(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """The two label vectors with every pair where either side is missing removed."""
    x, y = _to_1d(a, "a"), _to_1d(b, "b")
    if len(x) != len(y):
        raise ValueError(f"label vectors differ in length: {len(x)} != {len(y)}")
    keep = ~(_missing_mask(x) | _missing_mask(y))
    return _tidy(x[keep]), _tidy(y[keep])


def _sorted_categories(values: Sequence[Any]) -> list[Any]:
    unique = list(pd.unique(pd.Series(list(values), dtype=object)))
    try:
        return sorted(unique)
    except TypeError:  # labels of mixed types have no order; first appearance is as good as any
        return unique


def _rating_matrix(ratings: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(values as object array, missing mask, rater names) of a subjects x raters matrix."""
    if isinstance(ratings, pd.DataFrame):
        names = [str(c) for c in ratings.columns]
        values = ratings.to_numpy(dtype=object)
    else:
        values = np.asarray(ratings, dtype=object)
        if values.ndim != 2:
            raise ValueError(f"ratings must be a subjects x raters matrix, got shape {values.shape}")
        names = [f"rater{j + 1}" for j in range(values.shape[1])]
    return values, _missing_mask(values), names


def _category_values(categories: Sequence[Any]) -> np.ndarray:
    """Numeric positions of ordered categories: the values themselves if numeric, else ranks 0..q-1."""
    if _all_numeric(categories):
        return np.asarray(categories, dtype=float)
    return np.arange(len(categories), dtype=float)


def _nan_if_undefined(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else float("nan")


# --------------------------------------------------------------------------- #
# 1. Classification metrics: model tags against a reference
# --------------------------------------------------------------------------- #
def _label_inputs(y_true: Any, y_pred: Any, labels: Sequence[Any] | None, label_names: Sequence[str] | None):
    """Return (y_true, y_pred, labels, names, multilabel)."""
    names_from_frame = list(map(str, y_true.columns)) if isinstance(y_true, pd.DataFrame) else None
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {yt.shape} != {yp.shape}")
    if yt.ndim == 2:
        yt, yp = yt.astype(int), yp.astype(int)
        if not (np.isin(yt, (0, 1)).all() and np.isin(yp, (0, 1)).all()):
            raise ValueError("multi-label inputs must be 0/1 indicator matrices")
        n_labels = yt.shape[1]
        idx = list(range(n_labels)) if labels is None else list(labels)
        names = list(label_names or names_from_frame or [str(i) for i in range(n_labels)])
        if labels is not None and label_names is None and names_from_frame is not None:
            names = [names_from_frame[i] for i in idx]
        if len(names) != len(idx):
            raise ValueError(f"{len(names)} label names for {len(idx)} labels")
        if n_labels == 1:
            # scikit-learn reads an (n, 1) indicator matrix as a binary vector and would score
            # the absent class; a never-used second column keeps it multi-label.
            yt = np.hstack([yt, np.zeros_like(yt)])
            yp = np.hstack([yp, np.zeros_like(yp)])
        return yt, yp, idx, names, True
    if yt.ndim != 1:
        raise ValueError(f"labels must be a vector or an indicator matrix, got shape {yt.shape}")
    idx = list(labels) if labels is not None else _sorted_categories(list(yt) + list(yp))
    names = list(label_names) if label_names is not None else [str(v) for v in idx]
    if len(names) != len(idx):
        raise ValueError(f"{len(names)} label names for {len(idx)} labels")
    return yt, yp, idx, names, False


def label_report(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any] | None = None,
    label_names: Sequence[str] | None = None,
    zero_division: float = 0.0,
) -> pd.DataFrame:
    """Per-label precision, recall, F1 and support, plus ``micro avg`` and ``macro avg`` rows.

    ``y_true`` / ``y_pred`` are either class vectors (single-label) or n x L 0/1 indicator
    matrices (multi-label; a DataFrame's columns name the labels). ``labels`` picks and orders
    the classes (single-label) or column indices (multi-label). ``zero_division`` is the value
    used where a ratio is 0/0 (e.g. a label never predicted), as in scikit-learn; pass
    ``np.nan`` to leave such cells undefined (scikit-learn then leaves them out of the macro mean).
    The average rows' support is the total support.
    """
    yt, yp, idx, names, _ = _label_inputs(y_true, y_pred, labels, label_names)
    kw = {"labels": idx, "zero_division": zero_division}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=_skm_undefined_warning())
        p, r, f, s = _skm.precision_recall_fscore_support(yt, yp, average=None, **kw)
        rows = {name: (p[i], r[i], f[i], int(s[i])) for i, name in enumerate(names)}
        total = int(np.sum(s))
        for avg in ("micro", "macro"):
            ap, ar, af, _ = _skm.precision_recall_fscore_support(yt, yp, average=avg, **kw)
            rows[f"{avg} avg"] = (ap, ar, af, total)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["precision", "recall", "f1", "support"])
    out[["precision", "recall", "f1"]] = out[["precision", "recall", "f1"]].astype(float)
    out["support"] = out["support"].astype(int)
    return out


def _skm_undefined_warning() -> type[Warning]:
    from sklearn.exceptions import UndefinedMetricWarning

    return UndefinedMetricWarning


def confusion_table(y_true: Any, y_pred: Any, *, labels: Sequence[Any] | None = None) -> pd.DataFrame:
    """Single-label confusion matrix as a DataFrame: rows are true classes, columns predicted."""
    yt, yp, idx, names, multilabel = _label_inputs(y_true, y_pred, labels, None)
    if multilabel:
        raise ValueError("confusion_table takes class vectors; use multilabel_confusion_table for indicator matrices")
    cm = _skm.confusion_matrix(yt, yp, labels=idx)
    return pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))


def multilabel_confusion_table(y_true: Any, y_pred: Any, *, label_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-label 2x2 counts of a multi-label task: one row per label with ``tn, fp, fn, tp``."""
    yt, yp, idx, names, multilabel = _label_inputs(y_true, y_pred, None, label_names)
    if not multilabel:
        raise ValueError("multilabel_confusion_table takes 0/1 indicator matrices")
    mcm = _skm.multilabel_confusion_matrix(yt, yp)[: len(idx)]
    flat = mcm.reshape(len(idx), 4)  # each 2x2 is [[tn, fp], [fn, tp]]
    return pd.DataFrame(flat, index=pd.Index(names, name="label"), columns=["tn", "fp", "fn", "tp"])


def _binary_aucs(truth: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    if truth.min() == truth.max():  # one class only: both curves are undefined
        return float("nan"), float("nan")
    return float(_skm.roc_auc_score(truth, score)), float(_skm.average_precision_score(truth, score))


def score_report(
    y_true: Any,
    y_score: Any,
    *,
    classes: Sequence[Any] | None = None,
    label_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """ROC-AUC and PR-AUC (average precision) per label from continuous scores.

    Accepted shapes:

    * multi-label: ``y_true`` an n x L 0/1 matrix, ``y_score`` n x L;
    * binary: ``y_true`` a 0/1 vector, ``y_score`` a vector of scores for the positive class;
    * single-label multi-class: ``y_true`` a class vector, ``y_score`` n x C with the columns in
      the order of ``classes`` (one-vs-rest per class).

    Columns: ``roc_auc, pr_auc, n_pos, n_neg``. A label whose truth has one class only gets NaN
    for both curves (never an error). The ``macro avg`` row is the mean over labels where the
    value is defined; ``micro avg`` pools every (row, label) decision.
    """
    yt = np.asarray(y_true)
    ys = np.asarray(y_score, dtype=float)
    frame_names = list(map(str, y_true.columns)) if isinstance(y_true, pd.DataFrame) else None
    if not np.isfinite(ys).all():
        raise ValueError("y_score contains NaN or infinite values")
    if yt.ndim == 1 and ys.ndim == 2:
        if classes is None:
            raise ValueError("classes= must give the class of each score column")
        if len(classes) != ys.shape[1]:
            raise ValueError(f"{len(classes)} classes for {ys.shape[1]} score columns")
        truth = np.column_stack([yt == c for c in classes]).astype(int)
        names = list(label_names) if label_names is not None else [str(c) for c in classes]
    elif yt.ndim == 1 and ys.ndim == 1:
        if not np.isin(yt, (0, 1)).all():
            raise ValueError("a binary y_true must be 0/1; pass class vectors with 2-D scores and classes=")
        truth, ys = yt.astype(int)[:, None], ys[:, None]
        names = list(label_names) if label_names is not None else ["positive"]
    elif yt.ndim == 2 and ys.shape == yt.shape:
        truth = yt.astype(int)
        names = list(label_names or frame_names or [str(i) for i in range(yt.shape[1])])
    else:
        raise ValueError(f"y_true of shape {yt.shape} does not match y_score of shape {ys.shape}")
    if len(names) != truth.shape[1]:
        raise ValueError(f"{len(names)} label names for {truth.shape[1]} labels")
    if len(truth) != len(ys):
        raise ValueError(f"{len(truth)} truths for {len(ys)} score rows")
    rows = {}
    for j, name in enumerate(names):
        roc, pr = _binary_aucs(truth[:, j], ys[:, j])
        rows[name] = (roc, pr, int(truth[:, j].sum()), int(len(truth) - truth[:, j].sum()))
    per = pd.DataFrame.from_dict(rows, orient="index", columns=["roc_auc", "pr_auc", "n_pos", "n_neg"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN column -> NaN mean
        macro = (float(np.nanmean(per["roc_auc"])), float(np.nanmean(per["pr_auc"])))
    micro = _binary_aucs(truth.ravel(), ys.ravel())
    n_pos, n_neg = int(per["n_pos"].sum()), int(per["n_neg"].sum())
    per.loc["micro avg"] = (*micro, n_pos, n_neg)
    per.loc["macro avg"] = (*macro, n_pos, n_neg)
    per[["n_pos", "n_neg"]] = per[["n_pos", "n_neg"]].astype(int)
    return per


# --------------------------------------------------------------------------- #
# 2. Two raters: percent agreement, Cohen's kappa, weighted kappa, PABAK
# --------------------------------------------------------------------------- #
def percent_agreement(a: Any, b: Any) -> float:
    """Share of subjects (rated by both) on which the two raters give the same label; NaN if none."""
    x, y = _pairs(a, b)
    return float(np.mean(x == y)) if len(x) else float("nan")


def _integer_scale(values: np.ndarray) -> list[Any] | None:
    """min..max for whole-number labels, so an unused middle category keeps its distance."""
    if not len(values) or not _all_numeric(values):
        return None
    v = np.asarray(values, dtype=float)
    if not np.all(v == np.round(v)):
        return None
    return [float(i) for i in range(int(v.min()), int(v.max()) + 1)]


def cohen_kappa(
    a: Any,
    b: Any,
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    labels: Sequence[Any] | None = None,
) -> float:
    """Cohen's kappa between two raters (scikit-learn ``cohen_kappa_score``); NaN where undefined.

    Pairs with a missing side are dropped. With ``weights`` ("linear" or "quadratic") the labels
    must be ordinal: give the full scale in ``labels`` (e.g. ``[1, 2, 3, 4, 5]``); for whole-number
    labels the default is every integer from the smallest to the largest observed, so an unused
    middle category still counts in the distances.
    """
    x, y = _pairs(a, b)
    if not len(x):
        return float("nan")
    if labels is None and weights is not None:
        labels = _integer_scale(np.concatenate([x, y]))
    if labels is not None:
        labels = list(_tidy(np.asarray(list(labels), dtype=object)))
        unknown = set(_sorted_categories(list(x) + list(y))) - set(labels)
        if unknown:
            raise ValueError(f"labels {sorted(map(str, unknown))} occur in the data but not in labels=")
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # undefined kappa (one shared class) -> NaN below
        value = _skm.cohen_kappa_score(x, y, labels=labels, weights=weights)
    return _nan_if_undefined(value)


def weighted_kappa(
    a: Any,
    b: Any,
    *,
    weights: Literal["linear", "quadratic"] = "quadratic",
    labels: Sequence[Any] | None = None,
) -> float:
    """Weighted Cohen's kappa for ordinal ratings (e.g. 1-5); see `cohen_kappa` for ``labels``."""
    if weights not in ("linear", "quadratic"):
        raise ValueError(f"weights must be 'linear' or 'quadratic', not {weights!r}")
    return cohen_kappa(a, b, weights=weights, labels=labels)


# Own code: PABAK is one line of arithmetic on p_o; no library function exists for it.
def pabak(a: Any, b: Any, *, n_categories: int | None = None) -> float:
    """Prevalence- and bias-adjusted kappa (Byrt, Bishop & Carlin 1993).

    Two categories: ``2 * p_o - 1``; k categories: ``(k * p_o - 1) / (k - 1)``. Give
    ``n_categories`` as the size of the codebook; by default it is the number of distinct labels
    either rater used (at least 2).
    """
    x, y = _pairs(a, b)
    if not len(x):
        return float("nan")
    k = n_categories if n_categories is not None else max(2, len(_sorted_categories(list(x) + list(y))))
    if k < 2:
        raise ValueError("PABAK needs at least two categories")
    p_o = float(np.mean(x == y))
    return (k * p_o - 1.0) / (k - 1.0)


# --------------------------------------------------------------------------- #
# 3. Many raters: Fleiss' kappa, Krippendorff's alpha, Gwet's AC1/AC2
# --------------------------------------------------------------------------- #
def _counts(ratings: Any, categories: Sequence[Any] | None) -> tuple[np.ndarray, list[Any], pd.Index | None]:
    values, missing, _ = _rating_matrix(ratings)
    observed = values[~missing]
    cats = list(categories) if categories is not None else _sorted_categories(list(observed))
    if categories is not None:
        unknown = set(_sorted_categories(list(observed))) - set(cats)
        if unknown:
            raise ValueError(f"ratings {sorted(map(str, unknown))} are not among categories=")
    table = np.zeros((values.shape[0], len(cats)), dtype=int)
    position = {c: j for j, c in enumerate(cats)}
    for i, j in zip(*np.nonzero(~missing), strict=True):
        table[i, position[values[i, j]]] += 1
    index = ratings.index if isinstance(ratings, pd.DataFrame) else None
    return table, cats, index


def fleiss_table(ratings: Any, *, categories: Sequence[Any] | None = None) -> pd.DataFrame:
    """Subjects x categories count table (how many raters chose each category) for Fleiss' kappa.

    ``ratings`` is subjects x raters with missing values allowed, so the number of raters may
    differ between subjects. ``categories`` fixes the columns and their order (a category nobody
    used gets a column of zeros); by default the sorted observed labels.
    """
    table, cats, index = _counts(ratings, categories)
    return pd.DataFrame(table, index=index, columns=pd.Index(cats, name="category"))


def fleiss_kappa(table: Any) -> float:
    """Fleiss' kappa from a subjects x categories count table (see `fleiss_table`).

    With the same number of raters on every subject this is statsmodels' ``fleiss_kappa``
    (Fleiss 1971). When the number varies it is the generalisation in Gwet (2014, ch. 2):
    p_a averages the per-subject pairwise agreement over subjects with two or more ratings, and
    p_e = sum_k pi_k^2 with pi_k the mean over subjects of each subject's share of category k.
    Subjects with no ratings are ignored. NaN if undefined.
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2:
        raise ValueError(f"table must be subjects x categories, got shape {t.shape}")
    t = t[t.sum(axis=1) > 0]
    r_i = t.sum(axis=1)
    if not len(t) or r_i.max() < 2:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.all(r_i == r_i[0]):
            from statsmodels.stats.inter_rater import fleiss_kappa as _sm_fleiss_kappa

            return _nan_if_undefined(_sm_fleiss_kappa(t, method="fleiss"))
        # Own code: statsmodels asserts a constant number of raters per subject.
        coef = _chance_corrected(t, np.eye(t.shape[1]), chance="fleiss")
    return _nan_if_undefined(coef[0])


def _chance_corrected(counts: np.ndarray, w: np.ndarray, chance: Literal["gwet", "fleiss"]):
    """(coefficient, p_a, p_e, n_subjects_for_pa) following Gwet (2014) for multiple raters.

    counts: subjects x categories (r_ik); w: q x q agreement weights.
    """
    counts = counts[counts.sum(axis=1) > 0]
    r_i = counts.sum(axis=1)
    q = counts.shape[1]
    paired = r_i >= 2
    if not paired.any():
        return float("nan"), float("nan"), float("nan"), 0
    r_star = counts @ w.T  # r*_ik = sum_l w_kl r_il
    rp, sp = r_i[paired], r_star[paired]
    p_a = float(np.mean((counts[paired] * (sp - 1.0)).sum(axis=1) / (rp * (rp - 1.0))))
    pi = (counts / r_i[:, None]).mean(axis=0)  # pi_k over every subject with at least one rating
    if chance == "gwet":
        p_e = float(w.sum() / (q * (q - 1.0)) * np.sum(pi * (1.0 - pi))) if q > 1 else float("nan")
    else:
        p_e = float(np.sum(w * np.outer(pi, pi)))
    # p_e == 1 (every rating in one category): the coefficient is undefined, NaN (these are
    # Python floats, which raise ZeroDivisionError where numpy would give inf)
    coef = (p_a - p_e) / (1.0 - p_e) if p_e != 1.0 else float("nan")
    return _nan_if_undefined(coef), p_a, p_e, int(paired.sum())


def weight_matrix(categories: Sequence[Any], kind: WeightKind | str = "identity") -> np.ndarray:
    """Agreement weights between ordered categories, as defined in Gwet (2014, ch. 3).

    * ``identity``: 1 on the diagonal, 0 elsewhere (unweighted);
    * ``linear``: ``1 - |x_k - x_l| / (x_max - x_min)``;
    * ``quadratic``: ``1 - (x_k - x_l)^2 / (x_max - x_min)^2``;
    * ``ordinal``: ``1 - M_kl / M_max`` with ``M_kl = C(|rank_k - rank_l| + 1, 2)`` (uses ranks only).

    ``x`` are the category values if they are all numbers, otherwise their ranks 0..q-1.
    """
    q = len(categories)
    if q < 1:
        raise ValueError("no categories")
    if kind == "identity":
        return np.eye(q)
    if q < 2:
        raise ValueError(f"{kind} weights need at least two categories")
    if kind in ("linear", "quadratic"):
        x = _category_values(categories)
        span = x.max() - x.min()
        d = np.abs(x[:, None] - x[None, :]) / span
        return 1.0 - (d if kind == "linear" else d**2)
    if kind == "ordinal":
        rank = np.arange(q)
        n = np.abs(rank[:, None] - rank[None, :]) + 1
        m = n * (n - 1) / 2.0
        return 1.0 - m / m.max()
    raise ValueError(f"unknown weights {kind!r}; use identity, linear, quadratic or ordinal, or pass a matrix")


@dataclass(frozen=True)
class ChanceCorrected:
    """A chance-corrected agreement coefficient with its parts; ``float(result)`` is the value."""

    name: str
    value: float
    pa: float
    pe: float
    n_subjects: int  # subjects with two or more ratings (those that enter p_a)
    categories: tuple[Any, ...]

    def __float__(self) -> float:
        return float(self.value)


# Own code: no maintained Python package (and none we depend on) implements Gwet's AC1/AC2 for
# several raters with missing ratings; this follows Gwet (2014), Handbook of Inter-Rater
# Reliability, 4th ed., ch. 4 (multiple raters), as the irrCAC R package does.
def _gwet(ratings: Any, weights: Any, categories: Sequence[Any] | None, name: str) -> ChanceCorrected:
    counts, cats, _ = _counts(ratings, categories)
    if isinstance(weights, str):
        w = weight_matrix(cats, weights)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(cats), len(cats)):
            raise ValueError(f"weights must be {len(cats)} x {len(cats)} for categories {cats}")
    value, p_a, p_e, n = _chance_corrected(counts, w, chance="gwet")
    return ChanceCorrected(name, value, p_a, p_e, n, tuple(cats))


def gwet_ac1(ratings: Any, *, categories: Sequence[Any] | None = None) -> ChanceCorrected:
    """Gwet's AC1 (nominal) for two or more raters; missing ratings allowed.

    ``ratings`` is subjects x raters. p_a averages, over subjects rated at least twice, the share
    of agreeing rater pairs; p_e = sum_k pi_k (1 - pi_k) / (q - 1). Because p_e depends on the
    number of categories q, pass the codebook's full list in ``categories`` (default: the labels
    that occur).
    """
    return _gwet(ratings, "identity", categories, "AC1")


def gwet_ac2(
    ratings: Any,
    *,
    weights: WeightKind | str | np.ndarray = "ordinal",
    categories: Sequence[Any] | None = None,
) -> ChanceCorrected:
    """Gwet's weighted AC2 for ordered ratings; ``weights`` is a kind (`weight_matrix`) or a q x q matrix.

    ``categories`` gives the full ordered scale (e.g. ``[1, 2, 3, 4, 5]``); weights and p_e depend
    on it. Default: the sorted labels that occur.
    """
    label = weights if isinstance(weights, str) else "custom"
    return _gwet(ratings, weights, categories, f"AC2 ({label})")


def krippendorff_alpha(
    ratings: Any,
    *,
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal",
    value_domain: Sequence[Any] | None = None,
) -> float:
    """Krippendorff's alpha (the ``krippendorff`` package) for subjects x raters data with missing values.

    * nominal: any hashable labels;
    * ordinal: numeric labels, or any labels with their order given in ``value_domain``;
    * interval / ratio: numeric labels.

    Subjects with fewer than two ratings carry no pairable values and drop out, as in Krippendorff
    (2011). NaN if alpha is undefined (e.g. a single value occurs).
    """
    import krippendorff

    values, missing, _ = _rating_matrix(ratings)
    observed = list(values[~missing])
    numeric = _all_numeric(observed)
    domain: list[Any] | None = list(value_domain) if value_domain is not None else None
    if level == "nominal" or (level == "ordinal" and not numeric):
        if level == "ordinal" and domain is None:
            raise ValueError("ordinal alpha on non-numeric labels needs value_domain= in scale order")
        cats = domain if domain is not None else _sorted_categories(observed)
        unknown = set(_sorted_categories(observed)) - set(cats)
        if unknown:
            raise ValueError(f"ratings {sorted(map(str, unknown))} are not in value_domain=")
        position = {c: float(j) for j, c in enumerate(cats)}
        data = np.full(values.shape, np.nan)
        data[~missing] = [position[v] for v in observed]
        domain = [float(j) for j in range(len(cats))]
    elif level in ("ordinal", "interval", "ratio"):
        if not numeric:
            raise ValueError(f"{level} alpha needs numeric ratings")
        data = np.full(values.shape, np.nan)
        data[~missing] = np.asarray(observed, dtype=float)
    else:
        raise ValueError(f"unknown level {level!r}")
    if len(np.unique(data[np.isfinite(data)])) < 2:  # a single value: alpha is undefined
        return float("nan")
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = krippendorff.alpha(reliability_data=data.T, level_of_measurement=level, value_domain=domain)
    except (ValueError, ZeroDivisionError):  # no pairable values or no variation
        return float("nan")
    return _nan_if_undefined(value)


# --------------------------------------------------------------------------- #
# 4. Intraclass correlations, Shrout & Fleiss (1979)
# --------------------------------------------------------------------------- #
_ICC_FORMS = [
    # short name, Shrout & Fleiss, McGraw & Wong (1996), description
    ("ICC1", "ICC(1,1)", "ICC(1)", "one-way random, single rater"),
    ("ICC2", "ICC(2,1)", "ICC(A,1)", "two-way random, absolute agreement, single rater"),
    ("ICC3", "ICC(3,1)", "ICC(C,1)", "two-way mixed, consistency, single rater"),
    ("ICC1k", "ICC(1,k)", "ICC(k)", "one-way random, mean of k raters"),
    ("ICC2k", "ICC(2,k)", "ICC(A,k)", "two-way random, absolute agreement, mean of k raters"),
    ("ICC3k", "ICC(3,k)", "ICC(C,k)", "two-way mixed, consistency, mean of k raters"),
]


def _mean_squares(x: np.ndarray) -> tuple[float, float, float, float]:
    """The two-way ANOVA mean squares of a complete targets x raters matrix: between targets (BMS),
    within targets (WMS), between judges (JMS) and residual (EMS)."""
    n, k = x.shape
    grand = x.mean()
    ss_total = ((x - grand) ** 2).sum()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ss_total - ss_rows - ss_cols
    return ss_rows / (n - 1), (ss_cols + ss_err) / (n * (k - 1)), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))


def _icc2_ci(icc2: float, n: int, k: int, msr: float, msc: float, mse: float, alpha: float) -> tuple[float, float]:
    """The CI of ICC(2,1) with Satterthwaite degrees of freedom (McGraw & Wong 1996, Table 7, case 2A)."""
    a_ = k * icc2 / (n * (1 - icc2))
    b_ = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
    v = (a_ * msc + b_ * mse) ** 2 / ((a_ * msc) ** 2 / (k - 1) + (b_ * mse) ** 2 / ((n - 1) * (k - 1)))
    f_star = _sps.f.ppf(1 - alpha / 2, n - 1, v)
    f_star2 = _sps.f.ppf(1 - alpha / 2, v, n - 1)
    lo2 = n * (msr - f_star * mse) / (f_star * (k * msc + (k * n - k - n) * mse) + n * msr)
    hi2 = n * (f_star2 * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_star2 * msr)
    return lo2, hi2


# Own code (ANOVA mean squares, Shrout & Fleiss 1979; CIs from McGraw & Wong 1996): pingouin's
# intraclass_corr pulls in matplotlib/seaborn, warns under pandas 3 (its anova uses the deprecated
# dropna(inplace=True)), rounds its CIs to two decimals and renamed its ICC labels between releases.
def icc(ratings: Any, *, level: float = 0.95) -> pd.DataFrame:
    """All six Shrout & Fleiss (1979) intraclass correlations of a targets x raters matrix.

    Targets with any missing rating are dropped (listwise, as is usual for these designs);
    ``result.attrs`` records ``n_targets``, ``n_raters`` and ``n_dropped``.

    One row per form, indexed by the short name (``ICC1 ICC2 ICC3 ICC1k ICC2k ICC3k``) with columns
    ``shrout_fleiss`` ("ICC(2,1)", ...), ``mcgraw_wong`` ("ICC(A,1)", ...), ``description``,
    ``icc``, ``F``, ``df1``, ``df2``, ``pval`` and the ``level`` confidence bounds ``ci_low``,
    ``ci_high``.
    """
    values, missing, _ = _rating_matrix(ratings)
    complete = ~missing.any(axis=1)
    x = values[complete].astype(float)
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 complete targets and 2 raters, got {n} x {k}")
    msr, msw, msc, mse = _mean_squares(x)

    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (msr - msw) / (msr + (k - 1) * msw)
        icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        icc3 = (msr - mse) / (msr + (k - 1) * mse)
        icc1k = (msr - msw) / msr
        icc2k = (msr - mse) / (msr + (msc - mse) / n)
        icc3k = (msr - mse) / msr

        alpha = 1.0 - level
        df1, df_w, df_e = n - 1, n * (k - 1), (n - 1) * (k - 1)
        f1, f3 = msr / msw, msr / mse
        p1, p3 = _sps.f.sf(f1, df1, df_w), _sps.f.sf(f3, df1, df_e)

        def bounds(f_obs: float, df_den: int) -> tuple[float, float]:
            fl = f_obs / _sps.f.ppf(1 - alpha / 2, df1, df_den)
            fu = f_obs * _sps.f.ppf(1 - alpha / 2, df_den, df1)
            return fl, fu

        fl1, fu1 = bounds(f1, df_w)
        fl3, fu3 = bounds(f3, df_e)
        ci1 = ((fl1 - 1) / (fl1 + k - 1), (fu1 - 1) / (fu1 + k - 1))
        ci3 = ((fl3 - 1) / (fl3 + k - 1), (fu3 - 1) / (fu3 + k - 1))
        ci1k = (1 - 1 / fl1, 1 - 1 / fu1)
        ci3k = (1 - 1 / fl3, 1 - 1 / fu3)
        ci2 = _icc2_ci(icc2, n, k, msr, msc, mse, alpha)
        lo2, hi2 = ci2
        ci2k = (k * lo2 / (1 + (k - 1) * lo2), k * hi2 / (1 + (k - 1) * hi2))

    values_ = [icc1, icc2, icc3, icc1k, icc2k, icc3k]
    f_ = [f1, f3, f3, f1, f3, f3]
    df2_ = [df_w, df_e, df_e, df_w, df_e, df_e]
    p_ = [p1, p3, p3, p1, p3, p3]
    cis = [ci1, ci2, ci3, ci1k, ci2k, ci3k]
    rows = []
    for (short, sf, mw, desc), val, fv, d2, pv, (lo, hi) in zip(_ICC_FORMS, values_, f_, df2_, p_, cis, strict=True):
        rows.append((short, sf, mw, desc, float(val), float(fv), df1, d2, float(pv), float(lo), float(hi)))
    out = pd.DataFrame(rows, columns=["name", "shrout_fleiss", "mcgraw_wong", "description", "icc", "F", "df1",
                                      "df2", "pval", "ci_low", "ci_high"]).set_index("name")
    out.attrs.update(n_targets=int(n), n_raters=int(k), n_dropped=int((~complete).sum()), level=level)
    return out
