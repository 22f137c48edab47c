"""`rupturekit export`: transcripts with every rater's codes, for review in ELAN or Label Studio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._inputs import load_book, read_corpus
from rupturekit.cli._options import CodebookDirOption, CodebookOption, text_option
from rupturekit.cli._util import app, err, fail, file_or_none, guard, one_line


@app.command("export")
def export_command(
    corpus_path: Annotated[Path, typer.Argument(help="A corpus (canonical JSONL) with codes and tags.",
                                                show_default=False)],
    to: Annotated[str, typer.Option("--to", help="elan (one .eaf per transcript) or labelstudio (tasks + config).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="A folder (elan), or a tasks .json file or folder "
                                                                "(labelstudio).")],
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    prefill: text_option("--prefill", "Pre-annotate the review with this rater's (or model's) codes.") = None,
    tier: Annotated[str, typer.Option("--tier", help="ELAN: name of the editable review tier.")] = "review",
) -> None:
    """Export transcripts with every rater's codes for review in ELAN or Label Studio."""
    from rupturekit.codes import resolve_rater
    from rupturekit.review import export_for_review, export_names
    from rupturekit.safe_output import Output, entries_other_than

    if to not in ("elan", "labelstudio"):
        raise fail(f"--to: '{to}' is not one of elan, labelstudio")
    folder = to == "elan" or output.suffix != ".json"
    guard([corpus_path, file_or_none(codebook)], Output(output, folder=folder))
    book = load_book(codebook, codebook_dir)
    corpus = read_corpus(corpus_path)
    if folder:  # now that the file names are known
        guard([corpus_path], Output(output, folder=True, foreign=entries_other_than(export_names(corpus, to, output))))
    else:
        guard([corpus_path], Output(output.with_name(f"{output.stem}.config.xml"), "--output's .config.xml"))
    if prefill:
        present = {c.rater for t in corpus for u in t.utterances for c in u.codes}
        rater = resolve_rater(prefill, present)  # plain "model" / "weak": the one model:* / weak:* rater
        if rater is None:
            raise fail(f"--prefill: rater '{prefill}' has no codes in {corpus_path}; raters present: "
                       f"{', '.join(sorted(present)) or 'none'}")
        prefill = rater
    with one_line():
        written = export_for_review(corpus, output, to, book, prefill, tier)  # type: ignore[arg-type]
    err.print(f"wrote {len(written)} file{'s' * (len(written) != 1)} for review to {output}")
