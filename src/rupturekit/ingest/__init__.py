"""Ingest: read transcripts in the formats researchers have into typed records.

Each reader is a function ``read(source, options) -> list[Transcript]`` that
reports warnings to ``source.log`` and raises InputError for input it cannot
read. Readers set `speaker` and, where the source says so, `role`; the
`roles` stage maps the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from rupturekit.ingest.detect import FORMATS, detect_format
from rupturekit.ingest.options import ReadOptions, TableColumns
from rupturekit.records import Transcript
from rupturekit.source import Source

Reader = Callable[[Source, ReadOptions], list[Transcript]]

# format name -> "module:function"; imported on use so that `--help` stays fast.
READERS: dict[str, str] = {
    "text": "rupturekit.ingest.text:read_text",
    "vtt": "rupturekit.ingest.subtitles:read_vtt",
    "srt": "rupturekit.ingest.subtitles:read_srt",
    "whisper": "rupturekit.ingest.whisper:read_whisper",
    "eaf": "rupturekit.ingest.elan:read_eaf",
    "table": "rupturekit.ingest.table:read_table",
    "annomi": "rupturekit.ingest.table:read_annomi",
    "jsonl": "rupturekit.ingest.canonical:read_canonical",
}


def get_reader(format_name: str) -> Reader:
    module_name, function_name = READERS[format_name].split(":")
    return getattr(import_module(module_name), function_name)


def read_source(source: Source, format_name: str | None = None,
                options: ReadOptions | None = None) -> list[Transcript]:
    """Read one file, detecting its format unless `format_name` is given."""
    format_name = format_name or detect_format(source)
    return get_reader(format_name)(source, options or ReadOptions())


__all__ = ["FORMATS", "READERS", "ReadOptions", "Source", "TableColumns", "detect_format",
           "get_reader", "read_source"]
