"""Human observer codes against predictions: loading, alignment, comparison units, statistics.

The reference side is any file `read_transcripts` reads (canonical JSONL with codes, AnnoMI CSV,
ELAN, ...), with one or several raters. The predicted side is either a tag output (utterances
with ``labels`` / ``scores``: the predicted side is "model") or one rater's codes from a file
(``predicted_rater``); when both sides are the same file that rater leaves the reference ("one
rater against the rest").

Both sides are aligned by (transcript_id, utterance_id). Within the shared utterances each
codebook dimension becomes a `Table`: subjects (utterances) x reference raters, plus the
predicted value per subject. A rater *covers* an utterance in a dimension when they gave it a
label of the dimension, or a ``none`` code and the dimension applies to the speaker's role (the
convention of `rupturekit.codes`); the model covers every utterance whose role the dimension
applies to. Values are one label (single-label dimensions; ``none`` when a covering rater gave
none of its labels) or a set of labels (multi-label dimensions; ``{}`` = nothing applies).

Levels: ``subtype`` compares the labels, ``family`` their families (``withdrawal``,
``confrontation``, ``resolution``; presence of any label of the family). With a crosswalk the
reference codebook's families are mapped onto the target codebook's families first, and only
the family level is compared.

Units: ``utterance``; ``segment:5m`` / ``segment:40u`` / ``segment:600w`` (a label is present in
a segment for a rater if any utterance of that segment the rater covered carries it; plus label
counts per segment and, where codes carry a ``rating``, the significance ratings); ``session``
(label tallies per transcript and rater).

Statistics build on `rupturekit.measures` and `rupturekit.agree.raters`; definitions:

* reference consensus: single-label, the plurality label of the reference raters (a tie gives
  none, and the subject is left out); multi-label, the labels given by more than half of the raters
  who covered the subject. With one reference rater the consensus is that rater.
* P / R / F1 per label (one-vs-rest for single-label dimensions), micro (pooled) and macro (mean
  over the labels with support > 0); a ratio with a zero denominator is 0 (never-predicted label:
  precision 0), as scikit-learn's ``zero_division=0``.
* 95% CIs: percentile bootstrap over transcripts (`bootstrap_ci`); a resample where a label has
  no support does not count for that label.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from rupturekit.agree.raters import majority_vote, model_as_rater
from rupturekit.codebook import Codebook, Dimension
from rupturekit.codes import CodeRow, check_labels
from rupturekit.errors import InputError, ProblemLog
from rupturekit.measures.agreement import (
    cohen_kappa,
    confusion_table,
    fleiss_kappa,
    fleiss_table,
    gwet_ac1,
    icc,
    krippendorff_alpha,
    label_report,
    pabak,
    score_report,
    weighted_kappa,
)
from rupturekit.measures.bootstrap import BootstrapCI, bootstrap_ci
from rupturekit.records import Code, Transcript, Utterance
from rupturekit.segment.segments import DEFAULT_FALLBACK, SegmentSpec, assign_segments

__all__ = [
    "Aligned",
    "Projection",
    "Table",
    "Unit",
    "aggregate",
    "align",
    "build_table",
    "classification_metrics",
    "consensus",
    "count_metrics",
    "disagreements",
    "projections",
    "rater_sentence",
    "rating_metrics",
]

Key = tuple[str, int]
LevelName = Literal["subtype", "family"]
PREDICTED = "__predicted__"  # column name of the predicted side in count tables
MODEL = "model"
_EXAMPLES = 5


# --------------------------------------------------------------------------- small helpers
def natural_key(name: str) -> tuple[int, int, str]:
    """Sort rater / transcript ids so that "2" comes before "10"."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _first(items: Sequence[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _key_text(key: tuple[str, Any]) -> str:
    return f"{key[0]}#{key[1]}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(float(value))


def apa(value: float) -> str:
    """Two decimals without the leading zero, as statistics bounded by 1 are written: .74, −.05."""
    if not _finite(value):
        return "n/a"
    text = f"{abs(float(value)):.2f}"
    text = text[1:] if text.startswith("0") else text
    return ("−" if float(value) < 0 and text != ".00" else "") + text


# --------------------------------------------------------------------------- units
@dataclass(frozen=True)
class Unit:
    """What a subject is: an utterance, a segment of a transcript, or a whole session."""

    kind: Literal["utterance", "segment", "session"]
    spec: SegmentSpec | None = None

    @classmethod
    def parse(cls, text: str, codebook: Codebook | None = None) -> Unit:
        value = str(text).strip().lower()
        if value in ("utterance", "utterances", "u"):
            return cls("utterance")
        if value in ("session", "sessions", "transcript"):
            return cls("session")
        if value == "segment" or value.startswith("segment:"):
            size = value.partition(":")[2] or (codebook.segment if codebook and codebook.segment else "5m")
            try:
                return cls("segment", SegmentSpec.parse(size))
            except ValueError as exc:
                raise InputError("--unit", str(exc), "use e.g. segment:5m, segment:40u or segment:600w") from None
        raise InputError("--unit", f"unit '{text}' not understood",
                         "use utterance, segment:5m (or segment:40u, segment:600w) or session")

    def __str__(self) -> str:
        return f"segment:{self.spec}" if self.kind == "segment" else self.kind


# --------------------------------------------------------------------------- loading
@dataclass
class Aligned:
    """Both sides read, checked and aligned on the utterances they share."""

    reference_path: str
    predicted_path: str
    codebook: Codebook
    reference_codebook: Codebook  # the codebook the reference is coded in (crosswalk_from, else codebook)
    crosswalk: dict[str, str | None] | None
    reference_raters: list[str]
    predicted_kind: Literal["model", "rater"]
    predicted_rater: str | None
    predicted_name: str
    same_file: bool
    order: list[Key]  # utterances both sides have, in corpus order (the compared ones are picked by coverage)
    utterances: dict[Key, Utterance]  # the reference's utterance objects (text, speaker, role)
    position: dict[Key, int]  # 0-based index of each utterance within its transcript
    transcript_order: list[str]
    transcript_lengths: dict[str, int]
    ref_codes: dict[Key, dict[str, list[Code]]]
    pred_codes: dict[Key, list[Code]]  # the predicted rater's codes, or the model's labels as codes
    pred_scores: dict[Key, dict[str, float]]
    pred_family_labels: set[str]  # family names the model predicted instead of labels
    rater_transcripts: dict[str, set[str]]  # transcripts in which each rater (reference, or predicted rater) coded
    overlap: dict[str, Any]
    counts: dict[str, Any]
    reference_transcripts: list[Transcript]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_scores(self) -> bool:
        return any(self.pred_scores.values())


def _read(path: Path, cache: dict[Path, tuple[list[Transcript], list[str]]]) -> tuple[list[Transcript], list[str]]:
    resolved = path.resolve()
    if resolved in cache:
        return cache[resolved]
    if not path.exists():
        raise InputError(str(path), "no such file or folder", "check the path")
    from rupturekit.ingest.batch import read_with_notes

    # ingest's own segment ids do not matter here (the segment unit assigns its own)
    transcripts, notes = read_with_notes(path)
    cache[resolved] = (transcripts, notes)
    return transcripts, notes


def _restrict(transcripts: list[Transcript], wanted: Sequence[str] | None, file: str) -> list[Transcript]:
    if not wanted:
        return transcripts
    present = {t.transcript_id for t in transcripts}
    missing = [str(w) for w in wanted if str(w) not in present]
    if missing:
        raise InputError(file, f"no transcript {_first([repr(m) for m in missing])} in this file",
                         f"transcripts present: {_first(sorted(present, key=natural_key), 8)}")
    keep = {str(w) for w in wanted}
    return [t for t in transcripts if t.transcript_id in keep]


def _codes_by_rater(transcripts: list[Transcript]) -> dict[Key, dict[str, list[Code]]]:
    out: dict[Key, dict[str, list[Code]]] = {}
    for t in transcripts:
        for u in t.utterances:
            if u.codes:
                slot = out.setdefault((u.transcript_id, u.utterance_id), {})
                for code in u.codes:
                    slot.setdefault(code.rater, []).append(code)
    return out


def _raters_present(codes: dict[Key, dict[str, list[Code]]]) -> list[str]:
    return sorted({r for by_rater in codes.values() for r in by_rater}, key=natural_key)


def _is_tag_output(transcripts: list[Transcript]) -> bool:
    return any(u.labels is not None for t in transcripts for u in t.utterances)


def _family_names(codebook: Codebook) -> set[str]:
    return set(codebook.families)


def _check_codes(codes: dict[Key, dict[str, list[Code]]], raters: Sequence[str], codebook: Codebook,
                 file: str) -> None:
    wanted = set(raters)
    rows = [CodeRow(key[0], key[1], rater, code.label, where=_key_text(key))
            for key, by_rater in codes.items() for rater, items in by_rater.items() if rater in wanted
            for code in items]
    check_labels(rows, codebook, file)


def _model_side(transcripts: list[Transcript], codebook: Codebook, file: str
                ) -> tuple[dict[Key, list[Code]], dict[Key, dict[str, float]], set[str]]:
    """The model's labels (as codes of rater "model") and scores per utterance, checked."""
    families = _family_names(codebook)
    codes: dict[Key, list[Code]] = {}
    scores: dict[Key, dict[str, float]] = {}
    unknown: list[CodeRow] = []
    family_labels: set[str] = set()
    any_known = False
    for t in transcripts:
        for u in t.utterances:
            key = (u.transcript_id, u.utterance_id)
            # labels and scores are typed `Utterance` fields, checked when the file was read
            labels = u.labels or []
            clean = dict(u.scores or {})
            for name in [*labels, *clean]:
                any_known = any_known or name in families or codebook.dimension_of(name) is not None
                if name in families and not codebook.is_valid(name):
                    family_labels.add(name)
                elif not codebook.is_valid(name):
                    unknown.append(CodeRow(key[0], key[1], MODEL, name, where=_key_text(key)))
            codes[key] = [Code(rater=MODEL, label=label) for label in labels if label != codebook.none_label]
            scores[key] = clean
    if unknown:
        check_labels(unknown, codebook, file, any_known=any_known)
    return codes, scores, family_labels


def align(reference: Path, predicted: Path, codebook: Codebook, *,
          reference_raters: Sequence[str] | None = None, predicted_rater: str | None = None,
          allow_partial: bool = False, crosswalk_from: Codebook | None = None,
          transcripts: Sequence[str] | None = None) -> Aligned:
    """Read both sides, check raters and labels, and align them by (transcript_id, utterance_id).

    Raises InputError for: unknown labels (with the nearest valid ones), requested raters without
    codes (listing the raters present), and sides that cover different utterances (unless
    `allow_partial`; the message gives the counts both ways and the first examples).
    """
    reference, predicted = Path(reference), Path(predicted)
    cache: dict[Path, tuple[list[Transcript], list[str]]] = {}
    ref_transcripts, ref_notes = _read(reference, cache)
    pred_transcripts, pred_notes = _read(predicted, cache)
    same_file = reference.resolve() == predicted.resolve()
    ref_transcripts = _restrict(ref_transcripts, transcripts, str(reference))
    pred_transcripts = _restrict(pred_transcripts, transcripts, str(predicted))
    notes: list[str] = []
    warn = list(dict.fromkeys([*ref_notes, *([] if same_file else pred_notes)]))

    reference_codebook = crosswalk_from or codebook
    walk: dict[str, str | None] | None = None
    if crosswalk_from is not None:
        try:
            walk = crosswalk_from.crosswalk(codebook.name)
        except KeyError:
            declared = ", ".join(c.to for c in crosswalk_from.crosswalks) or "none"
            raise InputError(crosswalk_from.name, f"codebook '{crosswalk_from.name}' declares no crosswalk to "
                                                  f"'{codebook.name}' (it declares: {declared})",
                             "add a 'crosswalks' entry to the codebook, or compare without a crosswalk") from None

    ref_codes_all = _codes_by_rater(ref_transcripts)
    present = _raters_present(ref_codes_all)
    if not present:
        raise InputError(str(reference), "the reference has no codes",
                         "give a file with human codes (rupturekit codes import), e.g. canonical JSONL or AnnoMI")

    # ---- predicted side
    pred_codes: dict[Key, list[Code]]
    pred_scores: dict[Key, dict[str, float]] = {}
    family_labels: set[str] = set()
    if predicted_rater is not None:
        predicted_rater = str(predicted_rater)
        pred_by_rater = ref_codes_all if same_file else _codes_by_rater(pred_transcripts)
        pred_present = _raters_present(pred_by_rater)
        if predicted_rater not in pred_present:
            raise InputError(str(predicted), f"no codes by rater '{predicted_rater}'",
                             f"raters present: {', '.join(pred_present) or 'none'}")
        pred_codes = {k: v[predicted_rater] for k, v in pred_by_rater.items() if predicted_rater in v}
        _check_codes({k: {predicted_rater: v} for k, v in pred_codes.items()}, [predicted_rater], codebook,
                     str(predicted))
        kind: Literal["model", "rater"] = "rater"
        name = f"rater {predicted_rater}"
    elif _is_tag_output(pred_transcripts):
        pred_codes, pred_scores, family_labels = _model_side(pred_transcripts, codebook, str(predicted))
        kind, name = "model", MODEL
        if family_labels:
            notes.append(f"the model predicts families ({', '.join(sorted(family_labels))}) rather than labels: "
                         "those dimensions are compared at family level only")
    else:
        pred_by_rater = _codes_by_rater(pred_transcripts)
        pred_present = _raters_present(pred_by_rater)
        if same_file or not pred_present:
            what = "is the reference itself" if same_file else "has neither tag labels nor codes"
            raise InputError(str(predicted), f"the predicted file {what}",
                             "give a tag output (rupturekit tag), or choose one rater with predicted_rater "
                             f"(raters present: {', '.join(pred_present) or 'none'})")
        if len(pred_present) > 1:
            raise InputError(str(predicted), f"the predicted file has codes by {len(pred_present)} raters",
                             f"choose one with predicted_rater (raters present: {', '.join(pred_present)})")
        predicted_rater = pred_present[0]
        pred_codes = {k: v[predicted_rater] for k, v in pred_by_rater.items()}
        _check_codes({k: {predicted_rater: v} for k, v in pred_codes.items()}, [predicted_rater], codebook,
                     str(predicted))
        kind, name = "rater", f"rater {predicted_rater}"

    # ---- reference raters
    if reference_raters is not None:
        wanted = [str(r) for r in reference_raters]
        missing = [r for r in wanted if r not in present]
        if missing:
            raise InputError(str(reference), f"no codes by rater {', '.join(repr(r) for r in missing)}",
                             f"raters present: {', '.join(present)}")
        raters = list(dict.fromkeys(wanted))
    else:
        raters = list(present)
    if same_file and predicted_rater is not None and predicted_rater in raters:
        raters.remove(predicted_rater)
        notes.append(f"one rater against the rest: rater {predicted_rater} is the predicted side, "
                     f"the other {len(raters)} rater(s) are the reference")
    if not raters:
        raise InputError(str(reference), "no reference raters are left",
                         f"raters present: {', '.join(present)}; the predicted rater cannot also be the only "
                         "reference rater")
    _check_codes(ref_codes_all, raters, reference_codebook, str(reference))

    # ---- alignment
    ref_utterances: dict[Key, Utterance] = {}
    position: dict[Key, int] = {}
    transcript_order: list[str] = []
    lengths: dict[str, int] = {}
    for t in ref_transcripts:
        transcript_order.append(t.transcript_id)
        lengths[t.transcript_id] = len(t.utterances)
        for i, u in enumerate(t.utterances):
            key = (u.transcript_id, u.utterance_id)
            ref_utterances[key] = u
            position[key] = i
    keep = set(raters)
    ref_codes = {k: {r: c for r, c in v.items() if r in keep} for k, v in ref_codes_all.items()}
    ref_codes = {k: v for k, v in ref_codes.items() if v}
    ref_coded = set(ref_codes)
    pred_utterances = {(u.transcript_id, u.utterance_id): u for t in pred_transcripts for u in t.utterances}
    pred_keys = set(pred_utterances) if kind == "model" else set(pred_codes)
    shared = ref_coded & pred_keys
    order_index = {k: i for i, k in enumerate(ref_utterances)}
    reference_only = sorted(ref_coded - pred_keys, key=order_index.__getitem__)
    extra = pred_keys - set(ref_utterances)
    predicted_only = sorted(extra, key=lambda k: (natural_key(k[0]), k[1]))
    uncoded = (pred_keys & set(ref_utterances)) - ref_coded  # predicted, in the reference file, never coded
    text_mismatch = [k for k in sorted(shared, key=order_index.__getitem__)
                     if " ".join(ref_utterances[k].text.split()) != " ".join(pred_utterances[k].text.split())]
    overlap = {
        "reference_utterances": len(ref_utterances),
        "reference_coded": len(ref_coded),
        "predicted_utterances": len(pred_keys),
        "shared": len(shared),
        "reference_only": len(reference_only),
        "predicted_only": len(predicted_only),
        "reference_only_examples": [_key_text(k) for k in reference_only[:_EXAMPLES]],
        "predicted_only_examples": [_key_text(k) for k in predicted_only[:_EXAMPLES]],
        "predicted_not_coded_in_reference": len(uncoded),
        "reference_only_transcripts": sorted({k[0] for k in reference_only} - {k[0] for k in shared},
                                             key=natural_key),
        "predicted_only_transcripts": sorted({k[0] for k in predicted_only}, key=natural_key),
        "text_mismatches": len(text_mismatch),
        "text_mismatch_examples": [_key_text(k) for k in text_mismatch[:_EXAMPLES]],
        "partial": bool(reference_only or predicted_only),
    }
    described = (f"{len(shared)} shared; {len(reference_only)} coded in the reference but not "
                 f"{'predicted' if kind == 'model' else 'coded by ' + name}"
                 + (f" (e.g. {', '.join(overlap['reference_only_examples'][:3])})" if reference_only else "")
                 + f"; {len(predicted_only)} predicted but not in the reference"
                 + (f" (e.g. {', '.join(overlap['predicted_only_examples'][:3])})" if predicted_only else ""))
    if not shared:
        raise InputError(str(predicted), f"reference and predicted share no coded utterance ({described})",
                         "check that both files come from the same corpus (same transcript and utterance ids)")
    if overlap["partial"] and not allow_partial:
        raise InputError(str(predicted), f"reference and predicted cover different utterances: {described}",
                         f"check that both files come from the same corpus, or allow a partial comparison "
                         f"(allow_partial / --allow-partial) on the {len(shared)} shared utterances")
    if overlap["partial"]:
        notes.append(f"partial comparison: {described}")
    if uncoded and kind == "rater":
        notes.append(f"{len(uncoded)} utterances coded by {name} have no reference codes and are not compared")
    if text_mismatch:
        warn.append(f"the utterance text differs between the two files on {len(text_mismatch)} shared utterances "
                    f"(e.g. {', '.join(overlap['text_mismatch_examples'][:3])})")

    # Tables are built over every utterance both sides have; coverage decides what is compared
    # (an utterance without reference codes counts only under exhaustive coding).
    order = sorted(pred_keys & set(ref_utterances), key=order_index.__getitem__)
    shared_tids = {k[0] for k in shared}
    rater_transcripts: dict[str, set[str]] = {}
    for key, by_rater in ref_codes.items():
        for rater in by_rater:
            rater_transcripts.setdefault(rater, set()).add(key[0])
    if kind == "rater":
        rater_transcripts[PREDICTED] = {key[0] for key in pred_codes}
    counts = {
        "reference_transcripts": len(ref_transcripts),
        "predicted_transcripts": len({k[0] for k in pred_keys}),
        "shared_transcripts": len(shared_tids),
        "shared_utterances": len(shared),
        "reference_raters": len(raters),
        "reference_codes": sum(len(c) for k in shared for c in ref_codes[k].values()),
        "predicted_labels": sum(len(pred_codes.get(k, [])) for k in shared),
    }
    return Aligned(
        reference_path=str(reference), predicted_path=str(predicted), codebook=codebook,
        reference_codebook=reference_codebook, crosswalk=walk, reference_raters=raters, predicted_kind=kind,
        predicted_rater=predicted_rater, predicted_name=name, same_file=same_file, order=order,
        utterances={k: ref_utterances[k] for k in order}, position=position,
        transcript_order=[t for t in transcript_order if t in shared_tids],
        transcript_lengths=lengths, ref_codes={k: ref_codes.get(k, {}) for k in order},
        pred_codes={k: pred_codes.get(k, []) for k in order},
        pred_scores={k: pred_scores.get(k, {}) for k in order}, pred_family_labels=family_labels,
        rater_transcripts=rater_transcripts,
        overlap=overlap, counts=counts, reference_transcripts=ref_transcripts, warnings=warn, notes=notes)


# --------------------------------------------------------------------------- projections
@dataclass(frozen=True)
class Projection:
    """How codes of either side become values of one dimension at one level."""

    dimension: Dimension
    level: LevelName
    categories: tuple[str, ...]
    multi_label: bool
    ref_map: dict[str, str]  # reference label -> category (labels of other dimensions are absent)
    pred_map: dict[str, str]  # predicted label (or family name) -> category
    crosswalk: bool
    none_label: str

    @property
    def name(self) -> str:
        return self.dimension.name


def _families_of(dimension: Dimension) -> list[str]:
    return list(dict.fromkeys([*dimension.families, *(label.family for label in dimension.labels)]))


def projections(aligned: Aligned, dimensions: Sequence[str] | None, level: str
                ) -> tuple[list[Projection], dict[str, dict[str, str]]]:
    """The (dimension, level) pairs to compare, and per dimension the levels skipped with the reason."""
    if level not in ("subtype", "family", "both"):
        raise InputError("--level", f"level '{level}' not understood", "use subtype, family or both")
    codebook = aligned.codebook
    known = [d.name for d in codebook.dimensions]
    if dimensions:
        unknown = [d for d in dimensions if d not in known]
        if unknown:
            raise InputError(codebook.name, f"no dimension {', '.join(repr(d) for d in unknown)} in codebook "
                                            f"'{codebook.name}'", f"the codebook has: {', '.join(known)}")
        chosen = [codebook.dimension(d) for d in dimensions]
    else:
        chosen = list(codebook.dimensions)
    if aligned.crosswalk is not None and level == "subtype":
        raise InputError("--level", "a crosswalk compares families only",
                         "use level family (or both) with crosswalk_from")
    wanted: list[LevelName] = ["subtype", "family"] if level == "both" else [level]  # type: ignore[list-item]
    out: list[Projection] = []
    skipped: dict[str, dict[str, str]] = {}
    for dimension in chosen:
        families = _families_of(dimension)
        for lvl in wanted:
            reason = None
            if aligned.crosswalk is not None and lvl == "subtype":
                reason = f"the reference is coded in '{aligned.reference_codebook.name}': compared at family level only"
            elif lvl == "subtype" and aligned.pred_family_labels & set(families):
                reason = "the model predicts families for this dimension"
            elif lvl == "family" and not dimension.families:
                reason = "the codebook declares no families for this dimension"
            if reason:
                skipped.setdefault(dimension.name, {})[lvl] = reason
                continue
            if lvl == "subtype":
                cats = tuple(dimension.label_names)
                ref_map = {c: c for c in cats}
                pred_map = dict(ref_map)
            else:
                cats = tuple(families)
                pred_map = {label.name: label.family for label in dimension.labels} | {f: f for f in families}
                if aligned.crosswalk is not None:
                    ref_map = {}
                    for source in aligned.reference_codebook.labels:
                        target = aligned.crosswalk.get(source.split(".", 1)[0])
                        if target in families:
                            ref_map[source] = target
                    if not ref_map:
                        skipped.setdefault(dimension.name, {})[lvl] = (
                            f"no family of '{aligned.reference_codebook.name}' crosses over to this dimension")
                        continue
                else:
                    ref_map = {label.name: label.family for label in dimension.labels}
            out.append(Projection(dimension, lvl, cats, dimension.multi_label, ref_map, pred_map,
                                  aligned.crosswalk is not None, codebook.none_label))
    return out, skipped


# --------------------------------------------------------------------------- tables
@dataclass
class Table:
    """One dimension at one level and unit: subjects x reference raters, and the predicted value.

    Values are a category name or None (single-label) or a frozenset of categories or None
    (multi-label / presence); None = not covered. `scores` (model only) holds one column per
    category (NaN where the model gave no score).
    """

    dimension: str
    level: LevelName
    unit: str
    multi_label: bool
    categories: list[str]
    keys: list[tuple[str, Any]]
    groups: np.ndarray
    reference: pd.DataFrame
    predicted: np.ndarray
    scores: np.ndarray | None
    score_categories: list[str]
    uncovered: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)


def _value(codes: Sequence[Code], role: str, proj: Projection, mapping: dict[str, str], *, model: bool,
           crosswalk: bool, scores: dict[str, float] | None, who: str, key: Key, assume_coded: bool = False) -> Any:
    """One side's value on one utterance; None when not covered (see the module docstring).

    `assume_coded`: the rater coded this transcript exhaustively, so an utterance of the right role
    without their codes counts as "nothing applies" (multi-label dimensions, ``exhaustive=True``).
    """
    in_dim = [mapping[c.label] for c in codes if c.label in mapping]
    applies = proj.dimension.applies_to(role)
    if model:
        covered = applies or bool(in_dim) or any(name in mapping for name in (scores or {}))
    elif crosswalk:
        covered = bool(in_dim) or (applies and (bool(codes) or assume_coded))
    else:
        covered = bool(in_dim) or (applies and (assume_coded or any(c.label == proj.none_label for c in codes)))
    if not covered:
        return None
    if proj.multi_label:
        return frozenset(in_dim)
    distinct = list(dict.fromkeys(in_dim))
    if not distinct:
        return proj.none_label
    if len(distinct) > 1:
        if model:
            return max(distinct, key=lambda c: (scores or {}).get(c, -1.0))
        raise InputError(who, f"{who} gives two labels of single-label dimension '{proj.name}' on "
                              f"{_key_text(key)} ('{distinct[0]}' and '{distinct[1]}')",
                         "keep one code per rater and utterance in a single-label dimension")
    return distinct[0]


def _score(scores: dict[str, float], category: str, proj: Projection) -> float:
    if category in scores:
        return float(scores[category])
    if proj.level == "family":
        members = [v for k, v in scores.items() if proj.pred_map.get(k) == category]
        if members:
            return float(max(members))
    return math.nan


def build_table(aligned: Aligned, proj: Projection, exhaustive: bool = False) -> Table:
    """The utterance-level table of one projection: every shared utterance a reference rater covered.

    With `exhaustive` (multi-label dimensions only), a rater who coded anything in a transcript
    covers every utterance of it whose role the dimension applies to. `Table.uncovered` counts,
    per reference rater, the utterances of the right role in transcripts they coded that they
    left without codes of this dimension (and so out of the comparison).
    """
    raters = aligned.reference_raters
    keys: list[Key] = []
    rows: list[list[Any]] = []
    predicted: list[Any] = []
    score_rows: list[list[float]] = []
    uncovered: Counter[str] = Counter()
    model = aligned.predicted_kind == "model"
    assume = exhaustive and proj.multi_label
    coded_in = aligned.rater_transcripts
    for key in aligned.order:
        role = aligned.utterances[key].role
        by_rater = aligned.ref_codes.get(key, {})
        values = [_value(by_rater.get(r, []), role, proj, proj.ref_map, model=False, crosswalk=proj.crosswalk,
                         scores=None, who=f"{aligned.reference_path}: rater '{r}'", key=key,
                         assume_coded=assume and key[0] in coded_in.get(r, ())) for r in raters]
        if proj.multi_label and proj.dimension.applies_to(role):
            for r, v in zip(raters, values, strict=True):
                if v is None and key[0] in coded_in.get(r, ()):
                    uncovered[r] += 1
        if all(v is None for v in values):
            continue
        scores = aligned.pred_scores.get(key, {})
        pred = _value(aligned.pred_codes.get(key, []), role, proj, proj.pred_map, model=model, crosswalk=False,
                      scores=scores, who=f"{aligned.predicted_path}: {aligned.predicted_name}", key=key,
                      assume_coded=assume and key[0] in coded_in.get(PREDICTED, ()))
        keys.append(key)
        rows.append(values)
        predicted.append(pred)
        if model:
            score_rows.append([_score(scores, c, proj) for c in proj.categories])
    categories = list(proj.categories)
    if not proj.multi_label:
        used = {v for row in rows for v in row if v is not None} | {v for v in predicted if v is not None}
        if proj.none_label in used:
            categories.append(proj.none_label)
    reference = pd.DataFrame(rows, columns=raters, dtype=object) if rows else pd.DataFrame(columns=raters,
                                                                                            dtype=object)
    score_array = None
    if model and score_rows:
        score_array = np.asarray(score_rows, dtype=float)
        if not np.isfinite(score_array).any():
            score_array = None
    return Table(proj.name, proj.level, "utterance", proj.multi_label, categories, list(keys),
                 np.asarray([k[0] for k in keys], dtype=object), reference,
                 _objects(predicted),
                 score_array, list(proj.categories), dict(uncovered))


def _objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _present(value: Any, none_label: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, frozenset):
        return value
    return frozenset() if value == none_label else frozenset([value])


def segment_ids(aligned: Aligned, spec: SegmentSpec) -> tuple[dict[Key, int], list[str]]:
    """Segment id of every reference utterance under `spec` (time windows, or counts of utterances / words)."""
    log = ProblemLog()
    out: dict[Key, int] = {}
    fallback = SegmentSpec.parse(DEFAULT_FALLBACK)
    for transcript in aligned.reference_transcripts:
        copy = transcript.model_copy(update={"utterances": [u.model_copy() for u in transcript.utterances]})
        assign_segments(copy, spec, fallback, log, aligned.reference_path, overwrite=True)
        for u in copy.utterances:
            out[(u.transcript_id, u.utterance_id)] = int(u.segment_id or 0)
    return out, [str(p) for p in log.warnings]


def aggregate(table: Table, group_of: Callable[[Key], tuple[str, Any]], unit: str, none_label: str
              ) -> tuple[Table, dict[str, pd.DataFrame]]:
    """Presence per larger subject (segment or session), and label counts per subject and rater.

    A rater's value for a subject is the set of categories present in any utterance of it that the
    rater covered (None if they covered none). Counts are NaN where the rater covered nothing.
    Scores aggregate by their maximum.
    """
    cats = [c for c in table.categories if c != none_label]
    raters = list(table.reference.columns)
    subjects: dict[tuple[str, Any], list[int]] = {}
    for i, key in enumerate(table.keys):
        subjects.setdefault(group_of(key), []).append(i)
    ref_values = table.reference.to_numpy(dtype=object)
    rows, predicted, score_rows = [], [], []
    counts = {c: np.full((len(subjects), len(raters) + 1), np.nan) for c in cats}
    for s, members in enumerate(subjects.values()):
        row = []
        for j in range(len(raters) + 1):
            column = [ref_values[i, j] for i in members] if j < len(raters) else [table.predicted[i] for i in members]
            sets = [_present(v, none_label) for v in column if v is not None]
            if not sets:
                row.append(None)
                continue
            union = frozenset().union(*sets)
            row.append(frozenset(c for c in union if c in cats))
            for c in cats:
                counts[c][s, j] = sum(c in x for x in sets)
        rows.append(row[:-1])
        predicted.append(row[-1])
        if table.scores is not None:
            block = table.scores[members]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column
                score_rows.append(np.nanmax(block, axis=0) if len(block) else np.full(block.shape[1], np.nan))
    keys = list(subjects)
    reference = pd.DataFrame(rows, columns=raters, dtype=object) if rows else pd.DataFrame(columns=raters,
                                                                                            dtype=object)
    scores = None
    score_cats = [c for c in table.score_categories if c in cats]
    if table.scores is not None and score_rows:
        full = np.vstack(score_rows)
        scores = full[:, [table.score_categories.index(c) for c in score_cats]]
    index = [f"{k[0]}/{k[1]}" if unit == "segment" else k[0] for k in keys]
    count_frames = {c: pd.DataFrame(m, index=index, columns=[*raters, PREDICTED]) for c, m in counts.items()}
    pred_array = _objects(predicted)
    aggregated = Table(table.dimension, table.level, unit, True, cats, keys,
                       np.asarray([k[0] for k in keys], dtype=object), reference, pred_array, scores, score_cats)
    return aggregated, count_frames


# --------------------------------------------------------------------------- consensus
def consensus(table: Table) -> np.ndarray:
    """The reference consensus per subject (see the module docstring); None where there is none."""
    n = len(table)
    out = np.empty(n, dtype=object)
    if not n:
        return out
    if not table.multi_label:
        out[:] = majority_vote(table.reference, rule="plurality")
        return out
    values = table.reference.to_numpy(dtype=object)
    for i in range(n):
        sets = [v for v in values[i] if v is not None]
        if not sets:
            out[i] = None
            continue
        votes = Counter(c for s in sets for c in s)
        out[i] = frozenset(c for c, k in votes.items() if 2 * k > len(sets))
    return out


def _indicator(values: Sequence[Any], categories: Sequence[str], multi: bool) -> np.ndarray:
    index = {c: j for j, c in enumerate(categories)}
    out = np.zeros((len(values), len(categories)), dtype=bool)
    for i, v in enumerate(values):
        for c in (v if multi else [v]):
            if c in index:
                out[i, index[c]] = True
    return out


def _binary_frame(table: Table, category: str) -> pd.DataFrame:
    """Subjects x raters 0/1 presence of one category (None where not covered)."""
    def conv(v: Any) -> Any:
        if v is None:
            return None
        return int(category in v) if table.multi_label else int(v == category)
    return table.reference.map(conv) if len(table) else table.reference


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


def _bootstrap_many(vector: _Vector, groups: np.ndarray, n_resamples: int, seed: int,
                    names: Sequence[str] | None = None) -> dict[str, BootstrapCI]:
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

    wanted = names if names is not None else vector.names
    position = {n: j for j, n in enumerate(vector.names)}
    return {n: bootstrap_ci(statistic_for(position[n]), groups, n_resamples=n_resamples, seed=seed)
            for n in wanted}


def _ci(result: BootstrapCI | None) -> list[float] | None:
    return None if result is None else [result.low, result.high]


# --------------------------------------------------------------------------- statistics
def _coefficients(frame: pd.DataFrame, categories: Sequence[Any]) -> dict[str, Any]:
    """Fleiss' kappa, Krippendorff's alpha (nominal) and Gwet's AC1 of a subjects x raters frame."""
    if frame.shape[1] < 2 or not len(frame):
        return {"raters": int(frame.shape[1]), "subjects": int(len(frame)), "fleiss_kappa": math.nan,
                "krippendorff_alpha": math.nan, "gwet_ac1": math.nan}
    cats = list(categories)
    alpha = krippendorff_alpha(frame, level="nominal", value_domain=cats)
    ac1 = gwet_ac1(frame, categories=cats)
    return {"raters": int(frame.shape[1]), "subjects": int(ac1.n_subjects),
            "fleiss_kappa": fleiss_kappa(fleiss_table(frame, categories=cats)),
            "krippendorff_alpha": alpha, "gwet_ac1": float(ac1)}


def _records(frame: pd.DataFrame, index_name: str | None = None) -> list[dict[str, Any]]:
    frame = frame.reset_index() if index_name else frame
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def rater_sentence(position: Any) -> str:
    """"κ = .74, inside the human range .64–.88, above 6 of 10 raters" from a `ModelPosition`."""
    k = position.model_kappa
    if not _finite(k):
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


def _as_rater(human: pd.DataFrame, model: np.ndarray) -> dict[str, Any]:
    result = model_as_rater(human, model)
    pos = result.position
    return {
        "rule": result.rule,
        "pairwise": _records(result.pairwise),
        "leave_one_out": _records(result.leave_one_out, "rater"),
        "model_vs_majority": {"kappa": result.model_vs_majority.kappa,
                              "percent_agreement": result.model_vs_majority.percent_agreement,
                              "n": result.model_vs_majority.n,
                              "n_no_majority": result.model_vs_majority.n_no_majority},
        "model_vs_raters": _records(result.model_vs_raters, "rater"),
        "position": {k: getattr(pos, k) for k in pos.__dataclass_fields__},
        "sentence": rater_sentence(pos),
    }


def _rater_block(table: Table, predicted_kind: str) -> dict[str, Any]:
    """Human-human agreement, and the predicted side as one more rater."""
    raters = list(table.reference.columns)
    out: dict[str, Any] = {"reference_raters": raters, "n_reference_raters": len(raters)}
    if not len(table):
        return out
    if not table.multi_label:
        cats = list(table.categories)
        coeff = {"reference": _coefficients(table.reference, cats)}
        if predicted_kind == "rater":
            pred = pd.Series(list(table.predicted), index=table.reference.index, dtype=object, name=PREDICTED)
            coeff["all"] = _coefficients(pd.concat([table.reference, pred], axis=1), cats)
            out["fleiss_all"] = coeff["all"]["fleiss_kappa"]
        out["fleiss_reference"] = coeff["reference"]["fleiss_kappa"]
        out["coefficients"] = coeff
        if len(raters) >= 2:
            out["model_as_rater"] = _as_rater(table.reference, table.predicted)
        return out
    per_label: dict[str, Any] = {}
    for cat in table.categories:
        frame = _binary_frame(table, cat)
        used = bool((frame == 1).any().any())
        if not used and not any(v is not None and cat in v for v in table.predicted):
            continue
        pred = [None if v is None else int(cat in v) for v in table.predicted]
        coeff = {"reference": _coefficients(frame, [0, 1])}
        entry: dict[str, Any] = {}
        if predicted_kind == "rater":
            column = pd.Series(pred, index=frame.index, dtype=object, name=PREDICTED)
            coeff["all"] = _coefficients(pd.concat([frame, column], axis=1), [0, 1])
            entry["fleiss_all"] = coeff["all"]["fleiss_kappa"]
        entry["fleiss_reference"] = coeff["reference"]["fleiss_kappa"]
        entry["coefficients"] = coeff
        if len(raters) >= 2 and used:
            entry["model_as_rater"] = _as_rater(frame, _objects(pred))
        per_label[cat] = entry
    out["per_label"] = per_label
    return out


def classification_metrics(table: Table, *, n_bootstrap: int, seed: int, predicted_kind: str) -> dict[str, Any]:
    """Model vs reference consensus, and the rater block, for one table (utterance or segment presence)."""
    cons = consensus(table)
    pred = table.predicted
    usable = [i for i in range(len(table)) if cons[i] is not None and pred[i] is not None]
    cats = list(table.categories)
    out: dict[str, Any] = {
        "unit": table.unit, "multi_label": table.multi_label, "categories": cats,
        "n_subjects": len(table), "n_compared": len(usable),
        "n_transcripts": len(set(table.groups[usable].tolist())) if usable else 0,
        "n_no_consensus": int(sum(cons[i] is None for i in range(len(table)))),
        "n_not_predicted": int(sum(pred[i] is None for i in range(len(table)))),
    }
    out["raters"] = _rater_block(table, predicted_kind)
    if not usable:
        out["labels"] = []
        return out
    idx = np.asarray(usable)
    yt_vals, yp_vals = cons[idx], pred[idx]
    truth = _indicator(yt_vals, cats, table.multi_label)
    guess = _indicator(yp_vals, cats, table.multi_label)
    support = truth.sum(axis=0)
    supported = [j for j, s in enumerate(support) if s > 0]
    if table.multi_label and len(cats) == 1:
        # One column (e.g. a one-family dimension at family level): scikit-learn reads an n x 1
        # indicator matrix as a binary column vector, and `label_report` would then score the
        # absent class. Score presence as the positive class of a 0/1 vector instead.
        t1, p1 = truth[:, 0].astype(int).tolist(), guess[:, 0].astype(int).tolist()
        report = label_report(t1, p1, labels=[1], label_names=cats, zero_division=0.0)
        macro = report.loc["macro avg"] if supported else None
    elif table.multi_label:
        t_frame = pd.DataFrame(truth.astype(int), columns=cats)
        p_frame = pd.DataFrame(guess.astype(int), columns=cats)
        report = label_report(t_frame, p_frame, zero_division=0.0)
        macro = (label_report(t_frame, p_frame, labels=supported, label_names=[cats[j] for j in supported],
                              zero_division=0.0).loc["macro avg"] if supported else None)
    else:
        yt, yp = list(yt_vals), list(yp_vals)
        report = label_report(yt, yp, labels=cats, zero_division=0.0)
        macro = (label_report(yt, yp, labels=[cats[j] for j in supported], zero_division=0.0).loc["macro avg"]
                 if supported else None)
    cis: dict[str, BootstrapCI] = {}
    if n_bootstrap > 0:
        cis = _bootstrap_many(_Vector(truth, guess, cats, single=not table.multi_label),
                              table.groups[idx].astype(str), n_bootstrap, seed)
    aucs: dict[str, tuple[float, float, int]] = {}
    if table.scores is not None:
        aucs = _aucs(truth, table.scores[idx], cats, table.score_categories)
        if aucs:
            pooled_t, pooled_s = [], []
            for j, name in enumerate(table.score_categories):
                if name in cats:
                    column = table.scores[idx][:, j]
                    ok = np.isfinite(column)
                    pooled_t.append(truth[ok, cats.index(name)].astype(int))
                    pooled_s.append(column[ok])
            micro = score_report(np.concatenate(pooled_t), np.concatenate(pooled_s)).loc["positive"]
            defined = [v for v in aucs.values() if _finite(v[0])]
            out["scores"] = {
                "n": int(max(v[2] for v in aucs.values())),
                "per_label": {name: {"roc_auc": v[0], "pr_auc": v[1], "n": v[2]} for name, v in aucs.items()},
                "macro": {"roc_auc": float(np.mean([v[0] for v in defined])) if defined else math.nan,
                          "pr_auc": float(np.mean([v[1] for v in defined])) if defined else math.nan},
                "micro": {"roc_auc": float(micro["roc_auc"]), "pr_auc": float(micro["pr_auc"])},
            }
    labels = []
    for j, cat in enumerate(cats):
        t_bin, p_bin = truth[:, j].astype(int), guess[:, j].astype(int)
        pair = pd.DataFrame({"reference": t_bin, "predicted": p_bin}, dtype=object)
        row = report.loc[cat]
        entry = {
            "label": cat, "support": int(support[j]), "predicted": int(p_bin.sum()),
            "precision": float(row["precision"]), "recall": float(row["recall"]), "f1": float(row["f1"]),
            "precision_ci": _ci(cis.get(f"{cat}|precision")), "recall_ci": _ci(cis.get(f"{cat}|recall")),
            "f1_ci": _ci(cis.get(f"{cat}|f1")),
            "kappa": cohen_kappa(t_bin, p_bin), "kappa_ci": _ci(cis.get(f"{cat}|kappa")),
            "pabak": pabak(t_bin, p_bin, n_categories=2),
            "krippendorff_alpha": krippendorff_alpha(pair, level="nominal", value_domain=[0, 1]),
            "gwet_ac1": float(gwet_ac1(pair, categories=[0, 1])),
            "roc_auc": None, "pr_auc": None,
        }
        if support[j] == 0:  # recall undefined; with nothing predicted either, so are precision and F1
            entry["recall"] = math.nan
            if not p_bin.sum():
                entry["precision"] = entry["f1"] = math.nan
        if cat in aucs:
            entry["roc_auc"], entry["pr_auc"] = aucs[cat][0], aucs[cat][1]
        labels.append(entry)
    out["labels"] = labels
    micro_row = report.loc["micro avg"]
    out["micro"] = {"precision": float(micro_row["precision"]), "recall": float(micro_row["recall"]),
                    "f1": float(micro_row["f1"]), "support": int(support.sum()),
                    "precision_ci": _ci(cis.get("micro|precision")), "recall_ci": _ci(cis.get("micro|recall")),
                    "f1_ci": _ci(cis.get("micro|f1"))}
    out["macro"] = {"precision": float(macro["precision"]) if macro is not None else math.nan,
                    "recall": float(macro["recall"]) if macro is not None else math.nan,
                    "f1": float(macro["f1"]) if macro is not None else math.nan,
                    "over": f"{len(supported)} of {len(cats)} labels (those with support > 0)",
                    "n_labels": len(supported),
                    "precision_ci": _ci(cis.get("macro|precision")), "recall_ci": _ci(cis.get("macro|recall")),
                    "f1_ci": _ci(cis.get("macro|f1"))}
    label_kappas = [e["kappa"] for e in labels if e["support"] > 0 and _finite(e["kappa"])]
    if table.multi_label:
        pooled_t, pooled_p = truth.ravel().astype(int), guess.ravel().astype(int)
        out["kappa"] = {"value": cohen_kappa(pooled_t, pooled_p), "ci": _ci(cis.get("kappa")),
                        "what": "pooled over (subject, label) decisions (micro)",
                        "macro": float(np.mean(label_kappas)) if label_kappas else math.nan}
        co = _cooccurrence(yt_vals, yp_vals, cats)
        out["confusion"] = {"kind": "co-occurrence", "rows": co.index.tolist(), "columns": co.columns.tolist(),
                            "matrix": co.to_numpy().tolist(),
                            "per_label": _two_by_two(truth, guess, cats)}
    else:
        pair = pd.DataFrame({"reference": list(yt_vals), "predicted": list(yp_vals)}, dtype=object)
        out["kappa"] = {"value": cohen_kappa(list(yt_vals), list(yp_vals)), "ci": _ci(cis.get("kappa")),
                        "what": "Cohen's kappa on the class", "macro": float(np.mean(label_kappas))
                        if label_kappas else math.nan}
        out["krippendorff_alpha"] = krippendorff_alpha(pair, level="nominal", value_domain=cats)
        out["gwet_ac1"] = float(gwet_ac1(pair, categories=cats))
        out["pabak"] = pabak(list(yt_vals), list(yp_vals), n_categories=len(cats))
        cm = confusion_table(list(yt_vals), list(yp_vals), labels=cats)
        out["confusion"] = {"kind": "confusion", "rows": cats, "columns": cats, "matrix": cm.to_numpy().tolist()}
    if n_bootstrap > 0 and cis:
        any_ci = next(iter(cis.values()))
        out["bootstrap"] = {"resamples": n_bootstrap, "seed": seed, "groups": any_ci.n_groups, "level": 0.95,
                            "by": "transcript"}
    return out


def _aucs(truth: np.ndarray, scores: np.ndarray, cats: Sequence[str], score_cats: Sequence[str]
          ) -> dict[str, tuple[float, float, int]]:
    """ROC-AUC, PR-AUC and n per label, each over the subjects where the model gave that label a score."""
    out = {}
    for j, name in enumerate(score_cats):
        if name not in cats:
            continue
        column = scores[:, j]
        ok = np.isfinite(column)
        if not ok.any():
            continue
        report = score_report(truth[ok, list(cats).index(name)].astype(int), column[ok], label_names=[name])
        out[name] = (float(report.loc[name, "roc_auc"]), float(report.loc[name, "pr_auc"]), int(ok.sum()))
    return out


def _two_by_two(truth: np.ndarray, guess: np.ndarray, cats: Sequence[str]) -> list[dict[str, Any]]:
    """Per-label tn, fp, fn, tp. (Computed here: `multilabel_confusion_table` fails on a single column,
    which scikit-learn reads as a binary task - e.g. a dimension with one family at family level.)"""
    return [{"label": c, "tn": int((~truth[:, j] & ~guess[:, j]).sum()), "fp": int((~truth[:, j] & guess[:, j]).sum()),
             "fn": int((truth[:, j] & ~guess[:, j]).sum()), "tp": int((truth[:, j] & guess[:, j]).sum())}
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


def _correlation(x: np.ndarray, y: np.ndarray, kind: str) -> float:
    from scipy import stats as sps

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sps.pearsonr(x[ok], y[ok]) if kind == "pearson" else sps.spearmanr(x[ok], y[ok])
    return float(result[0])


def _icc(frame: pd.DataFrame) -> dict[str, Any] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = icc(frame.to_numpy(dtype=float))
    except ValueError as exc:
        return {"error": str(exc)}
    forms = {name: {"shrout_fleiss": row["shrout_fleiss"], "mcgraw_wong": row["mcgraw_wong"],
                    "description": row["description"], "icc": row["icc"], "ci": [row["ci_low"], row["ci_high"]],
                    "F": row["F"], "pval": row["pval"]} for name, row in table.iterrows()}
    return {"n_targets": table.attrs["n_targets"], "n_raters": table.attrs["n_raters"],
            "n_dropped": table.attrs["n_dropped"], "forms": forms}


def count_metrics(counts: dict[str, pd.DataFrame], reference_raters: Sequence[str]) -> dict[str, Any]:
    """Per category: counts per subject (segment or transcript) compared with ICC and Pearson/Spearman.

    * ``predicted_vs_reference``: ICC (all six Shrout-Fleiss forms) of two columns, the predicted
      count and the mean of the reference raters' counts;
    * ``reference``: ICC among the reference raters (two or more);
    * ``all``: ICC of the reference raters and the predicted side together;
    * ``pearson`` / ``spearman``: predicted count against the reference mean.
    """
    out: dict[str, Any] = {}
    raters = list(reference_raters)
    for cat, frame in counts.items():
        ref = frame[raters]
        ref_mean = ref.mean(axis=1, skipna=True)
        pred = frame[PREDICTED]
        pair = pd.DataFrame({"reference_mean": ref_mean, "predicted": pred})
        entry: dict[str, Any] = {
            "n_subjects": int(len(frame)),
            "totals": {**{r: float(np.nansum(ref[r])) for r in raters}, "predicted": float(np.nansum(pred))},
            "pearson": _correlation(pred.to_numpy(float), ref_mean.to_numpy(float), "pearson"),
            "spearman": _correlation(pred.to_numpy(float), ref_mean.to_numpy(float), "spearman"),
            "predicted_vs_reference": _icc(pair),
            "reference": _icc(ref) if len(raters) >= 2 else None,
            "all": _icc(frame),
            "subjects": [{"subject": str(s), "predicted": row[PREDICTED],
                          "reference": {r: row[r] for r in raters}} for s, row in frame.iterrows()],
        }
        out[cat] = entry
    return out


def rating_metrics(aligned: Aligned, proj: Projection, table: Table, group_of: Callable[[Key], tuple[str, Any]]
                   ) -> dict[str, Any] | None:
    """3RS-style significance ratings per segment and category, where codes carry a ``rating``.

    A rater's rating of a category in a segment is the highest rating they gave a code of that
    category there; a rater who rated something and covered the segment but did not give the
    category gets the bottom of the codebook's segment rating scale (e.g. 1, "not at all
    significant"), else no rating. Compared with quadratic weighted kappa (predicted against each
    reference rater) and ICC (reference raters; reference raters with the predicted side).
    """
    raters = list(aligned.reference_raters)
    scale_spec = next((r for r in aligned.codebook.ratings if r.unit == "segment"), None)
    rated: dict[str, dict[tuple[tuple[str, Any], str], float]] = {}
    covered: dict[str, set[tuple[str, Any]]] = {}
    sources = [(r, lambda key, r=r: aligned.ref_codes.get(key, {}).get(r, []), proj.ref_map) for r in raters]
    if aligned.predicted_kind == "rater":
        sources.append((PREDICTED, lambda key: aligned.pred_codes.get(key, []), proj.pred_map))
    for key in table.keys:
        subject = group_of(key)
        for name, get, mapping in sources:
            codes = get(key)
            if codes:
                covered.setdefault(name, set()).add(subject)
            for code in codes:
                if code.rating is not None and code.label in mapping:
                    slot = rated.setdefault(name, {})
                    k = (subject, mapping[code.label])
                    slot[k] = max(slot.get(k, -math.inf), float(code.rating))
    if not rated:
        return None
    names = [n for n, _, _ in sources if n in rated]
    cells = sorted({k for slot in rated.values() for k in slot}, key=lambda k: (natural_key(str(k[0][0])),
                                                                                  str(k[0][1]), k[1]))
    bottom = float(scale_spec.scale[0]) if scale_spec else None
    matrix = pd.DataFrame(index=[f"{s[0]}/{s[1]}:{c}" for s, c in cells], columns=names, dtype=float)
    for name in names:
        matrix[name] = [rated[name].get(cell, bottom if (bottom is not None and cell[0] in covered.get(name, set()))
                                        else np.nan) for cell in cells]
    scale = (list(range(int(scale_spec.scale[0]), int(scale_spec.scale[1]) + 1)) if scale_spec else None)
    out: dict[str, Any] = {"raters": names, "n_cells": len(cells), "scale": scale,
                           "absent_as": bottom, "rule": "max rating per segment and category"}
    ref_names = [n for n in names if n != PREDICTED]
    if len(ref_names) >= 2:
        out["icc_reference"] = _icc(matrix[ref_names])
    if PREDICTED in names:
        kappas = {}
        for r in ref_names:
            both = matrix[[r, PREDICTED]].dropna()
            kappas[r] = (weighted_kappa(both[r].tolist(), both[PREDICTED].tolist(), weights="quadratic",
                                        labels=[float(v) for v in scale] if scale else None)
                         if len(both) else math.nan)
        out["weighted_kappa"] = kappas
        finite = [v for v in kappas.values() if _finite(v)]
        out["weighted_kappa_mean"] = float(np.mean(finite)) if finite else math.nan
        if ref_names:
            out["icc_all"] = _icc(matrix[[*ref_names, PREDICTED]])
    else:
        out["note"] = "the predicted side has no ratings; only the reference raters are compared"
    return out


# --------------------------------------------------------------------------- utterance views
def disagreements(aligned: Aligned, tables: Sequence[Table]) -> list[dict[str, Any]]:
    """Utterances where the predicted labels differ from the reference consensus, in corpus order."""
    rows: list[dict[str, Any]] = []
    for table in tables:
        cons = consensus(table)
        raters = list(table.reference.columns)
        values = table.reference.to_numpy(dtype=object)
        for i, key in enumerate(table.keys):
            ref, pred = cons[i], table.predicted[i]
            if ref is None or pred is None:
                continue
            ref_set = set(ref) if table.multi_label else ({ref} - {aligned.codebook.none_label})
            pred_set = set(pred) if table.multi_label else ({pred} - {aligned.codebook.none_label})
            if ref_set == pred_set:
                continue
            u = aligned.utterances[key]
            cover = [v for v in values[i] if v is not None]
            votes = Counter(c for v in cover for c in (v if table.multi_label else [v]))
            differing = sorted(ref_set ^ pred_set)
            scores = {}
            if table.scores is not None:
                for c in differing:
                    if c in table.score_categories:
                        s = table.scores[i, table.score_categories.index(c)]
                        if math.isfinite(s):
                            scores[c] = float(s)
            rows.append({
                "transcript_id": key[0], "utterance_id": key[1], "position": aligned.position[key],
                "dimension": table.dimension, "level": table.level, "speaker": u.speaker, "role": u.role,
                "text": u.text, "reference": sorted(ref_set), "predicted": sorted(pred_set),
                "votes": {c: f"{n}/{len(cover)}" for c, n in sorted(votes.items())} if len(raters) > 1 else {},
                "scores": scores,
            })
    order = {k: i for i, k in enumerate(aligned.order)}
    dim_order = {t.dimension: i for i, t in enumerate(tables)}
    rows.sort(key=lambda r: (order[(r["transcript_id"], r["utterance_id"])], dim_order[r["dimension"]]))
    return rows
