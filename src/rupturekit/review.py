"""The review round trip: export transcripts with their codes and tags to the tools coders
use (ELAN, Label Studio), and read the reviewed files back as a new rater.

Imports are checked against the corpus before anything is returned: every reviewed
utterance must still be the utterance it was (same order, same text), so that no code is
lost or lands on the wrong utterance.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from rupturekit.codebook import Codebook
from rupturekit.codes import CodeRow
from rupturekit.errors import InputError
from rupturekit.export.output import atomic_write, safe_file_stem
from rupturekit.records import Transcript

ReviewTool = Literal["elan", "labelstudio"]
DEFAULT_REVIEW_TIER = "review"
_SPACE = re.compile(r"\s+")


def export_for_review(transcripts: list[Transcript], out: Path, to: ReviewTool, codebook: Codebook,
                      prefill_from: str | None = None, review_tier: str = DEFAULT_REVIEW_TIER) -> list[Path]:
    """ELAN: one .eaf per transcript in folder `out`, with one code tier per rater and an
    editable review tier. Label Studio: one tasks file `out` (.json) plus the matching
    labeling config beside it (`<out stem>.config.xml`)."""
    if to == "elan":
        from rupturekit.export.elan import write_eaf

        written = []
        for transcript in transcripts:
            path = out / f"{safe_file_stem(transcript.transcript_id)}.eaf"
            atomic_write(path, lambda p, t=transcript: write_eaf(t, p, review_tier, prefill_from))
            written.append(path)
        return written
    from rupturekit.export.labelstudio import labeling_config, write_labelstudio_tasks

    tasks = out if out.suffix == ".json" else out / "tasks.json"
    config = tasks.with_name(f"{tasks.stem}.config.xml")
    atomic_write(tasks, lambda p: write_labelstudio_tasks(transcripts, codebook, p, prefill_from))
    atomic_write(config, lambda p: p.write_text(labeling_config(codebook), encoding="utf-8"))
    return [tasks, config]


def _same_text(a: str, b: str) -> bool:
    return _SPACE.sub(" ", a).strip() == _SPACE.sub(" ", b).strip()


def _reviewed_eaf_rows(path: Path, corpus: dict[str, Transcript], tier: str, rater: str | None) -> list[CodeRow]:
    from rupturekit.ingest.elan import read_eaf
    from rupturekit.ingest.options import ReadOptions
    from rupturekit.ingest.source import Source

    by_stem = {safe_file_stem(tid): t for tid, t in corpus.items()}
    transcript = by_stem.get(path.stem)
    if transcript is None:
        raise InputError(str(path), f"no transcript '{path.stem}' in the corpus",
                         "keep the file names that `rupturekit export --to elan` wrote")
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


def import_reviewed(paths: list[Path], corpus: list[Transcript], codebook: Codebook, tool: ReviewTool,
                    rater: str | None = None, review_tier: str = DEFAULT_REVIEW_TIER) -> list[CodeRow]:
    """Codes from reviewed ELAN files (the review tier) or a Label Studio export; attach them with
    `codes.attach_codes`, which refuses rows for utterances the corpus does not have."""
    by_id = {t.transcript_id: t for t in corpus}
    rows: list[CodeRow] = []
    for path in paths:
        if tool == "elan":
            rows.extend(_reviewed_eaf_rows(path, by_id, review_tier, rater))
            continue
        from rupturekit.ingest.labelstudio import read_labelstudio_export

        # Rows for utterances the corpus lacks are reported (with counts) by `codes.attach_codes`.
        rows.extend(read_labelstudio_export(path, codebook, rater))
    return rows

