"""Readers for subtitle files: WebVTT (.vtt) and SubRip (.srt).

A cue is a timed piece of text; a turn is what one speaker says before the
next speaker starts. Speakers come from WebVTT voice spans (``<v Client>``) or
from a label at the start of a cue line (``Client:``, ``- Client:``,
``[Client]``). A cue without a label continues the previous speaker, and
consecutive cues of one speaker are merged into one utterance, their texts
joined with a line break.

Cues before the first label get speaker "UNKNOWN" (with one warning) and are
never merged: nothing says they are one person. `ReadOptions.merge_segments`
and `max_merge_gap` apply to cues as they do to Whisper segments.

Each utterance's ``meta["source"]`` is ``{"file": ..., "cue": n}`` with the
1-based position of its first cue in the file, plus ``"cues": [...]`` when the
turn spans several cues. Stage directions such as ``[laughs]`` or ``(pause)``
stay in the text and are also listed in ``meta["stage_directions"]``.

WebVTT ``NOTE`` blocks (comments) are kept, like a text file's preamble: each note's
text goes to ``meta["notes"]`` of the utterance holding the next cue (of the last
utterance, for notes after the last cue), with one warning per file.
"""

from __future__ import annotations

import html
import re
from typing import Any

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from rupturekit.errors import InputError
from rupturekit.ingest.common import UNKNOWN_SPEAKER, Piece, turn_utterances
from rupturekit.ingest.options import ReadOptions
from rupturekit.ingest.timestamps import TimestampError, parse_clock
from rupturekit.records import Transcript
from rupturekit.source import Source

# A speaker label at the start of a line: "Client:", "- Dr. Reyes:", "[CLIENT]".
# Names are one to three capitalised words (or numbers after the first), so
# that ordinary speech such as "so what I mean: ..." is not taken for a label.
_LABEL = re.compile(
    r"^(?:-\s*)?(?:\[(?P<bracket>[^\[\]\n]{1,40})\]\s*:?|(?P<name>[^\W\d_][\w.'’-]*"
    r"(?: [\w.'’-]+){0,2})\s*:)(?:\s+|$)"
)
# Bracketed words that are sounds, not speakers, even when capitalised.
_NOT_SPEAKERS = frozenset(
    """laugh laughs laughing laughter chuckle chuckles giggles sigh sighs sighing pause
    pauses silence crying cries cry sobbing sobs tearful inaudible unintelligible
    indistinct crosstalk overlapping overtalk cough coughs coughing sniff sniffs
    sniffles sniffling gasp gasps whisper whispers whispering mumbles mumbling
    yawn yawns music noise applause phone door knock knocking clears background
    long short brief""".split()
)
# SubRip formatting: <i>, <b>, <u>, <font ...> and ASS overrides such as {\an8}.
_SRT_MARKUP = re.compile(r"</?(?:[ibus]|font)\b[^>]*>|\{\\[^}]*\}", re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Cue times: WebVTT [hh:]mm:ss.mmm; SubRip hh:mm:ss,mmm (srt also takes "." and no ms).
_VTT_TIME = re.compile(r"(?:\d+:)?\d{1,2}:\d{1,2}\.\d{1,3}")
_SRT_TIME = re.compile(r"\d+:\d{1,2}:\d{1,2}(?:[.,]\d{1,3})?")


def _label_name(name: str) -> bool:
    words = name.split()
    return (
        0 < len(words) <= 3
        and words[0][0].isupper()
        and all(word[0].isupper() or word[0].isdigit() for word in words)
    )


def split_label(line: str) -> tuple[str | None, str]:
    """Split a leading speaker label off a line: ("Client", "rest") or (None, line)."""
    match = _LABEL.match(line.strip())
    if match is None:
        return None, line
    bracket, name = match.group("bracket"), match.group("name")
    candidate = (bracket if bracket is not None else name).strip()
    if not _label_name(candidate):
        return None, line
    if bracket is not None and candidate.split()[0].lower() in _NOT_SPEAKERS:
        return None, line
    return candidate, line.strip()[match.end():]


def _labelled_pieces(text: str, speaker: str | None) -> list[tuple[str | None, str]]:
    """Group the lines of a cue by speaker label; unlabelled lines keep `speaker`."""
    pieces: list[tuple[str | None, list[str]]] = []
    for line in text.split("\n"):
        label, rest = split_label(line)
        if label is not None or not pieces:
            pieces.append((label if label is not None else speaker, []))
            speaker = pieces[-1][0]
        if rest.strip():
            pieces[-1][1].append(rest.strip())
    return [(who, "\n".join(lines)) for who, lines in pieces if lines]


def _inherit_speakers(pieces: list[Piece], source: Source, what: str) -> None:
    """Unlabelled pieces continue the previous speaker; warn about leading ones."""
    previous: str | None = None
    for piece in pieces:
        if piece.speaker is None:
            piece.speaker = previous
        previous = piece.speaker
    unlabelled = [p for p in pieces if p.speaker is None]
    if not unlabelled:
        return
    if len(unlabelled) == len(pieces):
        message = (f"no speaker labels (<v Name> voices or 'Name:' prefixes); each {what} "
                   f"is read as one utterance of speaker '{UNKNOWN_SPEAKER}'")
    else:
        message = (f"{len(unlabelled)} {what}(s) before the first speaker label are read as "
                   f"speaker '{UNKNOWN_SPEAKER}'")
    source.log.warn(source.name, message, location=f"{what} {unlabelled[0].position}",
                    once="no-speaker")


def _subtitle_transcript(pieces: list[Piece], source: Source, options: ReadOptions) -> Transcript:
    pieces = sorted(pieces, key=lambda p: p.start)  # stable: cue order breaks ties
    _inherit_speakers(pieces, source, "cue")

    def position(turn: list[Piece]) -> dict[str, Any]:
        cues = list(dict.fromkeys(p.position for p in turn))
        return {"cue": cues[0], "cues": cues} if len(cues) > 1 else {"cue": cues[0]}

    utterances = turn_utterances(pieces, source, options, position, joiner="\n")
    return Transcript(transcript_id=source.stem, utterances=utterances)


_VTT_TIMES_HINT = ("write cue times as hh:mm:ss.mmm --> hh:mm:ss.mmm "
                   "(for example 00:01:02.500 --> 00:01:05.000)")
_SRT_TIMES_HINT = ("write cue times as hh:mm:ss,mmm --> hh:mm:ss,mmm "
                   "(for example 00:01:02,500 --> 00:01:05,000)")


def _check_timing_line(source: Source, line: str, cue: int, number: int, pattern: re.Pattern[str],
                       hint: str) -> None:
    """Reject timing lines that the libraries would misread or skip.

    Both libraries are lenient: webvtt-py drops a cue with a bad time and srt
    reads '00:00:0x,000' as 0 s, so the times are checked here first.
    """
    left, _, right = line.partition("-->")
    for time in (left.strip(), right.split()[0] if right.split() else ""):
        try:
            valid = pattern.fullmatch(time) is not None and parse_clock(time) is not None
        except TimestampError:  # e.g. 75 seconds
            valid = False
        if not valid:
            raise InputError(source.name, f"cannot read the cue timing {line.strip()!r}", hint,
                             location=f"cue {cue} (line {number})")


def _check_times(source: Source, start: float, end: float, cue: int, line: int | None) -> None:
    if end < start:
        where = f"cue {cue}" + (f" (line {line})" if line else "")
        raise InputError(source.name, f"the cue ends ({end:g} s) before it starts ({start:g} s)",
                         "fix the cue timing so that the end is after the start", location=where)


# --- WebVTT -------------------------------------------------------------------------------


def _vtt_blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blocks of non-blank lines with the line number of their first line.

    As in webvtt-py, a timing line that cannot belong to the current block
    (after the header, or after a block's second line) starts a new one.
    """
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            current = []
            continue
        if current and "-->" in line and (
            len(blocks) == 1 or len(current) > 1 or "-->" in current[0]
        ):
            current = []
        if not current:
            blocks.append((number, current))
        current.append(line)
    return blocks


def _vtt_pieces(caption: webvtt.Caption, cue: int) -> list[Piece]:
    """Split a cue at its voice spans; text without a voice may carry 'Name:' labels."""
    raw = caption.raw_text
    chunks: list[tuple[str | None, str]] = []
    voice, position = None, 0
    for match in webvtt.Caption.VOICE_SPAN_PATTERN.finditer(raw):
        chunks.append((voice, raw[position:match.start()]))
        voice, position = html.unescape(match.group(1).strip()), match.end()
    chunks.append((voice, raw[position:]))
    start = caption.start_time.in_milliseconds() / 1000
    end = caption.end_time.in_milliseconds() / 1000
    pieces = []
    for chunk_voice, chunk in chunks:
        # Caption.text strips the cue tags (<i>, <c.x>, </v>); entities are unescaped after.
        plain = html.unescape(webvtt.Caption(text=chunk).text)
        if chunk_voice is not None:
            lines = [line.strip() for line in plain.split("\n") if line.strip()]
            found = [(chunk_voice, "\n".join(lines))] if lines else []
        else:
            found = _labelled_pieces(plain, None)
        pieces.extend(Piece(who, words, start, end, cue) for who, words in found)
    return pieces


def read_vtt(source: Source, options: ReadOptions) -> list[Transcript]:
    """Read a WebVTT file into one transcript of speaker turns."""
    blocks = _vtt_blocks(source.text)
    try:
        # The library checks the header; cues are parsed block by block below
        # so that a bad cue can be reported by number and line.
        webvtt.from_string("\n".join(blocks[0][1]) if blocks else "")
    except MalformedFileError:
        raise InputError(source.name, "not a WebVTT file (the first line must start with 'WEBVTT')",
                         "add the line 'WEBVTT' at the top, or pass --format to name the format",
                         location="line 1") from None
    pieces: list[Piece] = []
    notes: list[tuple[int, int, str]] = []  # (the next cue's number, line, text)
    cue = 0
    for first_line, lines in blocks[1:]:
        is_cue = any("-->" in line for line in lines)
        if not is_cue:
            if lines[0].startswith("NOTE") and lines[0][4:5] in ("", " ", "\t"):
                text = "\n".join([lines[0][4:].strip(), *lines[1:]]).strip()
                if text:
                    notes.append((cue + 1, first_line, text))
            elif not lines[0].startswith(("STYLE", "REGION")):
                source.log.warn(source.name, f"text outside any cue was not read: {lines[0]!r}",
                                location=f"line {first_line}")
            continue
        try:
            captions = webvtt.from_string("WEBVTT\n\n" + "\n".join(lines)).captions
        except MalformedCaptionError:  # not raised unless strict, but be safe
            captions = []
        timing_offset = next(i for i, line in enumerate(lines) if "-->" in line)
        _check_timing_line(source, lines[timing_offset], cue + 1, first_line + timing_offset,
                           _VTT_TIME, _VTT_TIMES_HINT)
        if not captions:
            raise InputError(source.name, f"cannot read the cue {lines[timing_offset].strip()!r}",
                             _VTT_TIMES_HINT,
                             location=f"cue {cue + 1} (line {first_line + timing_offset})")
        for caption in captions:
            cue += 1
            found = _vtt_pieces(caption, cue)
            if found:
                _check_times(source, found[0].start, found[0].end, cue,
                             first_line + timing_offset)
            pieces.extend(found)
    transcript = _subtitle_transcript(pieces, source, options)
    _keep_notes(transcript, notes, source)
    return [transcript]


def _keep_notes(transcript: Transcript, notes: list[tuple[int, int, str]], source: Source) -> None:
    """Put each NOTE's text in meta["notes"] of the utterance holding the next cue (or the
    last utterance); warn once, naming the first note's line."""
    if not notes:
        return
    utterances = transcript.utterances
    if not utterances:
        source.log.warn(source.name, f"{len(notes)} NOTE block(s) not kept: the file has no cues to keep them with",
                        location=f"line {notes[0][1]}")
        return
    holder: dict[int, int] = {}  # cue number -> utterance index
    for index, utterance in enumerate(utterances):
        where = utterance.meta.get("source", {})
        for number in where.get("cues") or [where.get("cue")]:
            if isinstance(number, int):
                holder.setdefault(number, index)
    numbers = sorted(holder)
    for next_cue, _line, text in notes:
        later = [n for n in numbers if n >= next_cue]
        index = holder[later[0]] if later else len(utterances) - 1
        utterances[index].meta.setdefault("notes", []).append(text)
    source.log.warn(source.name, f"{len(notes)} NOTE block(s) kept in meta.notes of the utterance that follows each",
                    location=f"line {notes[0][1]}")


# --- SubRip -------------------------------------------------------------------------------


def _srt_error(source: Source, error: srt.SRTParseError, cue: int) -> InputError:
    text = source.text
    unmatched = error.unmatched_content
    skipped = len(unmatched) - len(unmatched.lstrip())
    line = text.count("\n", 0, error.expected_start + skipped) + 1
    content_lines = [part.strip() for part in unmatched.strip().split("\n")]
    timing = next((part for part in content_lines if "-->" in part), None)
    if timing is not None:
        line += content_lines.index(timing)
        return InputError(source.name, f"cannot read the cue timing {timing!r}", _SRT_TIMES_HINT,
                          location=f"cue {cue} (line {line})")
    return InputError(source.name, f"expected a cue number and a timing line, found "
                      f"{content_lines[0][:60]!r}",
                      "separate cues by a blank line; each cue is a number, a timing line "
                      "and its text", location=f"cue {cue} (line {line})")


def read_srt(source: Source, options: ReadOptions) -> list[Transcript]:
    """Read a SubRip file into one transcript of speaker turns."""
    timing_lines = [(number, line) for number, line in
                    enumerate(_LINE_BREAK.split(source.text), start=1) if "-->" in line]
    for cue, (number, line) in enumerate(timing_lines, start=1):
        _check_timing_line(source, line, cue, number, _SRT_TIME, _SRT_TIMES_HINT)
    pieces: list[Piece] = []
    cue = 0
    try:
        for subtitle in srt.parse(source.text):
            cue += 1
            start, end = subtitle.start.total_seconds(), subtitle.end.total_seconds()
            _check_times(source, start, end, cue, None)
            plain = _SRT_MARKUP.sub("", subtitle.content)
            for who, words in _labelled_pieces(plain, None):
                pieces.append(Piece(who, words, start, end, cue))
    except srt.SRTParseError as error:
        raise _srt_error(source, error, cue + 1) from None
    if cue == 0:
        raise InputError(source.name, "no subtitle cues found",
                         "check that this is a SubRip (.srt) file, or pass --format")
    return [_subtitle_transcript(pieces, source, options)]
