"""What weak labelling did: per-LF statistics, label counts, and scores against gold codes.

Definitions (per labeling function j, voting on label L for rows of role R; "its rows" are
the rows of role R; "votes" means a vote other than abstain):

- coverage: share of its rows where j votes.
- overlap: share of its rows where j votes and at least one other LF *of the same label*
  also votes (either way). This is Snorkel's overlap on the per-label binary task.
- conflict: share of its rows where j votes and at least one other LF of the same label votes
  the other way (for vs against). Snorkel's conflict on the per-label binary task.
- rival: share of its rows where j votes *for* L and an LF of a *different label of the same
  dimension* votes for that label. The dimensions are multi-label, so this is not a
  contradiction, but a high rate says two labels' cues are hard to tell apart.

Against gold (rater ``team`` by default; only rows that rater coded, in the LF's role):

- precision: of the rows j votes for, the share whose gold has L.
- recall: of the rows whose gold has L, the share j votes for.
- accuracy: of the rows j votes on, the share where the vote is right (for and L in gold, or
  against and L not in gold). For an LF that only votes for, accuracy = precision.

Label model scores per label: a row is predicted positive when P(label) >= 0.5; precision,
recall and F1 on the coded rows of the label's role. ``micro`` pools the counts of every
label; ``macro`` averages F1 (and precision, recall) over the labels with gold support in that
corpus (a label never coded there cannot be scored, and is left out rather than counted as 0;
a supported label predicted nowhere counts precision 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rupturekit.codebook import Codebook
from rupturekit.features import FeatureExtractor
from rupturekit.records import Transcript
from rupturekit.weak.functions import LabelingFunction
from rupturekit.weak.label_model import WeakLabels, fit_corpus


@dataclass(frozen=True)
class LFStats:
    name: str
    label: str
    role: str
    kind: str
    polarity: int
    rows: int  # rows of its role
    votes: int
    coverage: float
    overlap: float
    conflict: float
    rival: float
    estimated_accuracy: float  # from the generative model; NaN with the majority model


@dataclass(frozen=True)
class LFGold:
    name: str
    label: str
    votes_for: int
    votes_against: int
    support: int  # coded rows of its role whose gold has its label
    precision: float
    recall: float
    accuracy: float


@dataclass(frozen=True)
class LabelScore:
    label: str
    support: int
    predicted: int
    true_positives: int
    precision: float
    recall: float
    f1: float


@dataclass
class GoldEvaluation:
    """LF and label-model scores on one gold corpus.

    `scores` maps a model description ("generative", "majority", ...) to per-label scores.
    """

    corpus: str
    rater: str
    coded_rows: int
    lfs: list[LFGold]
    scores: dict[str, list[LabelScore]]

    def averages(self, model: str) -> dict[str, float]:
        return averages(self.scores[model])


@dataclass
class WeakReport:
    model: str
    utterances: int
    rows_by_role: dict[str, int]
    lfs: list[LFStats]
    label_counts: dict[str, int]  # utterances with P >= 0.5, per label
    none_count: int  # labelled utterances (client/therapist) with no label at P >= 0.5
    seconds: float | None = None
    gold: list[GoldEvaluation] = field(default_factory=list)

    def lf(self, name: str) -> LFStats:
        for stats in self.lfs:
            if stats.name == name:
                return stats
        raise KeyError(name)

    def to_markdown(self, title: str = "Weak labels", label_counts: bool = True) -> str:
        """The report as Markdown: summary, label counts (unless `label_counts` is False), the LF
        table (with a column group per gold corpus evaluated), then one table per gold corpus."""
        roles = ", ".join(f"{n:,} {role}" for role, n in self.rows_by_role.items())
        timing = f" in {self.seconds:.2f} s" if self.seconds is not None else ""
        parts = [f"### {title}: {self.model} label model",
                 "",
                 f"{self.utterances:,} utterances ({roles}) labelled{timing}; {len(self.lfs)} labeling functions. "
                 f"{self.none_count:,} client/therapist utterances got no label at P >= 0.5 (a `none` code)."]
        if label_counts:
            parts += ["", "#### Utterances labelled per label (P >= 0.5)", "",
                      "| label | utterances |", "| --- | ---: |"]
            parts += [f"| `{label}` | {n:,} |" for label, n in self.label_counts.items()]
        parts += ["", "#### Labeling functions", "",
                  "Coverage, overlap, conflict and rival are shares of the LF's role rows in the labelled corpus "
                  "(definitions in `rupturekit.weak.evaluation`); *est. acc.* is the generative model's estimate "
                  "without gold (on the rows with a vote for the label). Per gold corpus: votes for (+) / "
                  "against (-), precision and recall of its votes "
                  "against the gold codes (accuracy where it votes against)."]
        gold_heads = "".join(f" {g.corpus}: +/- | P | R |" for g in self.gold)
        gold_rule = " ---: | ---: | ---: |" * len(self.gold)
        parts += ["", f"| LF | label | cov. | overlap | conflict | rival | est. acc. |{gold_heads}",
                  f"| --- | --- | ---: | ---: | ---: | ---: | ---: |{gold_rule}"]
        by_corpus = [{row.name: row for row in g.lfs} for g in self.gold]
        for s in self.lfs:
            cells = [f"`{s.name}`", _short(s.label), _pct(s.coverage), _pct(s.overlap), _pct(s.conflict),
                     _pct(s.rival), _num(s.estimated_accuracy)]
            for rows in by_corpus:
                g = rows.get(s.name)
                if g is None:
                    cells += ["", "", ""]
                elif g.votes_against and not g.votes_for:
                    cells += [f"{g.votes_for}/{g.votes_against}", f"acc {_num(g.accuracy)}", ""]
                else:
                    cells += [f"{g.votes_for}/{g.votes_against}", _num(g.precision), _num(g.recall)]
            parts.append("| " + " | ".join(cells) + " |")
        for g in self.gold:
            parts += ["", *gold_markdown(g)]
        return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------
# Computing it
# ------------------------------------------------------------------------------------------

def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else math.nan


def lf_stats(labels: WeakLabels) -> list[LFStats]:
    """Coverage, overlap, conflict and rival of every LF on the labelled corpus."""
    votes, lfs = labels.votes, labels.lfs
    roles = np.asarray(labels.table.roles, dtype=object)
    voting = votes != 0
    out = []
    for j, lf in enumerate(lfs):
        mine = roles == lf.role
        same = [k for k, other in enumerate(lfs) if k != j and other.label == lf.label]
        rivals = [k for k, other in enumerate(lfs) if other.label != lf.label
                  and labels.dimension_of.get(other.label) == labels.dimension_of.get(lf.label)]
        votes_j = voting[:, j] & mine
        overlap = votes_j & voting[:, same].any(axis=1) if same else np.zeros_like(votes_j)
        conflict = (votes_j & (votes[:, same] == -votes[:, [j]]).any(axis=1)) if same else np.zeros_like(votes_j)
        rival = (votes[:, j] == 1) & mine & (votes[:, rivals] == 1).any(axis=1) if rivals else np.zeros_like(votes_j)
        n = int(mine.sum())
        model = labels.models.get(lf.label)
        accuracy = math.nan
        if model is not None and hasattr(model, "accuracy_"):
            accuracy = float(model.accuracy_[[k for k, other in enumerate(lfs) if other.label == lf.label].index(j)])
        out.append(LFStats(lf.name, lf.label, lf.role, lf.kind, lf.polarity, n, int(votes_j.sum()),
                           _ratio(votes_j.sum(), n), _ratio(overlap.sum(), n), _ratio(conflict.sum(), n),
                           _ratio(rival.sum(), n), accuracy))
    return out


def gold_sets(transcripts: Iterable[Transcript], rater: str = "team", none_label: str = "none"
              ) -> list[set[str] | None]:
    """Per utterance in corpus order: the rater's labels (without the none label), or None if uncoded."""
    out: list[set[str] | None] = []
    for transcript in transcripts:
        for utterance in transcript.utterances:
            codes = [c.label for c in utterance.codes if c.rater == rater]
            out.append({label for label in codes if label != none_label} if codes else None)
    return out


def lf_gold(lfs: Sequence[LabelingFunction], votes: np.ndarray, roles: Sequence[str],
            gold: Sequence[set[str] | None]) -> list[LFGold]:
    """Precision, recall and accuracy of each LF's votes against gold label sets (None: uncoded row)."""
    roles_array = np.asarray(roles, dtype=object)
    coded = np.array([g is not None for g in gold], dtype=bool)
    out = []
    for j, lf in enumerate(lfs):
        rows = coded & (roles_array == lf.role)
        truth = np.array([g is not None and lf.label in g for g in gold], dtype=bool) & rows
        for_ = (votes[:, j] == 1) & rows
        against = (votes[:, j] == -1) & rows
        hits = int((for_ & truth).sum())
        right = hits + int((against & ~truth).sum())
        out.append(LFGold(lf.name, lf.label, int(for_.sum()), int(against.sum()), int(truth.sum()),
                          _ratio(hits, for_.sum()), _ratio(hits, truth.sum()),
                          _ratio(right, for_.sum() + against.sum())))
    return out


def label_scores(labels: Sequence[str], probabilities: dict[str, np.ndarray], rows: dict[str, np.ndarray],
                 gold: Sequence[set[str] | None], threshold: float = 0.5) -> list[LabelScore]:
    """Per label: P >= threshold against gold, on the coded rows where the label applies
    (a row without a probability, NaN, counts as predicted negative)."""
    coded = np.array([g is not None for g in gold], dtype=bool)
    out = []
    for label in labels:
        mask = coded & rows[label]
        truth = np.array([g is not None and label in g for g in gold], dtype=bool) & mask
        p = probabilities[label]
        predicted = np.nan_to_num(p, nan=0.0) >= threshold
        predicted &= mask
        tp = int((predicted & truth).sum())
        precision, recall = _ratio(tp, predicted.sum()), _ratio(tp, truth.sum())
        out.append(LabelScore(label, int(truth.sum()), int(predicted.sum()), tp, precision, recall,
                              _f1(tp, int(predicted.sum()), int(truth.sum()))))
    return out


def _f1(tp: int, predicted: int, support: int) -> float:
    return _ratio(2 * tp, predicted + support)


def averages(scores: Sequence[LabelScore]) -> dict[str, float]:
    """micro (pooled counts over every label) and macro (mean over labels with support)."""
    tp = sum(s.true_positives for s in scores)
    predicted = sum(s.predicted for s in scores)
    support = sum(s.support for s in scores)
    supported = [s for s in scores if s.support > 0]

    def mean(values: list[float]) -> float:
        values = [0.0 if math.isnan(v) else v for v in values]  # predicted nothing: precision counts as 0
        return float(np.mean(values)) if values else math.nan

    return {"micro_precision": _ratio(tp, predicted), "micro_recall": _ratio(tp, support),
            "micro_f1": _f1(tp, predicted, support),
            "macro_precision": mean([s.precision for s in supported]),
            "macro_recall": mean([s.recall for s in supported]),
            "macro_f1": mean([s.f1 for s in supported]),
            "labels_scored": float(len(supported))}


def build_report(labels: WeakLabels, seconds: float | None = None, threshold: float = 0.5) -> WeakReport:
    """The report of one labelling run (no gold yet: append `evaluate_gold` results to `.gold`)."""
    roles = list(labels.table.roles)
    rows_by_role = {role: roles.count(role) for role in ("client", "therapist", "other", "unknown")
                    if roles.count(role)}
    counts = {}
    labelled = np.zeros(len(roles), dtype=bool)
    for label in labels.labels:
        positive = np.nan_to_num(np.round(labels.probabilities[label], 4), nan=0.0) >= threshold
        counts[label] = int(positive.sum())
        labelled |= positive
    applicable = np.isin(np.asarray(roles, dtype=object), ("client", "therapist"))
    applicable &= np.any(np.column_stack([labels.rows[label] for label in labels.labels]), axis=1) \
        if labels.labels else applicable
    return WeakReport(labels.model, len(roles), rows_by_role, lf_stats(labels), counts,
                      int((applicable & ~labelled).sum()), seconds)


def evaluate_gold(transcripts: Sequence[Transcript], codebook: Codebook, corpus: str, rater: str = "team",
                  lfs: Sequence[LabelingFunction] | None = None, extractor: FeatureExtractor | None = None,
                  weak_transcripts: Sequence[Transcript] | None = None, **params: object) -> GoldEvaluation:
    """LF votes and both label models on a coded corpus, scored against `rater`'s codes.

    The label models are fitted on the gold corpus's own votes, without its codes (as they
    would be on any unlabelled corpus). With `weak_transcripts` (the output of `weak_label`
    on a larger corpus that contains these utterances), their stored `weak` probabilities are
    scored too, as "generative, fitted on the labelled corpus".
    """
    transcripts = list(transcripts)
    extractor = extractor or FeatureExtractor()
    table = extractor(transcripts)
    gold = gold_sets(transcripts, rater, codebook.none_label)
    scores: dict[str, list[LabelScore]] = {}
    generative = fit_corpus(table, codebook, "generative", lfs, **params)
    majority = fit_corpus(table, codebook, "majority", lfs)
    scores["generative"] = label_scores(generative.labels, generative.probabilities, generative.rows, gold)
    scores["majority"] = label_scores(majority.labels, majority.probabilities, majority.rows, gold)
    if weak_transcripts is not None:
        stored = {(u.transcript_id, u.utterance_id): u.weak
                  for t in weak_transcripts for u in t.utterances}
        probabilities = {label: np.full(len(table), np.nan) for label in generative.labels}
        for i, key in enumerate(table.keys):
            weak = stored.get(key)
            for label, p in (weak or {}).items():
                if label in probabilities:
                    probabilities[label][i] = p
        found = np.array([stored.get(key) is not None for key in table.keys], dtype=bool)
        gold_found = [g if ok else None for g, ok in zip(gold, found, strict=True)]
        scores["generative, fitted on the labelled corpus"] = label_scores(
            generative.labels, probabilities, generative.rows, gold_found)
    lf_rows = lf_gold(generative.lfs, generative.votes, table.roles, gold)
    return GoldEvaluation(corpus, rater, sum(g is not None for g in gold), lf_rows, scores)


# ------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------

def _num(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f}"


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}%"


def _short(label: str) -> str:
    return label.split(".", 1)[1] if "." in label else label


def gold_markdown(evaluation: GoldEvaluation) -> list[str]:
    models = list(evaluation.scores)
    lines = [f"#### Against gold: {evaluation.corpus} ({evaluation.coded_rows:,} utterances coded by "
             f"`{evaluation.rater}`)", "",
             "Label model vs simple majority vote, P >= 0.5, per label: precision / recall / F1 "
             "(– where undefined: nothing predicted, or no gold support).", ""]
    lines.append("| label | support | " + " | ".join(models) + " |")
    lines.append("| --- | ---: | " + " | ".join("---" for _ in models) + " |")
    rows = list(zip(*(evaluation.scores[m] for m in models), strict=True))
    for per_model in rows:
        label = per_model[0].label
        cells = [f"{_num(s.precision)} / {_num(s.recall)} / {_num(s.f1)}" for s in per_model]
        lines.append(f"| `{label}` | {per_model[0].support} | " + " | ".join(cells) + " |")
    for kind in ("micro", "macro"):
        cells = []
        for m in models:
            a = evaluation.averages(m)
            cells.append(f"**{_num(a[kind + '_precision'])} / {_num(a[kind + '_recall'])} / {_num(a[kind + '_f1'])}**")
        scored = int(evaluation.averages(models[0])["labels_scored"])
        what = "all labels pooled" if kind == "micro" else f"{scored} labels with support"
        lines.append(f"| **{kind}** ({what}) | {sum(s.support for s in evaluation.scores[models[0]])} | "
                     + " | ".join(cells) + " |")
    return lines
