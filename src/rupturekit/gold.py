"""The project's gold corpora (``data/gold/``), each with a datasheet (README.md).

- ``3rs-constructed``: transcripts written for the project from the 3RS marker definitions,
  stored whole as canonical JSONL with the team's codes.
- ``annomi-3rs``: the team's 3RS codes on real AnnoMI transcripts, stored as long-format
  codes only; the text is joined from the AnnoMI files at load time and never copied here.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from rupturekit.codes import attach_codes, read_long_codes
from rupturekit.errors import InputError
from rupturekit.records import Transcript, read_jsonl

GOLD_CORPORA = ("3rs-constructed", "annomi-3rs")
ENV_ANNOMI = "RUPTUREKIT_ANNOMI"


def gold_dir() -> Path:
    """data/gold of the checkout, or its copy inside an installed wheel."""
    packaged = Path(__file__).resolve().parent / "data" / "gold"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "data" / "gold"


def default_annomi_dir() -> Path:
    """$RUPTUREKIT_ANNOMI, else ../shared/data/annomi beside the checkout, else data/annomi."""
    if os.environ.get(ENV_ANNOMI):
        return Path(os.environ[ENV_ANNOMI])
    root = Path(__file__).resolve().parents[2]
    shared = root.parent / "shared" / "data" / "annomi"
    return shared if shared.is_dir() else root / "data" / "annomi"


def load_gold(name: str, annomi_dir: str | Path | None = None) -> list[Transcript]:
    """Load a gold corpus by name; `annomi-3rs` needs the AnnoMI files (simple or full)."""
    folder = gold_dir() / name
    if name == "3rs-constructed":
        return read_jsonl(folder / "transcripts.jsonl")
    if name == "annomi-3rs":
        from rupturekit.reading import IngestConfig, ingest

        annomi = Path(annomi_dir) if annomi_dir is not None else default_annomi_dir()
        source = annomi / "AnnoMI-simple.csv"
        if not source.exists():
            raise InputError(str(source), "AnnoMI not found",
                             "run scripts/download_annomi.py, or give the folder with --annomi-dir "
                             f"or ${ENV_ANNOMI}")
        rows = read_long_codes(folder / "codes.csv")
        wanted = {row.transcript_id for row in rows}
        result = ingest([str(source)], IngestConfig(format="annomi"))
        if result.failures:
            raise result.failures[0]
        # Only the coded transcripts, without AnnoMI's own codes: this corpus is about 3RS.
        transcripts = [
            t.model_copy(update={"utterances": [u.model_copy(update={"codes": []}) for u in t.utterances]})
            for t in result.transcripts if t.transcript_id in wanted
        ]
        return attach_codes(transcripts, rows, str(folder / "codes.csv"))
    raise InputError(name, "no such gold corpus", f"use one of {', '.join(GOLD_CORPORA)}")


def label_counts(transcripts: list[Transcript]) -> Counter[str]:
    """Code rows per label (an utterance with two labels counts once for each)."""
    return Counter(code.label for t in transcripts for u in t.utterances for code in u.codes)
