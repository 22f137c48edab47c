"""What happened on each turn: client rupture markers and therapist resolution moves.

The analysis layer reads either a tag output (`rupturekit tag`: ``labels`` and ``uncertain`` on
each utterance) or one rater's human codes (or a consensus of the human raters) and reduces each
utterance to a `Turn`: its markers (label, family, subtype, and whether the subtype is the
tagger's uncertain guess) and its resolution moves.

Which labels are markers and which are moves comes from the codebook: labels of dimensions that
apply to client turns are markers, labels of dimensions that apply to therapist turns are moves
(3RS: ``withdrawal.*`` / ``confrontation.*`` and ``resolution.*``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rupturekit.codebook import Codebook
from rupturekit.codes import consensus_labels, is_machine_rater
from rupturekit.errors import InputError
from rupturekit.records import Transcript, Utterance

__all__ = ["CONSENSUS", "STRATEGY_KINDS", "Marker", "Source", "Turn", "choose_source", "strategy_kind", "turns_of"]

CONSENSUS = ("majority", "any", "unanimous")

# Safran & Muran distinguish immediate (surface-level) resolution, which deals with the rupture
# on its face and returns to the task, from expressive (depth-level) resolution, which explores
# the rupture and what it means for the relationship. This split of the ten 3RS strategies is
# rupturekit's reading of that distinction, not a table from the 3RS manual: validating the
# defence counts as expressive because it attends to the client's experience of the rupture.
STRATEGY_KINDS: dict[str, Literal["immediate", "expressive"]] = {
    "resolution.clarifies_misunderstanding": "immediate",
    "resolution.changes_task_goal": "immediate",
    "resolution.illustrates_task_rationale": "immediate",
    "resolution.redirects": "immediate",
    "resolution.invites_exploration": "expressive",
    "resolution.acknowledges_contribution": "expressive",
    "resolution.discloses_experience": "expressive",
    "resolution.links_pattern_inside": "expressive",
    "resolution.links_pattern_outside": "expressive",
    "resolution.validates_defense": "expressive",
}


def strategy_kind(label: str) -> str:
    """immediate, expressive, or other (a strategy of another codebook)."""
    return STRATEGY_KINDS.get(label, "other")


@dataclass(frozen=True)
class Marker:
    """One client rupture marker on one turn."""

    label: str  # as given: family.subtype, or a family name when the tagger left the subtype open
    family: str
    subtype: str | None  # family.subtype; the tagger's guess when `uncertain`
    uncertain: bool = False


@dataclass
class Turn:
    """One utterance reduced to what the analysis needs."""

    index: int  # 0-based position in the transcript
    utterance_id: int
    role: str
    start: float | None
    end: float | None
    segment_id: int | None
    markers: list[Marker] = field(default_factory=list)
    moves: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # labels on a speaker the codebook does not give them to

    @property
    def collaborative(self) -> bool:
        """A client turn without any rupture marker."""
        return self.role == "client" and not self.markers

    @property
    def time(self) -> float | None:
        return self.start if self.start is not None else self.end


@dataclass(frozen=True)
class Source:
    """Where the labels come from: ``tags``, a rater's codes, or a consensus of human raters."""

    kind: Literal["tags", "rater", "consensus"]
    name: str  # "tags", the rater, or majority / any / unanimous

    def __str__(self) -> str:
        return {"tags": "tags (rupturekit tag)", "rater": f"codes of rater '{self.name}'",
                "consensus": f"{self.name} consensus of the human raters"}[self.kind]


def _has_tags(transcripts: Sequence[Transcript]) -> bool:
    return any(u.labels is not None for t in transcripts for u in t.utterances)


def _raters(transcripts: Sequence[Transcript], codebook: Codebook) -> list[str]:
    """Raters with at least one code of this codebook (a none code counts)."""
    return sorted({c.rater for t in transcripts for u in t.utterances for c in u.codes
                   if codebook.is_valid(c.label)})


def choose_source(transcripts: Sequence[Transcript], codebook: Codebook, wanted: str | None, file: str) -> Source:
    """The label source: `wanted` ("tags", a rater, or majority / any / unanimous) or, when None,
    the tags if the file has them, else the only rater with codes of the codebook."""
    raters = _raters(transcripts, codebook)
    if wanted is None:
        if _has_tags(transcripts):
            return Source("tags", "tags")
        if len(raters) == 1:
            return Source("rater", raters[0])
        if not raters:
            raise InputError(file, f"the file has neither tags nor codes of codebook '{codebook.name}'",
                             "tag it first (rupturekit tag), or give a corpus with codes (rupturekit codes import)")
        raise InputError(file, f"the file has no tags and codes by {len(raters)} raters ({', '.join(raters)})",
                         "choose one with --codes RATER, or --codes majority for their consensus")
    if wanted == "tags":
        if not _has_tags(transcripts):
            raise InputError(file, "the file has no tags",
                             "tag it first (rupturekit tag), or name a rater with --codes")
        return Source("tags", "tags")
    if wanted in raters:
        return Source("rater", wanted)
    if wanted in CONSENSUS:
        humans = [r for r in raters if not (is_machine_rater(r) and ":" in r)]
        if not humans:
            raise InputError(file, f"--codes {wanted}: the file has no human codes of codebook '{codebook.name}'",
                             "give a corpus with codes (rupturekit codes import)")
        return Source("consensus", wanted)
    if wanted == "soft":
        raise InputError(file, "--codes soft: soft (each label's share of the raters) is a training target, not "
                               "labels to analyse", "use majority, any or unanimous for the raters' consensus")
    raise InputError(file, f"--codes: no codes by rater '{wanted}'",
                     f"raters present: {', '.join(raters) or 'none'}; or use tags, majority, any, unanimous")


def _split(label: str) -> tuple[str, str | None]:
    family, _, rest = label.partition(".")
    return family, (label if rest else None)


def _labels(utterance: Utterance, codebook: Codebook, source: Source) -> tuple[list[str], dict[str, str]]:
    """The utterance's labels from the source, and {family: guessed subtype} for family-level tags."""
    if source.kind == "tags":
        return list(utterance.labels or []), dict(utterance.uncertain or {})
    if source.kind == "rater":
        return [c.label for c in utterance.codes if c.rater == source.name and c.label != codebook.none_label], {}
    labels: list[str] = []
    for dimension in codebook.dimensions_for(utterance.role):
        labels += consensus_labels(utterance, codebook, dimension, source.name) or []  # type: ignore[arg-type]
    return labels, {}


def turns_of(transcript: Transcript, codebook: Codebook, source: Source) -> list[Turn]:
    """Each utterance as a `Turn`. Markers count on client turns only and moves on therapist turns
    only (a tagger or coder that put them elsewhere is not followed: the codebook says whose they are)."""
    marker_families = {f for d in codebook.dimensions if d.role == "client" for f in _families(d)}
    move_families = {f for d in codebook.dimensions if d.role == "therapist" for f in _families(d)}
    turns = []
    for index, u in enumerate(transcript.utterances):
        labels, guesses = _labels(u, codebook, source)
        turn = Turn(index, u.utterance_id, u.role, u.start, u.end, u.segment_id)
        for label in dict.fromkeys(labels):
            family, subtype = _split(label)
            if u.role == "client" and family in marker_families:
                uncertain = subtype is None
                turn.markers.append(Marker(label, family, guesses.get(family) if uncertain else subtype, uncertain))
            elif u.role == "therapist" and family in move_families:
                # a family tag (subtype uncertain) counts as a move, by its guessed subtype when it has one
                turn.moves.append(subtype or guesses.get(family) or label)
            elif family in marker_families | move_families:
                turn.ignored.append(label)  # counted and reported by the commands, not dropped silently
        turns.append(turn)
    return turns


def _families(dimension) -> list[str]:
    return list(dict.fromkeys([*dimension.families, *(label.family for label in dimension.labels)]))
