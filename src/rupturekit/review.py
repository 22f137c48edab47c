"""The review round trip: export transcripts with their codes and tags to the tools coders
use (ELAN, Label Studio), and read the reviewed files back as a new rater.

Imports are checked against the corpus before anything is returned: every reviewed
utterance must still be the utterance it was (same order, same text), so that no code is
lost or lands on the wrong utterance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rupturekit.codebook import Codebook
from rupturekit.codes import CodeRow
from rupturekit.errors import InputError
from rupturekit.formats import CODE_FORMATS, CODE_TIER_PREFIX, safe_file_stem
from rupturekit.records import Transcript
from rupturekit.safe_output import atomic_write, entries_other_than, staged_folder

ReviewTool = Literal["elan", "labelstudio"]
DEFAULT_REVIEW_TIER = "review"
_SPACE = re.compile(r"\s+")


def export_for_review(transcripts: list[Transcript], out: Path, to: ReviewTool, codebook: Codebook,
                      prefill_from: str | None = None, review_tier: str = DEFAULT_REVIEW_TIER) -> list[Path]:
    """ELAN: one .eaf per transcript in folder `out`, with one code tier per rater and an
    editable review tier. Label Studio: one tasks file `out` (.json) plus the matching
    labeling config beside it (`<out stem>.config.xml`), or a folder `out` holding
    ``tasks.json`` and ``tasks.config.xml``. A folder is built beside `out` and swapped in whole at
    the end (an existing one may hold only files of the names this export writes)."""
    out = Path(out)
    if to == "elan":
        from rupturekit.export.elan import write_eaf

        names = export_names(transcripts, to, out)
        with staged_folder(out, entries_other_than(names)) as stage:
            for transcript, name in zip(transcripts, names, strict=True):
                write_eaf(transcript, stage / name, review_tier, prefill_from)
        return [out / name for name in names]
    from rupturekit.export.labelstudio import labeling_config, labelstudio_tasks_text

    text, xml = labelstudio_tasks_text(transcripts, codebook, prefill_from), labeling_config(codebook)
    if out.suffix == ".json":
        config = out.with_name(f"{out.stem}.config.xml")
        atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
        atomic_write(config, lambda p: p.write_text(xml, encoding="utf-8"))
        return [out, config]
    tasks, config = export_names(transcripts, to, out)
    with staged_folder(out, entries_other_than([tasks, config])) as stage:
        (stage / tasks).write_text(text, encoding="utf-8")
        (stage / config).write_text(xml, encoding="utf-8")
    return [out / tasks, out / config]


def export_names(transcripts: list[Transcript], to: ReviewTool, out: Path) -> list[str]:
    """The files `export_for_review` writes into folder `out` (none: `out` is a tasks .json file)."""
    if to == "elan":
        return [f"{safe_file_stem(t.transcript_id)}.eaf" for t in transcripts]
    return [] if Path(out).suffix == ".json" else ["tasks.json", "tasks.config.xml"]


def _same_text(a: str, b: str) -> bool:
    return _SPACE.sub(" ", a).strip() == _SPACE.sub(" ", b).strip()


@dataclass
class ReviewedCodes:
    """Codes read from reviewed (or other code) files, and the (rater, transcript) pairs the files
    cover: a reviewed ELAN file covers its whole transcript, even where the reviewer left the tier empty."""

    rows: list[CodeRow] = field(default_factory=list)
    covered: set[tuple[str, str]] = field(default_factory=set)


def _check_tier(path: Path, source, tier: str) -> None:
    from rupturekit.ingest.elan import _open

    # The reader attaches codes without saying which tiers it found; an absent review tier
    # must not pass as "the reviewer coded nothing" (0 codes, exit 0).
    tiers = _open(source).tiers
    name = f"{CODE_TIER_PREFIX}{tier}"
    if name not in tiers:
        present = [t for t in tiers if t.startswith(CODE_TIER_PREFIX)]
        raise InputError(str(path), f"no tier '{name}' in this file (code tiers: {', '.join(present) or 'none'})",
                         "give the reviewed tier's name with --tier (the part after 'codes@'; default review)")


def _reviewed_eaf_rows(path: Path, corpus: dict[str, Transcript], tier: str, rater: str | None) -> list[CodeRow]:
    from rupturekit.ingest.elan import read_eaf
    from rupturekit.ingest.options import ReadOptions
    from rupturekit.source import Source

    by_stem = {safe_file_stem(tid): t for tid, t in corpus.items()}
    transcript = by_stem.get(path.stem)
    if transcript is None:
        raise InputError(str(path), f"no transcript '{path.stem}' in the corpus",
                         "keep the file names that `rupturekit export --to elan` wrote")
    _check_tier(path, Source(path), tier)
    [reviewed] = read_eaf(Source(path), ReadOptions())
    theirs, ours = reviewed.utterances, transcript.utterances
    if len(theirs) != len(ours):
        raise InputError(str(path), f"the file has {len(theirs)} utterances and transcript "
                                    f"'{transcript.transcript_id}' has {len(ours)}",
                         "do not add or delete speaker annotations while reviewing; code in the review tier")
    rows = []
    for position, (mine, original) in enumerate(zip(theirs, ours, strict=True)):
        if not _same_text(mine.text, original.text):
            raise InputError(str(path), f"utterance {position} reads {mine.text[:40]!r}, but "
                                        f"{transcript.transcript_id}#{original.utterance_id} is {original.text[:40]!r}",
                             "do not edit or move speaker annotations while reviewing",
                             location=f"utterance {position}")
        for code in mine.codes:
            if code.rater == tier:
                rows.append(CodeRow(transcript.transcript_id, original.utterance_id, rater or tier, code.label,
                                    code.rating, code.note, f"{path}:utterance {position}"))
    return rows


def read_reviewed(paths: list[Path], corpus: list[Transcript], codebook: Codebook, tool: ReviewTool,
                  rater: str | None = None, review_tier: str = DEFAULT_REVIEW_TIER) -> ReviewedCodes:
    """Codes from reviewed ELAN files (the review tier) or a Label Studio export, with the (rater,
    transcript) pairs the files cover; attach them with `codes.attach_codes(..., covered=...)`, which
    refuses rows for utterances the corpus does not have (a replace touches only the pairs covered)."""
    by_id = {t.transcript_id: t for t in corpus}
    by_stem = {safe_file_stem(tid): tid for tid in by_id}
    result = ReviewedCodes()
    for path in paths:
        if tool == "elan":
            rows = _reviewed_eaf_rows(path, by_id, review_tier, rater)
            result.covered.add((rater or review_tier, by_stem[path.stem]))
        else:
            from rupturekit.ingest.labelstudio import read_labelstudio_export

            # Rows for utterances the corpus lacks are reported (with counts) by `codes.attach_codes`.
            rows = read_labelstudio_export(path, codebook, rater)
        result.rows.extend(rows)
        result.covered.update((row.rater, row.transcript_id) for row in rows)
    return result



def code_format(path: Path) -> str:
    """The format (one of `CODE_FORMATS`) of a code file, from its suffix and, for a table, its header."""
    suffix = path.suffix.lower()
    if suffix == ".eaf":
        return "eaf"
    if suffix == ".json":
        return "labelstudio"
    if suffix in (".csv", ".tsv", ".jsonl"):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                head = handle.readline(1 << 16)
        except OSError:
            return "ingest"  # missing or a folder: the ingest reader says so in one line
        if "rater" in head and "label" in head and "utterance_id" in head:
            return "long"
    return "ingest"


def read_codes(paths: list[Path], corpus: list[Transcript], codebook: Codebook, format_name: str | None = None,
               rater: str | None = None, review_tier: str = DEFAULT_REVIEW_TIER) -> ReviewedCodes:
    """The codes of each file, read in `format_name` (one of `CODE_FORMATS`) or the format detected.
    With `rater`, every code is stored under that name, and a file ingest reads is that rater's
    coding of its whole transcripts (a replace touches only those)."""
    from dataclasses import replace

    from rupturekit.codes import read_long_codes, rows_from_transcripts

    result = ReviewedCodes()
    for path in paths:
        kind = format_name or code_format(path)
        if kind not in CODE_FORMATS:
            raise InputError(str(path), f"unknown code format '{kind}'", f"use one of {', '.join(CODE_FORMATS)}")
        if kind in ("eaf", "labelstudio"):
            reviewed = read_reviewed([path], corpus, codebook, "elan" if kind == "eaf" else "labelstudio", rater,
                                     review_tier)
            result.rows.extend(reviewed.rows)
            result.covered |= reviewed.covered
            continue
        if kind == "long":
            rows = read_long_codes(path)
        else:
            from rupturekit.reading import read_transcripts

            transcripts = read_transcripts(path)
            rows = rows_from_transcripts(transcripts)
            if rater:
                result.covered |= {(rater, t.transcript_id) for t in transcripts}
        result.rows.extend(replace(row, rater=rater) for row in rows) if rater else result.rows.extend(rows)
    return result
