"""`rupturekit ingest`: transcripts in any supported format to the canonical JSONL (or CSV, ELAN, WebVTT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._inputs import ingest_config
from rupturekit.cli._options import ConfigOption, FormatOption, RolesOption, SegmentOption, flag, text_option
from rupturekit.cli._util import (
    RESUME_NEEDS_A_FILE,
    Problems,
    app,
    err,
    fail,
    fail_if_unread,
    guard,
    input_files,
    one_line,
    stops,
)


@app.command("ingest")
def ingest_command(
    inputs: Annotated[list[str], typer.Argument(help="Transcript files, globs or folders.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.jsonl, .csv, .eaf, .vtt), or a "
                                                                "folder for one file per transcript.")],
    config: ConfigOption = None,
    format_name: FormatOption = None,
    to: text_option("--to", "Output format: jsonl, csv, eaf or vtt (default: from the output's extension, "
                            "else jsonl).") = None,
    roles: RolesOption = None,
    segment: SegmentOption = None,
    sentences: flag("--sentences/--no-sentences", "Store sentence spans (spaCy sentencizer).", True) = None,
    strict: flag("--strict", "Treat any warning or bad file as fatal: stop at the first, and write nothing.")
    = False,
    text_col: text_option("--text-col", "Tables: the text column.") = None,
    speaker_col: text_option("--speaker-col", "Tables: the speaker column.") = None,
    transcript_col: text_option("--transcript-col", "Tables: the transcript (session) id column.") = None,
    order_col: text_option("--order-col", "Tables: the utterance order (id) column.") = None,
    start_col: text_option("--start-col", "Tables: the start time column.") = None,
    end_col: text_option("--end-col", "Tables: the end time column.") = None,
    merge: flag("--merge/--no-merge", "Whisper: merge consecutive segments of one speaker (default: merge).",
                True) = None,
    max_merge_gap: Annotated[float | None, typer.Option(
        "--max-merge-gap", help="Whisper: do not merge across a silence longer than this (seconds).")] = None,
    all_warnings: flag("--all-warnings", "Print every warning, not only the first 30.") = False,
    resume: flag("--resume", "Continue an interrupted run into the same .jsonl or .csv --output.") = False,
) -> None:
    """Read transcripts in any supported format and write the canonical JSONL (or CSV, ELAN, WebVTT).

    A .jsonl or .csv output is written a unit of transcripts at a time (memory does not grow with the
    corpus), appears whole at the end, and an interrupted run continues with --resume."""
    from rupturekit import streaming
    from rupturekit.export.output import STREAMED_FORMATS, output_format
    from rupturekit.safe_output import Output

    with one_line():
        kind, to_folder = output_format(output, to)
    guard([*input_files(inputs), config], Output(output, folder=to_folder))
    streamed = not to_folder and kind in STREAMED_FORMATS
    if resume and not streamed:
        raise fail(RESUME_NEEDS_A_FILE)
    settings = ingest_config(
        config, {"format": format_name, "roles": roles, "segment": segment, "sentences": sentences},
        {"text": text_col, "speaker": speaker_col, "transcript": transcript_col, "order": order_col,
         "start": start_col, "end": end_col},
        {"merge_segments": merge, "max_merge_gap": max_merge_gap})
    problems = Problems(all_warnings)
    units = streaming.plan(inputs, settings, problems)
    with stops():
        if strict and problems.failures:
            raise streaming.strict_stop(problems)
        if streamed:
            run = {"format": kind, "strict": strict, "ingest": settings.model_dump(mode="json")}
            target = streaming.FileTarget(output, streaming.fingerprint("ingest", units, run), resume)
            written = streaming.ingest_to_file(units, settings, problems, target, kind, strict)
            where = str(output)
        else:
            written, files = streaming.ingest_to_folder(units, settings, problems, output, to, strict)
            where = str(output) if len(files) == 1 else f"{len(files)} files in {output}"
    read = len(problems.files)
    err.print(f"wrote {written.utterances:,} utterances in {written.transcripts:,} transcripts "
              f"from {read} file{'s' * (read != 1)} to {where}")
    fail_if_unread(problems.failures)
