"""Options that readers take: plain, declarative, and overridable from the CLI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TableColumns(BaseModel):
    """Column names for CSV/TSV/JSONL tables; None means 'guess from the header'."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    speaker: str | None = None
    transcript: str | None = None
    order: str | None = None
    start: str | None = None
    end: str | None = None


class ReadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: TableColumns = TableColumns()
    # Whisper segments and subtitle cues: merge consecutive pieces of one speaker into one utterance
    # unless the silence between them is longer than `max_merge_gap` seconds.
    merge_segments: bool = True
    max_merge_gap: float | None = None
