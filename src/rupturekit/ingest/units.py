"""Units of work for streaming and distributed runs: whole transcripts, about `UNIT_BYTES` each.

A corpus is planned once into units (`plan_units`), deterministically from the files' sizes and, for
large canonical JSONL files, their transcript boundaries. Each unit is then read (`read_unit`),
tagged and written on its own, so memory does not grow with the corpus; the single-process engine
and the Ray engine work through the same units, so both tag exactly the same groups of transcripts
together (the int8 encoder quantises activations per batch, so what shares a batch matters).

A canonical JSONL file larger than a unit is cut between transcripts. That needs each transcript's
lines to be together, as `rupturekit ingest` writes them; a file whose transcripts interleave is
read whole, as one unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rupturekit.bounded import loads_json

# About 2,000 utterances of ingested AnnoMI: the size of one call to a tagger that keeps its
# length-sorted batches full (see BENCHMARKS.md, "Tagging speed").
UNIT_BYTES = 1 << 20

# `rupturekit ingest` writes transcript_id first: read it without parsing the whole line.
_LEADING_ID = re.compile(rb'^\{"transcript_id": ?"((?:[^"\\]|\\.)*)"')
_CANONICAL_KEYS = frozenset({"transcript_id", "utterance_id", "speaker", "text"})


@dataclass(frozen=True)
class Part:
    """A whole file (`stop` None), or the byte range [start, stop) of a canonical JSONL file that
    holds whole transcripts; `line` is the file's line number at `start`, for messages."""

    path: str
    start: int = 0
    stop: int | None = None
    line: int = 1

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.stop is None


@dataclass(frozen=True)
class Unit:
    """One unit of work: parts read, tagged and written together."""

    index: int
    parts: tuple[Part, ...]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "parts": [[p.path, p.start, p.stop, p.line] for p in self.parts]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Unit:
        return cls(int(data["index"]), tuple(Part(str(p[0]), int(p[1]), None if p[2] is None else int(p[2]),
                                                  int(p[3])) for p in data["parts"]))


def _is_canonical(path: Path, format_name: str | None) -> bool:
    """Canonical JSONL, from `--format` or from the first line (cheap: never reads the whole file)."""
    if format_name is not None:
        return format_name == "jsonl"
    if path.suffix.lower() == ".json":
        return False
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                if raw.strip():
                    record = loads_json(raw.decode("utf-8-sig"))
                    return isinstance(record, dict) and _CANONICAL_KEYS <= record.keys()
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return False


def _transcript_id(raw: bytes) -> str | None:
    match = _LEADING_ID.match(raw)
    if match is not None and b"\\" not in match.group(1):
        return match.group(1).decode("utf-8", "replace")
    try:
        record = loads_json(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return str(record.get("transcript_id")) if isinstance(record, dict) else None


def transcript_blocks(path: Path) -> list[tuple[int, int, int]] | None:
    """(start byte, stop byte, first line) of each transcript's run of lines, or None when the file
    cannot be cut safely (a transcript's lines interleave with another's, or a line is unreadable:
    the reader then reports it, with its line number)."""
    blocks: list[tuple[int, int, int]] = []
    seen: set[str] = set()
    current, offset, start, first = None, 0, 0, 1
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                tid = _transcript_id(raw)
                if tid is None:
                    return None
                if tid != current:
                    if tid in seen:
                        return None
                    if current is not None:
                        blocks.append((start, offset, first))
                    seen.add(tid)
                    current, start, first = tid, offset, number
            offset += len(raw)
    if current is not None:
        blocks.append((start, offset, first))
    return blocks


def _file_parts(path: Path, size: int, target_bytes: int, format_name: str | None) -> Iterator[Part]:
    """A file as parts of about `target_bytes`: whole, or (large canonical JSONL) cut between transcripts."""
    try:
        blocks = transcript_blocks(path) if size > target_bytes and _is_canonical(path, format_name) else None
    except OSError:
        blocks = None  # read whole: the reader says what is wrong with the file
    if not blocks or len(blocks) == 1:
        yield Part(str(path))
        return
    start, line, stop = blocks[0][0], blocks[0][2], blocks[0][0]
    for block_start, block_stop, block_line in blocks:
        if block_start > start and block_start - start >= target_bytes:
            yield Part(str(path), start, block_start, line)
            start, line = block_start, block_line
        stop = block_stop
    yield Part(str(path), start, None if stop >= size else stop, line)


def plan_units(paths: list[Path], target_bytes: int | None = None, format_name: str | None = None) -> list[Unit]:
    """The units of a corpus, in input order: small files grouped until a unit holds about
    `target_bytes` (default `UNIT_BYTES`), large canonical JSONL files cut between transcripts, any
    other file whole. `format_name`: the format given with --format, if any."""
    target_bytes = target_bytes or UNIT_BYTES
    units: list[Unit] = []
    pending: list[Part] = []
    pending_bytes = 0

    def close() -> None:
        nonlocal pending, pending_bytes
        if pending:
            units.append(Unit(len(units), tuple(pending)))
        pending, pending_bytes = [], 0

    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0  # the reader says what is wrong with it
        for part in _file_parts(path, size, target_bytes, format_name):
            length = (size if part.stop is None else part.stop) - part.start
            if pending and pending_bytes + length > target_bytes:
                close()
            pending.append(part)
            pending_bytes += length
            if pending_bytes >= target_bytes:
                close()
    close()
    return units


def read_part_text(part: Part) -> str:
    """The text of a byte range of a canonical JSONL file (UTF-8, as ingest writes it)."""
    with open(part.path, "rb") as handle:
        handle.seek(part.start)
        data = handle.read() if part.stop is None else handle.read(part.stop - part.start)
    return data.decode("utf-8")
