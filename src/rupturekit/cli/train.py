"""`rupturekit train`: a tagger (baseline or transformer) from a config, into a model folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._options import flag
from rupturekit.cli._util import app, err, file_or_none, guard, one_line


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

    with one_line():
        config = load_train_config(config_path, overrides or [])
    # Checked before the (long) training: the model folder is built beside OUTPUT and swapped in whole.
    guard(_training_inputs(config_path, config), Output(output, folder=True, foreign=_model_folder_foreign))
    with one_line(), staged_folder(output, _model_folder_foreign) as stage:
        def say(line: str) -> None:
            err.print(line.replace(str(stage), str(output)))

        if config.model == "baseline":
            from rupturekit.tagger.baseline_train import train_baseline

            train_baseline(config, stage, progress=say)
        else:
            _train_transformer(config, output, stage, say, resume=not fresh)
    err.print(f"wrote the {config.model} model to {output}")


def _model_folder_foreign(folder: Path) -> list[str]:
    """A model folder (it has model.json) is replaced whole by a new model; any other folder may hold
    only a checkpoint, or nothing."""
    from rupturekit.tagger.model_files import CHECKPOINT_DIR

    if (folder / "model.json").is_file():
        return []
    return [entry for entry in os.listdir(folder) if entry not in (CHECKPOINT_DIR, f".{CHECKPOINT_DIR}.previous")]


def _training_inputs(config_path: Path, config) -> list[Path | None]:
    """Everything a training config reads: the config, data files and folders, codebooks, a local base."""
    from rupturekit.gold import default_annomi_dir, gold_dir

    sources = [*config.data, *(source for aux in config.aux for source in aux.data)]
    paths: list[Path | None] = [config_path, *(Path(s.path) for s in sources if s.path)]
    paths += [gold_dir() / s.gold for s in sources if s.gold]
    if any(s.gold for s in sources):
        paths.append(Path(config.annomi_dir) if config.annomi_dir else default_annomi_dir())
    paths += [file_or_none(config.codebook), *(Path(d) for d in config.codebook_dirs),
              *(file_or_none(aux.codebook) for aux in config.aux), file_or_none(config.transformer.base)]
    return paths


def _train_transformer(config, output: Path, stage: Path, say, resume: bool) -> None:
    """Train into `stage`, resuming from OUTPUT's checkpoint. If the run stops (error, Ctrl-C,
    SIGTERM), its checkpoint is moved to OUTPUT/checkpoint so that a rerun resumes; OUTPUT's model
    files stay as they were (the checkpoint is not part of the model)."""
    import shutil

    from rupturekit.tagger.model_files import CHECKPOINT_DIR
    from rupturekit.tagger.transformer_train import train_transformer

    old, new = output / CHECKPOINT_DIR, stage / CHECKPOINT_DIR
    if resume and old.is_dir():
        shutil.copytree(old, new)
    try:
        train_transformer(config, stage, progress=say, resume=resume)
    except BaseException:
        if new.is_dir():
            _keep_checkpoint(new, output)
        raise


def _keep_checkpoint(checkpoint: Path, output: Path) -> None:
    import contextlib
    import shutil

    from rupturekit.tagger.model_files import CHECKPOINT_DIR

    with contextlib.suppress(OSError):
        output.mkdir(parents=True, exist_ok=True)
        target = output / CHECKPOINT_DIR
        if target.exists():
            previous = output / f".{CHECKPOINT_DIR}.previous"
            shutil.rmtree(previous, ignore_errors=True)
            os.rename(target, previous)
            os.rename(checkpoint, target)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.rename(checkpoint, target)
