"""Reading the two sides of an agreement run, picking the raters, aligning the utterances.

The reference side is any file `read_transcripts` reads (canonical JSONL with codes, AnnoMI CSV,
ELAN, ...), with one or several raters. The predicted side is either a tag output (utterances
with ``labels`` / ``scores``: the predicted side is "model") or one rater's codes from a file
(``predicted_rater``); when both sides are the same file that rater leaves the reference ("one
rater against the rest"). Both sides are aligned by (transcript_id, utterance_id).

Nothing here prints: what the reader and the alignment noticed comes back in `Aligned.warnings`
(something may be wrong with the input) and `Aligned.notes` (how the comparison was set up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from rupturekit.agree.results import Overlap, SideCounts
from rupturekit.codebook import Codebook
from rupturekit.codes import CodeRow, check_labels
from rupturekit.errors import InputError
from rupturekit.records import Code, Transcript, Utterance

__all__ = ["MODEL", "PREDICTED", "Aligned", "Key", "align", "key_text", "natural_key"]

Key = tuple[str, int]
ByRater = dict[Key, dict[str, list[Code]]]
PREDICTED = "__predicted__"  # the predicted side's name among raters (count tables, coverage)
MODEL = "model"
_EXAMPLES = 5


def natural_key(name: str) -> tuple[int, int, str]:
    """Sort rater / transcript ids so that "2" comes before "10"."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _first(items: Sequence[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def key_text(key: tuple[str, Any]) -> str:
    return f"{key[0]}#{key[1]}"


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
    ref_codes: ByRater
    pred_codes: dict[Key, list[Code]]  # the predicted rater's codes, or the model's labels as codes
    pred_scores: dict[Key, dict[str, float]]
    pred_family_labels: set[str]  # family names the model predicted instead of labels
    rater_transcripts: dict[str, set[str]]  # transcripts in which each rater (reference, or predicted rater) coded
    overlap: Overlap
    counts: SideCounts
    reference_transcripts: list[Transcript]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_scores(self) -> bool:
        return any(self.pred_scores.values())


# --------------------------------------------------------------------------- reading
Cache = dict[Path, tuple[list[Transcript], list[str]]]


def _read(path: Path, cache: Cache) -> tuple[list[Transcript], list[str]]:
    resolved = path.resolve()
    if resolved in cache:
        return cache[resolved]
    if not path.exists():
        raise InputError(str(path), "no such file or folder", "check the path")
    from rupturekit.reading import read_with_notes

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


def _codes_by_rater(transcripts: list[Transcript]) -> ByRater:
    out: ByRater = {}
    for t in transcripts:
        for u in t.utterances:
            if u.codes:
                slot = out.setdefault((u.transcript_id, u.utterance_id), {})
                for code in u.codes:
                    slot.setdefault(code.rater, []).append(code)
    return out


def _raters_present(codes: ByRater) -> list[str]:
    return sorted({r for by_rater in codes.values() for r in by_rater}, key=natural_key)


def _check_codes(codes: ByRater, raters: Sequence[str], codebook: Codebook, file: str) -> None:
    wanted = set(raters)
    rows = [CodeRow(key[0], key[1], rater, code.label, where=key_text(key))
            for key, by_rater in codes.items() for rater, items in by_rater.items() if rater in wanted
            for code in items]
    check_labels(rows, codebook, file)


def _crosswalk(codebook: Codebook, crosswalk_from: Codebook | None) -> dict[str, str | None] | None:
    if crosswalk_from is None:
        return None
    try:
        return crosswalk_from.crosswalk(codebook.name)
    except KeyError:
        declared = ", ".join(c.to for c in crosswalk_from.crosswalks) or "none"
        raise InputError(crosswalk_from.name, f"codebook '{crosswalk_from.name}' declares no crosswalk to "
                                              f"'{codebook.name}' (it declares: {declared})",
                         "add a 'crosswalks' entry to the codebook, or compare without a crosswalk") from None


# --------------------------------------------------------------------------- the predicted side
@dataclass
class _Predicted:
    kind: Literal["model", "rater"]
    name: str
    rater: str | None
    codes: dict[Key, list[Code]]
    scores: dict[Key, dict[str, float]] = field(default_factory=dict)
    family_labels: set[str] = field(default_factory=set)


def _model_side(transcripts: list[Transcript], codebook: Codebook, file: str) -> _Predicted:
    """The model's labels (as codes of rater "model") and scores per utterance, checked."""
    families = set(codebook.families)
    side = _Predicted("model", MODEL, None, {})
    unknown: list[CodeRow] = []
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
                    side.family_labels.add(name)
                elif not codebook.is_valid(name):
                    unknown.append(CodeRow(key[0], key[1], MODEL, name, where=key_text(key)))
            side.codes[key] = [Code(rater=MODEL, label=label) for label in labels if label != codebook.none_label]
            side.scores[key] = clean
    if unknown:
        check_labels(unknown, codebook, file, any_known=any_known)
    return side


def _rater_side(by_rater: ByRater, rater: str, codebook: Codebook, file: str) -> _Predicted:
    codes = {k: v[rater] for k, v in by_rater.items() if rater in v}
    _check_codes({k: {rater: v} for k, v in codes.items()}, [rater], codebook, file)
    return _Predicted("rater", f"rater {rater}", rater, codes)


def _predicted_side(predicted: Path, pred_transcripts: list[Transcript], ref_codes: ByRater, same_file: bool,
                    predicted_rater: str | None, codebook: Codebook) -> _Predicted:
    """The model's tags, the named rater's codes, or the codes of the only rater in the predicted file."""
    file = str(predicted)
    if predicted_rater is not None:
        by_rater = ref_codes if same_file else _codes_by_rater(pred_transcripts)
        present = _raters_present(by_rater)
        if predicted_rater not in present:
            raise InputError(file, f"no codes by rater '{predicted_rater}'",
                             f"raters present: {', '.join(present) or 'none'}")
        return _rater_side(by_rater, predicted_rater, codebook, file)
    if any(u.labels is not None for t in pred_transcripts for u in t.utterances):
        return _model_side(pred_transcripts, codebook, file)
    by_rater = _codes_by_rater(pred_transcripts)
    present = _raters_present(by_rater)
    if same_file or not present:
        what = "is the reference itself" if same_file else "has neither tag labels nor codes"
        raise InputError(file, f"the predicted file {what}",
                         "give a tag output (rupturekit tag), or choose one rater with predicted_rater "
                         f"(raters present: {', '.join(present) or 'none'})")
    if len(present) > 1:
        raise InputError(file, f"the predicted file has codes by {len(present)} raters",
                         f"choose one with predicted_rater (raters present: {', '.join(present)})")
    return _rater_side(by_rater, present[0], codebook, file)


def _reference_raters(reference: Path, present: list[str], wanted: Sequence[str] | None, side: _Predicted,
                      same_file: bool, notes: list[str]) -> list[str]:
    if wanted is not None:
        asked = [str(r) for r in wanted]
        missing = [r for r in asked if r not in present]
        if missing:
            raise InputError(str(reference), f"no codes by rater {', '.join(repr(r) for r in missing)}",
                             f"raters present: {', '.join(present)}")
        raters = list(dict.fromkeys(asked))
    else:
        raters = list(present)
    if same_file and side.rater is not None and side.rater in raters:
        raters.remove(side.rater)
        notes.append(f"one rater against the rest: rater {side.rater} is the predicted side, "
                     f"the other {len(raters)} rater(s) are the reference")
    if not raters:
        raise InputError(str(reference), "no reference raters are left",
                         f"raters present: {', '.join(present)}; the predicted rater cannot also be the only "
                         "reference rater")
    return raters


# --------------------------------------------------------------------------- alignment
@dataclass
class _Corpus:
    """The reference's utterances in corpus order, with their positions and the transcript lengths."""

    utterances: dict[Key, Utterance]
    position: dict[Key, int]
    transcript_order: list[str]
    lengths: dict[str, int]

    @classmethod
    def of(cls, transcripts: list[Transcript]) -> _Corpus:
        corpus = cls({}, {}, [], {})
        for t in transcripts:
            corpus.transcript_order.append(t.transcript_id)
            corpus.lengths[t.transcript_id] = len(t.utterances)
            for i, u in enumerate(t.utterances):
                key = (u.transcript_id, u.utterance_id)
                corpus.utterances[key] = u
                corpus.position[key] = i
        return corpus

    # read by the overlap and the alignment: built once (`of` fills the corpus before either)
    @cached_property
    def index(self) -> dict[Key, int]:
        """Each utterance's place in corpus order."""
        return {k: i for i, k in enumerate(self.utterances)}

    @cached_property
    def keys(self) -> set[Key]:
        return set(self.utterances)


def _overlap(corpus: _Corpus, ref_coded: set[Key], pred_keys: set[Key], shared: set[Key],
             pred_utterances: dict[Key, Utterance]) -> Overlap:
    """How the two sides overlap (counts, and the first examples of each kind); `shared` is coded on both."""
    order_index = corpus.index
    reference_only = sorted(ref_coded - pred_keys, key=order_index.__getitem__)
    predicted_only = sorted(pred_keys - corpus.keys, key=lambda k: (natural_key(k[0]), k[1]))
    uncoded = (pred_keys & corpus.keys) - ref_coded  # predicted, in the reference file, never coded
    text_mismatch = [k for k in sorted(shared, key=order_index.__getitem__)
                     if " ".join(corpus.utterances[k].text.split()) != " ".join(pred_utterances[k].text.split())]
    return Overlap(
        reference_utterances=len(corpus.utterances), reference_coded=len(ref_coded),
        predicted_utterances=len(pred_keys), shared=len(shared), reference_only=len(reference_only),
        predicted_only=len(predicted_only),
        reference_only_examples=[key_text(k) for k in reference_only[:_EXAMPLES]],
        predicted_only_examples=[key_text(k) for k in predicted_only[:_EXAMPLES]],
        predicted_not_coded_in_reference=len(uncoded),
        reference_only_transcripts=sorted({k[0] for k in reference_only} - {k[0] for k in shared}, key=natural_key),
        predicted_only_transcripts=sorted({k[0] for k in predicted_only}, key=natural_key),
        text_mismatches=len(text_mismatch), text_mismatch_examples=[key_text(k) for k in text_mismatch[:_EXAMPLES]],
        partial=bool(reference_only or predicted_only))


def _check_overlap(overlap: Overlap, side: _Predicted, predicted: Path, allow_partial: bool,
                   notes: list[str], warnings: list[str]) -> None:
    """Refuse sides that share nothing, or (unless `allow_partial`) cover different utterances."""
    described = (f"{overlap.shared} shared; {overlap.reference_only} coded in the reference but not "
                 f"{'predicted' if side.kind == 'model' else 'coded by ' + side.name}"
                 + (f" (e.g. {', '.join(overlap.reference_only_examples[:3])})" if overlap.reference_only else "")
                 + f"; {overlap.predicted_only} predicted but not in the reference"
                 + (f" (e.g. {', '.join(overlap.predicted_only_examples[:3])})" if overlap.predicted_only else ""))
    if not overlap.shared:
        raise InputError(str(predicted), f"reference and predicted share no coded utterance ({described})",
                         "check that both files come from the same corpus (same transcript and utterance ids)")
    if overlap.partial and not allow_partial:
        raise InputError(str(predicted), f"reference and predicted cover different utterances: {described}",
                         f"check that both files come from the same corpus, or allow a partial comparison "
                         f"(allow_partial / --allow-partial) on the {overlap.shared} shared utterances")
    if overlap.partial:
        notes.append(f"partial comparison: {described}")
    if overlap.predicted_not_coded_in_reference and side.kind == "rater":
        notes.append(f"{overlap.predicted_not_coded_in_reference} utterances coded by {side.name} have no "
                     "reference codes and are not compared")
    if overlap.text_mismatches:
        warnings.append(f"the utterance text differs between the two files on {overlap.text_mismatches} shared "
                        f"utterances (e.g. {', '.join(overlap.text_mismatch_examples[:3])})")


def _rater_transcripts(ref_codes: ByRater, side: _Predicted) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, by_rater in ref_codes.items():
        for rater in by_rater:
            out.setdefault(rater, set()).add(key[0])
    if side.kind == "rater":
        out[PREDICTED] = {key[0] for key in side.codes}
    return out


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
    cache: Cache = {}
    ref_transcripts, ref_notes = _read(reference, cache)
    pred_transcripts, pred_notes = _read(predicted, cache)
    same_file = reference.resolve() == predicted.resolve()
    ref_transcripts = _restrict(ref_transcripts, transcripts, str(reference))
    pred_transcripts = _restrict(pred_transcripts, transcripts, str(predicted))
    notes: list[str] = []
    warnings = list(dict.fromkeys([*ref_notes, *([] if same_file else pred_notes)]))
    walk = _crosswalk(codebook, crosswalk_from)
    ref_codes_all = _codes_by_rater(ref_transcripts)
    present = _raters_present(ref_codes_all)
    if not present:
        raise InputError(str(reference), "the reference has no codes",
                         "give a file with human codes (rupturekit codes import), e.g. canonical JSONL or AnnoMI")
    side = _predicted_side(predicted, pred_transcripts, ref_codes_all, same_file,
                           None if predicted_rater is None else str(predicted_rater), codebook)
    if side.family_labels:
        notes.append(f"the model predicts families ({', '.join(sorted(side.family_labels))}) rather than labels: "
                     "those dimensions are compared at family level only")
    raters = _reference_raters(reference, present, reference_raters, side, same_file, notes)
    _check_codes(ref_codes_all, raters, crosswalk_from or codebook, str(reference))

    corpus = _Corpus.of(ref_transcripts)
    keep = set(raters)
    ref_codes = {k: {r: c for r, c in v.items() if r in keep} for k, v in ref_codes_all.items()}
    ref_codes = {k: v for k, v in ref_codes.items() if v}
    pred_utterances = {(u.transcript_id, u.utterance_id): u for t in pred_transcripts for u in t.utterances}
    pred_keys = set(pred_utterances) if side.kind == "model" else set(side.codes)
    ref_coded = set(ref_codes)
    shared = ref_coded & pred_keys
    overlap = _overlap(corpus, ref_coded, pred_keys, shared, pred_utterances)
    _check_overlap(overlap, side, predicted, allow_partial, notes, warnings)

    # Tables are built over every utterance both sides have; coverage decides what is compared
    # (an utterance without reference codes counts only under exhaustive coding).
    order = sorted(pred_keys & corpus.keys, key=corpus.index.__getitem__)
    shared_tids = {k[0] for k in shared}
    counts = SideCounts(
        reference_transcripts=len(ref_transcripts), predicted_transcripts=len({k[0] for k in pred_keys}),
        shared_transcripts=len(shared_tids), shared_utterances=len(shared), reference_raters=len(raters),
        reference_codes=sum(len(c) for k in shared for c in ref_codes[k].values()),
        predicted_labels=sum(len(side.codes.get(k, [])) for k in shared))
    return Aligned(
        reference_path=str(reference), predicted_path=str(predicted), codebook=codebook,
        reference_codebook=crosswalk_from or codebook, crosswalk=walk, reference_raters=raters,
        predicted_kind=side.kind, predicted_rater=side.rater, predicted_name=side.name, same_file=same_file,
        order=order, utterances={k: corpus.utterances[k] for k in order}, position=corpus.position,
        transcript_order=[t for t in corpus.transcript_order if t in shared_tids],
        transcript_lengths=corpus.lengths, ref_codes={k: ref_codes.get(k, {}) for k in order},
        pred_codes={k: side.codes.get(k, []) for k in order},
        pred_scores={k: side.scores.get(k, {}) for k in order}, pred_family_labels=side.family_labels,
        rater_transcripts=_rater_transcripts(ref_codes, side), overlap=overlap, counts=counts,
        reference_transcripts=ref_transcripts, warnings=warnings, notes=notes)
