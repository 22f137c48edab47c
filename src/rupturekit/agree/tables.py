"""Comparison tables: each codebook dimension at one level becomes subjects x raters plus the predicted value.

Within the aligned utterances (`rupturekit.agree.align`) each dimension becomes a `Table`: subjects
(utterances) x reference raters, plus the predicted value per subject. A rater *covers* an
utterance in a dimension when they gave it a label of the dimension, or a ``none`` code and the
dimension applies to the speaker's role (the convention of `rupturekit.codes`); the model covers
every utterance whose role the dimension applies to. Values are one label (single-label
dimensions; ``none`` when a covering rater gave none of its labels) or a set of labels
(multi-label dimensions; ``{}`` = nothing applies).

Levels: ``subtype`` compares the labels, ``family`` their families (``withdrawal``,
``confrontation``, ``resolution``; presence of any label of the family). With a crosswalk the
reference codebook's families are mapped onto the target codebook's families first, and only
the family level is compared.

Units: ``utterance``; ``segment:5m`` / ``segment:40u`` / ``segment:600w`` (a label is present in
a segment for a rater if any utterance of that segment the rater covered carries it; plus label
counts per segment and, where codes carry a ``rating``, the significance ratings); ``session``
(label tallies per transcript and rater).

Reference consensus: single-label, the plurality label of the reference raters (a tie gives
none, and the subject is left out); multi-label, the labels given by more than half of the raters
who covered the subject. With one reference rater the consensus is that rater.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from rupturekit.agree.align import PREDICTED, Aligned, Key, key_text
from rupturekit.agree.raters import majority_vote
from rupturekit.codebook import Codebook, Dimension
from rupturekit.errors import InputError, ProblemLog
from rupturekit.records import Code
from rupturekit.segment.segments import DEFAULT_FALLBACK, SegmentSpec, assign_segments

__all__ = ["GroupOf", "LevelName", "Projection", "Table", "Unit", "aggregate", "build_table", "consensus",
           "object_array", "predicts", "projections", "segment_ids"]

LevelName = Literal["subtype", "family"]
GroupOf = Callable[[Key], tuple[str, Any]]


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
    """The (dimension, level) pairs to compare, and per dimension the levels skipped with the reason.

    `level` is subtype, family or both (`compute_agreement` checks it)."""
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


def predicts(aligned: Aligned, dimension: Dimension) -> bool:
    """Whether the predicted side says anything in `dimension`: a model a label or a score there, a
    rater a code that covers it (a label of it, or ``none`` on an utterance of its role).

    A tag output from a model trained on some dimensions only has nothing in the others; scoring
    those would count every reference code as missed (F1 0) and say nothing about the model.
    """
    names = {*dimension.label_names, *_families_of(dimension)}
    if aligned.predicted_kind == "rater":
        none = aligned.codebook.none_label
        return any(code.label in names or (code.label == none and dimension.applies_to(aligned.utterances[key].role))
                   for key, codes in aligned.pred_codes.items() for code in codes)
    return (any(code.label in names for codes in aligned.pred_codes.values() for code in codes)
            or any(name in names for scores in aligned.pred_scores.values() for name in scores))


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
                              f"{key_text(key)} ('{distinct[0]}' and '{distinct[1]}')",
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
                 object_array(predicted),
                 score_array, list(proj.categories), dict(uncovered))


def object_array(values: Sequence[Any]) -> np.ndarray:
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


def aggregate(table: Table, group_of: GroupOf, unit: str, none_label: str
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
    pred_array = object_array(predicted)
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


