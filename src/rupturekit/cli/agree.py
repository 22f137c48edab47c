"""`rupturekit agree`: agreement of tags (or a rater) with human codes, and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rupturekit.cli._inputs import load_book
from rupturekit.cli._options import CodebookDirOption, CodebookOption, flag, text_option
from rupturekit.cli._util import app, err, fail, file_or_none, guard, one_line, out, warn_lines


@app.command("agree")
def agree_command(
    reference: Annotated[Path, typer.Option("--reference", "-r", help="Human codes: a coded corpus (.jsonl), an "
                                                                      "AnnoMI CSV, ELAN files… (one or many raters).")],
    predicted: Annotated[Path, typer.Option("--predicted", "-p", help="Tags from `rupturekit tag`, or another "
                                                                      "rater's codes.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for report.html, metrics.json, summary.md.")],
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    unit: Annotated[str, typer.Option("--unit", help="utterance, segment:5m | segment:40u | segment:600w, or "
                                                     "session.")] = "utterance",
    dimensions: Annotated[list[str] | None, typer.Option("--dimension", help="Only this dimension (repeatable).")]
    = None,
    level: Annotated[str, typer.Option("--level", help="subtype, family or both.")] = "both",
    reference_raters: Annotated[list[str] | None, typer.Option(
        "--reference-rater", help="Only these reference raters (repeatable).")] = None,
    predicted_rater: text_option("--predicted-rater", "Take this rater's codes as the predicted side (with the "
                                                      "same file as reference: one rater against the rest).") = None,
    crosswalk_from: text_option("--crosswalk-from", "The reference is coded with this codebook (e.g. cis): compare "
                                                    "at family level through its declared crosswalk.") = None,
    transcripts: Annotated[list[str] | None, typer.Option("--transcript", help="Only this transcript (repeatable).")]
    = None,
    allow_partial: flag("--allow-partial", "Compare the overlap when the two sides cover different utterances.")
    = False,
    exhaustive: flag("--exhaustive", "Treat utterances a reference rater left without any code as 'none'.") = False,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples (of transcripts) for "
                                                                       "95% CIs.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the bootstrap.")] = 0,
    no_figures: flag("--no-figures", "Skip the plots (faster).") = False,
) -> None:
    """Agreement of tags (or a rater) with human codes: per-label P/R/F1 with CIs, kappa, alpha, AC1, ICC,
    the model as one more rater, and a self-contained HTML report."""
    from rupturekit.agree.run import report_folder_foreign, run_agreement
    from rupturekit.safe_output import Output

    guard([reference, predicted, file_or_none(codebook), file_or_none(crosswalk_from)],
          Output(output, folder=True, foreign=report_folder_foreign))
    book = load_book(codebook, codebook_dir)
    source_book = load_book(crosswalk_from, codebook_dir) if crosswalk_from else None
    if level not in ("subtype", "family", "both"):
        raise fail(f"--level: '{level}' is not one of subtype, family, both")
    if not 0 <= seed < 2**32:
        raise fail(f"--seed: {seed} is not a seed; give a whole number from 0 to {2**32 - 1}")
    with one_line(), err.status("computing agreement"):
        result = run_agreement(reference, predicted, book, output, unit=unit, dimensions=dimensions,
                               reference_raters=reference_raters, predicted_rater=predicted_rater,
                               level=level, allow_partial=allow_partial, n_bootstrap=bootstrap, seed=seed,
                               crosswalk_from=source_book, transcripts=transcripts, figures=not no_figures,
                               exhaustive=exhaustive)
    warn_lines(result.warnings)
    _print_summary(result, unit)
    for note in result.notes:
        err.print(f"note: {note}")
    err.print(f"wrote {', '.join(str(p) for p in result.paths.values())}")


def _print_summary(result, unit: str) -> None:
    """One table per dimension and level, then the human raters' Fleiss' kappa and the summary sentences."""
    from rupturekit.agree.text import CONSOLE_COLUMNS, console_lines, console_tables

    for shown in console_tables(result.agreement, unit):
        table = Table(title=shown.title, title_justify="left")
        table.add_column("label", min_width=shown.label_width)
        for column in CONSOLE_COLUMNS:
            table.add_column(column, justify="right")
        for row in shown.rows:
            table.add_row(*row)
        out.print(table)
    for line in console_lines(result.agreement):
        out.print(line)
