"""`rupturekit sessions`: 3RS-style segment and session tables, with estimated 1-5 ratings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._inputs import load_book
from rupturekit.cli._options import (
    CodebookDirOption,
    CodebookOption,
    CodesOption,
    GapOption,
    RepairOption,
    ReturnOption,
    episode_rule,
    flag,
)
from rupturekit.cli._util import app, err, fail, file_or_none, guard, one_line, warn_lines


@app.command("sessions")
def sessions_command(
    corpus_path: Annotated[Path, typer.Argument(help="Tagged transcripts or a coded corpus (any format ingest reads).",
                                                show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for segments.csv, sessions.csv, "
                                                                "episodes.jsonl, estimates.jsonl, mapping.json.")],
    segment: Annotated[str | None, typer.Option("--segment", help="Segment size: 5m (default, the codebook's) or "
                                                                  "300s with times; 40u or 600w without.")] = None,
    codes: CodesOption = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Apply a mapping.json from an earlier run (e.g. "
                                                                   "calibrated on human ratings) instead of fitting "
                                                                   "one.")] = None,
    calibrate: flag("--calibrate/--no-calibrate", "Calibrate the 1-5 estimates on human ratings in the corpus, where "
                                                  "there are any (default), or always use the documented rule.")
    = True,
    gap: GapOption = "4u",
    return_turns: ReturnOption = 2,
    require_repair: RepairOption = True,
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the calibration folds.")] = 0,
) -> None:
    """3RS-style segment and session tables: marker counts, strategies, episodes and ESTIMATED 1-5 ratings; the
    estimates.jsonl feeds `rupturekit agree --unit segment:5m -p` (weighted kappa and ICC against human ratings)."""
    from rupturekit.analysis.commands import SESSION_FILES, run_sessions, write_sessions
    from rupturekit.safe_output import Output, entries_other_than
    from rupturekit.segment import SegmentSpec

    guard([corpus_path, mapping, file_or_none(codebook)],
          Output(output, folder=True, foreign=entries_other_than(SESSION_FILES)))
    rule = episode_rule(gap, return_turns, require_repair)
    book = load_book(codebook, codebook_dir)
    try:
        spec = SegmentSpec.parse(segment) if segment else None
    except ValueError as exc:
        raise fail(f"--segment: {exc}") from None
    with one_line():
        analysis, corpus, notes = run_sessions(corpus_path, book, spec, rule, codes, mapping, calibrate, seed)
        write_sessions(analysis, corpus, book, output)
    warn_lines(notes)
    how = analysis.mapping.method + (" (cross-fitted by transcript)" if analysis.cross_fitted else "")
    raters = f"; human ratings by {', '.join(analysis.human_raters)}" if analysis.human_raters else ""
    err.print(f"{len(analysis.sessions)} sessions, {len(analysis.segments)} segments ({analysis.spec}), "
              f"{len(analysis.episodes)} episodes from {analysis.source}; 1-5 ratings are estimates ({how}{raters}); "
              f"wrote {output}")
