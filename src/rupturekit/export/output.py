"""Write transcripts to a file or a folder in the format the user asked for."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from rupturekit.errors import InputError
from rupturekit.records import Transcript, dumps_jsonl

OUTPUT_FORMATS: tuple[str, ...] = ("jsonl", "csv", "eaf", "vtt")
_BY_SUFFIX = {".jsonl": "jsonl", ".csv": "csv", ".eaf": "eaf", ".vtt": "vtt"}
_PER_TRANSCRIPT = {"eaf", "vtt"}
_UNSAFE = re.compile(r"[^\w.-]+")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file, so a failure never leaves half a file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _write_one(transcripts: list[Transcript], path: Path, format_name: str) -> None:
    if format_name == "jsonl":
        text = dumps_jsonl(transcripts)
        atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    elif format_name == "csv":
        from rupturekit.export.tables import write_csv

        atomic_write(path, lambda p: write_csv(transcripts, p))
    elif format_name == "eaf":
        from rupturekit.export.elan import write_eaf

        atomic_write(path, lambda p: write_eaf(transcripts[0], p))
    else:
        from rupturekit.export.subtitles import write_vtt

        atomic_write(path, lambda p: write_vtt(transcripts[0], p))


def safe_file_stem(transcript_id: str) -> str:
    """A file name for a transcript id ("session 1/a" -> "session_1_a")."""
    return _UNSAFE.sub("_", transcript_id) or "transcript"


def output_format(out: Path, requested: str | None) -> tuple[str, bool]:
    """(format, to_folder) for an output path; a path without a known suffix is a folder."""
    suffix_format = _BY_SUFFIX.get(out.suffix.lower())
    to_folder = out.is_dir() or suffix_format is None
    format_name = requested or suffix_format or "jsonl"
    if format_name not in OUTPUT_FORMATS:
        raise InputError(str(out), f"unknown output format '{format_name}'",
                         f"use one of {', '.join(OUTPUT_FORMATS)}")
    return format_name, to_folder


def write_transcripts(transcripts: list[Transcript], out: Path, requested: str | None = None) -> list[Path]:
    """Write to `out`: one file, or one file per transcript when `out` is a folder."""
    format_name, to_folder = output_format(out, requested)
    if not to_folder:
        if format_name in _PER_TRANSCRIPT and len(transcripts) != 1:
            raise InputError(str(out), f"{format_name} holds one transcript, and there are {len(transcripts)}",
                             "give a folder as the output to write one file per transcript")
        _write_one(transcripts, out, format_name)
        return [out]
    written = []
    used: set[str] = set()
    for transcript in transcripts:
        name = safe_file_stem(transcript.transcript_id)
        stem, n = name, 2
        while stem in used:
            stem, n = f"{name}_{n}", n + 1
        used.add(stem)
        path = out / f"{stem}.{format_name}"
        _write_one([transcript], path, format_name)
        written.append(path)
    return written
