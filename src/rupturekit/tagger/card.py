"""The model card (``MODEL_CARD.md``) of a trained tagger: typed data, one template.

In the manner of sentence-transformers' ``SentenceTransformerModelCardData``: each trainer fills a
`ModelCardData` from its own results (`from_baseline`, `from_transformer`) and `render_card`
renders it with ``templates/model_card.md.j2``. The wording lives in the template, the numbers in
typed fields; the JSON the trainers save (manifest, metrics) is read once, here, at the boundary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rupturekit.tagger.decisions import HierarchicalDecision
from rupturekit.templating import environment, render

if TYPE_CHECKING:
    from rupturekit.tagger.baseline import BaselineTagger
    from rupturekit.tagger.baseline_train import TrainingData
    from rupturekit.tagger.config import TrainConfig, TransformerConfig
    from rupturekit.tagger.dataset import Examples, Task
    from rupturekit.tagger.evaluate import CVReport, TaskReport
    from rupturekit.tagger.transformer_train import Corpus

__all__ = ["LabelCount", "ModelCardData", "SourceInfo", "from_baseline", "from_transformer", "render_by_source",
           "render_card", "source_scores"]

TEMPLATE = "model_card.md.j2"
MACROS = "model_card_macros.md.j2"  # the card's pieces; the baseline's cv_metrics.md shares one

# what a card says about the project's gold corpora (`rupturekit.gold`), by source name
GOLD_NOTES = {
    "3rs-constructed": "constructed example transcripts written for the project from the 3RS definitions "
                       "(not real sessions), coded by the project team while writing them (one rater)",
    "annomi-3rs": "3RS codes on 116 real AnnoMI motivational-interviewing demonstration transcripts: two blind "
                  "coding passes and an adjudication by language-model coders (not certified 3RS coders), plus the "
                  "team's earlier codes on 23 of them; the `raters` of the source say which codes train",
}


# ---------------------------------------------------------------------------- the card's data


@dataclass(frozen=True)
class SourceInfo:
    """A data source as trained on."""

    name: str
    kind: Literal["gold", "weak", "aux"]  # coded data, weak labels (soft targets), auxiliary task data
    codebook: str
    consensus: str
    raters: list[str] | None  # None: every rater's codes
    transcripts: int
    utterances: int
    weight: float = 1.0
    weak: bool = False
    merged_only: bool = False  # aux_scope "merged": only the transcripts also in the main data

    @property
    def note(self) -> str:
        return GOLD_NOTES.get(self.name, "")


@dataclass(frozen=True)
class LabelCount:
    label: str
    counts: tuple[int, ...]  # one per column of its table (baseline: sources, total; transformer: train, validation)


@dataclass(frozen=True)
class TaskInfo:
    """A task trained, with its coded examples per label."""

    name: str
    codebook: str
    role: str
    multi_label: bool
    n_labels: int
    counts: list[LabelCount]
    examples: int = 0  # baseline: coded examples in all the data
    coded: tuple[int, ...] = ()  # transformer: coded utterances (train, validation)
    aux: bool = False
    loss_weight: float = 1.0
    skipped: list[str] = field(default_factory=list)  # baseline: labels without a classifier (too few positives)


@dataclass(frozen=True)
class TaskScore:
    """A task's cross-validated scores, on all the data or on one source's transcripts (baseline).
    None: not a finite number (shown as a dash)."""

    task: str
    examples: int
    transcripts: int
    macro_labels: int  # labels with support > 0, the ones macro F1 averages
    macro_f1: float | None
    ci: tuple[float, float] | None  # 95% bootstrap CI of macro F1
    micro_f1: float | None
    kappa: float | None
    reference_f1: float | None  # macro F1 of majority (single-label) / always-negative (multi-label)
    random_f1: float | None  # macro F1 of stratified random guessing
    source: str = ""

    @classmethod
    def of(cls, report: TaskReport, source: str = "") -> TaskScore:
        reference = report.baselines.get("majority") or report.baselines.get("always_negative") or {}
        ci = report.macro_f1_ci
        return cls(report.task.name, report.n_examples, report.n_transcripts, report.macro_labels,
                   _finite(report.macro_f1), ci if all(math.isfinite(v) for v in ci) else None,
                   _finite(report.micro_f1), _finite(report.kappa), _finite(reference.get("macro_f1")),
                   _finite(report.baselines["stratified_random"]["macro_f1"]), source)


@dataclass(frozen=True)
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    threshold: float | str  # "argmax" for single-label tasks


@dataclass(frozen=True)
class ValidationScore:
    """A task's scores on the transformer's validation split (best epoch)."""

    task: str
    codebook: str
    aux: bool
    macro_f1: float | None
    labels: list[LabelScore]


@dataclass(frozen=True)
class NestedScore:
    """One row of the nested out-of-fold scores of a decision's default point."""

    source: str
    rows: int
    level: str  # "any marker" or a family
    precision: float
    recall: float
    f1: float
    support: int
    flagged: int


@dataclass(frozen=True)
class DecisionInfo:
    decision: HierarchicalDecision
    nested: list[NestedScore] = field(default_factory=list)  # transformer: per data source

    @property
    def reliable_labels(self) -> list[str]:
        return [label for label, ok in zip(self.decision.labels, self.decision.reliable, strict=True) if ok]


@dataclass(frozen=True)
class BaselineFacts:
    context_turns: int
    min_positives: int  # fewer positive examples: no classifier
    folds: int
    cv_seed: int
    bootstrap: int
    scores: list[TaskScore]
    by_source: list[TaskScore]


@dataclass(frozen=True)
class TransformerFacts:
    config: TransformerConfig
    base_given: str
    base_kind: str
    base_name: str
    encoder: str  # the encoder mode in force: frozen, lora or full
    lora_targets: list[str]
    hybrid_features: int | None  # hybrid: cue features entering the dialogue layer
    ensemble: int  # members; 0: a single model
    epochs_run: int
    best_epoch: int
    minutes: float
    device: str
    train_sessions: int
    validation_ids: list[str]
    validation: list[ValidationScore]


@dataclass(frozen=True)
class ModelCardData:
    """What a model card says; `baseline` or `transformer` (one of them) holds what only that kind of
    model has."""

    codebook: str
    version: str
    seed: int
    level: str
    group_by: str
    sources: list[SourceInfo]
    tasks: list[TaskInfo]
    decisions: list[DecisionInfo]
    baseline: BaselineFacts | None = None
    transformer: TransformerFacts | None = None

    @property
    def kind(self) -> Literal["baseline", "transformer"]:
        return "baseline" if self.baseline is not None else "transformer"


def render_card(card: ModelCardData) -> str:
    return render(TEMPLATE, card=card)


def render_by_source(rows: list[TaskScore], heading: str = "##") -> str:
    """The "By data source" section of cv_metrics.md, after a blank line (empty without rows)."""
    if not rows:
        return ""
    return "\n" + environment().get_template(MACROS).module.by_source(rows, heading) + "\n"


def source_scores(by_source: Mapping[str, Mapping[str, TaskReport]]) -> list[TaskScore]:
    """task -> source -> report, as rows."""
    return [TaskScore.of(report, source) for reports in by_source.values() for source, report in reports.items()]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else value


# ---------------------------------------------------------------------------- the baseline


def from_baseline(config: TrainConfig, data: TrainingData, tasks: list[Task], examples: Mapping[str, Examples],
                  counts: Mapping[str, list[LabelCount]], cv: CVReport, tagger: BaselineTagger,
                  by_source: Mapping[str, Mapping[str, TaskReport]]) -> ModelCardData:
    """The card of a baseline trained by `baseline_train.train_baseline`: `counts` are its positives
    per label and source, `cv` its cross-validation, `by_source` that scored per source."""
    from rupturekit import __version__
    from rupturekit.tagger.baseline import MIN_POSITIVES

    task_infos = [TaskInfo(task.name, data.codebook.name, task.role, task.multi_label, len(task.labels),
                           counts[task.name], examples=len(examples[task.name]),
                           skipped=list(tagger.skipped_.get(task.name, []))) for task in tasks]
    facts = BaselineFacts(context_turns=config.baseline.context_turns, min_positives=MIN_POSITIVES,
                          folds=cv.n_folds, cv_seed=cv.seed, bootstrap=config.evaluation.bootstrap,
                          scores=[TaskScore.of(report) for report in cv.tasks], by_source=source_scores(by_source))
    return ModelCardData(codebook=data.codebook.name, version=__version__, seed=config.seed, level=config.level,
                         group_by=config.group_by, sources=_baseline_sources(data), tasks=task_infos,
                         decisions=[DecisionInfo(d) for d in tagger.decisions.values()], baseline=facts)


def _baseline_sources(data: TrainingData) -> list[SourceInfo]:
    """One entry per source name, in config order (`data.sources`: transcript id -> source)."""
    out = []
    for name in dict.fromkeys(s.name for s in data.sources.values()):
        source = next(s for s in data.sources.values() if s.name == name)
        ids = {tid for tid, s in data.sources.items() if s.name == name}
        utterances = sum(len(t.utterances) for t in data.transcripts if t.transcript_id in ids)
        out.append(SourceInfo(name=name, kind="gold", codebook=data.codebook.name, consensus=source.consensus,
                              raters=list(source.raters) if source.raters else None, transcripts=len(ids),
                              utterances=utterances, weight=source.weight))
    return out


# ---------------------------------------------------------------------------- the transformer


def from_transformer(config: TrainConfig, corpus: Corpus, manifest: Mapping[str, Any], metrics: Mapping[str, Any],
                     counts: tuple[Mapping[str, Mapping[str, int]], Mapping[str, Mapping[str, int]]],
                     seconds: float) -> ModelCardData:
    """`manifest` and `metrics`: what `transformer_train` saves (model.json, val_metrics.json);
    `counts`: coded utterances per task key and label (and ``_rows``) in training and validation."""
    base, trained = manifest["base"], manifest["trained"]
    tasks = [TaskInfo(t.name, t.codebook, t.role, t.multi_label, len(t.labels),
                      [LabelCount(label, tuple(c[t.key][label] for c in counts)) for label in t.labels],
                      coded=tuple(c[t.key]["_rows"] for c in counts), aux=t.aux, loss_weight=t.weight)
             for t in corpus.tasks]
    hybrid = manifest.get("hybrid")
    facts = TransformerFacts(
        config=config.transformer, base_given=base["given"], base_kind=base["kind"], base_name=base.get("name", ""),
        encoder=manifest["encoder"], lora_targets=list(manifest.get("lora_targets", [])),
        hybrid_features=len(hybrid["feature_names"]) if hybrid else None, ensemble=manifest.get("ensemble") or 0,
        epochs_run=metrics["epochs_run"], best_epoch=metrics["best_epoch"], minutes=seconds / 60,
        device=trained.get("device", "cpu"), train_sessions=trained["train_sessions"],
        validation_ids=list(metrics["validation_transcripts"]),
        validation=[_validation_score(report) for report in metrics["tasks"].values()])
    oof = metrics.get("out_of_fold", {}).get("tasks", {})
    decisions = [DecisionInfo(HierarchicalDecision.from_json(data), _nested(oof.get(key, {}).get("by_source", {})))
                 for key, data in (manifest.get("decisions") or {}).items()]
    return ModelCardData(codebook=corpus.codebook.name, version=trained["rupturekit"], seed=config.seed,
                         level=config.level, group_by=config.group_by, sources=list(corpus.sources), tasks=tasks,
                         decisions=decisions, transformer=facts)


def _validation_score(report: Mapping[str, Any]) -> ValidationScore:
    labels = [LabelScore(label, row["precision"], row["recall"], row["f1"], row["support"],
                         row.get("threshold", "argmax")) for label, row in report["labels"].items()]
    return ValidationScore(report["task"], report["codebook"], report["aux"], report["macro_f1"], labels)


def _nested(by_source: Mapping[str, Mapping[str, Any]]) -> list[NestedScore]:
    return [NestedScore(source, report["rows"], level, r["precision"], r["recall"], r["f1"], r["support"],
                        r["flagged"])
            for source, report in by_source.items()
            for level, r in [("any marker", report["any"]), *report["families"].items()]]
