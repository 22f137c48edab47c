"""3RS-style coding segments.

3RS rates ruptures per 5-minute segment of a session. With timestamps, segments
are clock windows counted from the recording's time 0 (so an excerpt starting at
00:45:00 begins in segment 9, as a coder would number it). Without timestamps,
segments are runs of N utterances or N words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from rupturekit.errors import ProblemLog
from rupturekit.records import Transcript

_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|u|utt|w|words?)\s*$", re.IGNORECASE)
_UNIT = {"s": "s", "sec": "s", "m": "m", "min": "m", "h": "h", "u": "u", "utt": "u",
         "w": "w", "word": "w", "words": "w"}
_SECONDS_PER = {"s": 1, "m": 60, "h": 3600}

# Speech in therapy sessions runs at roughly 150 words a minute, so 750 words
# stand in for a 5-minute window when a transcript has no times.
DEFAULT_SEGMENT = "5m"
DEFAULT_FALLBACK = "750w"


@dataclass(frozen=True)
class SegmentSpec:
    """A segment size: `seconds` of clock time, `utterances` turns or `words` words."""

    size: float
    unit: Literal["seconds", "utterances", "words"]

    @classmethod
    def parse(cls, text: str) -> SegmentSpec:
        match = _SPEC.match(text)
        if match is None:
            raise ValueError(f"segment size '{text}' not understood; use e.g. 5m, 300s, 40u or 600w")
        value, unit = float(match.group(1)), _UNIT[match.group(2).lower()]
        if value <= 0:
            raise ValueError(f"segment size '{text}' must be positive")
        if unit in _SECONDS_PER:
            return cls(value * _SECONDS_PER[unit], "seconds")
        if value != int(value):
            raise ValueError(f"segment size '{text}' must be a whole number of {unit} units")
        return cls(value, "utterances" if unit == "u" else "words")

    def __str__(self) -> str:
        if self.unit == "seconds":
            return f"{self.size / 60:g}m" if self.size % 60 == 0 else f"{self.size:g}s"
        return f"{self.size:g}{self.unit[0]}"


def _by_time(transcript: Transcript, seconds: float) -> None:
    ids: list[int | None] = [
        None if u.start is None else math.floor(u.start / seconds) for u in transcript.utterances
    ]
    # An utterance without a time belongs with the timed one before it (or after it, at the start).
    previous: int | None = None
    for index, segment in enumerate(ids):
        if segment is None:
            ids[index] = previous
        else:
            previous = segment
    following: int | None = None
    for index in range(len(ids) - 1, -1, -1):
        if ids[index] is None:
            ids[index] = following
        else:
            following = ids[index]
    for utterance, segment in zip(transcript.utterances, ids, strict=True):
        utterance.segment_id = segment


def _by_count(transcript: Transcript, spec: SegmentSpec) -> None:
    words_before = 0
    for index, utterance in enumerate(transcript.utterances):
        position = index if spec.unit == "utterances" else words_before
        utterance.segment_id = int(position // spec.size)
        words_before += utterance.words


def assign_segments(transcript: Transcript, spec: SegmentSpec, fallback: SegmentSpec,
                    log: ProblemLog, file: str, overwrite: bool = True) -> Transcript:
    """Set `segment_id` on every utterance.

    A time spec on a transcript without any times uses `fallback` and warns.
    With overwrite=False a transcript that already has segment ids keeps them.
    """
    if not transcript.utterances:
        return transcript
    if not overwrite and all(u.segment_id is not None for u in transcript.utterances):
        return transcript
    if spec.unit == "seconds":
        if any(u.start is not None for u in transcript.utterances):
            _by_time(transcript, spec.size)
            return transcript
        log.warn(file, f"transcript '{transcript.transcript_id}' has no timestamps; "
                       f"{spec} segments approximated by {fallback} (said once per file)", once="segments")
        spec = fallback
        if spec.unit == "seconds":
            raise ValueError("the fallback segment size must count utterances or words")
    _by_count(transcript, spec)
    return transcript
