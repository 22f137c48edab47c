"""Descriptive counts of a corpus: what `rupturekit info` prints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from rupturekit.records import ROLES, Transcript


@dataclass
class RoleCounts:
    utterances: int = 0
    words: int = 0
    coded: int = 0


@dataclass
class CorpusStats:
    transcripts: int = 0
    utterances: int = 0
    words: int = 0
    coded: int = 0
    segments: int = 0
    timed_transcripts: int = 0
    duration_seconds: float = 0.0
    raters: list[str] = field(default_factory=list)
    by_role: dict[str, RoleCounts] = field(default_factory=dict)

    @property
    def coded_share(self) -> float:
        return self.coded / self.utterances if self.utterances else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["coded_share"] = round(self.coded_share, 4)
        return data


def describe(transcripts: Iterable[Transcript]) -> CorpusStats:
    stats = CorpusStats(by_role={role: RoleCounts() for role in ROLES})
    raters: set[str] = set()
    for transcript in transcripts:
        stats.transcripts += 1
        segments: set[int] = set()
        for utterance in transcript.utterances:
            role = stats.by_role[utterance.role]
            words = utterance.words
            coded = bool(utterance.codes)
            role.utterances += 1
            role.words += words
            role.coded += coded
            stats.utterances += 1
            stats.words += words
            stats.coded += coded
            raters.update(code.rater for code in utterance.codes)
            if utterance.segment_id is not None:
                segments.add(utterance.segment_id)
        stats.segments += len(segments)
        duration = transcript.duration
        if duration is not None:
            stats.timed_transcripts += 1
            stats.duration_seconds += duration
    stats.raters = sorted(raters, key=lambda r: (len(r), r))
    stats.by_role = {role: counts for role, counts in stats.by_role.items() if counts.utterances}
    return stats
