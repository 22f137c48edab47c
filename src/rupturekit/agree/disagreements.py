"""Utterance views of the comparison: the disagreements with their text, and the session timeline."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from rupturekit.agree.align import Aligned
from rupturekit.agree.results import Disagreement, TimelineSession, TimelineTrack
from rupturekit.agree.tables import Table, consensus

__all__ = ["disagreements", "primary_tables", "timeline_sessions"]


def primary_tables(tables: dict[tuple[str, str], Table]) -> list[Table]:
    """One utterance table per dimension: the subtype level where compared, else the family level."""
    out: dict[str, Table] = {}
    for (name, lvl), table in tables.items():
        if name not in out or (lvl == "subtype" and out[name].level != "subtype"):
            out[name] = table
    return list(out.values())


def _label_set(value: object, table: Table, none_label: str) -> set[str]:
    return set(value) if table.multi_label else ({value} - {none_label})  # type: ignore[arg-type]


def _scores(table: Table, i: int, differing: Sequence[str]) -> dict[str, float]:
    """The model's scores of the labels the two sides differ on (finite ones only)."""
    if table.scores is None:
        return {}
    out = {}
    for c in differing:
        if c in table.score_categories:
            s = table.scores[i, table.score_categories.index(c)]
            if math.isfinite(s):
                out[c] = float(s)
    return out


def _table_disagreements(aligned: Aligned, table: Table) -> list[Disagreement]:
    cons = consensus(table)
    several = table.reference.shape[1] > 1
    values = table.reference.to_numpy(dtype=object)
    none = aligned.codebook.none_label
    rows = []
    for i, key in enumerate(table.keys):
        ref, pred = cons[i], table.predicted[i]
        if ref is None or pred is None:
            continue
        ref_set, pred_set = _label_set(ref, table, none), _label_set(pred, table, none)
        if ref_set == pred_set:
            continue
        u = aligned.utterances[key]
        cover = [v for v in values[i] if v is not None]
        votes = Counter(c for v in cover for c in (v if table.multi_label else [v]))
        rows.append(Disagreement(
            transcript_id=key[0], utterance_id=key[1], position=aligned.position[key], dimension=table.dimension,
            level=table.level, speaker=u.speaker, role=u.role, text=u.text, reference=sorted(ref_set),
            predicted=sorted(pred_set),
            votes={c: f"{n}/{len(cover)}" for c, n in sorted(votes.items())} if several else {},
            scores=_scores(table, i, sorted(ref_set ^ pred_set))))
    return rows


def disagreements(aligned: Aligned, tables: Sequence[Table]) -> list[Disagreement]:
    """Utterances where the predicted labels differ from the reference consensus, in corpus order."""
    rows = [row for table in tables for row in _table_disagreements(aligned, table)]
    order = {k: i for i, k in enumerate(aligned.order)}
    dim_order = {t.dimension: i for i, t in enumerate(tables)}
    rows.sort(key=lambda r: (order[(r.transcript_id, r.utterance_id)], dim_order[r.dimension]))
    return rows


def _tracks(aligned: Aligned, table: Table, cons: np.ndarray, tid: str) -> list[TimelineTrack]:
    """The predicted side's labels above the reference consensus (`cons`), over the utterance index."""
    none = aligned.codebook.none_label
    pred_marks: list[tuple[int, str]] = []
    ref_marks: list[tuple[int, str]] = []
    for i, key in enumerate(table.keys):
        if key[0] != tid:
            continue
        pos = aligned.position[key]
        for value, marks in ((table.predicted[i], pred_marks), (cons[i], ref_marks)):
            if value is None:
                continue
            for cat in (sorted(value) if table.multi_label else [value]):
                if cat != none:
                    marks.append((pos, cat))
    ref_name = "reference" if table.reference.shape[1] == 1 else "reference (majority)"
    return [TimelineTrack(name=f"{table.dimension} · {aligned.predicted_name}", marks=pred_marks),
            TimelineTrack(name=f"{table.dimension} · {ref_name}", marks=ref_marks)]


def timeline_sessions(aligned: Aligned, tables: list[Table], limit: int) -> list[TimelineSession]:
    """The first `limit` shared transcripts, one pair of tracks per dimension."""
    shown = aligned.transcript_order[: max(0, limit)]
    # the consensus of a table is the same for every transcript: once per table
    pairs = [(table, consensus(table)) for table in tables] if shown else []
    return [TimelineSession(id=tid, length=aligned.transcript_lengths.get(tid, 0),
                            tracks=[track for table, cons in pairs for track in _tracks(aligned, table, cons, tid)])
            for tid in shown]
