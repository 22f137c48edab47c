"""Reader for plain-text transcripts (word-processor exports) with speaker prefixes.

A turn starts at a line with a speaker label and a colon (``T:``, ``Client:``,
``Dr. Smith:``, ``SPEAKER_00:``, ``Anna:``); unlabelled lines continue the turn. A label
may carry a timestamp (``[00:01:23] T:``, ``00:01:23 T:``, ``T (00:01:23):``,
``T: [00:01:23] ...``); the first timestamp of a turn sets `start`, later ones move to
``meta["timestamps"]``. Nothing is dropped: text before the first label goes to
``meta["preamble"]``, stage directions stay in the text and are listed in
``meta["stage_directions"]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rupturekit.errors import InputError, ProblemLog
from rupturekit.formats import format_clock
from rupturekit.ingest.common import stage_directions
from rupturekit.ingest.options import ReadOptions
from rupturekit.ingest.roles import alias_role, is_generic_label
from rupturekit.ingest.timestamps import TimestampError, parse_clock
from rupturekit.records import Transcript, Utterance
from rupturekit.source import Source

NO_LABELS_HINT = "start each turn with a label such as 'T:' or 'Client:', or use --format table"
BAD_TIMESTAMP_HINT = "fix the timestamp or remove it"

_H = r"[^\S\n]"  # horizontal whitespace
# A bare clock time: 00:01:23, 1:23, 00:01:23.5, 00:01:23,500.
_BARE = r"\d{1,3}(?::\d{1,3}){1,3}(?:[.,]\d+)?"
# What "looks like" a timestamp inside brackets, valid or not: digit groups joined by colons,
# a letter or two allowed so that typos such as [12:3x:00] are reported, not kept as text.
_LOOSE = r"\d{1,3}(?::(?=\w{0,3}\d)\w{1,4}){1,3}(?:[.,]\w{1,6})?"
_BRACKETED = rf"\[{_H}*{_LOOSE}{_H}*\]|\({_H}*{_LOOSE}{_H}*\)"
_LABEL_WORD = r"[\w'\u2019.\-]*"

_LABEL_LINE = re.compile(
    rf"""^\s*
    (?:(?P<lts>{_BRACKETED}){_H}*|(?P<lts_bare>{_BARE}){_H}+)?        # leading timestamp
    (?P<label>[^\W\d_]{_LABEL_WORD}(?:{_H}+[^\W_]{_LABEL_WORD}){{0,3}})  # 1-4 words
    (?:{_H}*(?P<label_ts>{_BRACKETED})|{_H}*\((?P<qualifier>[^()\n:]{{1,30}})\))?
    {_H}*:(?![\d/:])                                # not 10:30, http://, a::b
    (?P<rest>.*)$""",
    re.VERBOSE,
)
_BRACKETED_TS = re.compile(_BRACKETED)
_LEADING_BARE = re.compile(rf"(?P<ts>{_BARE})(?=\s|$)")
_ONLY_TIMESTAMPS = re.compile(rf"^(?:(?:{_BRACKETED}|{_BARE}){_H}*)+$")

# Words that start prose or header lines ("So: ...", "Date: ...", "Client ID: ...") and
# never make a speaker label; checked against every word of a candidate label.
_NOT_LABEL_WORDS = frozenset("""
    so and but or well yes no yeah okay ok oh um uh hmm like anyway actually basically right
    now then also because see note notes nb ps update edit warning important reminder homework
    summary plan goal goals agenda topic example re subject he she they we you it this that
    there here what why how when who where session date time transcript title duration
    location recording recorded file page participants present attendees id number code name
    age gender
""".split())


@dataclass
class _Turn:
    speaker: str
    line: int
    start: float | None = None
    lines: list[str] = field(default_factory=list)
    # Inline timestamps: (index into `lines`, offset in that line, seconds).
    stamps: list[tuple[int, int, float]] = field(default_factory=list)

    def has_text(self) -> bool:
        return any(line for line in self.lines)

    def add_stamp(self, line_index: int, offset: int, seconds: float) -> None:
        # The first timestamp before any text of the turn is its start. Call this before
        # appending the line at `line_index`.
        if self.start is None and offset == 0 and not self.stamps and not self.has_text():
            self.start = seconds
        else:
            self.stamps.append((line_index, offset, seconds))


def _is_label(label: str) -> bool:
    """Whether a candidate prefix is a speaker label rather than prose ("I said: no")."""
    words = label.split()
    if len(label) > 40 or len(words) > 4:
        return False
    # Known aliases and generic labels count in any case ("client:", "speaker_00:"), but
    # lower-case single letters ("t:", "p:") are too likely to be prose.
    if len(label) >= 3 and (alias_role(label) is not None or is_generic_label(label)):
        return True
    if not words[0][0].isupper():
        return False
    if not all(word[0].isupper() or word[0].isdigit() for word in words[1:]):
        return False
    return not any(word.rstrip(".").casefold() in _NOT_LABEL_WORDS for word in words)


class _Reader:
    def __init__(self, file: str, log: ProblemLog):
        self.file = file
        self.log = log
        self.irregular_reported = False

    def seconds(self, token: str, line_number: int) -> float:
        """Parse a timestamp token (with or without brackets); InputError if malformed."""
        inner = token.strip()
        if inner[:1] in "[(":
            inner = inner[1:-1].strip()
        try:
            seconds, standard = parse_clock(inner)
        except TimestampError as exc:
            raise InputError(self.file, f"malformed timestamp '{token.strip()}' ({exc})",
                             BAD_TIMESTAMP_HINT, location=f"line {line_number}") from None
        if not standard and not self.irregular_reported:
            self.irregular_reported = True  # one format problem: report it once per file
            self.log.warn(self.file, f"irregular timestamp '{token.strip()}' read as "
                                     f"{format_clock(seconds)} (reported once per file)",
                          location=f"line {line_number}")
        return seconds

    def clean(self, body: str, line_number: int) -> tuple[str, list[tuple[int, float]]]:
        """Remove timestamps from one line of turn text: (text, [(offset, seconds)])."""
        body = body.strip()
        stamps: list[tuple[int, float]] = []
        pieces: list[str] = []
        length = 0
        last = ""  # last character kept so far
        pos = 0
        leading = _LEADING_BARE.match(body)
        # A bare time opening the text is a timestamp only in its long forms (00:01:23,
        # 01:23.5); "10:30 suits me" is speech.
        if leading and (leading["ts"].count(":") >= 2 or "." in leading["ts"]
                        or "," in leading["ts"]):
            stamps.append((0, self.seconds(leading["ts"], line_number)))
            pos = leading.end()
        for match in _BRACKETED_TS.finditer(body, pos):
            before = body[pos:match.start()]
            if before:
                pieces.append(before)
                length += len(before)
                last = before[-1]
            seconds = self.seconds(match.group(), line_number)
            pos = match.end()
            if not last or last.isspace():
                while pos < len(body) and body[pos].isspace():
                    pos += 1  # "a [ts] b" -> "a b", not "a  b"
            elif pos < len(body) and not body[pos].isspace():
                pieces.append(" ")  # "a[ts]b" -> "a b", not "ab"
                length += 1
                last = " "
            stamps.append((length, seconds))
        rest = body[pos:]
        if not pieces:
            rest = rest.lstrip()
        pieces.append(rest)
        text = "".join(pieces).rstrip()
        return text, [(min(offset, len(text)), seconds) for offset, seconds in stamps]

    def read(self, text: str) -> tuple[list[_Turn], list[tuple[int, str]]]:
        turns: list[_Turn] = []
        preamble: list[tuple[int, str]] = []
        # Timestamp-only lines wait for the next line: they start the next turn when it is
        # labelled and has no time of its own, else they belong to the current turn.
        waiting: list[tuple[int, str, list[float]]] = []
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line:
                if turns:
                    turns[-1].lines.append("")
                continue
            match = _LABEL_LINE.match(line)
            if match and _is_label(match["label"]):
                turns.append(self.start_turn(match, number, waiting, turns, preamble))
                waiting = []
                continue
            if not turns and not _ONLY_TIMESTAMPS.match(line):
                # Header text, kept raw (its times are not parsed), with any times above it.
                preamble.extend((n, waiting_line) for n, waiting_line, _ in waiting)
                preamble.append((number, line))
                waiting = []
                continue
            cleaned, stamps = self.clean(line, number)
            if not cleaned:
                waiting.append((number, line, [seconds for _, seconds in stamps]))
                continue
            if not turns:  # a time-like line in the header, such as "12:30"
                preamble.extend((n, waiting_line) for n, waiting_line, _ in waiting)
                preamble.append((number, line))
                waiting = []
                continue
            turn = turns[-1]
            index = len(turn.lines)
            for _, _, times in waiting:
                for seconds in times:
                    turn.add_stamp(index, 0, seconds)
            waiting = []
            for offset, seconds in stamps:
                turn.add_stamp(index, offset, seconds)
            turn.lines.append(cleaned)
        if waiting:
            if turns:
                self.stamp_end(turns[-1], waiting)
            else:
                preamble.extend((n, waiting_line) for n, waiting_line, _ in waiting)
        preamble.sort()
        return turns, preamble

    @staticmethod
    def stamp_end(turn: _Turn, waiting: list[tuple[int, str, list[float]]]) -> None:
        """Timestamp-only lines after the last text of a turn: inline stamps at its end."""
        index = len(turn.lines) - 1
        offset = len(turn.lines[-1])
        for _, _, times in waiting:
            for seconds in times:
                turn.stamps.append((index, offset, seconds))

    def start_turn(self, match: re.Match[str], number: int,
                   waiting: list[tuple[int, str, list[float]]], turns: list[_Turn],
                   preamble: list[tuple[int, str]]) -> _Turn:
        speaker = " ".join(match["label"].split())
        rest = match["rest"]
        qualifier = match["qualifier"]
        if qualifier is not None:
            qualifier = " ".join(qualifier.split())
            if all(word[0].isupper() for word in qualifier.split()):
                speaker = f"{speaker} ({qualifier})"  # "Client (Anna)": part of the label
            else:
                rest = f"({qualifier}) {rest.strip()}"  # "T (laughing):": a stage direction
        turn = _Turn(speaker=speaker, line=number, lines=[""])
        own = [self.seconds(token, number)
               for token in (match["lts"], match["lts_bare"], match["label_ts"])
               if token is not None]
        cleaned, stamps = self.clean(rest, number)
        if not own and stamps and stamps[0][0] == 0:  # "T: [00:01:23] text"
            own.append(stamps.pop(0)[1])
        if waiting:
            if not own:
                own = [seconds for _, _, times in waiting for seconds in times]
            elif turns:
                self.stamp_end(turns[-1], waiting)
            else:
                preamble.extend((n, waiting_line) for n, waiting_line, _ in waiting)
        for seconds in own:
            turn.add_stamp(0, 0, seconds)
        turn.lines[0] = cleaned
        for offset, seconds in stamps:
            turn.add_stamp(0, offset, seconds)
        return turn


def _utterance(turn: _Turn, transcript_id: str, utterance_id: int, file: str) -> Utterance:
    raw = "\n".join(turn.lines)
    text = raw.strip()
    lead = len(raw) - len(raw.lstrip())
    line_starts = [0]
    for line in turn.lines:
        line_starts.append(line_starts[-1] + len(line) + 1)
    meta: dict = {"source": {"file": file, "line": turn.line}}
    if turn.stamps:
        meta["timestamps"] = [
            {"offset": min(max(line_starts[index] + offset - lead, 0), len(text)),
             "time": seconds}
            for index, offset, seconds in turn.stamps
        ]
    stage = stage_directions(text)
    if stage:
        meta["stage_directions"] = stage
    return Utterance(transcript_id=transcript_id, utterance_id=utterance_id,
                     speaker=turn.speaker, role="unknown", start=turn.start, text=text,
                     meta=meta)


def read_text(source: Source, options: ReadOptions) -> list[Transcript]:
    """Read one plain-text transcript; raises InputError for input it cannot read."""
    file = source.name
    reader = _Reader(file, source.log)
    turns, preamble = reader.read(source.text)
    if not turns:
        raise InputError(file, "no speaker labels found", NO_LABELS_HINT)
    utterances = [_utterance(turn, source.stem, i, file) for i, turn in enumerate(turns)]
    if preamble:
        first, last = preamble[0][0], preamble[-1][0]
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        excerpt = preamble[0][1] if len(preamble[0][1]) <= 60 else preamble[0][1][:57] + "..."
        source.log.warn(file, f"{len(preamble)} line(s) before the first speaker label "
                              f"(starting '{excerpt}') kept in meta.preamble of the first "
                              f"utterance", location=where)
        utterances[0].meta["preamble"] = "\n".join(line for _, line in preamble)
    previous = None
    for utterance, turn in zip(utterances, turns, strict=True):
        if utterance.start is not None:
            if previous is not None and utterance.start < previous:
                source.log.warn(file, f"timestamps go backwards ({format_clock(utterance.start)} "
                                      f"after {format_clock(previous)})",
                                location=f"line {turn.line}", once="text:backwards")
            previous = utterance.start
    return [Transcript(transcript_id=source.stem, utterances=utterances)]
