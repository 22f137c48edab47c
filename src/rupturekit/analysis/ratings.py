"""3RS-style segment and session tables, with *estimated* 1-5 significance ratings.

Per segment (5-minute windows, or N-turn / N-word windows without times; the segmentation of
`rupturekit.segment`, the same that ``rupturekit agree --unit segment:5m`` uses): marker turns
per subtype and family, resolution moves per strategy, and an estimated withdrawal and
confrontation significance rating. Per session: rupture frequency, episodes and their outcomes,
strategy counts, and estimated session ratings.

The estimates are **estimates**, never 3RS ratings. 3RS coders judge a marker's significance from
its impact on the collaboration; this tool only sees how many turns carry a marker. Two mappings:

* the **rule** (rupturekit's, used where no human ratings exist): the number of marker turns of a
  family in the segment, 0 -> 1 (no rupture), 1 -> 2, 2 -> 3, 3-4 -> 4, 5 or more -> 5: more turns
  of a marker in one segment are read as a more sustained, so more significant, rupture;
* **calibrated** (where codes carry human ratings): per family, an isotonic (monotone) regression
  of the human rating on the marker-turn count, fitted on the segments with at least one marker
  (a segment without a marker is rated 1 either way: 3RS rates an absent marker 1, and
  ``rupturekit agree`` reads a segment without a rated code of a family as 1). Estimates written
  for the calibration corpus itself are cross-fitted (fitted without the session's own fold,
  folds by transcript), so that comparing them with the human ratings is not circular.

A human rating of a family in a segment is, as in ``rupturekit agree``, the highest rating a rater
gave a code of that family there, or the scale's bottom where the rater coded the segment without
that family; several raters are averaged.

Session estimates (this tool's rules too): the withdrawal / confrontation significance of a
session is that of its most significant segment; the resolution estimate maps the episodes'
outcomes onto the codebook's 1-5 resolution scale, 1 + 4 x (resolved + half the partly resolved)
/ episodes (all unresolved -> 1, all partly -> 3, all resolved -> 5), empty without episodes.
Therapist contribution is not estimated: tags carry no signal for it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rupturekit.analysis.episodes import DEFAULT_RULE, Episode, EpisodeRule, find_episodes
from rupturekit.analysis.events import Source, Turn, strategy_kind, turns_of
from rupturekit.codebook import Codebook
from rupturekit.codes import machine_rater
from rupturekit.errors import InputError, ProblemLog
from rupturekit.records import TAG_FIELDS, Code, Transcript
from rupturekit.segment.segments import DEFAULT_FALLBACK, SegmentSpec, assign_segments

__all__ = ["ESTIMATE_RATER", "MIN_CALIBRATION", "RULE", "RatingMapping", "SessionAnalysis", "analyse_sessions",
           "estimate_corpus", "fit_mapping", "human_segment_ratings", "segmented"]

ESTIMATE_RATER = machine_rater("model", "3rs-estimate")
RULE = {0: 1, 1: 2, 2: 3, 3: 4, 4: 4, 5: 5}  # marker turns -> rating; 5 and more -> 5
MIN_CALIBRATION = 5  # segments with a marker and a human rating needed to calibrate a family
FOLDS = 5


# ------------------------------------------------------------------ the mapping
@dataclass
class RatingMapping:
    """Marker-turn count -> 1-5 estimate, per family: the rule, or a calibrated monotone curve."""

    method: Literal["rule", "calibrated"] = "rule"
    scale: tuple[int, int] = (1, 5)
    # calibrated: family -> (counts, ratings) breakpoints of the isotonic fit (interpolated, clipped)
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    n_segments: dict[str, int] = field(default_factory=dict)  # segments each curve was fitted on

    def method_for(self, family: str) -> str:
        return "calibrated" if family in self.curves else "rule"

    def estimate(self, family: str, count: int) -> int:
        low, high = self.scale
        if count <= 0:
            return low
        if family in self.curves:
            xs, ys = self.curves[family]
            value = float(np.interp(count, xs, ys))
        else:  # the rule on the 1-5 scale, stretched onto another scale if the codebook has one
            value = low + (RULE[min(count, 5)] - 1) * (high - low) / 4
        return int(min(high, max(low, math.floor(value + 0.5))))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "scale": list(self.scale), "rule": {str(k): v for k, v in RULE.items()},
                "curves": {f: {"counts": xs, "ratings": ys} for f, (xs, ys) in self.curves.items()},
                "n_segments": self.n_segments,
                "note": "estimates of 3RS significance ratings from marker-turn counts; not 3RS ratings"}

    @classmethod
    def from_dict(cls, data: Any, file: str) -> RatingMapping:
        if not isinstance(data, dict) or "method" not in data:  # any other JSON would silently become the rule
            raise InputError(file, "not a rating mapping (no 'method')",
                             "give a mapping.json written by rupturekit sessions")
        try:
            curves = {str(f): ([float(x) for x in c["counts"]], [float(y) for y in c["ratings"]])
                      for f, c in (data.get("curves") or {}).items()}
            scale = tuple(int(v) for v in data.get("scale", (1, 5)))
            mapping = cls(str(data.get("method", "rule")), scale, curves,  # type: ignore[arg-type]
                          {str(k): int(v) for k, v in (data.get("n_segments") or {}).items()})
        except (AttributeError, KeyError, TypeError, ValueError):
            raise InputError(file, "not a rating mapping",
                             "give a mapping.json written by rupturekit sessions") from None
        bad = [f for f, (xs, ys) in curves.items() if len(xs) != len(ys) or not xs or list(xs) != sorted(xs)
               or not all(math.isfinite(v) for v in (*xs, *ys))]
        if mapping.method == "calibrated" and not curves:
            raise InputError(file, "a calibrated rating mapping without curves",
                             "give a mapping.json written by rupturekit sessions")
        if mapping.method not in ("rule", "calibrated") or len(scale) != 2 or scale[0] >= scale[1] or bad:
            raise InputError(file, "not a valid rating mapping", "give a mapping.json written by rupturekit sessions")
        return mapping


def _fit_curve(counts: Sequence[int], ratings: Sequence[float], scale: tuple[int, int]
               ) -> tuple[list[float], list[float]]:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=scale[0], y_max=scale[1], increasing=True, out_of_bounds="clip")
    model.fit(np.asarray(counts, float), np.asarray(ratings, float))
    return [float(x) for x in model.X_thresholds_], [float(y) for y in model.y_thresholds_]


def fit_mapping(points: dict[str, list[tuple[str, int, float]]], scale: tuple[int, int]) -> RatingMapping:
    """Calibrate each family with enough points: (transcript, count, human rating), count >= 1."""
    mapping = RatingMapping("rule", scale)
    for family, rows in points.items():
        if len(rows) >= MIN_CALIBRATION:
            mapping.curves[family] = _fit_curve([c for _, c, _ in rows], [r for _, _, r in rows], scale)
            mapping.n_segments[family] = len(rows)
    if mapping.curves:
        mapping.method = "calibrated"
    return mapping


# ------------------------------------------------------------------ segments and human ratings
def segmented(transcripts: Sequence[Transcript], spec: SegmentSpec, file: str) -> tuple[list[Transcript], list[str]]:
    """Copies with `segment_id` set under `spec` (the input's own segment ids are not used)."""
    log = ProblemLog()
    fallback = SegmentSpec.parse(DEFAULT_FALLBACK)
    copies = []
    for transcript in transcripts:
        copy = transcript.model_copy(update={"utterances": [u.model_copy() for u in transcript.utterances]})
        assign_segments(copy, spec, fallback, log, file, overwrite=True)
        copies.append(copy)
    return copies, [str(p) for p in log.warnings]


def _scale(codebook: Codebook) -> tuple[int, int]:
    spec = next((r for r in codebook.ratings if r.unit == "segment"), None)
    return (int(spec.scale[0]), int(spec.scale[1])) if spec else (1, 5)


def human_segment_ratings(transcripts: Sequence[Transcript], codebook: Codebook, families: Sequence[str],
                          exclude: Sequence[str] = ()) -> tuple[dict[tuple[str, int], dict[str, float]], list[str]]:
    """Mean human rating per (transcript, segment) and family, and the raters used: every rater
    (machine raters and `exclude` left out) with at least one code that carries a rating."""
    skip = {ESTIMATE_RATER, *exclude}
    raters = sorted({c.rater for t in transcripts for u in t.utterances for c in u.codes
                     if c.rating is not None and c.rater not in skip and not c.rater.startswith(("model:", "weak:"))})
    if not raters:
        return {}, []
    bottom = float(_scale(codebook)[0])
    per_rater: dict[str, dict[tuple[str, int], dict[str, float]]] = {r: defaultdict(dict) for r in raters}
    for t in transcripts:
        for u in t.utterances:
            key = (t.transcript_id, int(u.segment_id or 0))
            for c in u.codes:
                if c.rater not in per_rater:
                    continue
                slot = per_rater[c.rater][key]  # the rater covered this segment
                family = c.label.split(".", 1)[0]
                if c.rating is not None and family in families:
                    slot[family] = max(slot.get(family, -math.inf), float(c.rating))
    out: dict[tuple[str, int], dict[str, float]] = {}
    for key in {k for r in raters for k in per_rater[r]}:
        values = {}
        for family in families:
            given = [per_rater[r][key].get(family, bottom) for r in raters if key in per_rater[r]]
            values[family] = float(np.mean(given))
        out[key] = values
    return out, raters


# ------------------------------------------------------------------ the analysis
@dataclass
class SessionAnalysis:
    """Everything `rupturekit sessions` writes."""

    source: Source
    spec: SegmentSpec
    rule: EpisodeRule
    mapping: RatingMapping  # fitted on all the data (or given, or the rule)
    segments: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    episodes: list[Episode]
    turns: dict[str, list[Turn]]
    human_raters: list[str]
    warnings: list[str] = field(default_factory=list)
    cross_fitted: bool = False


def _marker_families(codebook: Codebook) -> list[str]:
    return list(dict.fromkeys(f for d in codebook.dimensions if d.role == "client"
                              for f in [*d.families, *(label.family for label in d.labels)]))


def _labels_of(codebook: Codebook, role: str) -> list[str]:
    return [name for d in codebook.dimensions if d.role == role for name in d.label_names]


def _segment_rows(transcript_id: str, turns: list[Turn], spec: SegmentSpec, families: list[str],
                  markers: list[str], moves: list[str]) -> list[dict[str, Any]]:
    by_segment: dict[int, list[Turn]] = defaultdict(list)
    for turn in turns:
        by_segment[int(turn.segment_id or 0)].append(turn)
    rows = []
    for segment, members in sorted(by_segment.items()):
        subtype = Counter(s for t in members for s in {m.subtype or m.label for m in t.markers})
        family = Counter(f for t in members for f in {m.family for m in t.markers})
        strategy = Counter(move for t in members for move in t.moves)
        row: dict[str, Any] = {"transcript_id": transcript_id, "segment_id": segment}
        if spec.unit == "seconds":
            row["segment_start"], row["segment_end"] = segment * spec.size, (segment + 1) * spec.size
        row |= {"first_utterance_id": members[0].utterance_id, "last_utterance_id": members[-1].utterance_id,
                "n_turns": len(members), "n_client_turns": sum(t.role == "client" for t in members)}
        row |= {f: family.get(f, 0) for f in families}
        row["uncertain_subtype"] = sum(1 for t in members for m in t.markers if m.uncertain)
        row |= {label: subtype.get(label, 0) for label in markers}
        row["resolution_moves"] = sum(strategy.values())
        row |= {kind: sum(n for move, n in strategy.items() if strategy_kind(move) == kind)
                for kind in ("immediate", "expressive")}
        row |= {label: strategy.get(label, 0) for label in moves}
        rows.append(row)
    return rows


def analyse_sessions(transcripts: Sequence[Transcript], codebook: Codebook, source: Source,
                     spec: SegmentSpec | None = None, rule: EpisodeRule = DEFAULT_RULE,
                     mapping: RatingMapping | None = None, calibrate: bool = True, file: str = "<input>",
                     seed: int = 0) -> SessionAnalysis:
    """Segment and session tables (see the module docstring).

    `mapping`: apply this one. Else, with `calibrate` and human ratings in the corpus, calibrate
    (cross-fitted estimates, and the mapping fitted on all of it); else the rule."""
    spec = spec or SegmentSpec.parse(codebook.segment or "5m")
    copies, warns = segmented(transcripts, spec, file)
    families = _marker_families(codebook)
    markers, moves = _labels_of(codebook, "client"), _labels_of(codebook, "therapist")
    scale = _scale(codebook)
    # Human ratings are read whether or not they calibrate, to be shown beside the estimates. A rater
    # may be the label source and the ratings' source at once (the fit is then on their own work).
    human, raters = human_segment_ratings(copies, codebook, families)
    turns = {t.transcript_id: turns_of(t, codebook, source) for t in copies}
    segments: list[dict[str, Any]] = []
    for t in copies:
        segments += _segment_rows(t.transcript_id, turns[t.transcript_id], spec, families, markers, moves)

    estimate_with: dict[str, RatingMapping] = {}  # transcript -> mapping its estimates come from
    cross_fitted = False
    if mapping is None:
        points = _calibration_points(segments, human, families) if calibrate and human else {}
        mapping = fit_mapping(points, scale) if points else RatingMapping("rule", scale)
        if calibrate and human and not mapping.curves:
            warns.append(f"too few segments with a marker and a human rating to calibrate (fewer than "
                         f"{MIN_CALIBRATION} per family); the estimates use the rule")
        if mapping.curves:
            estimate_with, cross_fitted = _cross_fit(segments, human, families, scale, seed, warns)
    for row in segments:
        use = estimate_with.get(row["transcript_id"], mapping)
        key = (row["transcript_id"], row["segment_id"])
        for family in families:
            row[f"{family}_significance_est"] = use.estimate(family, row[family])
            if human:
                row[f"{family}_significance_human"] = human.get(key, {}).get(family)
        row["estimate_method"] = ",".join(sorted({use.method_for(f) for f in families}))

    episodes = [e for t in copies for e in find_episodes(t.transcript_id, turns[t.transcript_id], rule)]
    sessions = _session_rows(copies, turns, segments, episodes, families, markers, moves, scale, bool(human))
    return SessionAnalysis(source, spec, rule, mapping, segments, sessions, episodes, turns, raters, warns,
                           cross_fitted)


def _calibration_points(segments: list[dict[str, Any]], human: dict, families: Sequence[str]
                        ) -> dict[str, list[tuple[str, int, float]]]:
    points: dict[str, list[tuple[str, int, float]]] = defaultdict(list)
    for row in segments:
        rated = human.get((row["transcript_id"], row["segment_id"]))
        if rated is None:
            continue
        for family in families:
            if row[family] >= 1 and family in rated:
                points[family].append((row["transcript_id"], row[family], rated[family]))
    return points


def _cross_fit(segments, human, families, scale, seed, warns) -> tuple[dict[str, RatingMapping], bool]:
    """Per transcript, the mapping fitted on the other folds' transcripts (folds by transcript)."""
    transcripts = sorted({r["transcript_id"] for r in segments})
    if len(transcripts) < 2:
        warns.append("one transcript only: the calibrated estimates are fitted on the same segments they rate "
                     "(in sample); compare them with the human ratings on other sessions")
        return {}, False
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(transcripts))
    k = min(FOLDS, len(transcripts))
    fold_of = {tid: i % k for i, tid in enumerate(order)}
    out = {}
    for fold in range(k):
        train = [r for r in segments if fold_of[r["transcript_id"]] != fold]
        fitted = fit_mapping(_calibration_points(train, human, families), scale)
        for tid in transcripts:
            if fold_of[tid] == fold:
                out[tid] = fitted
    return out, True


def _session_rows(copies, turns, segments, episodes, families, markers, moves, scale, have_human):
    low, high = scale
    rows = []
    for t in copies:
        tid = t.transcript_id
        ts = turns[tid]
        segs = [r for r in segments if r["transcript_id"] == tid]
        eps = [e for e in episodes if e.transcript_id == tid]
        outcome = Counter(e.outcome for e in eps)
        subtype = Counter(s for turn in ts for s in {m.subtype or m.label for m in turn.markers})
        strategy = Counter(move for turn in ts for move in turn.moves)
        client = sum(turn.role == "client" for turn in ts)
        marker_turns = sum(bool(turn.markers) for turn in ts)
        row: dict[str, Any] = {"transcript_id": tid, "n_turns": len(ts), "n_client_turns": client,
                               "n_segments": len(segs), "duration_s": t.duration}
        row |= {"marker_turns": marker_turns,
                "markers_per_100_client_turns": round(100 * marker_turns / client, 2) if client else None,
                "rupture_segments": sum(any(r[f] for f in families) for r in segs)}
        row |= {f"{f}_turns": sum(any(m.family == f for m in turn.markers) for turn in ts) for f in families}
        row |= {"episodes": len(eps), **{f"episodes_{o}": outcome.get(o, 0)
                                         for o in ("resolved", "partly_resolved", "unresolved")}}
        row["resolution_moves"] = sum(strategy.values())
        row |= {kind: sum(n for move, n in strategy.items() if strategy_kind(move) == kind)
                for kind in ("immediate", "expressive")}
        for family in families:
            row[f"{family}_significance_est"] = max((r[f"{family}_significance_est"] for r in segs), default=low)
        row["rupture_significance_est"] = max((row[f"{f}_significance_est"] for f in families), default=low)
        row["resolution_est"] = (round(low + (high - low) * (outcome["resolved"] + 0.5 * outcome["partly_resolved"])
                                       / len(eps), 2) if eps else None)
        if have_human:
            for family in families:
                rated = [r.get(f"{family}_significance_human") for r in segs]
                rated = [v for v in rated if v is not None]
                row[f"{family}_significance_human"] = max(rated) if rated else None
        row |= {label: subtype.get(label, 0) for label in markers}
        row |= {label: strategy.get(label, 0) for label in moves}
        rows.append(row)
    return rows


# ------------------------------------------------------------------ codes for `rupturekit agree`
def estimate_corpus(transcripts: Sequence[Transcript], analysis: SessionAnalysis, codebook: Codebook
                    ) -> list[Transcript]:
    """Copies carrying only codes by `ESTIMATE_RATER`: every utterance gets its markers and moves
    (or ``none``), and each marker code carries its segment's estimated rating for its family.
    Tag fields are left out, so that ``rupturekit agree -p`` reads the file as one rater's codes
    (with ratings, compared with the human ratings per segment by weighted kappa and ICC)."""
    estimates = {(r["transcript_id"], r["segment_id"]): r for r in analysis.segments}
    families = _marker_families(codebook)
    out = []
    for transcript in transcripts:
        turns = analysis.turns[transcript.transcript_id]
        utterances = []
        for u, turn in zip(transcript.utterances, turns, strict=True):
            row = estimates[(transcript.transcript_id, int(turn.segment_id or 0))]
            codes = []
            for m in turn.markers:
                label = m.subtype if m.subtype and codebook.is_valid(m.subtype) else None
                if label and all(c.label != label for c in codes):
                    rating = row.get(f"{m.family}_significance_est") if m.family in families else None
                    codes.append(Code(rater=ESTIMATE_RATER, label=label, rating=rating))
            codes += [Code(rater=ESTIMATE_RATER, label=move) for move in dict.fromkeys(turn.moves)]
            if not codes:
                codes = [Code(rater=ESTIMATE_RATER, label=codebook.none_label)]
            record = u.model_dump(exclude={*TAG_FIELDS, *(u.model_extra or {})})
            record["codes"] = codes
            record["segment_id"] = turn.segment_id
            utterances.append(type(u).model_validate(record))
        out.append(transcript.model_copy(update={"utterances": utterances}))
    return out

