"""Transcript-grouped cross-validation of the baseline tagger, read against chance.

`cross_validate` splits the transcripts into K folds (StratifiedGroupKFold on a per-utterance label
summary, shuffled with the config seed: every transcript is in exactly one test fold, for every
task), fits the tagger on the other folds and predicts the held-out one, so every example gets one
out-of-fold prediction. On those it reports, per task:

- per label: precision, recall, F1, support, ROC-AUC and PR-AUC of the calibrated scores, and the
  F1 a stratified-random predictor would get in expectation ("chance F1");
- micro F1 (pooled over labels; for a single-label task this is accuracy) and macro F1, the mean
  F1 over the labels with support > 0 (labels nobody used are left out, and the report says how many);
- 95% percentile CIs for macro F1 and each label's F1 (and Cohen's kappa for single-label tasks),
  by bootstrap over transcripts (`rupturekit.measures.bootstrap_ci`); a resample where a label has no
  positives does not count for that label's interval;
- reference baselines on the same folds: majority class (single-label; the training folds' most
  frequent class) or always-negative (multi-label), and a stratified-random predictor that says
  each label with its training-fold prevalence (computed from expected counts, no sampling noise;
  its F1 is about the label's prevalence, its kappa 0).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rupturekit.codebook import Codebook
from rupturekit.errors import InputError
from rupturekit.measures import bootstrap_ci, cohen_kappa, score_report
from rupturekit.records import Transcript
from rupturekit.tagger.config import DataSource, TrainConfig
from rupturekit.tagger.dataset import Examples, hard_targets, task_examples
from rupturekit.tagger.task import Task

__all__ = [
    "CVReport",
    "LabelScores",
    "TaskReport",
    "assign_folds",
    "cross_validate",
    "examples_for",
    "reference_baselines",
    "score_task",
    "subset",
]

if TYPE_CHECKING:
    from rupturekit.tagger.baseline import Inputs

Progress = Callable[[str], None] | None


# --------------------------------------------------------------------------- examples


def _default_sources(config: TrainConfig, transcripts: list[Transcript]) -> dict[str, DataSource]:
    first = config.data[0]
    if any((s.consensus, s.weight, s.weak) != (first.consensus, first.weight, first.weak) for s in config.data):
        raise ValueError("the config's data sources differ in consensus or weight: pass sources= "
                         "(transcript id -> DataSource), e.g. from rupturekit.tagger.baseline_train.load_data")
    return {t.transcript_id: first for t in transcripts}


def examples_for(config: TrainConfig, codebook: Codebook, tasks: list[Task], transcripts: list[Transcript],
                 sources: dict[str, DataSource] | None = None) -> dict[str, Examples]:
    """The examples of every task, each transcript reduced by its own source's consensus rule.

    `sources` maps transcript id -> the DataSource it came from; without it every transcript uses
    the config's (single) consensus rule. The baseline trains and is scored on hard labels only:
    weak (soft-label) sources are refused, and the shares of a ``consensus: soft`` source become
    0/1 targets (`dataset.hard_targets`: the argmax for a single-label task, share >= 0.5 for a
    multi-label one).
    """
    sources = sources if sources is not None else _default_sources(config, transcripts)
    weak = sorted({s.name for s in sources.values() if s.weak})
    if weak:
        raise InputError(weak[0], "weak (soft) labels are not supported by the baseline",
                         "drop 'weak: true' to use them as hard labels, or leave the source out")
    by_rule: dict[str, list[Transcript]] = {}
    for transcript in transcripts:
        by_rule.setdefault(sources[transcript.transcript_id].consensus, []).append(transcript)
    order = {t.transcript_id: i for i, t in enumerate(transcripts)}
    out = {}
    for task in tasks:
        parts = [task_examples(group, codebook, task, rule) for rule, group in by_rule.items()]
        keys = [key for part in parts for key in part.keys]
        groups = np.concatenate([part.groups for part in parts]) if parts else np.zeros(0, dtype=object)
        targets = np.vstack([part.targets for part in parts]) if parts else np.zeros((0, len(task.labels)))
        # corpus order, whatever the consensus rules
        position = np.argsort([order[k[0]] * 10**9 + k[1] for k in keys], kind="stable")
        out[task.name] = Examples(task, [keys[i] for i in position], groups[position].astype(object),
                                  hard_targets(targets[position], task.multi_label))
    return out


def transcript_weights(sources: dict[str, DataSource]) -> dict[str, float]:
    return {tid: source.weight for tid, source in sources.items() if source.weight != 1.0}


def subset(examples: Examples, rows: np.ndarray) -> Examples:
    return Examples(examples.task, [examples.keys[i] for i in rows], examples.groups[rows], examples.targets[rows])


# --------------------------------------------------------------------------- folds


def assign_folds(examples: dict[str, Examples], n_folds: int, seed: int,
                 group_of: dict[str, str] | None = None) -> dict[str, int]:
    """Transcript id -> fold (0-based), one assignment for all tasks.

    StratifiedGroupKFold (shuffled with `seed`) over every example of every task, with each row
    summarised by its rarest positive label (or "<task>:none"), so that folds get similar label
    mixes while no group is split. `group_of` maps a transcript to its group (its source video:
    `rupturekit.tagger.dataset.group_map`); without it each transcript is a group. Fewer groups
    than folds: one fold per group. Soft targets count by their hard labels (`dataset.hard_targets`).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    transcripts = np.concatenate([np.asarray(e.groups, dtype=object) for e in examples.values()]) \
        if examples else np.zeros(0, dtype=object)
    groups = np.asarray([(group_of or {}).get(t, t) for t in transcripts.tolist()], dtype=object)
    unique = sorted(set(groups.tolist()))
    if len(unique) < 2:
        raise InputError("cross-validation", f"needs examples from at least 2 transcripts, got {len(unique)}",
                         "add coded transcripts")
    summary: list[str] = []
    for name, e in examples.items():
        hard = e.hard().targets
        counts = hard.sum(axis=0)
        rarity = np.argsort(counts, kind="stable")  # rarest label first
        for row in hard:
            positive = [j for j in rarity if row[j] > 0]
            summary.append(f"{name}:{e.task.labels[positive[0]]}" if positive else f"{name}:none")
    k = min(n_folds, len(unique))
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fold_of: dict[str, int] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only n members"
        for fold, (_, test) in enumerate(splitter.split(np.zeros(len(groups)), np.asarray(summary), groups)):
            for t in set(transcripts[test].tolist()):
                fold_of[t] = fold
    used = sorted(set(fold_of.values()))  # renumber, should a fold be empty
    return {g: used.index(f) for g, f in sorted(fold_of.items(), key=lambda item: str(item[0]))}


# --------------------------------------------------------------------------- scoring


@dataclass
class LabelScores:
    label: str
    support: int
    precision: float
    recall: float
    f1: float
    f1_ci: tuple[float, float]
    roc_auc: float
    pr_auc: float
    chance_f1: float  # expected F1 of the stratified-random predictor
    predicted: int  # how many examples the model gave this label

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "support": self.support, "predicted": self.predicted,
                "precision": _num(self.precision), "recall": _num(self.recall), "f1": _num(self.f1),
                "f1_ci": [_num(v) for v in self.f1_ci], "roc_auc": _num(self.roc_auc),
                "pr_auc": _num(self.pr_auc), "chance_f1": _num(self.chance_f1)}


@dataclass
class TaskReport:
    task: Task
    n_examples: int
    n_transcripts: int
    labels: list[LabelScores]
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    macro_labels: int  # labels with support > 0, the ones macro F1 averages
    micro_f1: float
    kappa: float | None = None  # single-label tasks
    kappa_ci: tuple[float, float] | None = None
    roc_auc_macro: float = math.nan
    pr_auc_macro: float = math.nan
    baselines: dict[str, dict[str, float | None]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # label -> folds where it got no classifier
    bootstrap: int = 0

    def to_dict(self) -> dict[str, Any]:
        t = self.task
        return {
            "task": t.name, "role": t.role, "multi_label": t.multi_label, "level": t.level,
            "n_examples": self.n_examples, "n_transcripts": self.n_transcripts,
            "labels": [label.to_dict() for label in self.labels],
            "macro_f1": _num(self.macro_f1), "macro_f1_ci": [_num(v) for v in self.macro_f1_ci],
            "macro_over": f"{self.macro_labels} of {len(self.labels)} labels (those with support > 0)",
            "micro_f1": _num(self.micro_f1),
            "kappa": _num(self.kappa) if self.kappa is not None else None,
            "kappa_ci": [_num(v) for v in self.kappa_ci] if self.kappa_ci is not None else None,
            "roc_auc_macro": _num(self.roc_auc_macro), "pr_auc_macro": _num(self.pr_auc_macro),
            "baselines": {name: {k: _num(v) if v is not None else None for k, v in values.items()}
                          for name, values in self.baselines.items()},
            "labels_without_classifier": self.skipped,
            "bootstrap_resamples": self.bootstrap,
        }


def _num(value: float | None) -> float | None:
    """JSON-safe: NaN -> None, floats rounded to 4 decimals."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), 4)


def _indicator(task: Task, values: np.ndarray) -> np.ndarray:
    """0/1 matrix (n, L) of targets or predictions that may be soft (`dataset.hard_targets`)."""
    return hard_targets(values, task.multi_label).astype(np.int64)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(np.shape(tp), dtype=np.float64), where=denominator > 0)


def _macro(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> float:
    """Mean F1 over labels with support (tp + fn) > 0; NaN when no label has support."""
    support = tp + fn
    if not (support > 0).any():
        return math.nan
    return float(_f1(tp, fp, fn)[support > 0].mean())


def score_task(task: Task, targets: np.ndarray, predicted: np.ndarray, scores: np.ndarray, groups: np.ndarray,
               *, bootstrap: int = 1000, seed: int = 13) -> TaskReport:
    """Metrics of one task's predictions (all rows at once), with transcript-bootstrap CIs.

    `targets` and `predicted` are (n, L) 0/1 matrices (one 1 per row for single-label tasks),
    `scores` (n, L) continuous scores, `groups` the transcript of each row.
    """
    truth, guess = _indicator(task, targets), _indicator(task, predicted)
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(groups, dtype=object)
    names = list(task.labels)
    # P/R/F1 from the counts below (the same definitions as label_report with zero_division=0; its
    # (n, 1) indicator input is read as a binary vector, so a one-label task would get the negative class)
    if task.multi_label:
        aucs = score_report(truth, scores, label_names=names)
    else:
        aucs = score_report(truth.argmax(axis=1), scores, classes=list(range(len(names))), label_names=names)
    tp_rows, fp_rows, fn_rows = truth & guess, (1 - truth) & guess, truth & (1 - guess)
    stacked = np.hstack([tp_rows, fp_rows, fn_rows])
    n_labels = len(names)

    def counts(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        total = stacked[idx].sum(axis=0)
        return total[:n_labels], total[n_labels:2 * n_labels], total[2 * n_labels:]

    def label_f1(j: int) -> Callable[[np.ndarray], float]:
        def statistic(idx: np.ndarray) -> float:
            tp, fp, fn = counts(idx)
            return math.nan if tp[j] + fn[j] == 0 else float(_f1(tp[j:j + 1], fp[j:j + 1], fn[j:j + 1])[0])
        return statistic

    def interval(statistic: Callable[[np.ndarray], float]) -> tuple[float, float]:
        if bootstrap < 1 or not len(groups):
            return (math.nan, math.nan)
        ci = bootstrap_ci(statistic, groups, n_resamples=bootstrap, seed=seed)
        return (ci.low, ci.high)

    tp, fp, fn = counts(np.arange(len(truth)))
    support = tp + fn
    precision = np.divide(tp, tp + fp, out=np.zeros(n_labels), where=(tp + fp) > 0)
    recall = np.divide(tp, support, out=np.zeros(n_labels), where=support > 0)
    f1 = _f1(tp, fp, fn)
    labels = [
        LabelScores(name, int(support[j]), float(precision[j]), float(recall[j]), float(f1[j]),
                    interval(label_f1(j)) if support[j] > 0 else (math.nan, math.nan),
                    float(aucs.loc[name, "roc_auc"]), float(aucs.loc[name, "pr_auc"]), math.nan,
                    int(guess[:, j].sum()))
        for j, name in enumerate(names)]
    micro = float(_f1(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))[0]) if len(truth) \
        else math.nan
    result = TaskReport(
        task, len(truth), len(set(groups.tolist())), labels, _macro(tp, fp, fn),
        interval(lambda idx: _macro(*counts(idx))), int((support > 0).sum()), micro,
        roc_auc_macro=float(aucs.loc["macro avg", "roc_auc"]), pr_auc_macro=float(aucs.loc["macro avg", "pr_auc"]),
        bootstrap=bootstrap)
    if not task.multi_label:
        truth_class, guess_class = truth.argmax(axis=1), guess.argmax(axis=1)
        result.kappa = cohen_kappa(truth_class, guess_class, labels=list(range(n_labels)))
        result.kappa_ci = interval(lambda idx: cohen_kappa(truth_class[idx], guess_class[idx],
                                                           labels=list(range(n_labels))))
    return result


def reference_baselines(task: Task, targets: np.ndarray, folds: np.ndarray) -> dict[str, Any]:
    """Chance references on the same folds as the model (`folds`: the test fold of each row).

    - ``majority`` (single-label): every row of a fold gets the class most frequent in the other folds;
      ``always_negative`` (multi-label): no label is ever predicted (F1 0 by definition).
    - ``stratified_random``: each row gets each label with the label's prevalence in the other folds,
      independently of the text; P/R/F1 from the expected counts (per label, chance F1 is about the
      label's prevalence), kappa 0 by construction.
    Returns {"per_label_chance_f1": [...], name: {"macro_f1", "micro_f1", "kappa"}}.
    """
    truth = _indicator(task, targets).astype(np.float64)
    folds = np.asarray(folds)
    n, n_labels = truth.shape
    e_tp, e_fp, e_fn = np.zeros(n_labels), np.zeros(n_labels), np.zeros(n_labels)
    majority = np.zeros_like(truth)
    for fold in np.unique(folds):
        test, train = folds == fold, folds != fold
        q = truth[train].mean(axis=0) if train.any() else np.zeros(n_labels)
        positives = truth[test].sum(axis=0)
        negatives = test.sum() - positives
        e_tp += q * positives
        e_fp += q * negatives
        e_fn += (1 - q) * positives
        if not task.multi_label and train.any():
            majority[np.flatnonzero(test), int(np.argmax(truth[train].sum(axis=0)))] = 1
    chance = _f1(e_tp, e_fp, e_fn)
    micro_random = float(_f1(np.array([e_tp.sum()]), np.array([e_fp.sum()]), np.array([e_fn.sum()]))[0])
    truth_int, majority_int = truth.astype(np.int64), majority.astype(np.int64)
    m_tp = (truth_int & majority_int).sum(axis=0)
    m_fp = ((1 - truth_int) & majority_int).sum(axis=0)
    m_fn = (truth_int & (1 - majority_int)).sum(axis=0)
    micro_majority = float(_f1(np.array([m_tp.sum()]), np.array([m_fp.sum()]), np.array([m_fn.sum()]))[0])
    out: dict[str, Any] = {"per_label_chance_f1": chance.tolist()}
    if task.multi_label:
        out["always_negative"] = {"macro_f1": 0.0 if (truth.sum(axis=0) > 0).any() else math.nan,
                                  "micro_f1": 0.0, "kappa": None}
    else:
        kappa = cohen_kappa(truth.argmax(axis=1), majority.argmax(axis=1), labels=list(range(n_labels))) \
            if n else math.nan
        out["majority"] = {"macro_f1": _macro(m_tp, m_fp, m_fn), "micro_f1": micro_majority,
                           "kappa": 0.0 if math.isnan(kappa) else kappa}
    out["stratified_random"] = {"macro_f1": _macro(e_tp, e_fp, e_fn), "micro_f1": micro_random,
                                "kappa": None if task.multi_label else 0.0}
    return out


# --------------------------------------------------------------------------- the report


@dataclass
class CVReport:
    codebook: str
    level: str
    n_folds: int
    seed: int
    folds: dict[str, int]  # transcript id -> test fold
    tasks: list[TaskReport]
    sources: list[str] = field(default_factory=list)
    seconds: float = math.nan
    # out-of-fold predictions per task: keys, targets, predicted, scores (not in to_dict)
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def task(self, name: str) -> TaskReport:
        for report in self.tasks:
            if report.task.name == name:
                return report
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "codebook": self.codebook, "level": self.level, "folds": self.n_folds, "seed": self.seed,
            "sources": self.sources, "n_transcripts": len(self.folds),
            "split": "grouped StratifiedGroupKFold (by source video where the transcripts name one, else by "
                     "transcript); every transcript in exactly one test fold",
            "macro_f1": "mean F1 over the labels with support > 0",
            "ci": "95% percentile bootstrap over transcripts",
            "seconds": _num(self.seconds),
            "fold_of_transcript": self.folds,
            "tasks": [task.to_dict() for task in self.tasks],
        }

    def to_markdown(self, heading: str = "###") -> str:
        lines: list[str] = []
        for report in self.tasks:
            lines += _task_markdown(report, heading, self)
        return "\n".join(lines).strip() + "\n"


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{value:.{digits}f}"


def _ci(ci: tuple[float, float] | None) -> str:
    if ci is None or not all(math.isfinite(v) for v in ci):
        return ""
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def _task_markdown(report: TaskReport, heading: str, cv: CVReport) -> list[str]:
    t = report.task
    kind = "multi-label, one-vs-rest" if t.multi_label else "single-label"
    level = ", family level" if t.level == "family" else ""
    lines = [f"{heading} {t.name} ({kind}{level}; {t.role} utterances)", "",
             f"{report.n_examples:,} examples in {report.n_transcripts} transcripts, {cv.n_folds}-fold "
             f"grouped CV (source video or transcript; seed {cv.seed}); F1 CIs: 95% bootstrap over transcripts "
             f"({report.bootstrap} resamples). Chance F1: expected F1 of a predictor that says each label "
             "at its training-fold prevalence.", ""]
    lines += ["| label | support | P | R | F1 [95% CI] | ROC-AUC | PR-AUC | chance F1 |",
              "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for s in report.labels:
        lines.append(f"| `{s.label}` | {s.support} | {_fmt(s.precision)} | {_fmt(s.recall)} | "
                     f"{_fmt(s.f1) if s.support else '–'}{_ci(s.f1_ci)} | {_fmt(s.roc_auc)} | {_fmt(s.pr_auc)} | "
                     f"{_fmt(s.chance_f1)} |")
    empty = len(report.labels) - report.macro_labels
    lines.append(f"| **macro F1, model** ({report.macro_labels} labels with support) | | | | "
                 f"**{_fmt(report.macro_f1)}**{_ci(report.macro_f1_ci)} | {_fmt(report.roc_auc_macro)} | "
                 f"{_fmt(report.pr_auc_macro)} | |")
    reference = "majority" if "majority" in report.baselines else "always_negative"
    names = {"majority": "majority class", "always_negative": "always negative",
             "stratified_random": "stratified random"}
    for name in (reference, "stratified_random"):
        values = report.baselines.get(name, {})
        lines.append(f"| macro F1, {names[name]} | | | | {_fmt(values.get('macro_f1'))} | | | |")
    lines.append(f"| micro F1, model{' (= accuracy)' if not t.multi_label else ''} | | | | "
                 f"{_fmt(report.micro_f1)} | | | |")
    for name in (reference, "stratified_random"):
        values = report.baselines.get(name, {})
        lines.append(f"| micro F1, {names[name]} | | | | {_fmt(values.get('micro_f1'))} | | | |")
    if report.kappa is not None:
        lines.append(f"| Cohen's κ, model (majority and random: 0) | | | | {_fmt(report.kappa)}{_ci(report.kappa_ci)}"
                     " | | | |")
    notes = []
    if empty:
        missing = ", ".join(f"`{s.label}`" for s in report.labels if not s.support)
        notes.append(f"Macro F1 leaves out {empty} label(s) with no examples: {missing}.")
    if report.skipped:
        few = ", ".join(f"`{label}` ({n} of {cv.n_folds} folds)" for label, n in report.skipped.items())
        notes.append(f"No classifier (fewer than 2 positive training examples; score 0, never predicted) for: {few}.")
    if notes:
        lines += ["", *notes]
    lines.append("")
    return lines


# --------------------------------------------------------------------------- cross-validation


def cross_validate(config: TrainConfig, transcripts: list[Transcript], codebook: Codebook, tasks: list[Task],
                   progress: Progress = None, *, examples: dict[str, Examples] | None = None,
                   sources: dict[str, DataSource] | None = None, inputs: Inputs | None = None) -> CVReport:
    """Grouped K-fold CV of the baseline (by `config.group_by`) with out-of-fold predictions for every example.

    `examples` (from `examples_for`) and `sources` (transcript id -> DataSource, for per-source
    consensus rules and weights) are optional; by default they come from `config`. `inputs` (from
    `prepare_inputs` over `transcripts`) saves recomputing the features.
    """
    from rupturekit.tagger.baseline import BaselineTagger, prepare_inputs

    began = time.perf_counter()
    say = progress or (lambda _: None)
    if sources is None and examples is None:
        sources = _default_sources(config, transcripts)
    if examples is None:
        examples = examples_for(config, codebook, tasks, transcripts, sources)
    weights = transcript_weights(sources) if sources is not None else {}
    for task in tasks:
        if not len(examples.get(task.name, ())):
            raise InputError(codebook.name, f"task '{task.name}' has no coded examples",
                             "add coded utterances for this dimension, or leave it out of 'dimensions'")
    seed = config.evaluation.seed
    from rupturekit.tagger.dataset import group_map

    fold_of = assign_folds({t.name: examples[t.name] for t in tasks}, config.evaluation.folds, seed,
                           group_of=group_map(transcripts, config.group_by))
    n_folds = len(set(fold_of.values()))
    if n_folds < config.evaluation.folds:
        say(f"only {len(fold_of)} transcripts: {n_folds} folds instead of {config.evaluation.folds}")
    if inputs is None:
        inputs = prepare_inputs(transcripts, config.baseline.context_turns, config.baseline.use_features)
    row_folds = {t.name: np.array([fold_of[g] for g in examples[t.name].groups]) for t in tasks}
    scores = {t.name: np.zeros(examples[t.name].targets.shape) for t in tasks}
    predicted = {t.name: np.zeros(examples[t.name].targets.shape, dtype=np.int8) for t in tasks}
    skipped: dict[str, dict[str, int]] = {t.name: {} for t in tasks}
    for fold in range(n_folds):
        train = {t.name: subset(examples[t.name], np.flatnonzero(row_folds[t.name] != fold)) for t in tasks}
        n_train = sum(1 for f in fold_of.values() if f != fold)
        say(f"fold {fold + 1}/{n_folds}: fitting on {n_train} transcripts, testing on {len(fold_of) - n_train}")
        tagger = BaselineTagger(config.baseline, codebook, tasks, seed=config.seed).fit(
            transcripts, train, inputs=inputs, weights=weights)
        for task in tasks:
            for label in tagger.skipped_.get(task.name, []):
                skipped[task.name][label] = skipped[task.name].get(label, 0) + 1
            test = np.flatnonzero(row_folds[task.name] == fold)
            probability, guess = tagger.predict(inputs, task.name, [examples[task.name].keys[i] for i in test])
            scores[task.name][test] = probability
            predicted[task.name][test] = guess
    reports = []
    for task in tasks:
        e = examples[task.name]
        say(f"scoring {task.name} ({config.evaluation.bootstrap} bootstrap resamples)")
        report = score_task(task, e.targets, predicted[task.name], scores[task.name], e.groups,
                            bootstrap=config.evaluation.bootstrap, seed=seed)
        reference = reference_baselines(task, e.targets, row_folds[task.name])
        for label, chance in zip(report.labels, reference.pop("per_label_chance_f1"), strict=True):
            label.chance_f1 = chance
        report.baselines = reference
        report.skipped = skipped[task.name]
        reports.append(report)
    names = sorted({s.name for s in sources.values()}) if sources is not None else [s.name for s in config.data]
    predictions = {t.name: {"keys": examples[t.name].keys, "targets": examples[t.name].targets,
                            "predicted": predicted[t.name], "scores": scores[t.name], "folds": row_folds[t.name]}
                   for t in tasks}
    return CVReport(codebook.name, config.level, n_folds, seed, fold_of, reports, names,
                    time.perf_counter() - began, predictions)
