"""`rupturekit meta`: meta-analysis of correlations, with a forest plot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._options import flag, text_option
from rupturekit.cli._util import app, err, guard, one_line, out


@app.command("meta")
def meta_command(
    table: Annotated[Path, typer.Argument(help="Studies (r with N, a CI, or z per row), or with --x/--y a patient "
                                               "table such as alliance's patients.csv.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for meta.json, studies.csv, summary.md, "
                                                                "forest.png, report.html.")],
    variance: text_option("--variance", "Each study's variance: n (1/(N-3)), n-weight (1/N), ci (from its "
                                        "reported CI) or z (from its reported z). Default: n when there is an N "
                                        "column.") = None,
    columns: text_option("--columns", "Map roles to columns: study=..,r=..,n=..,ci_low=..,ci_high=..,z=..") = None,
    x: text_option("--x", "Patient table: the rupture index column (e.g. stevens_rupture_repair).") = None,
    y: text_option("--y", "Patient table: the outcome column (e.g. outcome_change).") = None,
    site: text_option("--site", "Patient table: one correlation per site (or study), meta-analysed.") = None,
    group: text_option("--group", "Patient table: the bootstrap of the pooled correlation resamples these groups.")
    = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the pooled-rows CI.")]
    = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the bootstrap.")] = 0,
    no_figures: flag("--no-figures", "Skip the forest plot.") = False,
) -> None:
    """Fixed- and random-effects meta-analysis of correlations (Fisher z; DerSimonian-Laird and REML tau^2; Q, I^2)
    with a forest plot."""
    from rupturekit.analysis.commands import META_FILES, run_meta, write_meta
    from rupturekit.safe_output import Output, entries_other_than

    guard([table], Output(output, folder=True, foreign=entries_other_than(META_FILES)))
    with one_line():
        run = run_meta(table, columns, variance, x, y, site, group, bootstrap, seed)
        write_meta(run, output, figures=not no_figures)
    for sentence in run.result.sentences():
        out.print(sentence)
    for note in [*run.result.notes, *run.notes]:
        err.print(f"note: {note}")
    err.print(f"wrote {output}")
