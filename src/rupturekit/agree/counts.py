"""Counts and significance ratings per segment or session, the predicted side against the reference raters."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rupturekit.agree.align import PREDICTED, Aligned, Key, natural_key
from rupturekit.agree.results import (
    CountMetrics,
    CountSubject,
    Icc,
    IccFailure,
    IccForm,
    IccTable,
    RatingMetrics,
    finite,
)
from rupturekit.agree.tables import GroupOf, Projection, Table
from rupturekit.measures.agreement import icc, weighted_kappa
from rupturekit.records import Code

__all__ = ["count_metrics", "rating_metrics"]


def _correlation(x: np.ndarray, y: np.ndarray, kind: str) -> float:
    from scipy import stats as sps

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sps.pearsonr(x[ok], y[ok]) if kind == "pearson" else sps.spearmanr(x[ok], y[ok])
    return float(result[0])


def _icc(frame: pd.DataFrame) -> Icc:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = icc(frame.to_numpy(dtype=float))
    except ValueError as exc:
        return IccFailure(error=str(exc))
    forms = {name: IccForm(shrout_fleiss=row["shrout_fleiss"], mcgraw_wong=row["mcgraw_wong"],
                           description=row["description"], icc=row["icc"], ci=(row["ci_low"], row["ci_high"]),
                           F=row["F"], pval=row["pval"]) for name, row in table.iterrows()}
    return IccTable(n_targets=table.attrs["n_targets"], n_raters=table.attrs["n_raters"],
                    n_dropped=table.attrs["n_dropped"], forms=forms)


def count_metrics(counts: dict[str, pd.DataFrame], reference_raters: Sequence[str]) -> dict[str, CountMetrics]:
    """Per category: counts per subject (segment or transcript) compared with ICC and Pearson/Spearman.

    * ``predicted_vs_reference``: ICC (all six Shrout-Fleiss forms) of two columns, the predicted
      count and the mean of the reference raters' counts;
    * ``reference``: ICC among the reference raters (two or more);
    * ``all``: ICC of the reference raters and the predicted side together;
    * ``pearson`` / ``spearman``: predicted count against the reference mean.
    """
    out: dict[str, CountMetrics] = {}
    raters = list(reference_raters)
    for cat, frame in counts.items():
        ref = frame[raters]
        ref_mean = ref.mean(axis=1, skipna=True)
        pred = frame[PREDICTED]
        pair = pd.DataFrame({"reference_mean": ref_mean, "predicted": pred})
        out[cat] = CountMetrics(
            n_subjects=int(len(frame)),
            totals={**{r: float(np.nansum(ref[r])) for r in raters}, "predicted": float(np.nansum(pred))},
            pearson=_correlation(pred.to_numpy(float), ref_mean.to_numpy(float), "pearson"),
            spearman=_correlation(pred.to_numpy(float), ref_mean.to_numpy(float), "spearman"),
            predicted_vs_reference=_icc(pair),
            reference=_icc(ref) if len(raters) >= 2 else None,
            with_predicted=_icc(frame),
            subjects=[CountSubject(subject=str(s), predicted=row[PREDICTED], reference={r: row[r] for r in raters})
                      for s, row in frame.iterrows()])
    return out


# --------------------------------------------------------------------------- ratings
Cell = tuple[tuple[str, object], str]  # (subject, category)


@dataclass
class _Ratings:
    """Per rater: the highest rating of each (subject, category) cell, and the subjects they coded at all."""

    names: list[str]  # raters with a rating, reference raters first, then PREDICTED
    rated: dict[str, dict[Cell, float]]
    covered: dict[str, set[tuple[str, object]]]

    @classmethod
    def collect(cls, aligned: Aligned, proj: Projection, table: Table, group_of: GroupOf) -> _Ratings:
        sources: list[tuple[str, Callable[[Key], list[Code]], dict[str, str]]] = [
            (r, lambda key, r=r: aligned.ref_codes.get(key, {}).get(r, []), proj.ref_map)
            for r in aligned.reference_raters]
        if aligned.predicted_kind == "rater":
            sources.append((PREDICTED, lambda key: aligned.pred_codes.get(key, []), proj.pred_map))
        rated: dict[str, dict[Cell, float]] = {}
        covered: dict[str, set[tuple[str, object]]] = {}
        for key in table.keys:
            subject = group_of(key)
            for name, get, mapping in sources:
                codes = get(key)
                if codes:
                    covered.setdefault(name, set()).add(subject)
                for code in codes:
                    if code.rating is not None and code.label in mapping:
                        slot = rated.setdefault(name, {})
                        cell = (subject, mapping[code.label])
                        slot[cell] = max(slot.get(cell, -math.inf), float(code.rating))
        return cls([n for n, _, _ in sources if n in rated], rated, covered)

    def matrix(self, bottom: float | None) -> pd.DataFrame:
        """Cells x raters; a rater who covered the subject but did not rate the category gets `bottom`."""
        cells = sorted({k for slot in self.rated.values() for k in slot},
                       key=lambda k: (natural_key(str(k[0][0])), str(k[0][1]), k[1]))
        matrix = pd.DataFrame(index=[f"{s[0]}/{s[1]}:{c}" for s, c in cells], columns=self.names, dtype=float)
        for name in self.names:
            matrix[name] = [self.rated[name].get(cell, bottom if (bottom is not None
                                                                  and cell[0] in self.covered.get(name, set()))
                                                 else np.nan) for cell in cells]
        return matrix


def rating_metrics(aligned: Aligned, proj: Projection, table: Table, group_of: GroupOf) -> RatingMetrics | None:
    """3RS-style significance ratings per segment and category, where codes carry a ``rating``.

    A rater's rating of a category in a segment is the highest rating they gave a code of that
    category there; a rater who rated something and covered the segment but did not give the
    category gets the bottom of the codebook's segment rating scale (e.g. 1, "not at all
    significant"), else no rating. Compared with quadratic weighted kappa (predicted against each
    reference rater) and ICC (reference raters; reference raters with the predicted side).
    """
    ratings = _Ratings.collect(aligned, proj, table, group_of)
    if not ratings.rated:
        return None
    scale_spec = next((r for r in aligned.codebook.ratings if r.unit == "segment"), None)
    bottom = float(scale_spec.scale[0]) if scale_spec else None
    matrix = ratings.matrix(bottom)
    scale = list(range(int(scale_spec.scale[0]), int(scale_spec.scale[1]) + 1)) if scale_spec else None
    out = RatingMetrics(raters=ratings.names, n_cells=len(matrix), scale=scale, absent_as=bottom,
                        rule="max rating per segment and category")
    ref_names = [n for n in ratings.names if n != PREDICTED]
    if len(ref_names) >= 2:
        out.icc_reference = _icc(matrix[ref_names])
    if PREDICTED not in ratings.names:
        out.note = "the predicted side has no ratings; only the reference raters are compared"
        return out
    kappas = {}
    for r in ref_names:
        both = matrix[[r, PREDICTED]].dropna()
        kappas[r] = (weighted_kappa(both[r].tolist(), both[PREDICTED].tolist(), weights="quadratic",
                                    labels=[float(v) for v in scale] if scale else None) if len(both) else math.nan)
    out.weighted_kappa = kappas
    measured = [v for v in kappas.values() if finite(v)]
    out.weighted_kappa_mean = float(np.mean(measured)) if measured else math.nan
    if ref_names:
        out.icc_all = _icc(matrix[[*ref_names, PREDICTED]])
    return out
