"""Typed results of the agreement stage, and `to_jsonable`, their one serialisation (metrics.json).

`rupturekit.agree.run.compute_agreement` returns an `AgreementResult`; its `agreement` (an
`Agreement`) is what metrics.json holds, field by field in this order. A field made with
`omitted()` is left out of the JSON while it is None (a statistic that does not apply: no
bootstrap, one reference rater, ...), so that None keeps meaning "not computed" while NaN
(written as null) means "computed, undefined"; `json_key` names a JSON key that is no Python
name, `flattened()` writes a nested record's keys into its parent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from rupturekit.agree.raters import MajorityComparison, ModelPosition

__all__ = [
    "CI",
    "Agreement",
    "AgreementResult",
    "BootstrapInfo",
    "ClassificationLevel",
    "Coefficients",
    "CoefficientSet",
    "Confusion",
    "CountMetrics",
    "CountSubject",
    "CountsLevel",
    "DimensionResult",
    "Disagreement",
    "Disagreements",
    "IccFailure",
    "IccForm",
    "IccTable",
    "Inputs",
    "KappaSummary",
    "LabelMetrics",
    "Level",
    "MacroAverage",
    "MicroAverage",
    "ModelAsRaterSummary",
    "NotPredicted",
    "Overlap",
    "PredictedSide",
    "RaterAgreement",
    "RaterBlock",
    "RatingMetrics",
    "ScoreAucs",
    "Sentence",
    "SideCounts",
    "SummaryRow",
    "TimelineSession",
    "TimelineTrack",
    "defined",
    "finite",
    "to_jsonable",
]

CI = tuple[float, float]  # a 95% interval, (low, high); written as [low, high]


def omitted() -> Any:
    """A field left out of metrics.json while it is None."""
    return field(default=None, metadata={"omit_none": True})


def json_key(key: str, *, omit_none: bool = False) -> Any:
    return field(default=None, metadata={"key": key, "omit_none": omit_none})


def flattened() -> Any:
    return field(default=None, metadata={"flatten": True})


def finite(value: Any) -> bool:
    """A number that is neither None nor NaN / inf (metrics.json writes both as null)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(float(value))


def defined(value: Any) -> Any:
    """None for an undefined number (NaN / inf, as metrics.json writes it), numpy floats as float;
    any other value as it is."""
    if isinstance(value, (float, np.floating)):
        return float(value) if finite(value) else None
    return value


def to_jsonable(value: Any) -> Any:
    """Records -> dicts (see the module docstring); numpy scalars -> Python, NaN / inf -> None, sets ->
    sorted lists, tuples -> lists, keys -> str."""
    if is_dataclass(value) and not isinstance(value, type):
        return _record(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return defined(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _record(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if value is None and (f.metadata.get("omit_none") or f.metadata.get("flatten")):
            continue
        if f.metadata.get("flatten"):
            out.update(_record(value))
        else:
            out[f.metadata.get("key", f.name)] = to_jsonable(value)
    return out


# --------------------------------------------------------------------------- alignment
@dataclass(kw_only=True)
class Overlap:
    """Which utterances the two sides share (examples as "transcript#utterance")."""

    reference_utterances: int
    reference_coded: int
    predicted_utterances: int
    shared: int
    reference_only: int
    predicted_only: int
    reference_only_examples: list[str]
    predicted_only_examples: list[str]
    predicted_not_coded_in_reference: int
    reference_only_transcripts: list[str]
    predicted_only_transcripts: list[str]
    text_mismatches: int
    text_mismatch_examples: list[str]
    partial: bool


@dataclass(kw_only=True)
class SideCounts:
    """Transcripts, utterances, raters and codes on each side, and shared."""

    reference_transcripts: int
    predicted_transcripts: int
    shared_transcripts: int
    shared_utterances: int
    reference_raters: int
    reference_codes: int
    predicted_labels: int


# --------------------------------------------------------------------------- classification
@dataclass(kw_only=True)
class LabelMetrics:
    """One label (one-vs-rest) of the predicted side against the reference consensus."""

    label: str
    support: int
    predicted: int
    precision: float
    recall: float
    f1: float
    precision_ci: CI | None
    recall_ci: CI | None
    f1_ci: CI | None
    kappa: float
    kappa_ci: CI | None
    pabak: float
    krippendorff_alpha: float
    gwet_ac1: float
    roc_auc: float | None
    pr_auc: float | None

    @property
    def in_use(self) -> bool:
        """Given by the reference or by the predicted side (the tables leave the others out)."""
        return bool(self.support or self.predicted)


@dataclass(kw_only=True)
class MicroAverage:
    """P, R and F1 pooled over every (subject, label) decision."""

    precision: float
    recall: float
    f1: float
    support: int
    precision_ci: CI | None
    recall_ci: CI | None
    f1_ci: CI | None


@dataclass(kw_only=True)
class MacroAverage:
    """P, R and F1 averaged over the labels with support."""

    precision: float
    recall: float
    f1: float
    over: str
    n_labels: int
    precision_ci: CI | None
    recall_ci: CI | None
    f1_ci: CI | None


@dataclass(kw_only=True)
class KappaSummary:
    """Cohen's kappa of the whole table, with its CI, and the mean per-label kappa."""

    value: float
    ci: CI | None
    what: str
    macro: float  # mean per-label kappa over the labels with support


@dataclass(kw_only=True)
class Auc:
    """ROC-AUC and PR-AUC of the model's scores."""

    roc_auc: float
    pr_auc: float


@dataclass(kw_only=True)
class LabelAuc(Auc):
    """One label's AUCs, over the `n` subjects the model scored."""

    n: int


@dataclass(kw_only=True)
class ScoreAucs:
    """The AUCs per label, their mean (macro), and over all scores pooled (micro)."""

    n: int
    per_label: dict[str, LabelAuc]
    macro: Auc
    micro: Auc


@dataclass(kw_only=True)
class TwoByTwo:
    """One label's presence decisions: true negatives, false positives, false negatives, true positives."""

    label: str
    tn: int
    fp: int
    fn: int
    tp: int


@dataclass(kw_only=True)
class Confusion:
    """Reference (rows) against predicted (columns): the confusion matrix of a single-label dimension, or
    the co-occurrence of labels over subjects of a multi-label one (with its 2 x 2 table per label)."""

    kind: Literal["confusion", "co-occurrence"]
    rows: list[str]
    columns: list[str]
    matrix: list[list[int]]
    per_label: list[TwoByTwo] | None = omitted()


@dataclass(kw_only=True)
class BootstrapInfo:
    """How the CIs were drawn: percentile bootstrap over whole transcripts (`groups` of them)."""

    resamples: int
    seed: int
    groups: int
    level: float
    by: str


# --------------------------------------------------------------------------- raters
@dataclass(kw_only=True)
class Coefficients:
    """Fleiss' kappa, Krippendorff's alpha (nominal) and Gwet's AC1 of a subjects x raters frame."""

    raters: int
    subjects: int
    fleiss_kappa: float
    krippendorff_alpha: float
    gwet_ac1: float


@dataclass(kw_only=True)
class CoefficientSet:
    """The coefficients among the reference raters, and (a rater as the predicted side) among all."""

    reference: Coefficients
    with_predicted: Coefficients | None = json_key("all", omit_none=True)  # a rater as the predicted side only


@dataclass(kw_only=True)
class PairKappa:
    """Two reference raters against each other."""

    rater_a: str
    rater_b: str
    kappa: float
    percent_agreement: float
    n: int


@dataclass(kw_only=True)
class LeaveOneOut:
    """One human against the majority of the others, and the model against that same majority."""

    rater: str
    kappa: float
    percent_agreement: float
    n: int
    n_no_majority: int
    model_kappa: float
    model_percent_agreement: float
    model_n: int


@dataclass(kw_only=True)
class RaterKappa:
    """The predicted side against one human rater."""

    rater: str
    kappa: float
    percent_agreement: float
    n: int


@dataclass(kw_only=True)
class ModelAsRaterSummary:
    """`rupturekit.agree.raters.model_as_rater` as records, with its sentence."""

    rule: str
    pairwise: list[PairKappa]
    leave_one_out: list[LeaveOneOut]
    model_vs_majority: MajorityComparison
    model_vs_raters: list[RaterKappa]
    position: ModelPosition
    sentence: str

    def versus(self, rater: str) -> RaterKappa | None:
        """The predicted side against this one rater."""
        return next((r for r in self.model_vs_raters if r.rater == rater), None)

    def pair_kappa(self, a: str, b: str) -> float | None:
        """Cohen's kappa of two reference raters, in either order (None: not a pair)."""
        return next((p.kappa for p in self.pairwise if {p.rater_a, p.rater_b} == {a, b}), None)

    @property
    def measured_pair_kappas(self) -> list[float]:
        """The pairwise kappas that are defined (the page's range leaves NaN out)."""
        return [p.kappa for p in self.pairwise if finite(p.kappa)]


@dataclass(kw_only=True)
class RaterAgreement:
    """Human-human agreement on one table (or one label of it), and the predicted side as one more rater."""

    fleiss_all: float | None = omitted()  # reference raters and a predicted rater together
    fleiss_reference: float
    coefficients: CoefficientSet
    model_as_rater: ModelAsRaterSummary | None = omitted()  # two or more reference raters


@dataclass(kw_only=True)
class RaterBlock:
    reference_raters: list[str]
    n_reference_raters: int
    overall: RaterAgreement | None = flattened()  # single-label dimensions
    per_label: dict[str, RaterAgreement] | None = omitted()  # multi-label: presence of each label


# --------------------------------------------------------------------------- counts and ratings
@dataclass(kw_only=True)
class IccForm:
    """One Shrout-Fleiss form (e.g. ICC(2,1)) with its 95% CI and F test."""

    shrout_fleiss: str
    mcgraw_wong: str
    description: str
    icc: float
    ci: CI
    F: float
    pval: float


@dataclass(kw_only=True)
class IccTable:
    """The six Shrout-Fleiss forms of one subjects x raters frame (`rupturekit.measures.agreement.icc`):
    ICC1, ICC2, ICC3 and their average-measure forms ICC1k, ICC2k, ICC3k."""

    n_targets: int
    n_raters: int
    n_dropped: int
    forms: dict[str, IccForm]

    def form(self, name: str) -> IccForm | None:
        return self.forms.get(name)


@dataclass(kw_only=True)
class IccFailure:
    """An ICC that could not be computed (too few complete subjects), and why."""

    error: str

    def form(self, name: str) -> IccForm | None:  # the same call as IccTable.form
        return None


Icc = IccTable | IccFailure


@dataclass(kw_only=True)
class CountSubject:
    """One subject's count of a category: predicted, and per reference rater."""

    subject: str
    predicted: float
    reference: dict[str, float]  # NaN where the rater covered nothing of the subject


@dataclass(kw_only=True)
class CountMetrics:
    """Counts of one category per subject: predicted against the reference raters' mean."""

    n_subjects: int
    totals: dict[str, float]  # per reference rater, and "predicted"
    pearson: float
    spearman: float
    predicted_vs_reference: Icc
    reference: Icc | None  # two or more reference raters
    with_predicted: Icc = json_key("all")  # the reference raters and the predicted side together
    subjects: list[CountSubject]

    @property
    def predicted_total(self) -> float:
        return self.totals["predicted"]

    @property
    def reference_totals(self) -> list[float]:
        return [v for k, v in self.totals.items() if k != "predicted" and finite(v)]


@dataclass(kw_only=True)
class RatingMetrics:
    """Significance ratings per (segment, category) cell (see `rupturekit.agree.counts.rating_metrics`)."""

    raters: list[str]
    n_cells: int
    scale: list[int] | None
    absent_as: float | None
    rule: str
    icc_reference: Icc | None = omitted()
    weighted_kappa: dict[str, float] | None = omitted()
    weighted_kappa_mean: float | None = omitted()
    icc_all: Icc | None = omitted()
    note: str | None = omitted()


# --------------------------------------------------------------------------- levels and dimensions
@dataclass(kw_only=True)
class ClassificationLevel:
    """One dimension at one level, utterance or segment unit: the predicted side against the consensus."""

    n_utterances: int
    unit: str
    multi_label: bool
    categories: list[str]
    n_subjects: int
    n_compared: int
    n_transcripts: int
    n_no_consensus: int
    n_not_predicted: int
    raters: RaterBlock
    scores: ScoreAucs | None = omitted()
    labels: list[LabelMetrics] = field(default_factory=list)
    micro: MicroAverage | None = omitted()
    macro: MacroAverage | None = omitted()
    kappa: KappaSummary | None = omitted()
    krippendorff_alpha: float | None = omitted()  # single-label dimensions: on the class
    gwet_ac1: float | None = omitted()
    pabak: float | None = omitted()
    confusion: Confusion | None = omitted()
    bootstrap: BootstrapInfo | None = omitted()
    counts: dict[str, CountMetrics] | None = omitted()  # segment unit
    ratings: RatingMetrics | None = omitted()  # segment unit, where codes carry ratings

    @property
    def shown_labels(self) -> list[LabelMetrics]:
        return [e for e in self.labels if e.in_use]


@dataclass(kw_only=True)
class CountsLevel:
    """One dimension at one level, session unit: label tallies per transcript."""

    n_utterances: int
    unit: str
    n_subjects: int
    categories: list[str]
    counts: dict[str, CountMetrics]


Level = ClassificationLevel | CountsLevel


@dataclass(kw_only=True)
class DimensionResult:
    """One codebook dimension: its compared levels, and the levels skipped with the reason."""

    title: str
    role: Any
    multi_label: bool
    levels: dict[str, Level]
    skipped_levels: dict[str, str]


# --------------------------------------------------------------------------- the whole
@dataclass(kw_only=True)
class Disagreement:
    """An utterance where the predicted labels differ from the reference consensus."""

    transcript_id: str
    utterance_id: int
    position: int
    dimension: str
    level: str
    speaker: str
    role: str
    text: str
    reference: list[str]
    predicted: list[str]
    votes: dict[str, str]  # label -> "raters giving it / raters covering", with two or more raters
    scores: dict[str, float]  # the model's scores of the labels the sides differ on


@dataclass(kw_only=True)
class Disagreements:
    """How many disagreements there are, and the first `shown` of them."""

    total: int
    shown: int
    rows: list[Disagreement]  # the first `shown`


@dataclass(kw_only=True)
class SummaryRow:
    """One row of the summary table (None where a column does not apply or a value is undefined)."""

    dimension: str | None = None
    level: str | None = None
    unit: str | None = None
    kind: str | None = None  # "label", "micro", "macro" or "count"
    label: str | None = None
    support: int | None = None
    predicted: int | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    f1_low: float | None = None
    f1_high: float | None = None
    kappa: float | None = None
    n: int | None = None
    icc: float | None = None
    icc_low: float | None = None
    icc_high: float | None = None
    pearson: float | None = None
    spearman: float | None = None


@dataclass(kw_only=True)
class Sentence:
    """A model-as-rater sentence, e.g. "therapist_behaviour: model: κ = .74, inside the human range ..."."""

    dimension: str
    level: str
    label: str | None
    text: str


@dataclass(kw_only=True)
class CodebookRef:
    """The codebook compared in."""

    name: str
    version: str | None
    title: str | None


@dataclass(kw_only=True)
class CrosswalkRef:
    """The reference's own codebook and its family crosswalk onto the compared one."""

    name: str
    version: str | None
    families: dict[str, str | None] | None


@dataclass(kw_only=True)
class Inputs:
    """What was compared, as asked."""

    reference: str
    predicted: str
    codebook: CodebookRef
    crosswalk_from: CrosswalkRef | None
    unit: str
    level: str
    dimensions: list[str] | None  # as asked (None: every dimension of the codebook)
    transcripts: list[str] | None  # as asked (None: all)
    allow_partial: bool
    exhaustive: bool
    n_bootstrap: int
    seed: int
    same_file: bool


@dataclass(kw_only=True)
class PredictedSide:
    """A model's tags, or one rater's codes (``rater``)."""

    kind: Literal["model", "rater"]
    name: str
    rater: str | None
    has_scores: bool


@dataclass(kw_only=True)
class NotPredicted:
    """Dimensions with reference codes where the predicted side gives no label or score: not compared."""

    dimensions: list[str]
    note: str


@dataclass(kw_only=True)
class Agreement:
    """Everything `rupturekit agree` measured; metrics.json is `to_jsonable` of it."""

    format: int
    tool: str
    note: str
    inputs: Inputs
    predicted: PredictedSide
    reference_raters: list[str]
    counts: SideCounts
    overlap: Overlap
    notes: list[str]
    warnings: list[str]
    dimensions: dict[str, DimensionResult]
    skipped_dimensions: dict[str, str]
    not_predicted: NotPredicted | None = omitted()
    disagreements: Disagreements
    summary_rows: list[SummaryRow]
    sentences: list[Sentence]

    def levels(self) -> list[tuple[str, str, Level]]:
        """(dimension, level, result) of every compared level, in report order."""
        return [(name, lvl, block) for name, dim in self.dimensions.items() for lvl, block in dim.levels.items()]


@dataclass(kw_only=True)
class TimelineTrack:
    """One row of a transcript's timeline panel."""

    name: str
    marks: list[tuple[int, str]]  # (utterance index, category)


@dataclass(kw_only=True)
class TimelineSession:
    """One transcript's panel: its length in utterances and its tracks, top to bottom."""

    id: str
    length: int
    tracks: list[TimelineTrack]


@dataclass(kw_only=True)
class AgreementResult:
    """What `compute_agreement` computed (and `run_agreement` wrote: `paths`).

    * ``agreement``: the typed results (metrics.json);
    * ``all_disagreements``: every disagreement (disagreements.csv; metrics.json and the page show
      the first ``max_disagreements``);
    * ``timeline``: the page's session timeline;
    * ``paths``: "metrics", "summary", "html", "disagreements" -> the files written.

    ``metrics``, ``summary_rows``, ``sentences``, ``warnings`` and ``notes`` read the same as the
    written files: metrics.json's dict (NaN as None), the summary rows as dicts, the sentences' text.
    """

    agreement: Agreement
    all_disagreements: list[Disagreement]
    timeline: list[TimelineSession]
    paths: dict[str, Path] = field(default_factory=dict)

    @cached_property
    def metrics(self) -> dict[str, Any]:
        return to_jsonable(self.agreement)

    @property
    def summary_rows(self) -> list[dict[str, Any]]:
        return [to_jsonable(row) for row in self.agreement.summary_rows]

    @property
    def sentences(self) -> list[str]:
        return [s.text for s in self.agreement.sentences]

    @property
    def warnings(self) -> list[str]:
        return list(self.agreement.warnings)

    @property
    def notes(self) -> list[str]:
        """How the comparison was set up, and the dimensions left out as not predicted."""
        left_out = self.agreement.not_predicted
        extra = [f"not predicted: {', '.join(left_out.dimensions)}: {left_out.note}"] if left_out else []
        return [*self.agreement.notes, *extra]
