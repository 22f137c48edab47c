"""From coded corpora to prediction tasks: one task per codebook dimension, with one target
per utterance that the dimension applies to and that some rater coded.

Targets are 0/1 under the consensus rules majority / any / unanimous, and shares of the raters
under ``soft`` (`task_examples`). What needs labels (the baseline, folds, scores) reads them
through `hard_targets`: the argmax for a single-label task, share >= 0.5 for a multi-label one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rupturekit.codebook import Codebook, load_codebook
from rupturekit.codes import Consensus, consensus_labels, label_shares
from rupturekit.errors import InputError
from rupturekit.records import Transcript
from rupturekit.tagger.config import DataSource, TrainConfig
from rupturekit.tagger.task import Task

__all__ = ["Examples", "Task", "group_key", "group_map", "hard_targets", "load_source", "load_training_data",
           "task_examples", "tasks_for"]


def tasks_for(codebook: Codebook, dimensions: list[str] | None = None, level: str = "label") -> list[Task]:
    names = dimensions or [d.name for d in codebook.dimensions]
    tasks = []
    for name in names:
        try:
            dimension = codebook.dimension(name)
        except KeyError:
            known = ", ".join(d.name for d in codebook.dimensions)
            raise InputError(codebook.name, f"no dimension '{name}'", f"the codebook has: {known}") from None
        labels = dimension.label_names
        if level == "family" and dimension.multi_label:
            labels = list(dict.fromkeys(label.split(".", 1)[0] for label in labels))
            tasks.append(Task(name, dimension.role, True, tuple(labels), "family"))
        else:
            tasks.append(Task(name, dimension.role, dimension.multi_label, tuple(labels), "label"))
    return tasks


def hard_targets(targets: np.ndarray, multi_label: bool) -> np.ndarray:
    """0/1 targets (float32) from targets that may be soft (shares of the raters, see `task_examples`).

    Multi-label: a label is positive when its share is >= 0.5 (so one of two raters is enough,
    where majority needs more than half). Single-label: one 1 at the row's largest share (a tie
    goes to the first label in the task's order, the codebook's); a row without any share (no
    target, as the transformer's uncoded rows) stays all 0. 0/1 targets come back unchanged.
    """
    targets = np.asarray(targets, dtype=np.float32)
    if multi_label:
        return (targets >= 0.5).astype(np.float32)
    out = np.zeros(targets.shape, dtype=np.float32)
    if targets.size:
        rows = np.flatnonzero(targets.max(axis=1) > 0)
        out[rows, targets[rows].argmax(axis=1)] = 1.0
    return out


@dataclass
class Examples:
    """Rows of one task: which utterances, their transcript (for grouped splits), targets."""

    task: Task
    keys: list[tuple[str, int]]
    groups: np.ndarray  # transcript id per row
    # (n, n_labels): 0/1, one 1 per row for single-label tasks; with consensus "soft" the shares
    # of the raters per label (single-label rows sum to 1). `hard` gives 0/1 targets either way.
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def classes(self) -> np.ndarray:
        """Single-label tasks: the class index per row (the largest share; ties: the first label)."""
        return self.targets.argmax(axis=1)

    @property
    def soft(self) -> bool:
        """Whether any target is a share strictly between 0 and 1."""
        return bool(((self.targets > 0) & (self.targets < 1)).any())

    def hard(self) -> Examples:
        """These examples with 0/1 targets (`hard_targets`); itself when they are 0/1 already."""
        if not self.soft:
            return self
        return Examples(self.task, self.keys, self.groups, hard_targets(self.targets, self.task.multi_label))


def task_examples(transcripts: list[Transcript], codebook: Codebook, task: Task,
                  consensus: Consensus = "majority", raters: list[str] | None = None) -> Examples:
    """One row per utterance the task applies to and some rater coded (see `consensus_labels`).

    majority / any / unanimous: 0/1 targets from the consensus labels; a single-label row needs
    exactly one label. soft: the share of the raters who gave each label (`label_shares`; at level
    "family", who gave any label of the family). A multi-label row every rater coded ``none`` is all
    0. A single-label row is the distribution over the labels given, renormalised to sum to 1 (raters
    who coded ``none`` have no class in a single-label task); a row with no label given is skipped,
    as majority skips it. With one rater, soft and majority give the same rows.
    """
    dimension = codebook.dimension(task.name)
    index = {label: i for i, label in enumerate(task.labels)}
    keys, groups, rows = [], [], []
    for transcript in transcripts:
        for utterance in transcript.utterances:
            if not task.applies_to(utterance.role):
                continue
            row = np.zeros(len(task.labels), dtype=np.float32)
            if consensus == "soft":
                shares = label_shares(utterance, codebook, dimension, raters, key=task.target)
                if shares is None:
                    continue  # nobody coded it: not an example
                if not task.multi_label:
                    total = sum(shares.values())
                    if total <= 0:
                        continue  # nobody gave a label: no class
                    shares = {name: share / total for name, share in shares.items()}
                for name, share in shares.items():
                    row[index[name]] = share
            else:
                labels = consensus_labels(utterance, codebook, dimension, consensus, raters)
                if labels is None:
                    continue  # nobody coded it: not an example
                if not task.multi_label and len(labels) != 1:
                    continue  # no consensus on a single label
                for label in labels:
                    row[index[task.target(label)]] = 1.0
            keys.append((utterance.transcript_id, utterance.utterance_id))
            groups.append(utterance.transcript_id)
            rows.append(row)
    targets = np.vstack(rows) if rows else np.zeros((0, len(task.labels)), dtype=np.float32)
    return Examples(task, keys, np.asarray(groups, dtype=object), targets)


def group_key(transcript: Transcript, group_by: str = "video") -> str:
    """The split group of a transcript: its source recording (``video_url`` in the utterances'
    meta, as AnnoMI has it; one video can give several transcripts) or, without one, itself."""
    if group_by == "video":
        for utterance in transcript.utterances:
            video = utterance.meta.get("video_url")
            if isinstance(video, str) and video.strip():
                return f"video:{video.strip()}"
    return f"transcript:{transcript.transcript_id}"


def group_map(transcripts: list[Transcript], group_by: str = "video") -> dict[str, str]:
    """Transcript id -> split group (see `group_key`)."""
    return {t.transcript_id: group_key(t, group_by) for t in transcripts}


def load_source(source: DataSource, config: TrainConfig) -> list[Transcript]:
    """The transcripts of one data source, keeping only the chosen raters' codes."""
    if source.gold is not None:
        from rupturekit.gold import load_gold

        transcripts = load_gold(source.gold, config.annomi_dir)
    else:
        from rupturekit.reading import read_transcripts

        path = Path(source.path or "")
        if not path.exists():
            raise InputError(str(path), "no such data file", "check the 'data' entries of the config")
        transcripts = read_transcripts(path)
    if source.raters is not None:
        keep = set(source.raters)
        present = {c.rater for t in transcripts for u in t.utterances for c in u.codes}
        missing = sorted(keep - present)
        if missing:
            raise InputError(source.name, f"no codes by rater {', '.join(missing)}",
                             f"raters present: {', '.join(sorted(present)) or 'none'}")
        transcripts = [t.model_copy(update={"utterances": [
            u.model_copy(update={"codes": [c for c in u.codes if c.rater in keep]}) for u in t.utterances]})
            for t in transcripts]
    return transcripts


def load_training_data(config: TrainConfig) -> tuple[Codebook, list[Transcript]]:
    """The codebook and the transcripts of every data source (transcript ids must not clash)."""
    codebook = load_codebook(config.codebook, config.codebook_dirs)
    transcripts: list[Transcript] = []
    seen: dict[str, str] = {}
    for source in config.data:
        for transcript in load_source(source, config):
            earlier = seen.get(transcript.transcript_id)
            if earlier is not None:
                raise InputError(source.name, f"transcript '{transcript.transcript_id}' is also in {earlier}",
                                 "use each transcript in one data source only")
            seen[transcript.transcript_id] = source.name
            transcripts.append(transcript)
    return codebook, transcripts
