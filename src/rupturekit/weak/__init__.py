"""Weak labelling: 3RS labels for unlabelled transcripts from labeling functions and a label model.

    from rupturekit.weak import weak_label
    labelled, report = weak_label(transcripts, "3rs")            # model="generative" | "majority"
    labelled[0].utterances[3].weak    # {"withdrawal.denial": 0.93, ...} for the labels of its role
    print(report.to_markdown())

Pipeline: `FeatureExtractor` -> labeling functions (`rupturekit.weak.functions`, votes in
{-1, 0, 1} per utterance) -> one binary label model per label (`rupturekit.weak.label_model`:
`DawidSkene` EM without gold, or a plain `WeightedMajority`) -> P(label) per utterance.
`rupturekit.weak.evaluation.evaluate_gold` scores LFs and models against a coded corpus.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter

from rupturekit.codebook import Codebook, load_codebook
from rupturekit.codes import machine_rater
from rupturekit.features import FeatureExtractor
from rupturekit.records import Code, Transcript
from rupturekit.weak.evaluation import GoldEvaluation, WeakReport, build_report, evaluate_gold
from rupturekit.weak.functions import LABELING_FUNCTIONS, LabelingFunction, apply_lfs, lfs_for
from rupturekit.weak.label_model import DawidSkene, ModelName, WeakLabels, WeightedMajority, fit_corpus, fit_labels

__all__ = [
    "LABELING_FUNCTIONS",
    "RATER",
    "DawidSkene",
    "GoldEvaluation",
    "LabelingFunction",
    "WeakLabels",
    "WeakReport",
    "WeightedMajority",
    "apply_lfs",
    "evaluate_gold",
    "fit_corpus",
    "fit_labels",
    "lfs_for",
    "weak_label",
    "weak_rater",
]


def weak_rater(model: str) -> str:
    """The rater name of the codes weak_label adds: ``weak:<label model>``, e.g. ``weak:generative``
    (namespaced, so that it never collides with a human rater; see `rupturekit.codes`)."""
    return machine_rater("weak", str(model))


RATER = weak_rater("generative")  # the rater of the default label model
THRESHOLD = 0.5
DIGITS = 4  # probabilities are stored rounded, and the codes are read off the stored values


def weak_label(transcripts: Iterable[Transcript], codebook: Codebook | str = "3rs",
               model: ModelName | str = "generative", *, lfs: list[LabelingFunction] | None = None,
               extractor: FeatureExtractor | None = None, **params: object) -> tuple[list[Transcript], WeakReport]:
    """Weak 3RS labels for every client and therapist utterance.

    Returns copies of `transcripts` (the input is not changed) and a `WeakReport`. Each client
    or therapist utterance gets an extra field ``weak`` = {label: P(label)} for every label of
    the codebook dimensions that apply to its role (rounded to 4 decimals), and codes by rater
    ``weak:<model>`` (`weak_rater`): one per label with P >= 0.5 (note: the probability and the
    LFs that voted for it), or one ``none`` code when no label passes. Codes by other raters are
    kept; earlier ``weak:*`` codes and ``weak`` fields are replaced (they described the field).
    Codes by a plain ``weak`` rater, which older versions wrote but which may as well be a human
    rater's, are kept as they are. Utterances of other roles are copied as they are (less
    earlier ``weak:*`` codes and ``weak`` fields), with no ``weak`` field.
    `params` go to the label model (`DawidSkene` or `WeightedMajority`). Deterministic: the
    same transcripts give the same output.
    """
    began = perf_counter()
    transcripts = list(transcripts)
    codebook = load_codebook(codebook) if isinstance(codebook, str) else codebook
    extractor = extractor or FeatureExtractor()
    table = extractor(transcripts)
    labels = fit_corpus(table, codebook, model, lfs, **params)
    out = _attach(transcripts, labels, codebook, weak_rater(model))
    report = build_report(labels, seconds=perf_counter() - began, threshold=THRESHOLD)
    return out, report


def _is_ours(rater: str) -> bool:
    return rater.casefold().startswith("weak:")


def _attach(transcripts: list[Transcript], labels: WeakLabels, codebook: Codebook, rater: str) -> list[Transcript]:
    lf_columns = {label: [j for j, lf in enumerate(labels.lfs) if lf.label == label] for label in labels.labels}
    copies = []
    row = 0
    for transcript in transcripts:
        utterances = []
        for utterance in transcript.utterances:
            i, row = row, row + 1
            kept = [c for c in utterance.codes if not _is_ours(c.rater)]
            applicable = [label for label in labels.labels if labels.rows[label][i]]
            if not applicable:
                utterances.append(utterance.model_copy(update={"codes": kept, "weak": None}))
                continue
            weak = {label: round(float(labels.probabilities[label][i]), DIGITS) for label in applicable}
            codes = []
            for label, p in weak.items():
                if p >= THRESHOLD:
                    voters = [labels.lfs[j].name for j in lf_columns[label] if labels.votes[i, j] == 1]
                    note = f"p={p:.2f}" + (f"; for: {', '.join(voters)}" if voters else "")
                    codes.append(Code(rater=rater, label=label, note=note))
            if not codes:
                codes.append(Code(rater=rater, label=codebook.none_label))
            utterances.append(utterance.model_copy(update={"codes": [*kept, *codes], "weak": weak}))
        copies.append(transcript.model_copy(update={"utterances": utterances}))
    if row != len(labels.table):
        raise ValueError("feature table and transcripts disagree on the number of utterances")
    return copies
