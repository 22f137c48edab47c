"""Write utterances as a CSV table, one row per utterance."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from rupturekit.records import Code, Transcript
from rupturekit.safe_output import safe_csv_text

CSV_COLUMNS: tuple[str, ...] = (
    "transcript_id", "utterance_id", "speaker", "role", "start", "end", "segment_id", "text",
    "codes", "meta",
)


def format_code(code: Code) -> str:
    """``rater:label``, with ``=rating`` appended when the code has a rating."""
    text = f"{code.rater}:{code.label}"
    return f"{text}={code.rating:g}" if code.rating is not None else text


def _cell(value: object) -> object:
    return "" if value is None else value


def _row(utterance) -> list:
    return [utterance.transcript_id, utterance.utterance_id, utterance.speaker, utterance.role,
            _cell(utterance.start), _cell(utterance.end), _cell(utterance.segment_id), utterance.text,
            "; ".join(format_code(code) for code in utterance.codes),
            json.dumps(utterance.meta, ensure_ascii=False, separators=(",", ":"))]


def csv_text(transcripts: Iterable[Transcript], header: bool = True) -> str:
    """The CSV rows of `transcripts` (after the header row, with `header`); see `write_csv`.
    Pieces of one file when it is written unit by unit."""
    return safe_csv_text((_row(u) for t in transcripts for u in t.utterances), CSV_COLUMNS if header else None)


def write_csv(transcripts: Iterable[Transcript], path: str | Path) -> None:
    """Write a UTF-8 CSV with the columns in `CSV_COLUMNS`.

    Missing times and segment ids are empty cells; ``codes`` is
    ``"rater:label; rater:label"`` and ``meta`` is compact JSON. Fields that
    later stages add (labels, scores, ...) are not columns: use JSONL for them. Text that a
    spreadsheet would run as a formula gets a leading ``'`` (`rupturekit.safe_output`).
    """
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        handle.write(csv_text(transcripts))
