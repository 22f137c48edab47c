"""The hybrid tagger's interpretable side: the baseline's label scores and the cue features as
extra inputs of the transformer's dialogue layer (``transformer.hybrid: joint``).

The baseline (cue features + word, character and previous-turn n-grams into a calibrated logistic
regression; `rupturekit.tagger.baseline`) scores every utterance for every label. Those scores
(as logits) and the standardised cue features enter the dialogue model beside the encoder's
utterance vector, so the dialogue layer can weigh the n-gram evidence of this turn and of its
neighbours (what the therapist just did, for the client's talk type) against the encoder's view.

Nothing leaks: the scores of a training utterance come from a baseline fitted on the other folds
(grouped by source video) — the noise the transformer learns to expect is the noise it meets on
new sessions — and the scores of a new session from the baseline fitted on all training data,
which is saved inside the model folder (``baseline/``, JSON) and names each tag's evidence (the
n-grams and cue features that pushed the utterance towards the label).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rupturekit import __version__
from rupturekit.codebook import Codebook
from rupturekit.records import TAG_FIELDS, Transcript
from rupturekit.tagger.baseline import FEATURE_CLIP, BaselineTagger, Inputs, prepare_inputs
from rupturekit.tagger.config import TrainConfig
from rupturekit.tagger.dataset import Examples, group_map
from rupturekit.tagger.task import Task

HYBRID_DIR = "baseline"  # the baseline inside a hybrid model folder
CACHE_VERSION = 1
LOGIT_CLIP = 1e-4  # scores are clipped to [1e-4, 1 - 1e-4] before the logit (|logit| <= 9.2)
LOGIT_SCALE = 4.0  # logits / 4: about the spread of the standardised cue features


@dataclass
class JointInputs:
    """How the baseline's view becomes the dialogue model's extra inputs: the label columns
    (task, label) and the cue features' names, means and scales (over the training utterances)."""

    labels: list[tuple[str, str]]
    feature_names: list[str]
    mean: np.ndarray
    scale: np.ndarray

    @property
    def names(self) -> list[str]:
        return [f"score:{label}" for _, label in self.labels] + [f"feature:{n}" for n in self.feature_names]

    @property
    def width(self) -> int:
        return len(self.labels) + len(self.feature_names)

    @classmethod
    def fit(cls, tasks: Sequence[Task], inputs: Inputs, rows: np.ndarray | None = None) -> JointInputs:
        """Columns of `tasks`, the cue features standardised over the utterances `rows` (the
        training utterances; default all)."""
        features = inputs.features if rows is None else inputs.features[rows]
        mean = features.mean(axis=0) if len(features) else np.zeros(features.shape[1])
        scale = features.std(axis=0) if len(features) else np.ones(features.shape[1])
        scale = np.where(scale > 1e-9, scale, 1.0)
        return cls([(t.name, label) for t in tasks for label in t.labels], list(inputs.feature_names), mean, scale)

    def matrix(self, scores: np.ndarray, features: np.ndarray) -> np.ndarray:
        """(n utterances, width) float32: scaled score logits (0 where a task does not apply to the
        utterance's role: `scores` holds 0.5 there), then the clipped standardised cue features
        (`features`: the rows of `Inputs.features`)."""
        p = np.clip(scores, LOGIT_CLIP, 1 - LOGIT_CLIP)
        logits = np.log(p / (1 - p)) / LOGIT_SCALE
        z = np.clip((features - self.mean) / self.scale, -FEATURE_CLIP, FEATURE_CLIP) \
            if self.feature_names else np.zeros((len(scores), 0))
        return np.hstack([logits, z]).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "joint", "folder": HYBRID_DIR, "labels": [list(x) for x in self.labels],
                "feature_names": self.feature_names, "mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JointInputs:
        labels = [(str(t), str(label)) for t, label in data["labels"]]
        names = [str(n) for n in data["feature_names"]]
        mean = np.asarray(data["mean"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        if mean.shape != (len(names),) or scale.shape != (len(names),) or not np.isfinite(mean).all() \
                or not np.isfinite(scale).all() or (scale <= 0).any():
            raise ValueError("the hybrid inputs' feature scaler does not fit its feature names")
        return cls(labels, names, mean, scale)


def baseline_scores(baseline: BaselineTagger, inputs: Inputs, rows: np.ndarray,
                    labels: Sequence[tuple[str, str]]) -> np.ndarray:
    """(len(rows), len(labels)) calibrated probabilities of the baseline for the utterances
    `rows` of `inputs`; 0.5 (logit 0) where the label's task does not apply to the role."""
    out = np.full((len(rows), len(labels)), 0.5)
    column = {label: j for j, label in enumerate(labels)}
    for task in baseline.tasks:
        mine = np.asarray([r for r in range(len(rows)) if task.applies_to(inputs.roles[rows[r]])], dtype=np.int64)
        if not len(mine):
            continue
        probability, _ = baseline.predict(inputs, task.name, [inputs.keys[rows[r]] for r in mine])
        for j, label in enumerate(task.labels):
            if (task.name, label) in column:
                out[mine, column[(task.name, label)]] = probability[:, j]
    return out


def _fit_baseline(config: TrainConfig, codebook: Codebook, tasks: list[Task], inputs: Inputs,
                  examples: dict[str, Examples], transcripts: set[str], weights: dict[str, float]) -> BaselineTagger:
    from rupturekit.tagger.evaluate import subset

    rows = {name: np.flatnonzero([g in transcripts for g in e.groups]) for name, e in examples.items()}
    chosen = {name: subset(e, rows[name]) for name, e in examples.items()}
    return BaselineTagger(config.baseline, codebook, tasks, seed=config.seed).fit(
        [], chosen, inputs=inputs, weights=weights)


def _cache_dir() -> Path:
    from rupturekit.tagger.onnx_runtime import cache_root

    return cache_root() / "hybrid"


def _transcripts_digest(transcripts: Sequence[Transcript]) -> str:
    """sha256 of the transcripts as the cue features see them (everything but the codes and tags; the
    tag fields are left out as they were when they were pydantic extras of untagged data)."""
    digest = hashlib.sha256(f"rupturekit-hybrid-{CACHE_VERSION}".encode())
    for transcript in transcripts:
        digest.update(transcript.model_dump_json(exclude={"utterances": {"__all__": {"codes", *TAG_FIELDS}}}).encode())
    return digest.hexdigest()


def _examples_digest(examples: dict[str, Examples]) -> str:
    digest = hashlib.sha256()
    for name in sorted(examples):
        e = examples[name]
        digest.update(json.dumps([name, [list(k) for k in e.keys]]).encode())
        digest.update(np.ascontiguousarray(e.targets, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _write_folder(target: Path, write: Callable[[Path], None]) -> None:
    """A cache folder written beside its final name and renamed (`atomic_write` writes files):
    an interrupted run leaves none half-written; a read-only cache only costs time."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        if target.is_dir():  # a damaged or stale entry: replaced, not kept beside a new one
            shutil.rmtree(target)
        os.replace(partial, target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)


def prepare_baseline_inputs(config: TrainConfig, transcripts: list[Transcript], use_cache: bool = True) -> Inputs:
    """The baseline's inputs; the cue features (spaCy, VADER, embeddings: the slow part) are read
    from ``<cache root>/hybrid/`` when the transcripts are the same, else computed and cached."""
    from safetensors.numpy import load_file, save_file

    context, use = config.baseline.context_turns, config.baseline.use_features
    if not use or not use_cache:
        return prepare_inputs(transcripts, context, use)
    key = hashlib.sha256(f"{__version__}:{context}:{_transcripts_digest(transcripts)}".encode()).hexdigest()[:32]
    path = _cache_dir() / f"features-{key}.safetensors"
    plain = prepare_inputs(transcripts, context, use_features=False)
    if path.is_file():
        try:
            from safetensors import safe_open

            with safe_open(str(path), "numpy") as handle:
                meta = handle.metadata()
            features = load_file(str(path))["features"]
            if features.shape[0] == len(plain.keys):
                return replace(plain, features=features, feature_names=json.loads(meta["names"]),
                               embeddings_used=meta["embeddings_used"] == "1")
        except Exception:  # noqa: BLE001 - a damaged cache file is recomputed, never trusted
            pass
    inputs = prepare_inputs(transcripts, context, use)
    meta = {"names": json.dumps(inputs.feature_names), "embeddings_used": "1" if inputs.embeddings_used else "0"}
    from rupturekit.safe_output import cache_write

    cache_write(path, lambda p: save_file({"features": np.ascontiguousarray(inputs.features)}, str(p), metadata=meta))
    return inputs


def joint_scores(config: TrainConfig, codebook: Codebook, tasks: list[Task], transcripts: list[Transcript],
                 inputs: Inputs, examples: dict[str, Examples], train: Sequence[str], test: Sequence[str] = (),
                 weights: dict[str, float] | None = None, n_folds: int | None = None,
                 say: Callable[[str], None] = lambda _: None,
                 use_cache: bool = True) -> tuple[dict[str, np.ndarray], BaselineTagger]:
    """`fit_joint_scores`, read from ``<cache root>/hybrid/`` when the same data, codes, settings
    and split were scored before (a retrain that changes only the transformer's settings)."""
    from safetensors.numpy import load_file, save_file

    n_folds = n_folds or config.transformer.hybrid_folds
    # everything the scores and the baseline depend on: settings, codebook (labels, roles), tasks,
    # the split, the texts and the codes
    parts = [__version__, config.baseline.model_dump_json(), config.seed, config.group_by, n_folds,
             codebook.model_dump_json(), [(t.name, t.role, t.multi_label, t.labels, t.level) for t in tasks],
             sorted((weights or {}).items()), list(train), list(test), _transcripts_digest(transcripts),
             _examples_digest(examples), inputs.feature_names, inputs.embeddings_used]
    key = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]
    folder = _cache_dir() / f"scores-{key}"
    if use_cache and folder.is_dir():
        try:
            scores = load_file(str(folder / "scores.safetensors"))
            baseline = BaselineTagger.load(folder / HYBRID_DIR, codebook=codebook.name)
            if set(scores) == set(train) | set(test) and baseline.tasks == list(tasks):
                say("hybrid: baseline scores read from the cache")
                return scores, baseline
        except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed, never trusted
            pass
    scores, baseline = fit_joint_scores(config, codebook, tasks, transcripts, inputs, examples, train, test,
                                        weights, n_folds, say)
    if use_cache:
        def write(partial: Path) -> None:
            partial.mkdir(parents=True)
            save_file({k: np.ascontiguousarray(v) for k, v in scores.items()}, str(partial / "scores.safetensors"))
            baseline.save(partial / HYBRID_DIR)
        _write_folder(folder, write)
    return scores, baseline


def fit_joint_scores(config: TrainConfig, codebook: Codebook, tasks: list[Task], transcripts: list[Transcript],
                     inputs: Inputs, examples: dict[str, Examples], train: Sequence[str], test: Sequence[str] = (),
                     weights: dict[str, float] | None = None, n_folds: int | None = None,
                     say: Callable[[str], None] = lambda _: None) -> tuple[dict[str, np.ndarray], BaselineTagger]:
    """Baseline scores for the utterances of the transcripts `train` and `test` (ids), and the
    baseline fitted on all of `train`.

    `train` transcripts get out-of-fold scores: `n_folds` (default ``transformer.hybrid_folds``)
    folds over them, grouped as the config says (source video), each scored by a baseline fitted
    on the other folds. `test` transcripts are scored by the baseline fitted on all of `train`.
    Returns transcript id -> (utterances x labels) in utterance order."""
    from rupturekit.tagger.evaluate import assign_folds, subset

    labels = [(t.name, label) for t in tasks for label in t.labels]
    weights = weights or {}
    train_set = set(train)
    n_folds = n_folds or config.transformer.hybrid_folds
    by_id = {t.transcript_id: t for t in transcripts}
    rows_of: dict[str, list[int]] = {}
    for i, key in enumerate(inputs.keys):
        rows_of.setdefault(str(key[0]), []).append(i)
    train_examples = {name: subset(e, np.flatnonzero([g in train_set for g in e.groups]))
                      for name, e in examples.items()}
    folds = assign_folds(train_examples, n_folds, config.seed,
                         group_of=group_map([by_id[t] for t in train if t in by_id], config.group_by))
    out: dict[str, np.ndarray] = {}
    n = len(set(folds.values()))
    for fold in sorted(set(folds.values())):
        held = {t for t, f in folds.items() if f == fold}
        model = _fit_baseline(config, codebook, tasks, inputs, examples, train_set - held, weights)
        for transcript in held:
            rows = np.asarray(rows_of.get(transcript, []), dtype=np.int64)
            out[transcript] = baseline_scores(model, inputs, rows, labels)
        say(f"hybrid: baseline fold {fold + 1}/{n} scored out of fold")
    final = _fit_baseline(config, codebook, tasks, inputs, examples, train_set, weights)
    for transcript in list(train) + list(test):
        if transcript not in out:  # a training transcript with no coded utterance is in no fold
            rows = np.asarray(rows_of.get(transcript, []), dtype=np.int64)
            out[transcript] = baseline_scores(final, inputs, rows, labels)
    return out, final


def evidence_of(baseline: BaselineTagger, inputs: Inputs, predicted: dict[int, list[tuple[str, str, str]]],
                top: int) -> dict[int, dict[str, list[list[Any]]]]:
    """Row -> {tag: [[n-gram or feature, contribution], ...]}: the baseline's top contributions
    towards each predicted label (`predicted`: row -> [(task name, label whose weights to read,
    tag as shown)])."""
    out: dict[int, dict[str, list[list[Any]]]] = {}
    models = baseline.models_
    for task in baseline.tasks:
        model = models[task.name]
        index = {label: j for j, label in enumerate(task.labels)}
        rows = sorted(r for r, tags in predicted.items() if any(t[0] == task.name for t in tags))
        if not rows:
            continue
        matrix = model.design(inputs, np.asarray(rows, dtype=np.int64))
        for k, row in enumerate(rows):
            for _, label, shown in (t for t in predicted[row] if t[0] == task.name):
                if label in index:
                    out.setdefault(row, {})[shown] = model.evidence(matrix, k, index[label], top)
    return out
