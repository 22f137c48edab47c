"""Reader for the canonical JSONL format."""

from __future__ import annotations

from rupturekit.ingest.options import ReadOptions
from rupturekit.records import Transcript, loads_jsonl
from rupturekit.source import Source


def read_canonical(source: Source, options: ReadOptions) -> list[Transcript]:
    return loads_jsonl(source.text, file=source.name)
