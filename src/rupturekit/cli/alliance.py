"""`rupturekit alliance`: rupture-repair sequences in session-by-session alliance ratings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._options import CodesOption, flag, text_option
from rupturekit.cli._util import app, err, fail, guard, one_line, out, warn_lines


@app.command("alliance")
def alliance_command(
    ratings: Annotated[Path, typer.Argument(help="Per-session ratings in long format (.csv/.tsv): patient, session, "
                                                 "and any of alliance (WAI, CALPAS), PSQ items, outcome, transcript.",
                                            show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for episodes.csv, patients.csv, summary.json, "
                                                                "report.html and trajectories/*.png.")],
    columns: text_option("--columns", "Map roles to columns: patient=ID,session=VISIT,alliance=WAI_TOTAL,outcome=BDI,"
                                      "psq_occurrence=..,psq_intensity=..,psq_resolution=..,transcript=..,site=..")
    = None,
    criteria: Annotated[list[str] | None, typer.Option("--criterion", help="stevens, strauss or stiles (repeatable; "
                                                                          "default all three).")] = None,
    stevens_drop: Annotated[float, typer.Option("--stevens-drop", min=0.0, help="Stevens: the drop that is a "
                                                                                "rupture (WAI item-mean points).")]
    = 1.0,
    stevens_tolerance: Annotated[float, typer.Option("--stevens-tolerance", min=0.0, help="Stevens: repaired within "
                                                                                          "this of the pre-rupture "
                                                                                          "level.")] = 0.25,
    stevens_window: Annotated[int, typer.Option("--stevens-window", min=1, help="Stevens: sessions after the rupture "
                                                                                "in which the repair must come.")] = 5,
    stiles_k: Annotated[float, typer.Option("--stiles-k", min=0.0, help="Stiles: the V's depth in the patient's own "
                                                                        "SDs.")] = 2.0,
    transcripts: Annotated[Path | None, typer.Option("--transcripts", help="Tagged transcripts of the sessions (the "
                                                                           "ratings' transcript column names them): "
                                                                           "join, and correlate self-reports with "
                                                                           "tagged markers.")] = None,
    codes: CodesOption = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples (of patients) for CIs.")]
    = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the bootstrap.")] = 0,
    no_figures: flag("--no-figures", "Skip the trajectory plots.") = False,
) -> None:
    """Rupture-repair sequences in session-by-session alliance ratings (Stevens 2007, Strauss 2006, Stiles 2004),
    trajectory plots, the outcome link, and the join with tagged transcripts."""
    from rupturekit.analysis.alliance import CRITERIA, CriteriaSettings
    from rupturekit.analysis.commands import ALLIANCE_FILES, run_alliance, write_alliance
    from rupturekit.safe_output import Output, entries_other_than

    guard([ratings, transcripts], Output(output, folder=True, foreign=entries_other_than(ALLIANCE_FILES)))
    chosen = list(dict.fromkeys(c.strip().lower() for item in (criteria or CRITERIA) for c in item.split(",")
                                if c.strip()))
    if stevens_drop <= 0 or stiles_k <= 0:  # 0 would make every flat pair a rupture (or find none)
        raise fail("--stevens-drop and --stiles-k must be above 0")
    settings = CriteriaSettings(stevens_drop, stevens_tolerance, stevens_window, stiles_k)
    with one_line():
        run = run_alliance(ratings, columns, chosen, settings, transcripts, None, codes, bootstrap, seed)
        write_alliance(run, output, figures=not no_figures)
    warn_lines(run.warnings)
    for criterion in run.criteria:
        mine = [e for e in run.result.episodes if e.criterion == criterion]
        out.print(f"{criterion}: {len(mine)} ruptures, {sum(e.repaired for e in mine)} repaired")
    for link in [*run.outcome_links, *run.join_links]:
        out.print(link.sentence())
    err.print(f"{len(run.patients)} patients; wrote {output}")
