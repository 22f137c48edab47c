"""Pieces shared by the readers: stage directions, provenance, and turns from timed pieces."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rupturekit.ingest.options import ReadOptions
from rupturekit.records import Utterance
from rupturekit.source import Source

UNKNOWN_SPEAKER = "UNKNOWN"

# [laughs], (pause), (long pause): short bracketed asides; a long parenthesis is speech.
_STAGE_DIRECTION = re.compile(r"\[([^\[\]\n]{1,80})\]|\(([^()\n]{1,80})\)")
_MAX_STAGE_WORDS = 5


def stage_directions(text: str) -> list[str]:
    """Inner strings of short ``[...]`` and ``(...)`` asides in `text`, in order."""
    found = []
    for bracket, paren in _STAGE_DIRECTION.findall(text):
        inner = " ".join((bracket or paren).split())
        if inner and len(inner.split()) <= _MAX_STAGE_WORDS:
            found.append(inner)
    return found


def utterance_meta(source: Source, position: dict[str, Any], text: str) -> dict[str, Any]:
    """The meta every reader sets: where the text came from, and its stage directions."""
    meta: dict[str, Any] = {"source": {"file": source.name, **position}}
    directions = stage_directions(text)
    if directions:
        meta["stage_directions"] = directions
    return meta


@dataclass
class Piece:
    """Text of one speaker from one cue (or Whisper segment)."""

    speaker: str | None  # None: no label seen yet, read as UNKNOWN
    text: str
    start: float
    end: float
    position: int  # 1-based cue number, or 0-based segment index


def group_turns(pieces: list[Piece], options: ReadOptions) -> list[list[Piece]]:
    """Group consecutive pieces of one (known) speaker into turns."""
    turns: list[list[Piece]] = []
    for piece in pieces:
        if turns and options.merge_segments and piece.speaker is not None:
            last = turns[-1]
            gap = piece.start - max(p.end for p in last)
            if last[0].speaker == piece.speaker and (
                options.max_merge_gap is None or gap <= options.max_merge_gap
            ):
                last.append(piece)
                continue
        turns.append([piece])
    return turns


def turn_utterances(pieces: list[Piece], source: Source, options: ReadOptions,
                    position: Callable[[list[Piece]], dict[str, Any]], joiner: str) -> list[Utterance]:
    """Utterances from time-ordered pieces: one per turn, spanning its pieces' times."""
    utterances = []
    for number, turn in enumerate(group_turns(pieces, options)):
        text = joiner.join(p.text for p in turn)
        utterances.append(Utterance(
            transcript_id=source.stem,
            utterance_id=number,
            speaker=turn[0].speaker if turn[0].speaker is not None else UNKNOWN_SPEAKER,
            start=turn[0].start,
            end=max(p.end for p in turn),
            text=text,
            meta=utterance_meta(source, position(turn), text),
        ))
    return utterances
