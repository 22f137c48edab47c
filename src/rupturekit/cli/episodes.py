"""`rupturekit episodes`: within-session rupture-repair episodes."""

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
)
from rupturekit.cli._util import app, err, fail, file_or_none, guard, one_line, warn_lines


@app.command("episodes")
def episodes_command(
    corpus_path: Annotated[Path, typer.Argument(help="Tagged transcripts (rupturekit tag) or a coded corpus, in any "
                                                     "format ingest reads.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Episodes, one per line: .jsonl, or .csv.")],
    html: Annotated[Path | None, typer.Option("--html", help="Also write the HTML timeline (a strip per session, "
                                                             "episodes as spans; no utterance text).")] = None,
    codes: CodesOption = None,
    gap: GapOption = "4u",
    return_turns: ReturnOption = 2,
    require_repair: RepairOption = True,
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    transcripts: Annotated[list[str] | None, typer.Option("--transcript", help="Only this transcript (repeatable).")]
    = None,
) -> None:
    """Find within-session rupture-repair episodes (rupturekit's rule, not 3RS's own; see the README)."""
    from rupturekit.analysis.commands import run_episodes, write_episodes
    from rupturekit.analysis.episodes import OUTCOMES
    from rupturekit.safe_output import Output

    if output.suffix.lower() not in (".jsonl", ".csv"):
        raise fail(f"{output}: write the episodes as .jsonl or .csv")
    if html is not None and html.suffix.lower() not in (".html", ".htm"):
        raise fail(f"--html {html}: give a .html file")
    guard([corpus_path, file_or_none(codebook)], Output(output), Output(html, "--html") if html else None)
    rule = episode_rule(gap, return_turns, require_repair)
    book = load_book(codebook, codebook_dir)
    with one_line():
        run = run_episodes(corpus_path, book, rule, codes, transcripts)
        write_episodes(run, output, html)
    warn_lines(run.warnings)
    episodes = run.episodes
    counts = ", ".join(f"{sum(e.outcome == o for e in episodes)} {o.replace('_', ' ')}" for o in OUTCOMES)
    err.print(f"{len(episodes):,} episodes in {len(run.views)} transcripts ({counts}) from {run.source}; "
              f"wrote {output}" + (f" and {html}" if html else ""))
