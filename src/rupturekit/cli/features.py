"""`rupturekit features`: the CIS/3RS cue features, one row per utterance (or their list)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rupturekit.cli._inputs import read_inputs
from rupturekit.cli._options import ConfigOption, FormatOption, RolesOption, flag
from rupturekit.cli._util import app, err, fail, fail_if_unread, guard, input_files, one_line, out


def _list_features() -> None:
    from rupturekit.features import FEATURES

    for family in dict.fromkeys(spec.family for spec in FEATURES):
        specs = [f for f in FEATURES if f.family == family]
        table = Table(title=f"{family} features", title_justify="left")
        table.add_column("feature", min_width=max(len(f.name) for f in specs))
        table.add_column("3RS markers", min_width=max(len(m) for f in specs for m in f.markers or ["-"]))
        table.add_column("what it measures (for which speakers)", overflow="fold")
        for spec in specs:
            table.add_row(spec.name, "\n".join(spec.markers) or "-",
                          f"{spec.description} ({', '.join(spec.roles)})")
        out.print(table)


@app.command("features")
def features_command(
    inputs: Annotated[list[str] | None, typer.Argument(help="Transcript files, globs or folders (any format ingest "
                                                            "reads).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Feature table: .parquet or .csv.")] = None,
    list_features: flag("--list", "Print the features and the 3RS markers each derives from, then exit.") = False,
    config: ConfigOption = None,
    format_name: FormatOption = None,
    roles: RolesOption = None,
    no_embeddings: flag("--no-embeddings", "Skip the word-piece embedding similarity feature.") = False,
) -> None:
    """Compute the CIS/3RS cue features, one row per utterance (or list them with --list)."""
    if list_features:
        return _list_features()
    if not inputs or output is None:
        raise fail("give INPUT... and -o OUTPUT (.parquet or .csv), or --list")
    if output.suffix.lower() not in (".parquet", ".csv"):
        raise fail(f"{output}: write the features as .parquet or .csv")
    from rupturekit.features import FEATURES, FeatureExtractor
    from rupturekit.safe_output import Output, atomic_write, spreadsheet_safe_frame

    guard([*input_files(inputs), config], Output(output))
    result = read_inputs(inputs, config, {"format": format_name, "roles": roles})
    with err.status(f"computing features for {sum(len(t.utterances) for t in result.transcripts):,} utterances"):
        frame = FeatureExtractor(embeddings=not no_embeddings)(result.transcripts).to_pandas()
    with one_line():
        if output.suffix.lower() == ".csv":
            safe = spreadsheet_safe_frame(frame)
            atomic_write(output, lambda p: safe.to_csv(p, index=False))
        else:
            atomic_write(output, lambda p: frame.to_parquet(p, index=False))
    err.print(f"wrote {len(frame):,} rows x {len(FEATURES)} features to {output}")
    fail_if_unread(len(result.failures))
