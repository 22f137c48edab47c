"""Write a transcript as WebVTT: one cue per utterance, speaker as a voice span."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import webvtt

from rupturekit.errors import InputError
from rupturekit.formats import format_clock
from rupturekit.records import Transcript, Utterance

# Speaking rate used where a duration has to be guessed from the words.
WORDS_PER_SECOND = 2.5


def spoken_duration(utterance: Utterance) -> float:
    """Seconds the utterance would take at `WORDS_PER_SECOND`, at least 1 s."""
    return max(1.0, utterance.words / WORDS_PER_SECOND)


def filled_ends(utterances: Sequence[Utterance]) -> list[tuple[float, float]]:
    """(start, end) per utterance; a missing end is the next start, or start + spoken duration.

    Every utterance must have a start.
    """
    spans = []
    for index, utterance in enumerate(utterances):
        start = utterance.start
        assert start is not None
        end = utterance.end
        if end is None:
            following = utterances[index + 1].start if index + 1 < len(utterances) else None
            end = following if following is not None and following > start else (
                start + spoken_duration(utterance))
        spans.append((start, end))
    return spans


def _cue_text(utterance: Utterance) -> str:
    # Cue text is markup: escape &, < and >; empty lines would end the cue.
    lines = [html.escape(line.strip(), quote=False) for line in utterance.text.split("\n")]
    lines = [line for line in lines if line] or [""]
    voice = html.escape(" ".join(utterance.speaker.split()) or "UNKNOWN", quote=False)
    lines[0] = f"<v {voice}>{lines[0]}"
    return "\n".join(lines)


def write_vtt(transcript: Transcript, path: str | Path) -> None:
    """Write `transcript` as WebVTT; every utterance needs a start time.

    A missing end becomes the next utterance's start, or start plus the time
    its words take at 2.5 words per second. Line breaks in a text stay; empty
    lines are dropped, as they would end the cue.
    """
    if any(u.start is None for u in transcript.utterances):
        raise InputError(str(path), f"WebVTT needs times; transcript '{transcript.transcript_id}' "
                         "has utterances without timestamps", "write .jsonl, .csv or .eaf instead")
    spans = filled_ends(transcript.utterances)
    captions = [
        webvtt.Caption(start=format_clock(start), end=format_clock(end), text=_cue_text(utterance))
        for utterance, (start, end) in zip(transcript.utterances, spans, strict=True)
    ]
    content = webvtt.WebVTT(captions=captions).content
    Path(path).write_text(content, encoding="utf-8", newline="\n")
