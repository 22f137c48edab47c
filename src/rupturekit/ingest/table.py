"""Tables of utterances: CSV, TSV and JSONL (one object per line), and the AnnoMI preset.

Every row becomes one utterance; no row is dropped. Ids are kept as the source
has them so that results join back to the table. Errors name the line of the
row (the first line, for cells that span several lines).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from rupturekit.bounded import allow_csv_fields
from rupturekit.errors import InputError, ProblemLog, first_problem
from rupturekit.formats import format_clock
from rupturekit.ingest.options import ReadOptions, TableColumns
from rupturekit.ingest.timestamps import TimestampError, parse_clock
from rupturekit.records import Code, Transcript, Utterance, json_objects
from rupturekit.safe_output import unescape_cell
from rupturekit.source import Source

# Column roles -> header names tried (case-insensitively, in this order) when the
# user names no column.
GUESSES: dict[str, tuple[str, ...]] = {
    "text": ("text", "utterance", "utterance_text", "transcript_text", "content", "turn_text"),
    "speaker": ("speaker", "interlocutor", "role", "speaker_label", "who"),
    "transcript": ("transcript_id", "transcript", "session", "session_id", "file"),
    "order": ("utterance_id", "order", "turn", "turn_id", "index", "line"),
    "start": ("start", "start_time", "timestamp", "begin", "onset"),
    "end": ("end", "end_time", "stop", "offset"),
}
ROLES_ORDER: tuple[str, ...] = tuple(GUESSES)
REQUIRED: tuple[str, ...] = ("text", "speaker")

_INTEGER = re.compile(r"^\s*\d+\s*$")
_NORMALISE = re.compile(r"[\s\-]+")
# Lines listed in a summary warning before it says "and N more".
_LIST_LINES = 10


def _option(role: str) -> str:
    return f"--{role}-col"


def _norm(name: str) -> str:
    # "Start Time" and "start-time" match the guess "start_time".
    return _NORMALISE.sub("_", name.strip().lower())


@dataclass
class _Table:
    header: list[str]
    rows: list[tuple[int, dict[str, Any]]]  # (line of the row, column -> value)
    header_line: int
    is_json: bool


# ---------------------------------------------------------------- parsing


def _delimiter(source: Source, text: str) -> str:
    suffix = source.path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    head = text[:8192]
    if len(text) > len(head) and "\n" in head:
        head = head[: head.rindex("\n")]  # whole lines only
    try:
        return csv.Sniffer().sniff(head, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def _header_names(cells: list[str], file: str, line: int) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(cells):
        # An unnamed column (a spreadsheet's index column, say) still keeps its values.
        name = cell.strip() or f"column_{index + 1}"
        if name in seen:
            raise InputError(file, f"column '{name}' appears twice in the header",
                             "rename one of the two columns", location=f"line {line}")
        seen[name] = index
        names.append(name)
    return names


def _parse_csv(source: Source, text: str) -> _Table:
    file = source.name
    allow_csv_fields(text)
    delimiter = _delimiter(source, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 1
    rows: list[tuple[int, dict[str, Any]]] = []
    short_lines: list[int] = []
    merged: list[tuple[int, int]] = []  # (first, last line) of rows that may have swallowed others
    physical: list[str] | None = None
    previous_end = 0
    try:
        for cells in reader:
            line = previous_end + 1  # a quoted cell may span lines: report the row's first
            previous_end = reader.line_num
            if header is not None and previous_end > line:
                physical = physical if physical is not None else _PHYSICAL_LINES.split(text)
                if _swallowed_rows(physical[line - 1:previous_end], delimiter, len(header)):
                    merged.append((line, previous_end))
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            cells = [unescape_cell(cell) for cell in cells]  # our CSV outputs escape formula-like text
            if header is None:
                header, header_line = _header_names(cells, file, line), line
                continue
            if len(cells) > len(header):
                raise InputError(
                    file, f"the row has {len(cells)} cells but the header has {len(header)}",
                    "quote cells that contain the delimiter, or check the header",
                    location=f"line {line}")
            if len(cells) < len(header):
                short_lines.append(line)
                cells = cells + [""] * (len(header) - len(cells))
            rows.append((line, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        raise InputError(file, f"not a readable table ({exc})", "check the quoting of this row",
                         location=f"line {previous_end + 1}") from None
    if header is None:
        raise InputError(file, "the table has no header", "put the column names on the first line")
    if merged:
        first, last = merged[0]
        source.log.warn(file, f"a quoted cell runs from line {first} to line {last} and holds lines that look like "
                              f"rows ({len(merged)} such cell{'s' * (len(merged) != 1)}); if a closing quote is "
                              "missing, those rows were read as part of one utterance: check the quotes",
                        location=f"line {first}")
    if short_lines:
        source.log.warn(file, f"{_count(short_lines, 'row')} fewer cells than the header "
                              f"({_lines(short_lines)}); the missing cells are read as empty",
                        location=f"line {short_lines[0]}")
    return _Table(header, rows, header_line, is_json=False)


_PHYSICAL_LINES = re.compile(r"\r\n|\r|\n")  # the line ends csv counts in reader.line_num


def _swallowed_rows(lines: list[str], delimiter: str, width: int) -> bool:
    """Whether the physical lines of one multi-line row suggest a missing closing quote: the
    quotes do not pair up (the cell ran to the end of the file), or a line inside the cell
    splits into exactly as many cells as the header has, like a row of its own."""
    if sum(line.count('"') for line in lines) % 2:
        return True
    for inner in lines[1:]:
        if '"' in inner or not inner.strip():
            continue
        if width > 1 and len(next(csv.reader([inner], delimiter=delimiter), [])) == width:
            return True
    return False


def _parse_jsonl(source: Source, text: str) -> _Table:
    file = source.name
    header: dict[str, None] = {}  # ordered union of the records' keys
    rows: list[tuple[int, dict[str, Any]]] = []
    first_line = 0
    for line, record in json_objects(text, file):
        first_line = first_line or line
        header.update(dict.fromkeys(record))
        rows.append((line, record))
    return _Table(list(header), rows, first_line or 1, is_json=True)


def _parse(source: Source) -> _Table:
    text = source.text
    if text.lstrip().startswith("{"):
        return _parse_jsonl(source, text)
    return _parse_csv(source, text)


# ---------------------------------------------------------------- columns


def _find(header: list[str], name: str) -> str | None:
    if name in header:
        return name
    matches = [column for column in header if column.lower() == name.strip().lower()]
    return matches[0] if len(matches) == 1 else None


def _map_columns(table: _Table, columns: TableColumns, file: str) -> dict[str, str | None]:
    """Role -> header column (None: the table has no such column)."""
    # at most 20 names of at most 40 characters: a stray first line can be one huge "column"
    shown = [name if len(name) <= 40 else name[:37] + "..." for name in table.header[:20]]
    listed = ", ".join(shown) + (f" and {len(table.header) - 20} more" if len(table.header) > 20 else "")
    where = f"line {table.header_line}"
    mapping: dict[str, str | None] = {}
    for role in ROLES_ORDER:
        given = getattr(columns, role)
        if given is None or given == "":
            continue  # "" switches the column off; None is guessed below
        column = _find(table.header, given)
        if column is None:
            raise InputError(file, f"no column '{given}' (given with {_option(role)})",
                             f"use one of the header's columns: {listed}", location=where)
        mapping[role] = column
    taken = set(mapping.values())
    by_norm: dict[str, str] = {}
    for column in table.header:
        by_norm.setdefault(_norm(column), column)
    for role in ROLES_ORDER:
        if role in mapping:
            continue
        mapping[role] = None
        if getattr(columns, role) == "":
            continue
        for guess in GUESSES[role]:
            column = by_norm.get(guess)
            if column is not None and column not in taken:
                mapping[role] = column
                taken.add(column)
                break
    for role in REQUIRED:
        if mapping[role] is None:
            raise InputError(file, f"no {role} column (looked for {', '.join(GUESSES[role])})",
                             f"name it with {_option(role)}; the header has: {listed}",
                             location=where)
    return mapping


# ---------------------------------------------------------------- cells


def _count(lines: list[int], noun: str) -> str:
    return f"1 {noun} has" if len(lines) == 1 else f"{len(lines)} {noun}s have"


def _lines(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:_LIST_LINES])
    more = f" and {len(lines) - _LIST_LINES} more" if len(lines) > _LIST_LINES else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _time(value: Any, column: str, role: str, file: str, line: int,
          log: ProblemLog) -> float | None:
    """Seconds from a time cell; None when empty. Irregular forms warn, invalid ones stop."""
    hint = f"write it as hh:mm:ss, mm:ss or seconds, or ignore the column with {_option(role)} ''"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(file, f"column '{column}' has {json.dumps(value)}, which is not a time",
                         hint, location=f"line {line}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise InputError(file, f"column '{column}' has {value}, which is not a time "
                                   "(times are seconds >= 0)", hint, location=f"line {line}")
        return float(value)
    try:
        seconds, standard = parse_clock(value)
    except TimestampError as exc:
        raise InputError(file, f"column '{column}': {exc}", hint, location=f"line {line}") from None
    if not standard:
        clock = format_clock(seconds, 0 if seconds.is_integer() else 3)
        log.warn(file, f"column '{column}': irregular time '{value.strip()}' read as "
                       f"{clock} ({seconds:g} s)", location=f"line {line}")
    return seconds


def _order_ids(table: _Table, column: str | None, file: str, log: ProblemLog) -> bool:
    """Whether the order column holds non-negative integers in every row (then they are the ids)."""
    if column is None:
        return False
    for line, row in table.rows:
        value = row.get(column)
        if isinstance(value, bool):
            ok = False
        elif isinstance(value, int):
            ok = value >= 0
        else:
            ok = isinstance(value, str) and _INTEGER.match(value) is not None
        if not ok:
            log.warn(file, f"column '{column}' has {json.dumps(value)}, not a whole number >= 0; "
                           "utterances are numbered by row order and the column is kept in meta",
                     location=f"line {line}")
            return False
    return True


def _utterance(file: str, line: int, **fields: Any) -> Utterance:
    try:
        return Utterance(**fields)
    except ValidationError as exc:
        where, message = first_problem(exc)
        raise InputError(file, f"not a valid utterance ({where or 'row'}: {message})",
                         "fix the row", location=f"line {line}") from None


def _sorted(utterances: dict[str, list[Utterance]]) -> list[Transcript]:
    return [Transcript(transcript_id=tid, utterances=sorted(items, key=lambda u: u.utterance_id))
            for tid, items in utterances.items()]


# ---------------------------------------------------------------- readers


def read_table(source: Source, options: ReadOptions) -> list[Transcript]:
    """Read a CSV/TSV/JSONL table: one row per utterance, columns named or guessed."""
    file, log = source.name, source.log
    table = _parse(source)
    mapping = _map_columns(table, options.columns, file)
    text_col, speaker_col = mapping["text"], mapping["speaker"]
    transcript_col, order_col = mapping["transcript"], mapping["order"]
    start_col, end_col = mapping["start"], mapping["end"]
    use_order = _order_ids(table, order_col, file, log)
    used = {text_col, speaker_col, transcript_col, start_col, end_col}
    if use_order:
        used.add(order_col)
    meta_columns = [column for column in table.header if column not in used]
    meta_keys = {column: column for column in meta_columns}
    if "source" in meta_keys:
        # meta["source"] says where the row came from; a column of that name moves aside.
        meta_keys["source"] = "source_column"
        log.warn(file, "column 'source' is kept in meta as 'source_column'",
                 location=f"line {table.header_line}")
    if not table.rows:
        raise InputError(file, "the table has a header but no rows", "check the file")

    by_transcript: dict[str, list[Utterance]] = {}
    seen: dict[tuple[str, int], int] = {}
    empty_text: list[int] = []
    for line, row in table.rows:
        if transcript_col is None:
            transcript_id = source.stem
        else:
            transcript_id = _string(row.get(transcript_col)).strip()
            if not transcript_id:
                raise InputError(file, f"column '{transcript_col}' is empty",
                                 "give every row its transcript id", location=f"line {line}")
        items = by_transcript.setdefault(transcript_id, [])
        if use_order:
            utterance_id = int(row[order_col])
        else:
            utterance_id = len(items)
        key = (transcript_id, utterance_id)
        if key in seen:
            raise InputError(file, f"utterance {utterance_id} of transcript '{transcript_id}' "
                                   f"repeats line {seen[key]}",
                             f"give each row of a transcript its own {order_col}",
                             location=f"line {line}")
        seen[key] = line
        value = row.get(text_col)
        if isinstance(value, (dict, list)):
            raise InputError(file, f"column '{text_col}' holds a JSON {type(value).__name__}",
                             "the text must be a string", location=f"line {line}")
        text = _string(value).strip()
        if not text:
            empty_text.append(line)
        meta = {meta_keys[column]: row[column] for column in meta_columns if column in row}
        meta["source"] = {"file": file, "line": line}
        items.append(_utterance(
            file, line,
            transcript_id=transcript_id,
            utterance_id=utterance_id,
            speaker=_string(row.get(speaker_col)).strip(),
            start=None if start_col is None
            else _time(row.get(start_col), start_col, "start", file, line, log),
            end=None if end_col is None
            else _time(row.get(end_col), end_col, "end", file, line, log),
            text=text,
            meta=meta,
        ))
    if empty_text:
        log.warn(file, f"{_count(empty_text, 'row')} empty text in column '{text_col}' "
                       f"({_lines(empty_text)}); kept with text ''",
                 location=f"line {empty_text[0]}")
    return _sorted(by_transcript)


# AnnoMI: code columns -> code dimension. The *_exists columns are not coded:
# they are implied by the subtype (exists True <=> subtype given), so they are
# only checked.
_ANNOMI_CODES: tuple[tuple[str, str], ...] = (
    ("main_therapist_behaviour", "therapist_behaviour"),
    ("reflection_subtype", "reflection_subtype"),
    ("question_subtype", "question_subtype"),
    ("therapist_input_subtype", "therapist_input_subtype"),
    ("client_talk_type", "client_talk_type"),
)
_ANNOMI_VALUES: dict[str, frozenset[str]] = {
    "main_therapist_behaviour": frozenset({"reflection", "question", "therapist_input", "other"}),
    "reflection_subtype": frozenset({"simple", "complex"}),
    "question_subtype": frozenset({"open", "closed"}),
    "therapist_input_subtype": frozenset({"information", "advice", "negotiation", "options"}),
    "client_talk_type": frozenset({"change", "neutral", "sustain"}),
}
_ANNOMI_EXISTS: tuple[tuple[str, str], ...] = (
    ("reflection_exists", "reflection_subtype"),
    ("question_exists", "question_subtype"),
    ("therapist_input_exists", "therapist_input_subtype"),
)
_ANNOMI_REQUIRED: tuple[str, ...] = ("transcript_id", "utterance_id", "interlocutor",
                                     "utterance_text")
_ANNOMI_META: tuple[str, ...] = ("mi_quality", "topic", "video_title", "video_url", "timestamp")
# Columns that belong to one annotator's row, not to the utterance.
_ANNOMI_PER_RATER = frozenset({"annotator_id"} | {c for c, _ in _ANNOMI_CODES}
                              | {c for c, _ in _ANNOMI_EXISTS})
# Rows of one utterance must agree on these.
_ANNOMI_SAME: tuple[str, ...] = ("utterance_text", "interlocutor", "timestamp")
SIMPLE_RATER = "annomi"


def _na(value: str) -> bool:
    return value.strip().lower() in ("", "n/a", "na", "nan", "none")


def _annomi_codes(row: dict[str, Any], rater: str, role: str, file: str, line: int, log: ProblemLog,
                  cache: dict[tuple[str, str], Code]) -> Iterator[Code]:
    for column, dimension in _ANNOMI_CODES:
        value = _string(row.get(column))
        if _na(value):
            if column == "main_therapist_behaviour" and role == "therapist":
                log.warn(file, "therapist utterance without main_therapist_behaviour",
                         location=f"line {line}")
            continue
        value = value.strip()
        if value not in _ANNOMI_VALUES[column]:
            log.warn(file, f"unexpected {column} '{value}' (kept as a code)",
                     location=f"line {line}", once=f"annomi-value:{column}:{value}")
        if column == "main_therapist_behaviour" and role != "therapist":
            log.warn(file, f"main_therapist_behaviour '{value}' on a {role} utterance",
                     location=f"line {line}")
        label = f"{dimension}.{value}"
        code = cache.get((rater, label))
        if code is None:  # Code is frozen, so one instance per (rater, label) is shared
            code = cache[(rater, label)] = Code(rater=rater, label=label)
        yield code
    for exists_column, subtype_column in _ANNOMI_EXISTS:
        if exists_column not in row:
            continue
        exists = _string(row[exists_column]).strip()
        subtype = _string(row.get(subtype_column))
        if (exists.lower() == "true") != (not _na(subtype)):
            log.warn(file, f"{exists_column} is '{exists}' but {subtype_column} is '{subtype}'",
                     location=f"line {line}")


@dataclass(frozen=True)
class _AnnomiLayout:
    """What an AnnoMI table's header says: the full file (one row per annotator) or the simple one,
    timestamps or none, and the columns of the user's own (kept in meta, under these keys)."""

    full: bool
    has_time: bool
    extra_keys: dict[str, str]


def _annomi_layout(table: _Table, file: str, log: ProblemLog) -> _AnnomiLayout:
    missing = [c for c in _ANNOMI_REQUIRED if c not in table.header]
    if missing:
        raise InputError(file, f"not an AnnoMI table (no column {', '.join(missing)})",
                         "read it with --format table", location=f"line {table.header_line}")
    extra = [c for c in table.header if c not in _ANNOMI_PER_RATER
             and c not in _ANNOMI_REQUIRED and c not in _ANNOMI_META]
    extra_keys = {column: column for column in extra}
    if "source" in extra_keys:
        extra_keys["source"] = "source_column"  # as in read_table
        log.warn(file, "column 'source' is kept in meta as 'source_column'",
                 location=f"line {table.header_line}")
    return _AnnomiLayout("annotator_id" in table.header, "timestamp" in table.header, extra_keys)


class _AnnomiRows:
    """The rows of an AnnoMI table collapsed into utterances: the first row of an utterance makes it,
    each row (one per annotator in the full file) adds its annotator's codes."""

    def __init__(self, file: str, log: ProblemLog, layout: _AnnomiLayout):
        self.file, self.log, self.layout = file, log, layout
        self.by_transcript: dict[str, list[Utterance]] = {}
        self.first: dict[tuple[str, int], tuple[int, dict[str, Any], Utterance]] = {}
        self.raters: dict[tuple[str, int], dict[str, int]] = {}  # the line of each annotator's row
        self.cache: dict[tuple[str, str], Code] = {}
        self.empty_text: list[int] = []

    def add(self, line: int, row: dict[str, Any]) -> None:
        transcript_id = _string(row["transcript_id"]).strip()
        raw_id = _string(row["utterance_id"])
        if not transcript_id or not _INTEGER.match(raw_id):
            raise InputError(self.file, f"transcript_id '{transcript_id}' / utterance_id '{raw_id}' "
                                        "is not an AnnoMI id", "fix the row", location=f"line {line}")
        key = (transcript_id, int(raw_id))
        rater = self._rater(line, row)
        seen = self.first.get(key)
        if seen is None:
            utterance = self._new_utterance(line, row, key)
        else:
            utterance = self._same_utterance(line, row, key, seen)
        self._once_per_rater(line, key, rater)
        utterance.codes.extend(_annomi_codes(row, rater, utterance.role, self.file, line, self.log, self.cache))

    def _rater(self, line: int, row: dict[str, Any]) -> str:
        if not self.layout.full:
            return SIMPLE_RATER
        rater = _string(row.get("annotator_id")).strip()
        if not rater:
            raise InputError(self.file, "annotator_id is empty", "fill in the annotator", location=f"line {line}")
        return rater

    def _new_utterance(self, line: int, row: dict[str, Any], key: tuple[str, int]) -> Utterance:
        file = self.file
        role = _string(row["interlocutor"]).strip().lower()
        if role not in ("therapist", "client"):
            raise InputError(file, f"interlocutor is '{row['interlocutor']}'",
                             "AnnoMI's interlocutor is therapist or client", location=f"line {line}")
        timestamp = _string(row.get("timestamp")).strip()
        text = _string(row["utterance_text"]).strip()
        if not text:
            self.empty_text.append(line)
        meta = {column: row[column] for column in _ANNOMI_META if column in row}
        meta.update((key_, row[column]) for column, key_ in self.layout.extra_keys.items() if column in row)
        meta["source"] = {"file": file, "line": line}
        start = _time(timestamp, "timestamp", "start", file, line, self.log) if self.layout.has_time else None
        utterance = _utterance(file, line, transcript_id=key[0], utterance_id=key[1],
                               speaker=_string(row["interlocutor"]).strip(), role=role, start=start, text=text,
                               meta=meta)
        self.first[key] = (line, row, utterance)
        self.raters[key] = {}
        self.by_transcript.setdefault(key[0], []).append(utterance)
        return utterance

    def _same_utterance(self, line: int, row: dict[str, Any], key: tuple[str, int],
                        seen: tuple[int, dict[str, Any], Utterance]) -> Utterance:
        first_line, first_row, utterance = seen
        for column in _ANNOMI_SAME:
            here, there = _string(row.get(column)), _string(first_row.get(column))
            if here.strip() != there.strip():
                raise InputError(
                    self.file, f"utterance {key[1]} of transcript '{key[0]}' has "
                               f"{column} '{here}' but line {first_line} has '{there}'",
                    "the rows of one utterance must agree on its text, interlocutor "
                    "and timestamp", location=f"line {line}")
        return utterance

    def _once_per_rater(self, line: int, key: tuple[str, int], rater: str) -> None:
        earlier = self.raters[key].get(rater)
        if earlier is not None:
            where = f"line {line}"
            if self.layout.full:
                raise InputError(self.file, f"annotator {rater} codes utterance {key[1]} of transcript "
                                            f"'{key[0]}' again (first at line {earlier})",
                                 "keep one row per utterance and annotator", location=where)
            raise InputError(self.file, f"utterance {key[1]} of transcript '{key[0]}' repeats line {earlier}",
                             "the simple file has one row per utterance", location=where)
        self.raters[key][rater] = line


def read_annomi(source: Source, options: ReadOptions) -> list[Transcript]:
    """Read AnnoMI-simple.csv or AnnoMI-full.csv (the full file has one row per annotator).

    Codes are `dimension.value` with rater `annotator_id` (full file) or "annomi"
    (simple file: consensus codes). The rows of one utterance collapse into one.
    """
    file, log = source.name, source.log
    table = _parse(source)
    layout = _annomi_layout(table, file, log)
    if not table.rows:
        raise InputError(file, "the table has a header but no rows", "check the file")
    rows = _AnnomiRows(file, log, layout)
    for line, row in table.rows:
        rows.add(line, row)
    if rows.empty_text:
        log.warn(file, f"{_count(rows.empty_text, 'row')} empty utterance_text "
                       f"({_lines(rows.empty_text)}); kept with text ''",
                 location=f"line {rows.empty_text[0]}")
    return _sorted(rows.by_transcript)
