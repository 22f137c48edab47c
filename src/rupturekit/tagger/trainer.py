"""Training a tagger into a model folder, as `rupturekit train` does: what a config reads, which
folders may be replaced, and the run itself (the baseline's or the transformer's trainer), with a
transformer's checkpoint kept across a stopped run."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from rupturekit.safe_output import file_or_none
from rupturekit.tagger.config import TrainConfig
from rupturekit.tagger.model_files import CHECKPOINT_DIR, MANIFEST

__all__ = ["model_folder_foreign", "train_into", "training_inputs"]


def model_folder_foreign(folder: Path) -> list[str]:
    """A model folder (it has model.json) is replaced whole by a new model; any other folder may hold
    only a checkpoint, or nothing."""
    if (folder / MANIFEST).is_file():
        return []
    return [entry for entry in os.listdir(folder) if entry not in (CHECKPOINT_DIR, f".{CHECKPOINT_DIR}.previous")]


def training_inputs(config_path: Path, config: TrainConfig) -> list[Path | None]:
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


def train_into(config: TrainConfig, output: Path, stage: Path, say: Callable[[str], None], resume: bool) -> None:
    """Train the config's model into `stage` (the folder that replaces `output` when whole)."""
    if config.model == "baseline":
        from rupturekit.tagger.baseline_train import train_baseline

        train_baseline(config, stage, progress=say)
        return
    _train_transformer(config, output, stage, say, resume)


def _train_transformer(config: TrainConfig, output: Path, stage: Path, say: Callable[[str], None],
                       resume: bool) -> None:
    """Train into `stage`, resuming from OUTPUT's checkpoint. If the run stops (error, Ctrl-C,
    SIGTERM), its checkpoint is moved to OUTPUT/checkpoint so that a rerun resumes; OUTPUT's model
    files stay as they were (the checkpoint is not part of the model)."""
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
    """Move `checkpoint` to OUTPUT/checkpoint, replacing an older one only once the move can happen."""
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
