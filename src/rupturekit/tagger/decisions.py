"""Decisions from scores: operating points chosen out of fold, and hierarchical marker decisions.

Per-label thresholds tuned on a handful of validation positives over-flag badly on real sessions
(a threshold of 0.14 for a label seen 3 times). A `HierarchicalDecision` decides a multi-label
dimension with families (3RS client markers: withdrawal / confrontation; therapist resolution
strategies) in three steps:

1. **Any marker at all?** The utterance's marker score is the largest probability over the
   dimension's labels, re-scored with its session context when the decision was fitted with
   sessions (`ContextCalibration`: markers cluster in sessions); it is flagged when that reaches
   the operating point's threshold.
2. **Which family?** Every family whose own score (the largest probability among its labels)
   reaches the threshold; the top family always does when the utterance is flagged.
3. **Which subtype?** The most probable label of each chosen family. A label with fewer than
   `min_positives` gold positives in the data the thresholds were tuned on is not decided on its
   own: the tag is the family name (``withdrawal``), and the most probable subtype is reported in
   ``uncertain`` as a guess.

The thresholds are chosen on out-of-fold scores (never on the rows they are reported for), and
only on the rows of the data sources marked for tuning (real sessions, not constructed ones).
Three operating points are stored with the precision, recall and flag rate they had out of fold:
``precision`` (maximum F0.5), ``balanced`` (maximum F1; the default) and ``recall`` (maximum F2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rupturekit.records import Transcript

__all__ = ["OPERATING_POINTS", "DEFAULT_MIN_POSITIVES", "SCORE_DECIMALS", "ContextCalibration", "Decided",
           "HierarchicalDecision", "OperatingPoint", "UsesDecisions", "UtteranceTags", "best_cut", "best_threshold",
           "decide_out_of_fold", "family_of", "prf", "tune_on_sources", "with_tags"]

# name -> beta of the F-score the point maximises
OPERATING_POINTS: dict[str, float] = {"precision": 0.5, "balanced": 1.0, "recall": 2.0}
DEFAULT_POINT = "balanced"
# A subtype needs this many gold positives in the tuning data to be decided on its own. 20 is the
# issue's rule of thumb: below it, a per-label F1 rests on a handful of cases and its threshold
# moves by tenths between folds.
DEFAULT_MIN_POSITIVES = 20
SCORE_DECIMALS = 6  # decimals of the scores written into tagged utterances


def family_of(label: str) -> str:
    return label.split(".", 1)[0]


def best_cut(score: np.ndarray, truth: np.ndarray, beta: float = 1.0) -> float:
    """The cut (flag at score >= cut) that maximises F-beta on `truth`; 0.5 without positives.

    Cuts lie half-way between neighbouring distinct scores; ties go to the higher cut (fewer flags).
    Written out rather than taken from `sklearn.metrics.precision_recall_curve` because that returns
    the scores themselves as cuts, which puts the cut on a training row and shifts flag rates on new
    data; the sweep is the same O(n log n)."""
    y = np.asarray(truth) > 0.5
    p = np.asarray(score, dtype=np.float64)
    positives = int(y.sum())
    if positives == 0 or not len(p):
        return 0.5
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    tp = np.cumsum(y_sorted)
    flagged = np.arange(1, len(p) + 1)
    last_of_value = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    b2 = beta * beta
    f = np.where(last_of_value, (1 + b2) * tp / (flagged + b2 * positives), -1.0)
    best = int(np.argmax(f))
    below = p_sorted[best + 1] if best + 1 < len(p_sorted) else 0.0
    return float((p_sorted[best] + below) / 2.0)


def best_threshold(probability: np.ndarray, truth: np.ndarray, min_positives: int = 1) -> float:
    """The F1-maximising cut of a label's per-label threshold (`best_cut`, beta 1); 0.5 when `truth`
    has fewer than `min_positives` positives (at least 1): a cut tuned on a handful is noise."""
    if int((np.asarray(truth) > 0.5).sum()) < max(min_positives, 1):
        return 0.5
    return best_cut(probability, truth, 1.0)


def prf(truth: np.ndarray, guess: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 (0 where undefined), support and flags of a 0/1 decision."""
    truth, guess = np.asarray(truth, dtype=bool), np.asarray(guess, dtype=bool)
    tp = int((truth & guess).sum())
    precision = tp / max(1, int(guess.sum()))
    recall = tp / max(1, int(truth.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": int(truth.sum()), "flagged": int(guess.sum()), "rows": int(len(truth))}


@dataclass
class OperatingPoint:
    """A threshold on the marker score with what it gave out of fold (any-marker level)."""

    name: str
    beta: float
    threshold: float
    precision: float
    recall: float
    f1: float
    flags_per_100: float  # flagged utterances per 100 utterances of the dimension's role
    coded_per_100: float  # utterances with a gold marker per 100

    @classmethod
    def measure(cls, name: str, beta: float, threshold: float, score: np.ndarray, truth: np.ndarray) -> OperatingPoint:
        flagged = score >= threshold
        r = prf(truth, flagged)
        n = max(1, len(score))
        return cls(name, beta, round(float(threshold), 6), r["precision"], r["recall"], r["f1"],
                   round(100.0 * flagged.sum() / n, 2), round(100.0 * truth.sum() / n, 2))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@dataclass
class ContextCalibration:
    """Re-scores a turn's marker score with the session around it.

    Markers cluster: a client who pushes back once in a lecturing session does so again, and a
    lone high score in an otherwise collaborative session is more often a false alarm. A logistic
    regression on the logits of (the turn's score, the session's mean score, the previous and the
    next turn's score of the same role, the session's 90th percentile score), fitted on out-of-fold
    scores, turns that into a calibrated probability. Six numbers, stored in the model as JSON."""

    coef: list[float]
    intercept: float
    FEATURES = ("turn", "session mean", "previous turn", "next turn", "session 90th percentile")

    @staticmethod
    def features(score: np.ndarray, sessions: Sequence[str], reference: np.ndarray | None = None) -> np.ndarray:
        """One row per turn; `sessions` names each row's session, rows of a session in turn order.
        `reference` (default `score`) is the score the session statistics are taken from."""
        score = np.asarray(score, dtype=np.float64)
        reference = score if reference is None else np.asarray(reference, dtype=np.float64)
        mean, prev, nxt, top = (np.zeros(len(score)) for _ in range(4))
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(sessions):
            groups.setdefault(str(name), []).append(i)
        for rows in groups.values():
            values = reference[rows]
            mean[rows], top[rows] = values.mean(), np.percentile(values, 90)
            # a session's first and last turn have no neighbour there: the session mean stands in
            # (a floor value would push those turns down whenever neighbours count)
            prev[rows] = np.r_[values.mean(), values[:-1]]
            nxt[rows] = np.r_[values[1:], values.mean()]
        return np.column_stack([_logit(score), _logit(mean), _logit(prev), _logit(nxt), _logit(top)])

    @classmethod
    def fit(cls, score: np.ndarray, sessions: Sequence[str], truth: np.ndarray) -> ContextCalibration:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1.0, max_iter=1000).fit(cls.features(score, sessions), np.asarray(truth) > 0.5)
        return cls([float(c) for c in model.coef_[0]], float(model.intercept_[0]))

    def apply(self, score: np.ndarray, sessions: Sequence[str], reference: np.ndarray | None = None) -> np.ndarray:
        z = self.features(score, sessions, reference) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


def _cross_fitted_context(score: np.ndarray, sessions: Sequence[str], truth: np.ndarray,
                          folds: int = 5) -> np.ndarray | None:
    """Context-calibrated scores where each session's come from a calibration fitted on the other
    sessions (grouped folds), so that thresholds are not chosen on the calibration's own rows.
    None when some fold cannot be cross-fitted (fewer sessions than folds, or a training part
    with one class): then the decision does without the context."""
    names = sorted(set(map(str, sessions)))
    if len(names) < folds:
        return None
    fold_of = {name: i % folds for i, name in enumerate(names)}
    which = np.asarray([fold_of[str(x)] for x in sessions])
    truth = np.asarray(truth)
    out = np.zeros(len(score))
    for fold in range(folds):
        test = which == fold
        train = ~test
        if len(set(truth[train].tolist())) < 2:
            return None
        calibration = ContextCalibration.fit(score[train], [s for s, t in zip(sessions, train, strict=True) if t],
                                             truth[train])
        out[test] = calibration.apply(score[test], [s for s, t in zip(sessions, test, strict=True) if t])
    return out


@dataclass
class HierarchicalDecision:
    """Decide one multi-label dimension: any marker -> family -> subtype (see the module docstring)."""

    task: str
    labels: tuple[str, ...]
    positives: list[int]  # gold positives per label in the tuning rows
    min_positives: int = DEFAULT_MIN_POSITIVES
    points: dict[str, OperatingPoint] = field(default_factory=dict)
    active: str = DEFAULT_POINT
    tuned_on: str = ""  # what the thresholds were chosen on, in words
    context: ContextCalibration | None = None  # session-aware re-scoring (see ContextCalibration)
    override: float | None = None  # a threshold given by the user (`--threshold`)

    @property
    def families(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for j, label in enumerate(self.labels):
            out.setdefault(family_of(label), []).append(j)
        return out

    @property
    def reliable(self) -> list[bool]:
        return [n >= self.min_positives for n in self.positives]

    @property
    def threshold(self) -> float:
        return self.override if self.override is not None else self.points[self.active].threshold

    def use(self, point: str) -> HierarchicalDecision:
        if point not in self.points:
            raise ValueError(f"operating point '{point}' is not one of {', '.join(self.points)}")
        self.active, self.override = point, None
        return self

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, task: str, labels: Sequence[str], probability: np.ndarray, truth: np.ndarray,
            min_positives: int = DEFAULT_MIN_POSITIVES, tuned_on: str = "",
            sessions: Sequence[str] | None = None) -> HierarchicalDecision:
        """Operating points from out-of-fold `probability` (n x labels) against 0/1 `truth`.

        With `sessions` (each row's session; a session's rows in turn order) the marker score is
        first re-scored with its session context (`ContextCalibration`); the thresholds are then
        chosen on context scores cross-fitted over sessions."""
        probability = np.asarray(probability, dtype=np.float64)
        truth = np.asarray(truth) > 0.5
        decision = cls(task, tuple(labels), [int(v) for v in truth.sum(axis=0)], min_positives, tuned_on=tuned_on)
        score = decision.marker_score(probability)
        any_truth = truth.any(axis=1)
        if sessions is not None and any_truth.any() and not any_truth.all():
            sessions = [str(x) for x in sessions]
            crossfitted = _cross_fitted_context(score, sessions, any_truth)
            if crossfitted is not None:  # else the thresholds stay on the raw scores, with no context
                decision.context = ContextCalibration.fit(score, sessions, any_truth)
                score = crossfitted
        for name, beta in OPERATING_POINTS.items():
            cut = best_cut(score, any_truth, beta)
            decision.points[name] = OperatingPoint.measure(name, beta, cut, score, any_truth)
        return decision

    # ------------------------------------------------------------------ deciding
    @staticmethod
    def marker_score(probability: np.ndarray) -> np.ndarray:
        p = np.asarray(probability, dtype=np.float64)
        return p.max(axis=1) if p.size else np.zeros(len(p))

    def family_scores(self, probability: np.ndarray, sessions: Sequence[str] | None = None) -> np.ndarray:
        """(rows x families) scores the threshold is read against: each family's largest label
        probability, re-scored with the session context when the decision has one."""
        p = np.asarray(probability, dtype=np.float64)
        raw = np.column_stack([p[:, members].max(axis=1) if len(p) else np.zeros(0)
                               for members in self.families.values()])
        if self.context is None:
            return raw
        if sessions is None:
            raise ValueError("this decision reads the session context: give each row's session")
        marker = self.marker_score(p)
        return np.column_stack([self.context.apply(raw[:, j], sessions, reference=marker)
                                for j in range(raw.shape[1])])

    def decide(self, probability: np.ndarray,
               sessions: Sequence[str] | None = None) -> tuple[list[list[str]], list[dict[str, str]]]:
        """Per row: the tags (confident subtypes, or family names) and {family: subtype guess}
        for families whose subtype is uncertain. `sessions`: each row's session, rows of a session
        in turn order (needed when the decision reads the session context)."""
        p = np.asarray(probability, dtype=np.float64)
        cut = self.threshold
        reliable = self.reliable
        tags: list[list[str]] = []
        uncertain: list[dict[str, str]] = []
        families = self.families
        family_score = self.family_scores(p, sessions) if len(p) else np.zeros((0, len(families)))
        for r, row in enumerate(p):
            chosen: list[str] = []
            guesses: dict[str, str] = {}
            for f, (family, members) in enumerate(families.items()):
                scores = row[members]
                if family_score[r, f] < cut:
                    continue
                best = members[int(np.argmax(scores))]
                if reliable[best]:
                    chosen.append(self.labels[best])
                else:
                    chosen.append(family)
                    guesses[family] = self.labels[best]
            tags.append(chosen)
            uncertain.append(guesses)
        return tags, uncertain

    def indicators(self, probability: np.ndarray, sessions: Sequence[str] | None = None) -> np.ndarray:
        """0/1 per label, the hierarchical decision read at subtype level (a family tag counts for
        its guessed subtype), for scoring against label-level codes."""
        tags, guesses = self.decide(probability, sessions)
        index = {label: j for j, label in enumerate(self.labels)}
        out = np.zeros((len(tags), len(self.labels)), dtype=np.int8)
        for r, (row_tags, row_guesses) in enumerate(zip(tags, guesses, strict=True)):
            for tag in row_tags:
                out[r, index[row_guesses[tag]] if tag in row_guesses else index[tag]] = 1
        return out

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "labels": list(self.labels), "positives": self.positives,
                "min_positives": self.min_positives, "active": self.active, "tuned_on": self.tuned_on,
                "points": {name: asdict(point) for name, point in self.points.items()},
                "context": None if self.context is None else {"features": list(ContextCalibration.FEATURES),
                                                              "coef": self.context.coef,
                                                              "intercept": self.context.intercept}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HierarchicalDecision:
        """Raises ValueError (or TypeError/KeyError) on anything malformed, never later at tag time."""
        if not isinstance(data, dict) or not isinstance(data.get("points"), dict):
            raise ValueError("a decision is a mapping with 'points'")
        points = {}
        for name, point in data["points"].items():
            if not isinstance(point, dict):
                raise ValueError(f"operating point {name!r} is not a mapping")
            points[str(name)] = OperatingPoint(
                str(point["name"]), float(point["beta"]), float(point["threshold"]), float(point["precision"]),
                float(point["recall"]), float(point["f1"]), float(point["flags_per_100"]),
                float(point["coded_per_100"]))
        labels = tuple(str(x) for x in data["labels"])
        positives = [int(x) for x in data["positives"]]
        active = str(data.get("active", DEFAULT_POINT))
        if len(positives) != len(labels) or DEFAULT_POINT not in points or active not in points:
            raise ValueError("a decision needs one positive count per label, a 'balanced' point, and an active "
                             "point among its points")
        for point in points.values():
            if not 0.0 <= point.threshold <= 1.0:
                raise ValueError(f"threshold {point.threshold} of point '{point.name}' is not a probability")
        context = None
        if data.get("context"):
            coef = [float(c) for c in data["context"]["coef"]]
            intercept = float(data["context"]["intercept"])
            if len(coef) != len(ContextCalibration.FEATURES) or not all(np.isfinite([*coef, intercept])):
                raise ValueError("the context calibration needs one finite coefficient per feature")
            context = ContextCalibration(coef, intercept)
        return cls(str(data["task"]), labels, positives, int(data.get("min_positives", DEFAULT_MIN_POSITIVES)),
                   points, active, str(data.get("tuned_on", "")), context)


# ---------------------------------------------------------------------------- shared by the trainers


def tune_on_sources(tune_on: list[str] | None, names: Sequence[str]) -> set[str]:
    """The data sources whose rows choose the operating points (all when `tune_on` is unset)."""
    from rupturekit.errors import InputError

    chosen = set(tune_on or names)
    unknown = chosen - set(names)
    if unknown:
        raise InputError("decisions.tune_on", f"no data source named {', '.join(sorted(unknown))}",
                         f"name one of: {', '.join(names)}")
    return chosen


@dataclass
class Decided:
    """Out-of-fold decisions of one task: each fold decided by a decision fitted on the other folds'
    tuning rows (so no row's codes choose its own threshold or context calibration)."""

    truth: np.ndarray  # rows x labels, 0/1
    guess: np.ndarray  # rows x labels (a family tag counts for its guessed subtype)
    reliable: dict[int, list[bool]]  # fold -> per label: decided on its own in that fold


def decide_out_of_fold(task: str, labels: Sequence[str], probability: np.ndarray, truth: np.ndarray,
                       folds: np.ndarray, tune: np.ndarray, sessions: Sequence[str] | None,
                       min_positives: int = DEFAULT_MIN_POSITIVES) -> Decided:
    """Nested decisions: for each fold, fit on the `tune` rows of the other folds, apply to the fold.
    `sessions` (each row's session, a session's rows in turn order) switches the context on."""
    probability, truth = np.asarray(probability, dtype=np.float64), np.asarray(truth) > 0.5
    folds, tune = np.asarray(folds), np.asarray(tune, dtype=bool)
    names = None if sessions is None else np.asarray([str(x) for x in sessions], dtype=object)
    guess = np.zeros(truth.shape, dtype=np.int8)
    reliable = {}
    for fold in sorted(set(folds.tolist())):
        train = tune & (folds != fold)
        here = folds == fold
        if not train.any():
            continue
        decision = HierarchicalDecision.fit(task, labels, probability[train], truth[train], min_positives,
                                            sessions=None if names is None else list(names[train]))
        guess[here] = decision.indicators(probability[here], None if names is None else list(names[here]))
        reliable[int(fold)] = decision.reliable
    return Decided(truth.astype(np.int8), guess, reliable)


class UsesDecisions:
    """What both taggers share about deciding (`self.decisions`: task key -> hierarchical decision):
    the operating points, one threshold for all, and the tags of a task's rows. A tagger supplies
    `_set_label_thresholds` (its per-label thresholds of multi-label tasks)."""

    decisions: dict[str, HierarchicalDecision]

    @property
    def operating_points(self) -> list[str]:
        """Names of the stored operating points ([] for a model without hierarchical decisions)."""
        return sorted({name for d in self.decisions.values() for name in d.points})

    def set_operating_point(self, name: str) -> None:
        """Decide with the stored operating point `name` (precision, balanced or recall)."""
        if not self.decisions:
            raise ValueError("this model has no operating points (it was trained without out-of-fold decisions; "
                             "retrain it with decisions.folds >= 2)")
        for decision in self.decisions.values():
            decision.use(name)

    def set_threshold(self, threshold: float) -> None:
        """Use one probability threshold for every label of every multi-label task (instead of the
        tuned per-label thresholds; with hierarchical decisions, on the marker score instead of the
        operating point's); single-label tasks keep predicting the most probable class."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("a threshold is a probability between 0 and 1")
        self._set_label_thresholds(float(threshold))
        for decision in self.decisions.values():
            decision.override = float(threshold)

    def _set_label_thresholds(self, threshold: float) -> None:
        raise NotImplementedError

    def decide_rows(self, key: str, labels: Sequence[str], probability: np.ndarray,
                    indicators: Callable[[], np.ndarray],
                    sessions: Sequence[str]) -> tuple[list[list[str]], list[dict[str, str]]]:
        """Per row of one task: its tags and {family: subtype guess}. The task's hierarchical decision
        (`key`) where the model has one (`sessions`: each row's session, a session's rows in turn
        order), else the labels the task's own 0/1 `indicators()` mark (no guesses; computed only then)."""
        decision = self.decisions.get(key)
        if decision is not None:
            return decision.decide(probability, sessions)
        indicators = indicators()
        rows = range(len(probability))
        return [[label for j, label in enumerate(labels) if indicators[r, j]] for r in rows], [{} for _ in rows]


@dataclass
class UtteranceTags:
    """What a tagger writes into one utterance: the typed tag fields of `records.Utterance`."""

    labels: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, list[list[Any]]] = field(default_factory=dict)
    uncertain: dict[str, str] | None = None  # {family: most probable subtype} of its family tags

    def add(self, labels: Sequence[str], probability: np.ndarray, tags: list[str], guesses: dict[str, str],
            said: bool) -> bool:
        """One task's scores (`probability`: this row's, per label of `labels`) and, when something was
        `said`, its tags and guesses; whether the tags went in."""
        for j, label in enumerate(labels):
            self.scores[label] = round(float(probability[j]), SCORE_DECIMALS)
        if not said:
            return False  # nothing was said: no tag (the scores stay, for the record)
        self.labels.extend(tags)
        if guesses:
            self.uncertain = {**(self.uncertain or {}), **guesses}
        return True

    def fields(self) -> dict[str, Any]:
        """The fields to set on the utterance. All four, `uncertain` None where no tag has a guess: a
        file tagged before keeps none of its old tags (it kept a stale `uncertain` until issue 15)."""
        return {"labels": self.labels, "scores": self.scores, "evidence": self.evidence, "uncertain": self.uncertain}


def with_tags(transcripts: Sequence[Transcript], tags: Iterable[UtteranceTags]) -> list[Transcript]:
    """Copies of `transcripts` whose utterances carry `tags` (one per utterance, in corpus order)."""
    each = iter(tags)
    return [transcript.model_copy(update={"utterances": [u.model_copy(update=next(each).fields())
                                                         for u in transcript.utterances]})
            for transcript in transcripts]
