"""Classification metrics of one comparison table: the predicted side against the reference consensus.

Definitions:

* P / R / F1 per label (one-vs-rest for single-label dimensions), micro (pooled) and macro (mean
  over the labels with support > 0); a ratio with a zero denominator is 0 (never-predicted label:
  precision 0), as scikit-learn's ``zero_division=0``.
* kappa: Cohen's kappa on the class (single-label), or pooled over (subject, label) decisions
  (multi-label); per label on presence; plus Krippendorff's alpha, Gwet's AC1 and PABAK.
* ROC-AUC / PR-AUC from the model's scores, per label over the subjects it scored.
* 95% CIs: percentile bootstrap over transcripts (`bootstrap_ci`); a resample where a label has
  no support does not count for that label.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from rupturekit.agree.humans import rater_block
from rupturekit.agree.results import (
    CI,
    Auc,
    BootstrapInfo,
    ClassificationLevel,
    Confusion,
    KappaSummary,
    LabelAuc,
    LabelMetrics,
    MacroAverage,
    MicroAverage,
    ScoreAucs,
    TwoByTwo,
    finite,
)
from rupturekit.agree.tables import Table, consensus
from rupturekit.measures.agreement import (
    cohen_kappa,
    confusion_table,
    gwet_ac1,
    krippendorff_alpha,
    label_report,
    pabak,
    score_report,
)
from rupturekit.measures.bootstrap import BootstrapCI, bootstrap_ci

__all__ = ["classification_metrics"]


# --------------------------------------------------------------------------- the compared decisions
@dataclass
class _Decisions:
    """The subjects with both a reference consensus and a prediction, as values and as indicators."""

    categories: list[str]
    multi_label: bool
    reference: np.ndarray  # consensus value per subject
    predicted: np.ndarray
    truth: np.ndarray  # subjects x categories, bool
    guess: np.ndarray
    groups: np.ndarray  # the transcript of each subject
    scores: np.ndarray | None  # subjects x score categories (NaN: no score)
    score_categories: list[str]

    @classmethod
    def of(cls, table: Table, cons: np.ndarray, idx: np.ndarray) -> _Decisions:
        cats = list(table.categories)
        ref, pred = cons[idx], table.predicted[idx]
        return cls(cats, table.multi_label, ref, pred, _indicator(ref, cats, table.multi_label),
                   _indicator(pred, cats, table.multi_label), table.groups[idx],
                   None if table.scores is None else table.scores[idx], list(table.score_categories))

    # read once per label: summed once (the decisions do not change)
    @cached_property
    def support(self) -> np.ndarray:
        return self.truth.sum(axis=0)

    @cached_property
    def supported(self) -> list[int]:
        return [j for j, s in enumerate(self.support) if s > 0]


def _indicator(values: Sequence[Any], categories: Sequence[str], multi: bool) -> np.ndarray:
    index = {c: j for j, c in enumerate(categories)}
    out = np.zeros((len(values), len(categories)), dtype=bool)
    for i, v in enumerate(values):
        for c in (v if multi else [v]):
            if c in index:
                out[i, index[c]] = True
    return out


# --------------------------------------------------------------------------- bootstrap
def _kappa_from_confusion(cm: np.ndarray) -> float:
    m = cm.sum()
    if m <= 0:
        return math.nan
    po = np.trace(cm) / m
    pe = float(cm.sum(axis=1) @ cm.sum(axis=0)) / (m * m)
    return (po - pe) / (1.0 - pe) if pe < 1.0 else math.nan


def _binary_kappa(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    m = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        po = (tp + tn) / m
        pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (m * m)
        k = (po - pe) / (1.0 - pe)
    return np.where(pe < 1.0, k, np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


class _Vector:
    """Every bootstrapped statistic of one table from one pass over a resample."""

    def __init__(self, truth: np.ndarray, pred: np.ndarray, categories: Sequence[str], single: bool):
        self.t, self.p = truth, pred
        self.single = single
        self.cats = list(categories)
        c = len(self.cats)
        self.names = ([f"{cat}|{m}" for cat in self.cats for m in ("precision", "recall", "f1", "kappa")]
                      + [f"{avg}|{m}" for avg in ("micro", "macro") for m in ("precision", "recall", "f1")]
                      + ["kappa"])
        if single:
            self.tc = truth.argmax(axis=1)
            self.pc = pred.argmax(axis=1)
        self.c = c

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        t, p = self.t[idx], self.p[idx]
        tp = (t & p).sum(axis=0).astype(float)
        fp = (p & ~t).sum(axis=0).astype(float)
        fn = (t & ~p).sum(axis=0).astype(float)
        tn = len(idx) - tp - fp - fn
        support = tp + fn
        prec = _ratio(tp, tp + fp)
        rec = _ratio(tp, support)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        kap = _binary_kappa(tp, fp, fn, tn)
        undefined = support == 0
        per = np.column_stack([prec, rec, f1, kap])
        per[undefined] = np.nan
        T, F, N = tp.sum(), fp.sum(), fn.sum()
        micro = [_ratio(np.array(T), np.array(T + F)).item(),
                 _ratio(np.array(T), np.array(T + N)).item() if T + N > 0 else math.nan,
                 _ratio(np.array(2 * T), np.array(2 * T + F + N)).item()]
        supported = ~undefined
        if supported.any():
            macro = [float(prec[supported].mean()), float(rec[supported].mean()), float(f1[supported].mean())]
        else:
            macro = [math.nan] * 3
        if self.single:
            cm = np.bincount(self.tc[idx] * self.c + self.pc[idx], minlength=self.c * self.c).reshape(self.c, self.c)
            kappa = _kappa_from_confusion(cm)
        else:
            kappa = float(_binary_kappa(np.array(T), np.array(F), np.array(N),
                                        np.array(len(idx) * self.c - T - F - N)))
        return np.concatenate([per.ravel(), micro, macro, [kappa]])


def _bootstrap_many(vector: _Vector, groups: np.ndarray, n_resamples: int, seed: int) -> dict[str, BootstrapCI]:
    """`bootstrap_ci` for every entry of `vector`, computing each resample's vector once.

    Each `bootstrap_ci` call with the same seed draws the same resamples in the same order; the
    vector of the k-th draw is kept and reused by the other statistics (checked by a fingerprint
    of the drawn rows, and recomputed should it ever differ).
    """
    memo: list[tuple[tuple[int, int, int], np.ndarray]] = []
    weights = np.arange(1, len(groups) + 1, dtype=np.int64)

    def fingerprint(idx: np.ndarray) -> tuple[int, int, int]:
        return (len(idx), int(idx.sum()), int((idx.astype(np.int64) * weights[: len(idx)] % 1_000_003).sum()))

    def statistic_for(j: int) -> Callable[[np.ndarray], float]:
        calls = [0]

        def statistic(idx: np.ndarray) -> float:
            i = calls[0]
            calls[0] += 1
            fp = fingerprint(idx)
            if i < len(memo) and memo[i][0] == fp:
                return float(memo[i][1][j])
            vec = vector(idx)
            if i < len(memo):
                memo[i] = (fp, vec)
            else:
                memo.append((fp, vec))
            return float(vec[j])

        return statistic

    return {n: bootstrap_ci(statistic_for(j), groups, n_resamples=n_resamples, seed=seed)
            for j, n in enumerate(vector.names)}


# --------------------------------------------------------------------------- statistics
def classification_metrics(table: Table, *, n_bootstrap: int, seed: int, predicted_kind: str
                           ) -> ClassificationLevel:
    """Predicted vs reference consensus, and the rater block, for one table (utterance or segment presence).

    ``n_utterances`` is the table's length; a caller comparing aggregated subjects sets it to the
    number of utterances behind them.
    """
    cons = consensus(table)
    pred = table.predicted
    usable = [i for i in range(len(table)) if cons[i] is not None and pred[i] is not None]
    level = ClassificationLevel(
        n_utterances=len(table), unit=table.unit, multi_label=table.multi_label, categories=list(table.categories),
        n_subjects=len(table), n_compared=len(usable),
        n_transcripts=len(set(table.groups[usable].tolist())) if usable else 0,
        n_no_consensus=int(sum(cons[i] is None for i in range(len(table)))),
        n_not_predicted=int(sum(pred[i] is None for i in range(len(table)))),
        raters=rater_block(table, predicted_kind))
    if not usable:
        return level
    d = _Decisions.of(table, cons, np.asarray(usable))
    report, macro = _label_reports(d)
    cis: dict[str, BootstrapCI] = {}
    if n_bootstrap > 0:
        cis = _bootstrap_many(_Vector(d.truth, d.guess, d.categories, single=not d.multi_label),
                              d.groups.astype(str), n_bootstrap, seed)
    aucs = _aucs(d) if d.scores is not None else {}
    level.scores = _score_summary(d, aucs) if aucs else None
    level.labels = [_label_metrics(d, j, report.loc[cat], cis, aucs.get(cat)) for j, cat in enumerate(d.categories)]
    level.micro, level.macro = _averages(d, report.loc["micro avg"], macro, cis)
    label_kappas = [e.kappa for e in level.labels if e.support > 0 and finite(e.kappa)]
    _class_agreement(level, d, _ci(cis, "kappa"), float(np.mean(label_kappas)) if label_kappas else math.nan)
    if n_bootstrap > 0 and cis:
        level.bootstrap = BootstrapInfo(resamples=n_bootstrap, seed=seed, groups=next(iter(cis.values())).n_groups,
                                        level=0.95, by="transcript")
    return level


def _ci(cis: dict[str, BootstrapCI], name: str) -> CI | None:
    result = cis.get(name)
    return None if result is None else (result.low, result.high)


def _label_reports(d: _Decisions) -> tuple[pd.DataFrame, pd.Series | None]:
    """`label_report` of every category, and the macro row over the supported ones (None: no support)."""
    cats, supported = d.categories, d.supported
    if d.multi_label and len(cats) == 1:
        # One column (e.g. a one-family dimension at family level): scikit-learn reads an n x 1
        # indicator matrix as a binary column vector, and `label_report` would then score the
        # absent class. Score presence as the positive class of a 0/1 vector instead.
        t1, p1 = d.truth[:, 0].astype(int).tolist(), d.guess[:, 0].astype(int).tolist()
        report = label_report(t1, p1, labels=[1], label_names=cats, zero_division=0.0)
        return report, report.loc["macro avg"] if supported else None
    if d.multi_label:
        t_frame = pd.DataFrame(d.truth.astype(int), columns=cats)
        p_frame = pd.DataFrame(d.guess.astype(int), columns=cats)
        report = label_report(t_frame, p_frame, zero_division=0.0)
        return report, (label_report(t_frame, p_frame, labels=supported, label_names=[cats[j] for j in supported],
                                     zero_division=0.0).loc["macro avg"] if supported else None)
    yt, yp = list(d.reference), list(d.predicted)
    report = label_report(yt, yp, labels=cats, zero_division=0.0)
    return report, (label_report(yt, yp, labels=[cats[j] for j in supported], zero_division=0.0).loc["macro avg"]
                    if supported else None)


def _label_metrics(d: _Decisions, j: int, row: pd.Series, cis: dict[str, BootstrapCI], auc: LabelAuc | None
                   ) -> LabelMetrics:
    cat = d.categories[j]
    t_bin, p_bin = d.truth[:, j].astype(int), d.guess[:, j].astype(int)
    pair = pd.DataFrame({"reference": t_bin, "predicted": p_bin}, dtype=object)
    support = int(d.support[j])
    precision, recall, f1 = float(row["precision"]), float(row["recall"]), float(row["f1"])
    if not support:  # recall undefined; with nothing predicted either, so are precision and F1
        recall = math.nan
        if not p_bin.sum():
            precision = f1 = math.nan
    return LabelMetrics(
        label=cat, support=support, predicted=int(p_bin.sum()), precision=precision, recall=recall, f1=f1,
        precision_ci=_ci(cis, f"{cat}|precision"), recall_ci=_ci(cis, f"{cat}|recall"), f1_ci=_ci(cis, f"{cat}|f1"),
        kappa=cohen_kappa(t_bin, p_bin), kappa_ci=_ci(cis, f"{cat}|kappa"),
        pabak=pabak(t_bin, p_bin, n_categories=2),
        krippendorff_alpha=krippendorff_alpha(pair, level="nominal", value_domain=[0, 1]),
        gwet_ac1=float(gwet_ac1(pair, categories=[0, 1])),
        roc_auc=auc.roc_auc if auc else None, pr_auc=auc.pr_auc if auc else None)


def _averages(d: _Decisions, micro: pd.Series, macro: pd.Series | None, cis: dict[str, BootstrapCI]
              ) -> tuple[MicroAverage, MacroAverage]:
    def of_macro(name: str) -> float:
        return float(macro[name]) if macro is not None else math.nan

    return (MicroAverage(precision=float(micro["precision"]), recall=float(micro["recall"]), f1=float(micro["f1"]),
                         support=int(d.support.sum()), precision_ci=_ci(cis, "micro|precision"),
                         recall_ci=_ci(cis, "micro|recall"), f1_ci=_ci(cis, "micro|f1")),
            MacroAverage(precision=of_macro("precision"), recall=of_macro("recall"), f1=of_macro("f1"),
                         over=f"{len(d.supported)} of {len(d.categories)} labels (those with support > 0)",
                         n_labels=len(d.supported), precision_ci=_ci(cis, "macro|precision"),
                         recall_ci=_ci(cis, "macro|recall"), f1_ci=_ci(cis, "macro|f1")))


def _class_agreement(level: ClassificationLevel, d: _Decisions, kappa_ci: CI | None, macro_kappa: float) -> None:
    """kappa and the confusion matrix; for single-label dimensions also alpha, AC1 and PABAK on the class."""
    cats = d.categories
    if d.multi_label:
        pooled_t, pooled_p = d.truth.ravel().astype(int), d.guess.ravel().astype(int)
        level.kappa = KappaSummary(value=cohen_kappa(pooled_t, pooled_p), ci=kappa_ci,
                                   what="pooled over (subject, label) decisions (micro)", macro=macro_kappa)
        co = _cooccurrence(d.reference, d.predicted, cats)
        level.confusion = Confusion(kind="co-occurrence", rows=co.index.tolist(), columns=co.columns.tolist(),
                                    matrix=co.to_numpy().tolist(), per_label=_two_by_two(d.truth, d.guess, cats))
        return
    yt, yp = list(d.reference), list(d.predicted)
    pair = pd.DataFrame({"reference": yt, "predicted": yp}, dtype=object)
    level.kappa = KappaSummary(value=cohen_kappa(yt, yp), ci=kappa_ci, what="Cohen's kappa on the class",
                               macro=macro_kappa)
    level.krippendorff_alpha = krippendorff_alpha(pair, level="nominal", value_domain=cats)
    level.gwet_ac1 = float(gwet_ac1(pair, categories=cats))
    level.pabak = pabak(yt, yp, n_categories=len(cats))
    matrix = confusion_table(yt, yp, labels=cats).to_numpy().tolist()
    level.confusion = Confusion(kind="confusion", rows=cats, columns=cats, matrix=matrix)


# --------------------------------------------------------------------------- scores
def _aucs(d: _Decisions) -> dict[str, LabelAuc]:
    """ROC-AUC, PR-AUC and n per label, each over the subjects where the model gave that label a score."""
    scores = d.scores
    assert scores is not None  # the caller checks
    out = {}
    for j, name in enumerate(d.score_categories):
        if name not in d.categories:
            continue
        column = scores[:, j]
        ok = np.isfinite(column)
        if not ok.any():
            continue
        report = score_report(d.truth[ok, d.categories.index(name)].astype(int), column[ok], label_names=[name])
        out[name] = LabelAuc(roc_auc=float(report.loc[name, "roc_auc"]), pr_auc=float(report.loc[name, "pr_auc"]),
                             n=int(ok.sum()))
    return out


def _score_summary(d: _Decisions, aucs: dict[str, LabelAuc]) -> ScoreAucs:
    """The per-label AUCs, their mean (labels with a defined ROC-AUC) and the AUCs of all scores pooled."""
    scores = d.scores
    assert scores is not None  # aucs come from the scores
    pooled_t, pooled_s = [], []
    for j, name in enumerate(d.score_categories):
        if name in d.categories:
            column = scores[:, j]
            ok = np.isfinite(column)
            pooled_t.append(d.truth[ok, d.categories.index(name)].astype(int))
            pooled_s.append(column[ok])
    micro = score_report(np.concatenate(pooled_t), np.concatenate(pooled_s)).loc["positive"]
    defined = [v for v in aucs.values() if finite(v.roc_auc)]
    return ScoreAucs(
        n=int(max(v.n for v in aucs.values())), per_label=aucs,
        macro=Auc(roc_auc=float(np.mean([v.roc_auc for v in defined])) if defined else math.nan,
                  pr_auc=float(np.mean([v.pr_auc for v in defined])) if defined else math.nan),
        micro=Auc(roc_auc=float(micro["roc_auc"]), pr_auc=float(micro["pr_auc"])))


def _two_by_two(truth: np.ndarray, guess: np.ndarray, cats: Sequence[str]) -> list[TwoByTwo]:
    """Per-label tn, fp, fn, tp. (Computed here: `multilabel_confusion_table` fails on a single column,
    which scikit-learn reads as a binary task - e.g. a dimension with one family at family level.)"""
    return [TwoByTwo(label=c, tn=int((~truth[:, j] & ~guess[:, j]).sum()), fp=int((~truth[:, j] & guess[:, j]).sum()),
                     fn=int((truth[:, j] & ~guess[:, j]).sum()), tp=int((truth[:, j] & guess[:, j]).sum()))
            for j, c in enumerate(cats)]


def _cooccurrence(truth: Sequence[frozenset], pred: Sequence[frozenset], cats: Sequence[str]) -> pd.DataFrame:
    """Reference label (rows) x predicted label (columns) over subjects, with "(none)" for an empty set."""
    names = [*cats, "(none)"]
    index = {c: j for j, c in enumerate(names)}
    m = np.zeros((len(names), len(names)), dtype=int)
    for t, p in zip(truth, pred, strict=True):
        for a in (t or ["(none)"]):
            for b in (p or ["(none)"]):
                m[index[a], index[b]] += 1
    return pd.DataFrame(m, index=pd.Index(names, name="reference"), columns=pd.Index(names, name="predicted"))
