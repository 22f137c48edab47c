"""Within-session rupture-repair episodes: rupturekit's operationalisation.

3RS rates markers and resolution strategies per segment; it does not define episodes. The rule
below is this tool's own, stated in full so that it can be reported and changed:

1. **Opening.** An episode opens at a client turn with a withdrawal or confrontation marker
   (from tags or from a rater's codes; a family-level tag whose subtype the tagger left open
   counts, with its guessed subtype marked uncertain).
2. **Joining.** The next marker belongs to the same episode when the client has not yet returned
   to collaborative talk in between (fewer than N client turns without a marker, see 3), or when
   it comes within the *gap* of the previous marker: ``gap`` turns (utterances of any speaker,
   counted by position) or ``gap`` seconds (start times; a marker without a time is joined by
   rule 3 only).
3. **Closing.** The episode closes at the N-th consecutive collaborative client turn (a client
   turn without any marker) after its last marker, N = ``return_turns``; that turn is the
   episode's last. Therapist and other speakers' turns neither count nor break the run. If the
   session ends first, the episode closes at the session's last turn.
4. **Repair.** The resolution moves of the episode are the therapist's resolution strategies from
   its first marker to its last turn; each is immediate or expressive (`STRATEGY_KINDS`).
   ``turns_to_first_repair`` is the number of turns from the first marker to the first move.
5. **Outcome.** *resolved*: the client returned (rule 3) after at least one resolution move;
   *partly resolved*: one of the two, either the client returned without a move, or moves were made
   but the client had not returned when the session ended; *unresolved*: neither. With
   ``require_repair=False`` a return alone counts as resolved (moves then only separate *partly
   resolved* from *unresolved* among episodes that ran to the session's end).

Codes: an utterance that a rater left without codes counts as carrying no marker.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rupturekit.analysis.events import Turn, strategy_kind

__all__ = ["DEFAULT_RULE", "OUTCOMES", "Episode", "EpisodeRule", "find_episodes", "parse_gap"]

OUTCOMES = ("resolved", "partly_resolved", "unresolved")
_GAP = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(u|t|turns?|s|sec|m|min)?\s*$", re.IGNORECASE)


def parse_gap(text: str) -> tuple[float, Literal["turns", "seconds"]]:
    """``4u`` / ``4t`` / ``4`` (turns), ``30s``, ``1m`` (seconds)."""
    match = _GAP.match(str(text))
    if match is None:
        raise ValueError(f"gap '{text}' not understood; use e.g. 4u (turns) or 30s (seconds)")
    value, unit = float(match.group(1)), (match.group(2) or "u").lower()
    if unit in ("s", "sec"):
        return value, "seconds"
    if unit in ("m", "min"):
        return value * 60, "seconds"
    if value != int(value):
        raise ValueError(f"gap '{text}' must be a whole number of turns")
    return value, "turns"


@dataclass(frozen=True)
class EpisodeRule:
    """The episode rule's settings (see the module docstring)."""

    gap: float = 4
    gap_unit: Literal["turns", "seconds"] = "turns"
    return_turns: int = 2
    require_repair: bool = True

    def __post_init__(self) -> None:
        if self.gap < 0:
            raise ValueError("the gap must be >= 0")
        if self.return_turns < 1:
            raise ValueError("return_turns must be >= 1")

    @classmethod
    def parse(cls, gap: str = "4u", return_turns: int = 2, require_repair: bool = True) -> EpisodeRule:
        value, unit = parse_gap(gap)
        return cls(value, unit, return_turns, require_repair)

    def describe(self) -> str:
        gap = f"{self.gap:g} turns" if self.gap_unit == "turns" else f"{self.gap:g} s"
        return (f"markers join within {gap} or until the client returns; closes after {self.return_turns} "
                f"collaborative client turn(s); resolved = return" + (" after a resolution move" if self.require_repair
                                                                       else ""))


@dataclass
class Episode:
    """One rupture-repair episode (positions are 0-based turn indices within the transcript)."""

    transcript_id: str
    episode: int  # 1-based within the transcript
    start_index: int
    end_index: int
    start_utterance_id: int
    end_utterance_id: int
    start_time: float | None
    end_time: float | None
    marker_utterance_ids: list[int]
    families: list[str]
    subtypes: list[str]  # family.subtype, sorted; guessed subtypes included
    uncertain_subtypes: list[str]  # the guessed ones
    marker_counts: dict[str, int]  # family -> marker turns
    strategies: list[str]  # resolution moves in order (repeats kept)
    strategy_kinds: dict[str, int]  # immediate / expressive / other -> moves
    first_repair_utterance_id: int | None
    turns_to_first_repair: int | None
    client_returned: bool
    ended_by: Literal["return", "session_end"]
    outcome: Literal["resolved", "partly_resolved", "unresolved"]
    rule: dict[str, Any] = field(default_factory=dict)

    @property
    def episode_id(self) -> str:
        return f"{self.transcript_id}#e{self.episode}"

    @property
    def n_turns(self) -> int:
        return self.end_index - self.start_index + 1

    def to_record(self) -> dict[str, Any]:
        record = {"episode_id": self.episode_id, **asdict(self), "n_turns": self.n_turns}
        record.pop("rule")
        return record


def _joined(turns: Sequence[Turn], last: int, nxt: int, rule: EpisodeRule) -> bool:
    returned = sum(1 for t in turns[last + 1:nxt] if t.collaborative)
    if returned < rule.return_turns:
        return True
    if rule.gap_unit == "turns":
        return nxt - last <= rule.gap
    a, b = turns[last].time, turns[nxt].time
    return a is not None and b is not None and b - a <= rule.gap


def _groups(turns: Sequence[Turn], rule: EpisodeRule) -> list[list[int]]:
    groups: list[list[int]] = []
    for turn in turns:
        if not turn.markers:
            continue
        if groups and _joined(turns, groups[-1][-1], turn.index, rule):
            groups[-1].append(turn.index)
        else:
            groups.append([turn.index])
    return groups


def _end(turns: Sequence[Turn], last_marker: int, rule: EpisodeRule) -> tuple[int, bool]:
    run = 0
    for turn in turns[last_marker + 1:]:
        if turn.collaborative:
            run += 1
            if run == rule.return_turns:
                return turn.index, True
    return len(turns) - 1, False


def _outcome(returned: bool, repaired: bool, rule: EpisodeRule) -> Literal["resolved", "partly_resolved",
                                                                           "unresolved"]:
    if returned and (repaired or not rule.require_repair):
        return "resolved"
    if returned or repaired:
        return "partly_resolved"
    return "unresolved"


DEFAULT_RULE = EpisodeRule()


def find_episodes(transcript_id: str, turns: Sequence[Turn], rule: EpisodeRule = DEFAULT_RULE) -> list[Episode]:
    """The episodes of one transcript's turns (from `rupturekit.analysis.events.turns_of`)."""
    episodes = []
    for number, group in enumerate(_groups(turns, rule), start=1):
        start = group[0]
        end, returned = _end(turns, group[-1], rule)
        span = turns[start:end + 1]
        markers = [m for t in span for m in t.markers]
        moves = [(t.index, t.utterance_id, move) for t in span for move in t.moves]
        first = moves[0] if moves else None
        families = Counter(f for t in span for f in {m.family for m in t.markers})
        first_turn, last_turn = turns[start], turns[end]
        episodes.append(Episode(
            transcript_id=transcript_id, episode=number, start_index=start, end_index=end,
            start_utterance_id=first_turn.utterance_id, end_utterance_id=last_turn.utterance_id,
            start_time=first_turn.time,
            end_time=last_turn.end if last_turn.end is not None else last_turn.start,
            marker_utterance_ids=[turns[i].utterance_id for i in group],
            families=sorted(families), subtypes=sorted({m.subtype for m in markers if m.subtype}),
            uncertain_subtypes=sorted({m.subtype for m in markers if m.uncertain and m.subtype}),
            marker_counts=dict(sorted(families.items())),
            strategies=[move for _, _, move in moves],
            strategy_kinds=dict(sorted(Counter(strategy_kind(move) for _, _, move in moves).items())),
            first_repair_utterance_id=first[1] if first else None,
            turns_to_first_repair=first[0] - start if first else None,
            client_returned=returned, ended_by="return" if returned else "session_end",
            outcome=_outcome(returned, bool(moves), rule), rule=asdict(rule)))
    return episodes
