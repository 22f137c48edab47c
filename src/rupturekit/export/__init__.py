"""Export: write transcripts for other tools (spreadsheets, ELAN, subtitle players).

Canonical JSONL, the lossless format, is written by `rupturekit.records.write_jsonl`.
"""

from __future__ import annotations

from rupturekit.export.elan import write_eaf
from rupturekit.export.subtitles import write_vtt
from rupturekit.export.tables import write_csv
from rupturekit.records import write_jsonl

__all__ = ["write_csv", "write_eaf", "write_jsonl", "write_vtt"]
