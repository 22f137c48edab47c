"""`rupturekit codes import | consensus`: human codes (several raters) onto a corpus, and consensus views."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._inputs import load_book, read_corpus
from rupturekit.cli._options import CodebookDirOption, CodebookOption, flag, text_option
from rupturekit.cli._util import app, err, fail, file_or_none, guard, one_line
from rupturekit.errors import InputError
from rupturekit.formats import CODE_FORMATS

codes_app = typer.Typer(help="Import human codes (several raters) and derive consensus views.", no_args_is_help=True)
app.add_typer(codes_app, name="codes")


@codes_app.command("import")
def codes_import(
    inputs: Annotated[list[Path], typer.Argument(help="Code files: long-format CSV/TSV/JSONL, reviewed .eaf files, "
                                                      "a Label Studio export (.json), or any file ingest reads that "
                                                      "carries codes (e.g. AnnoMI-full.csv).", show_default=False)],
    into: Annotated[Path, typer.Option("--into", help="The corpus (canonical JSONL) the codes belong to.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the coded corpus (.jsonl).")],
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    format_name: text_option("--format", f"One of {', '.join(CODE_FORMATS)}; detected when left out.") = None,
    rater: text_option("--rater", "Store the codes under this rater name (reviewed ELAN/Label Studio files: "
                                  "default 'review' / the Label Studio user). Names model, weak, model:* and "
                                  "weak:* are reserved for machine codes.") = None,
    tier: Annotated[str, typer.Option("--tier", help="ELAN: the code tier to read (codes@TIER).")] = "review",
    replace: flag("--replace", "Replace the codes a rater already has on the transcripts the input covers "
                               "(codes on other transcripts are kept).") = False,
) -> None:
    """Attach human codes to a corpus, keeping every rater's codes; nothing is written unless all are valid."""
    from rupturekit.codes import attach_codes, check_human_raters, check_rows, is_machine_rater
    from rupturekit.records import dumps_jsonl
    from rupturekit.review import read_codes
    from rupturekit.safe_output import Output, atomic_write

    if rater is not None and is_machine_rater(rater):
        raise fail(f"--rater: '{rater}' is reserved for machine codes (model:NAME, weak:NAME); "
                   "give the human rater's own name")
    if format_name and format_name not in CODE_FORMATS:
        raise fail(f"--format: unknown code format '{format_name}'; use one of {', '.join(CODE_FORMATS)}")
    guard([*inputs, into, file_or_none(codebook)], Output(output))
    book = load_book(codebook, codebook_dir)
    corpus = read_corpus(into)
    files = ", ".join(str(p) for p in inputs)
    with one_line():
        read = read_codes(inputs, corpus, book, format_name, rater, tier)
        if not read.rows and not (replace and read.covered):
            raise InputError(files, "no codes found to import",
                             "check the input (ELAN: the tier given with --tier; tables: the code columns); "
                             "nothing was written")
        check_human_raters(read.rows, files)
        roles = {(u.transcript_id, u.utterance_id): u.role for t in corpus for u in t.utterances}
        check_rows(read.rows, book, roles, files)
        coded = attach_codes(corpus, read.rows, files, replace=replace, covered=read.covered)
        text = dumps_jsonl(coded)
        atomic_write(output, lambda p: p.write_text(text, encoding="utf-8"))
    raters = sorted({r.rater for r in read.rows} | {r for r, _ in read.covered})
    coded_utterances = len({r.key for r in read.rows})
    err.print(f"attached {len(read.rows):,} codes by {len(raters)} rater{'s' * (len(raters) != 1)} "
              f"({', '.join(raters[:10])}) to {coded_utterances:,} utterances; wrote {output}")


@codes_app.command("consensus")
def codes_consensus(
    corpus_path: Annotated[Path, typer.Argument(help="A coded corpus (canonical JSONL).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Long-format codes file (.csv) to write.")],
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    how: Annotated[str, typer.Option("--how", help="majority (more than half of the raters), any, or unanimous.")]
    = "majority",
    raters: text_option("--raters", "Comma-separated raters to use (default: all human raters; machine raters "
                                    "model:NAME and weak:NAME only when named).") = None,
) -> None:
    """Write a consensus view of several raters' codes (the raw codes are never changed)."""
    from rupturekit.codes import consensus_rows, write_long_codes
    from rupturekit.safe_output import Output, atomic_write

    if how == "soft":
        raise fail("--how: 'soft' (each label's share of the raters) is a training target (a data source's "
                   "consensus), not a consensus view of codes; use majority, any or unanimous")
    if how not in ("majority", "any", "unanimous"):
        raise fail(f"--how: '{how}' is not one of majority, any, unanimous")
    guard([corpus_path, file_or_none(codebook)], Output(output))
    book = load_book(codebook, codebook_dir)
    corpus = read_corpus(corpus_path)
    chosen = [r.strip() for r in raters.split(",") if r.strip()] if raters else None
    if chosen:
        present = {c.rater for t in corpus for u in t.utterances for c in u.codes}
        missing = [r for r in chosen if r not in present]
        if missing:
            raise fail(f"{corpus_path}: rater {', '.join(repr(r) for r in missing)} has no codes; "
                       f"raters present: {', '.join(sorted(present))}")
    rows = consensus_rows(corpus, book, how, chosen)  # type: ignore[arg-type]
    with one_line():
        atomic_write(output, lambda p: write_long_codes(rows, p))
    err.print(f"wrote {len(rows):,} {how} codes on {len({r.key for r in rows}):,} utterances to {output}")
