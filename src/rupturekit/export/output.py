"""Write transcripts to a file or a folder in the format the user asked for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rupturekit.errors import InputError
from rupturekit.formats import safe_file_stem
from rupturekit.records import Transcript, dumps_jsonl
from rupturekit.safe_output import atomic_write, entries_other_than, staged_folder

__all__ = ["OUTPUT_FORMATS", "STREAMED_FORMATS", "FilePieces", "output_format", "output_names", "write_transcripts"]

OUTPUT_FORMATS: tuple[str, ...] = ("jsonl", "csv", "eaf", "vtt")
# Written a unit at a time (resumable); the others (a folder, eaf, vtt, a tags page) are built whole.
STREAMED_FORMATS: tuple[str, ...] = ("jsonl", "csv")
_BY_SUFFIX = {".jsonl": "jsonl", ".csv": "csv", ".eaf": "eaf", ".vtt": "vtt"}
_PER_TRANSCRIPT = {"eaf", "vtt"}


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


@dataclass(frozen=True)
class FilePieces:
    """A jsonl or csv file written a unit at a time: the header, then each unit's text. `csv` writes
    the CSV rows (`export.tables.csv_text` for transcripts, `tagger.tag_files.tags_csv_text` for tags)."""

    format: str
    csv: Callable[..., str]

    @property
    def header(self) -> str:
        return self.csv([], header=True) if self.format == "csv" else ""

    def text(self, transcripts: list[Transcript]) -> str:
        return self.csv(transcripts, header=False) if self.format == "csv" else dumps_jsonl(transcripts)


def output_format(out: Path, requested: str | None) -> tuple[str, bool]:
    """(format, to_folder) for an output path; a path without a known suffix is a folder."""
    suffix_format = _BY_SUFFIX.get(out.suffix.lower())
    to_folder = out.is_dir() or suffix_format is None
    format_name = requested or suffix_format or "jsonl"
    if format_name not in OUTPUT_FORMATS:
        raise InputError(str(out), f"unknown output format '{format_name}'",
                         f"use one of {', '.join(OUTPUT_FORMATS)}")
    return format_name, to_folder


def output_names(transcripts: list[Transcript], format_name: str) -> list[str]:
    """The file name of each transcript in a folder output ("s 1" -> "s_1.vtt"; clashes get _2, _3)."""
    names = []
    used: set[str] = set()
    for transcript in transcripts:
        name = safe_file_stem(transcript.transcript_id)
        stem, n = name, 2
        while stem in used:
            stem, n = f"{name}_{n}", n + 1
        used.add(stem)
        names.append(f"{stem}.{format_name}")
    return names


def write_transcripts(transcripts: list[Transcript], out: Path, requested: str | None = None) -> list[Path]:
    """Write to `out`: one file, or one file per transcript when `out` is a folder.

    A folder is built beside `out` and swapped in whole at the end (an existing folder may hold
    only files of the names this run writes); a failure leaves `out` as it was."""
    format_name, to_folder = output_format(out, requested)
    if not to_folder:
        if format_name in _PER_TRANSCRIPT and len(transcripts) != 1:
            raise InputError(str(out), f"{format_name} holds one transcript, and there are {len(transcripts)}",
                             "give a folder as the output to write one file per transcript")
        _write_one(transcripts, out, format_name)
        return [out]
    names = output_names(transcripts, format_name)
    with staged_folder(out, entries_other_than(names)) as stage:
        for transcript, name in zip(transcripts, names, strict=True):
            _write_one([transcript], stage / name, format_name)
    return [out / name for name in names]
