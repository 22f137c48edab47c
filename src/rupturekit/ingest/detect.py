"""Format detection from the file's extension, then from its content."""

from __future__ import annotations

import csv
import io
import json
import re

from rupturekit.bounded import allow_csv_fields, loads_json
from rupturekit.errors import InputError
from rupturekit.source import Source

FORMATS: tuple[str, ...] = ("text", "vtt", "srt", "whisper", "eaf", "table", "annomi", "jsonl")

# Columns that identify the AnnoMI layout (simple and full files).
ANNOMI_COLUMNS = frozenset({"transcript_id", "utterance_id", "interlocutor", "utterance_text"})
_CANONICAL_KEYS = frozenset({"transcript_id", "utterance_id", "speaker", "text"})
_SRT_CUE = re.compile(r"^\s*\d+\s*\r?\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->", re.MULTILINE)

_JSON_ARRAY = re.compile(r'\[\s*[\[{\]"]')

_BY_EXTENSION = {
    ".vtt": "vtt",
    ".webvtt": "vtt",
    ".srt": "srt",
    ".eaf": "eaf",
    ".csv": "table",
    ".tsv": "table",
    ".tab": "table",
}


def _table_header(text: str, delimiter: str) -> set[str]:
    first_line = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    allow_csv_fields(first_line)
    try:
        return {cell.strip() for cell in next(csv.reader(io.StringIO(first_line), delimiter=delimiter), [])}
    except csv.Error:  # an unbalanced quote, say: not an AnnoMI header; the table reader says what is wrong
        return set()


def _first_json_record(text: str) -> object | None:
    for line in text.splitlines():
        if line.strip():
            try:
                return loads_json(line)
            except json.JSONDecodeError:
                return None
    return None


def detect_format(source: Source) -> str:
    """Guess the format of `source`; `--format` overrides this."""
    suffix = source.path.suffix.lower()
    by_extension = _BY_EXTENSION.get(suffix)
    if by_extension == "eaf":
        return "eaf"
    text = source.text  # decoding also rejects empty and binary files
    head = text.lstrip()[:4096]
    if by_extension in ("vtt", "srt"):
        return by_extension
    if by_extension == "table":
        delimiter = "\t" if suffix in (".tsv", ".tab") else ","
        return "annomi" if ANNOMI_COLUMNS <= _table_header(text, delimiter) else "table"
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith("<?xml") or head.startswith("<ANNOTATION_DOCUMENT"):
        if "<ANNOTATION_DOCUMENT" in head:
            return "eaf"
        raise InputError(source.name, "XML that is not an ELAN .eaf document",
                         "pass --format to name its format")
    if _SRT_CUE.match(head):
        return "srt"
    # "[" also opens a bracketed timestamp ("[00:00:05] T: ..."), so a JSON array
    # must continue with a value that JSON allows there.
    if head.startswith("{") or _JSON_ARRAY.match(head):
        if suffix == ".jsonl" or (suffix != ".json" and "\n{" in text.strip()):
            record = _first_json_record(text)
            if isinstance(record, dict) and _CANONICAL_KEYS <= record.keys():
                return "jsonl"
            return "table"
        return "whisper"
    if suffix in (".json", ".jsonl"):
        raise InputError(source.name, "the file does not start with JSON",
                         "check the file, or pass --format to name its format")
    return "text"
