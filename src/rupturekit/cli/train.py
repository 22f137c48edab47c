"""`rupturekit train`: a tagger (baseline or transformer) from a config, into a model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._options import flag
from rupturekit.cli._util import app, err, guard, one_line


@app.command("train")
def train_command(
    config_path: Annotated[Path, typer.Argument(help="Training config (YAML), e.g. configs/baseline-3rs.yaml.",
                                                show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the trained model.")],
    overrides: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config value: key.sub=value (repeatable), e.g. --set baseline.C=0.5.")] = None,
    fresh: flag("--fresh", "Transformer: ignore a checkpoint in the output folder and start over.") = False,
) -> None:
    """Train a tagger (baseline or transformer) from a config; write the model, its metrics and a model card."""
    from rupturekit.safe_output import Output, staged_folder
    from rupturekit.tagger.config import load_train_config
    from rupturekit.tagger.trainer import model_folder_foreign, train_into, training_inputs

    with one_line():
        config = load_train_config(config_path, overrides or [])
    # Checked before the (long) training: the model folder is built beside OUTPUT and swapped in whole.
    guard(training_inputs(config_path, config), Output(output, folder=True, foreign=model_folder_foreign))
    with one_line(), staged_folder(output, model_folder_foreign) as stage:
        def say(line: str) -> None:
            err.print(line.replace(str(stage), str(output)))

        train_into(config, output, stage, say, resume=not fresh)
    err.print(f"wrote the {config.model} model to {output}")
