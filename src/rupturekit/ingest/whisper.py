"""Reader for Whisper and WhisperX JSON output.

Accepts ``{"segments": [...], "language": ...}`` as Whisper and WhisperX
write it, or a bare list of segments. Each segment has ``start``, ``end``
(seconds) and ``text``; WhisperX adds ``speaker`` and per-word ``speaker``
labels. A segment without ``speaker`` takes the most common speaker of its
words (the first seen on a tie); a segment with neither is speaker "UNKNOWN"
(one warning per file) and is never merged with its neighbours.

With `ReadOptions.merge_segments`, consecutive segments of one speaker become
one utterance unless the silence between them is longer than
`max_merge_gap` seconds; texts are stripped and joined with one space.
``meta["source"]["segments"]`` lists the 0-based indices of the segments in
the utterance (Whisper's own segment ids count the same way), and
``meta["language"]`` holds Whisper's detected language when present.

A segment whose ``text`` is empty (or missing) but which has ``words`` gets its text
rebuilt from the words (joined as Whisper writes them: words with a leading space are
concatenated, bare words joined with spaces), with one warning per file; a segment with
neither text nor words is silence and is skipped.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from rupturekit.bounded import loads_json
from rupturekit.errors import InputError
from rupturekit.ingest.common import UNKNOWN_SPEAKER, Piece, turn_utterances
from rupturekit.ingest.options import ReadOptions
from rupturekit.records import Transcript
from rupturekit.source import Source

_TIMES_HINT = "give each segment numeric 'start' and 'end' times in seconds, with end >= start"
_EXPORT_HINT = ("pass Whisper or WhisperX JSON output: an object with a 'segments' list "
                "(whisper --output_format json), or a list of segments")


def _json_type(value: Any) -> str:
    names = {dict: "JSON object", list: "JSON array", str: "JSON string", bool: "JSON boolean"}
    return names.get(type(value), "JSON number" if isinstance(value, (int, float)) else "null")


def _load(source: Source) -> tuple[list[Any], str | None]:
    """The segments list and Whisper's detected language, if any."""
    try:
        data = loads_json(source.text)
    except json.JSONDecodeError as exc:
        raise InputError(source.name, f"not valid JSON ({exc.msg})",
                         "fix the JSON syntax, or export the transcript again",
                         location=f"line {exc.lineno}, column {exc.colno}") from None
    language = None
    if isinstance(data, dict):
        if isinstance(data.get("language"), str):
            language = data["language"]
        if "segments" not in data:
            keys = ", ".join(repr(key) for key in list(data)[:5]) or "none"
            raise InputError(source.name, f"JSON without 'segments' (top-level keys: {keys}); "
                             "expected Whisper/WhisperX output", _EXPORT_HINT)
        segments = data["segments"]
    else:
        segments = data
    if not isinstance(segments, list):
        what = "'segments' is" if isinstance(data, dict) else "the JSON is"
        raise InputError(source.name, f"{what} a {_json_type(segments)}, expected a list of "
                         "Whisper segments", _EXPORT_HINT)
    if not segments:
        raise InputError(source.name, "the transcript has no segments",
                         "check that the transcription produced any speech")
    return segments, language


def _time(source: Source, segment: dict[str, Any], key: str, index: int) -> float:
    if key not in segment or segment[key] is None:
        raise InputError(source.name, f"the segment has no '{key}' time", _TIMES_HINT,
                         location=f"segment {index}")
    value = segment[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(source.name, f"'{key}' is not a number ({value!r})", _TIMES_HINT,
                         location=f"segment {index}")
    if not math.isfinite(value) or value < 0:
        raise InputError(source.name, f"'{key}' must be a finite time >= 0 (got {value!r})",
                         _TIMES_HINT, location=f"segment {index}")
    return float(value)


def _speaker(segment: dict[str, Any]) -> str | None:
    speaker = segment.get("speaker")
    if isinstance(speaker, str) and speaker.strip():
        return speaker.strip()
    words = segment.get("words")
    if isinstance(words, list):
        labels = Counter(
            word["speaker"].strip() for word in words
            if isinstance(word, dict) and isinstance(word.get("speaker"), str)
            and word["speaker"].strip()
        )
        if labels:
            return labels.most_common(1)[0][0]
    return None


def _text_of_words(words: Any) -> str:
    """A segment's text from its word list ('' when there are no usable words)."""
    if not isinstance(words, list):
        return ""
    tokens = [w["word"] for w in words if isinstance(w, dict) and isinstance(w.get("word"), str) and w["word"].strip()]
    if not tokens:
        return ""
    # OpenAI Whisper's words carry their leading space (" How"); WhisperX's do not ("How").
    if any(token[:1].isspace() for token in tokens[1:]):
        return "".join(tokens).strip()
    return " ".join(token.strip() for token in tokens)


def read_whisper(source: Source, options: ReadOptions) -> list[Transcript]:
    """Read Whisper/WhisperX JSON into one transcript of speaker turns."""
    segments, language = _load(source)
    pieces: list[Piece] = []
    unlabelled: list[int] = []
    rebuilt_at: list[int] = []
    for index, segment in enumerate(segments):
        if not isinstance(segment, dict):
            raise InputError(source.name, f"a segment must be a JSON object, not a "
                             f"{_json_type(segment)}", _EXPORT_HINT,
                             location=f"segment {index}")
        start, end = _time(source, segment, "start", index), _time(source, segment, "end", index)
        if end < start:
            raise InputError(source.name, f"the segment ends ({end:g} s) before it starts "
                             f"({start:g} s)", _TIMES_HINT, location=f"segment {index}")
        text = segment.get("text")
        if not isinstance(text, str) or not text.strip():
            rebuilt = _text_of_words(segment.get("words"))
            if rebuilt:
                rebuilt_at.append(index)
                text = rebuilt
            elif not isinstance(text, str):
                raise InputError(source.name, "the segment has no 'text' string",
                                 "give each segment its transcribed 'text'",
                                 location=f"segment {index}")
        if not text.strip():
            continue  # silence: nothing to keep
        speaker = _speaker(segment)
        if speaker is None:
            unlabelled.append(index)
        pieces.append(Piece(speaker, text.strip(), start, end, index))
    if rebuilt_at:
        source.log.warn(source.name, f"{len(rebuilt_at)} segment(s) with an empty 'text' but with 'words': "
                        "the text was rebuilt from the words", location=f"segment {rebuilt_at[0]}")
    if unlabelled:
        source.log.warn(source.name, f"{len(unlabelled)} of {len(pieces)} segments have no "
                        f"speaker (run diarization, e.g. WhisperX, to label speakers); they are "
                        f"read as speaker '{UNKNOWN_SPEAKER}'", location=f"segment {unlabelled[0]}")
    pieces.sort(key=lambda p: p.start)  # stable: file order breaks ties
    utterances = turn_utterances(pieces, source, options, lambda turn: {"segments": [p.position for p in turn]},
                                 joiner=" ")
    if language is not None:
        for utterance in utterances:
            utterance.meta["language"] = language
    return [Transcript(transcript_id=source.stem, utterances=utterances)]
