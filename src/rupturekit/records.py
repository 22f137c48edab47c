"""Typed records for transcripts and the canonical JSONL format.

One line of canonical JSONL is one utterance (one speaker turn). Lines of a
transcript share `transcript_id`; `utterance_id` gives their order. Writing is
deterministic (fixed key order, no ASCII escaping), so write -> read -> write is
byte-identical.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rupturekit.bounded import loads_json
from rupturekit.errors import InputError, first_problem

Role = Literal["therapist", "client", "other", "unknown"]
ROLES: tuple[str, ...] = ("therapist", "client", "other", "unknown")

# Key order of a canonical line. Any fields of the user's own follow, kept as extras in the order
# read, then the tag fields (`TAG_FIELDS`) that are set, in that order: the order tagging always
# wrote them in, so that a file tagged before reads and writes back byte for byte.
CANONICAL_FIELDS: tuple[str, ...] = (
    "transcript_id",
    "utterance_id",
    "speaker",
    "role",
    "start",
    "end",
    "text",
    "segment_id",
    "sentences",
    "meta",
    "codes",
)
# What a tagger (`rupturekit tag`) or the weak labeler (`rupturekit weak-label`) adds to an utterance.
TAG_FIELDS: tuple[str, ...] = ("weak", "labels", "scores", "evidence", "uncertain")


class Code(BaseModel):
    """One rater's code on one utterance: a codebook label (``family.subtype``), an optional
    1-5 style `rating`, and the coder's optional `note`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rater: str
    label: str
    rating: float | None = None
    note: str | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"rater": self.rater, "label": self.label}
        if self.rating is not None:
            record["rating"] = self.rating
        if self.note is not None:
            record["note"] = self.note
        return record


class Utterance(BaseModel):
    """One speaker turn. `sentences` holds character spans [start, end) into `text`."""

    model_config = ConfigDict(extra="allow", validate_assignment=False)

    transcript_id: str
    utterance_id: int = Field(ge=0)
    speaker: str
    role: Role = "unknown"
    start: float | None = None
    end: float | None = None
    text: str
    segment_id: int | None = None
    sentences: list[tuple[int, int]] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    codes: list[Code] = Field(default_factory=list)
    # Tags, None on an untagged record. `labels`: the predicted labels (a family name where the
    # subtype is uncertain); `scores`: {label: probability}; `evidence`: {label: [[cue, value], ...]},
    # the cues behind each predicted label; `uncertain`: {family: most likely subtype} for family tags;
    # `weak`: {label: probability} from the weak labeler.
    labels: list[str] | None = None
    scores: dict[str, float] | None = None
    evidence: dict[str, list[tuple[str, float]]] | None = None
    uncertain: dict[str, str] | None = None
    weak: dict[str, float] | None = None

    @field_validator("start", "end")
    @classmethod
    def _finite_non_negative(cls, value: float | None) -> float | None:
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ValueError("times must be finite and >= 0 seconds")
        return value

    @field_validator("scores", "weak")
    @classmethod
    def _probabilities(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for name, number in (value or {}).items():
            if not math.isfinite(number):
                raise ValueError(f"the score of '{name}' is not finite (scores are probabilities, 0 to 1)")
            if not 0.0 <= number <= 1.0:
                raise ValueError(f"score {number:g} of '{name}' is outside 0 to 1 (scores are probabilities)")
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> Utterance:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self

    @property
    def words(self) -> int:
        return len(self.text.split())

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "transcript_id": self.transcript_id,
            "utterance_id": self.utterance_id,
            "speaker": self.speaker,
            "role": self.role,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "segment_id": self.segment_id,
            "sentences": [list(span) for span in self.sentences] if self.sentences is not None else None,
            "meta": self.meta,
            "codes": [code.to_record() for code in self.codes],
        }
        if self.model_extra:
            record.update(self.model_extra)
        for name in TAG_FIELDS:
            value = getattr(self, name)
            if value is not None:
                record[name] = value
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_record(), ensure_ascii=False, allow_nan=False)


class Transcript(BaseModel):
    """The utterances of one session, in order."""

    transcript_id: str
    utterances: list[Utterance] = Field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds from the first start to the last end (or start) seen; None without times."""
        starts = [u.start for u in self.utterances if u.start is not None]
        ends = [u.end if u.end is not None else u.start for u in self.utterances]
        ends = [e for e in ends if e is not None]
        if not starts:
            return None
        return max(ends) - min(starts)


def group_transcripts(utterances: Iterable[Utterance]) -> list[Transcript]:
    """Group utterances by transcript, keeping first-seen transcript order."""
    by_id: dict[str, Transcript] = {}
    for utterance in utterances:
        transcript = by_id.get(utterance.transcript_id)
        if transcript is None:
            transcript = by_id[utterance.transcript_id] = Transcript(
                transcript_id=utterance.transcript_id
            )
        transcript.utterances.append(utterance)
    return list(by_id.values())


def dumps_jsonl(transcripts: Iterable[Transcript]) -> str:
    return "".join(u.to_json() + "\n" for t in transcripts for u in t.utterances)


def write_jsonl(transcripts: Iterable[Transcript], path: str | Path) -> None:
    Path(path).write_text(dumps_jsonl(transcripts), encoding="utf-8")


def _first_error(error: ValidationError) -> tuple[str, str]:
    """The first problem of a record, and what to do about it."""
    where, message = first_problem(error)
    where = where or "record"
    if where.split(".")[0] in TAG_FIELDS:
        return (f"field '{where}': {message}",
                f"{', '.join(TAG_FIELDS)} hold the tags `rupturekit tag` and `weak-label` write: fix the field, "
                "or give a field of your own another name")
    return f"field '{where}': {message}", "fix the record, or read the file as a table with --format table"


def json_objects(text: str, file: str, first_line: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of JSONL; InputError names a bad line.
    `first_line`: the file's line number of the text's first line (a byte range of a file)."""
    # Split on "\n" only: str.splitlines() would also split inside texts holding
    # U+0085 or U+2028, which json.dumps(ensure_ascii=False) leaves unescaped.
    for line_number, line in enumerate(text.split("\n"), start=first_line):
        if not line.strip():
            continue
        try:
            record = loads_json(line)
        except json.JSONDecodeError as exc:
            raise InputError(file, f"not valid JSON ({exc.msg})", "fix or remove this line",
                             location=f"line {line_number}") from None
        if not isinstance(record, dict):
            raise InputError(file, "a JSONL line must be a JSON object", "fix or remove this line",
                             location=f"line {line_number}")
        yield line_number, record


def loads_jsonl(text: str, file: str = "<string>", first_line: int = 1) -> list[Transcript]:
    """Parse canonical JSONL. Raises InputError naming the line for any bad record."""
    utterances: list[Utterance] = []
    seen: dict[tuple[str, int], int] = {}
    for line_number, record in json_objects(text, file, first_line):
        try:
            utterance = Utterance.model_validate(record)
        except ValidationError as exc:
            problem, hint = _first_error(exc)
            raise InputError(file, f"not a canonical utterance record ({problem})", hint,
                             location=f"line {line_number}") from None
        key = (utterance.transcript_id, utterance.utterance_id)
        if key in seen:
            raise InputError(file, f"utterance {key[1]} of transcript '{key[0]}' repeats line {seen[key]}",
                             "give each utterance of a transcript its own utterance_id",
                             location=f"line {line_number}")
        seen[key] = line_number
        utterances.append(utterance)
    transcripts = group_transcripts(utterances)
    for transcript in transcripts:
        transcript.utterances.sort(key=lambda u: u.utterance_id)
    return transcripts


def read_jsonl(path: str | Path) -> list[Transcript]:
    """Canonical JSONL from a file. FileNotFoundError is raised as such (callers say what to
    do); any other unreadable file (a folder, not UTF-8) is an InputError naming it."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise InputError(file, "is a folder, not a corpus file", "give the canonical .jsonl file") from None
    except OSError as exc:
        raise InputError(file, f"cannot read the file ({exc.strerror})", "check the path and its permissions") from None
    except UnicodeDecodeError as exc:
        raise InputError(file, f"not UTF-8 text (byte {exc.start}), so not canonical JSONL",
                         "give the .jsonl file that `rupturekit ingest` wrote") from None
    return loads_jsonl(text, file=file)
