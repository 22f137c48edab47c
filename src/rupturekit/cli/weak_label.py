"""`rupturekit weak-label`: labeling functions over the cue features, combined by a label model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._inputs import load_book, read_inputs
from rupturekit.cli._options import CodebookOption, ConfigOption, FormatOption, RolesOption
from rupturekit.cli._util import app, err, fail, fail_if_unread, file_or_none, guard, input_files, one_line, warn_lines


@app.command("weak-label")
def weak_label_command(
    inputs: Annotated[list[str], typer.Argument(help="Transcripts in any format ingest reads.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Canonical JSONL with `weak` probabilities and "
                                                                "codes by rater 'weak:<label model>'.")],
    label_model: Annotated[str, typer.Option("--label-model", help="generative (learns each labeling function's "
                                                                   "accuracy) or majority.")] = "generative",
    codebook: CodebookOption = "3rs",
    report_path: Annotated[Path | None, typer.Option("--report", help="Also write the labeling-function table "
                                                                      "(coverage, overlap, conflict) as Markdown.")]
    = None,
    config: ConfigOption = None,
    format_name: FormatOption = None,
    roles: RolesOption = None,
) -> None:
    """Label a corpus weakly: labeling functions over the cue features, combined by a label model."""
    from rupturekit.records import dumps_jsonl
    from rupturekit.safe_output import Output, atomic_write
    from rupturekit.weak import weak_label, weak_rater

    if label_model not in ("generative", "majority"):
        raise fail(f"--label-model: '{label_model}' is not one of generative, majority")
    guard([*input_files(inputs), config, file_or_none(codebook)], Output(output),
          Output(report_path, "--report") if report_path is not None else None)
    book = load_book(codebook, None)
    result = read_inputs(inputs, config, {"format": format_name, "roles": roles})
    try:
        with err.status(f"weak-labelling {sum(len(t.utterances) for t in result.transcripts):,} utterances"):
            labelled, weak_report = weak_label(result.transcripts, book, model=label_model)
    except ValueError as exc:
        raise fail(f"--codebook {book.name}: {exc}") from None
    if not any(weak_report.rows_by_role.get(role) for role in ("client", "therapist")):
        err.print("[yellow]warning:[/] no utterance has role client or therapist, so nothing was labelled; "
                  "name the speakers with --roles", markup=True)
    legacy = sorted({c.rater for t in result.transcripts for u in t.utterances for c in u.codes
                     if c.rater.strip().casefold() in ("weak", "model")})
    if legacy:  # older versions wrote machine codes under these plain names; a human may have used them
        warn_lines([f"codes by rater {', '.join(repr(r) for r in legacy)} are kept as they are; "
                    f"the weak labels are codes by '{weak_rater(label_model)}'"])
    text = dumps_jsonl(labelled)
    with one_line():
        atomic_write(output, lambda p: p.write_text(text, encoding="utf-8"))
        if report_path is not None:
            markdown = weak_report.to_markdown()
            atomic_write(report_path, lambda p: p.write_text(markdown, encoding="utf-8"))
    positive = sum(1 for t in labelled for u in t.utterances for c in u.codes
                   if c.rater == weak_rater(label_model) and c.label != book.none_label)
    err.print(f"wrote {sum(len(t.utterances) for t in labelled):,} utterances ({positive:,} weak labels) to {output}")
    fail_if_unread(len(result.failures))
