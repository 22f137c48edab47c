"""`rupturekit codebook list | show | labelstudio`: the codebooks (3RS, CIS, AnnoMI, or your own YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rupturekit.cli._inputs import load_book
from rupturekit.cli._options import CodebookDirOption, flag
from rupturekit.cli._util import app, err, file_or_none, guard, one_line, out

codebook_app = typer.Typer(help="List and show codebooks (3RS, CIS, AnnoMI, or your own YAML).",
                           no_args_is_help=True)
app.add_typer(codebook_app, name="codebook")


@codebook_app.command("list")
def codebook_list(codebook_dir: CodebookDirOption = None) -> None:
    """List the codebooks found, with their dimensions and label counts."""
    from rupturekit.codebook import available_codebooks

    table = Table(title="codebooks")
    for column in ("name", "title", "dimensions", "labels", "file"):
        table.add_column(column)
    for name, path in available_codebooks(codebook_dir or []).items():
        codebook = load_book(str(path), None)
        table.add_row(name, codebook.title, ", ".join(d.name for d in codebook.dimensions),
                      str(len(codebook.labels)), str(path))
    out.print(table)


@codebook_app.command("show")
def codebook_show(
    name: Annotated[str, typer.Argument(help="Codebook name (e.g. 3rs, cis, annomi) or a YAML file.")],
    codebook_dir: CodebookDirOption = None,
    examples: flag("--examples", "Also print each label's examples.") = False,
) -> None:
    """Print a codebook: one table per dimension, with each label and its definition."""
    codebook = load_book(name, codebook_dir)
    out.print(f"[bold]{codebook.title or codebook.name}[/] ({codebook.name}, {len(codebook.labels)} labels)")
    width = max(len(label) for label in codebook.labels)
    for dimension in codebook.dimensions:
        kind = "multi-label" if dimension.multi_label else "single-label"
        table = Table(title=f"{dimension.name}: {dimension.role} utterances, {kind}", title_justify="left",
                      show_lines=examples)
        table.add_column("label", no_wrap=True, min_width=width)
        table.add_column("definition", overflow="fold")
        for label in dimension.labels:
            definition = label.definition
            if examples and label.examples:
                definition += "\n" + "\n".join(f"e.g. {example}" for example in label.examples)
            table.add_row(label.name, definition)
        out.print(table)
    out.print(f"'{codebook.none_label}': coded, and no label of the dimension applies")
    for rating in codebook.ratings:
        out.print(f"rating {rating.name}: {rating.title}, {rating.scale[0]}-{rating.scale[1]} per {rating.unit}")
    for crosswalk in codebook.crosswalks:
        pairs = ", ".join(f"{a} -> {b or '(no counterpart)'}" for a, b in crosswalk.families.items())
        out.print(f"crosswalk to {crosswalk.to}: {pairs}")


@codebook_app.command("labelstudio")
def codebook_labelstudio(
    name: Annotated[str, typer.Argument(help="Codebook name or YAML file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the labeling config (.xml).")],
    codebook_dir: CodebookDirOption = None,
) -> None:
    """Write the Label Studio labeling config generated from a codebook."""
    from rupturekit.export.labelstudio import labeling_config
    from rupturekit.safe_output import Output, atomic_write

    guard([file_or_none(name)], Output(output))
    codebook = load_book(name, codebook_dir)
    with one_line():
        atomic_write(output, lambda p: p.write_text(labeling_config(codebook), encoding="utf-8"))
    err.print(f"wrote the Label Studio config for '{codebook.name}' to {output}")
