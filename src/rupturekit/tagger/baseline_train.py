"""Train the baseline tagger from a training config: cross-validate, fit on all data, save.

    from rupturekit.tagger.config import load_train_config
    from rupturekit.tagger.baseline_train import train_baseline
    train_baseline(load_train_config("configs/baseline-3rs.yaml"), Path("models/baseline-3rs"))

The output folder holds the model (``model.json``, ``weights.json``; see `BaselineTagger.save`),
``config.yaml`` (the resolved config), ``cv_metrics.json`` / ``cv_metrics.md`` (transcript-grouped
cross-validation with bootstrap CIs and chance baselines) and ``MODEL_CARD.md``.

Bad data raises `InputError`: a task without coded examples, fewer than 2 coded transcripts, a
single-label task with fewer than 2 usable classes. A label with fewer than 2 positive examples is
not an error: it gets no classifier (score 0, never predicted), and the model card and the
progress lines say so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from rupturekit.codebook import Codebook
from rupturekit.errors import InputError
from rupturekit.records import Transcript
from rupturekit.tagger.baseline import MIN_POSITIVES, BaselineTagger, prepare_inputs
from rupturekit.tagger.card import LabelCount, from_baseline, render_by_source, render_card, source_scores
from rupturekit.tagger.config import DataSource, TrainConfig
from rupturekit.tagger.dataset import Examples, Task, load_training_data, tasks_for
from rupturekit.tagger.decisions import HierarchicalDecision, tune_on_sources
from rupturekit.tagger.evaluate import (
    CVReport,
    TaskReport,
    cross_validate,
    examples_for,
    reference_baselines,
    score_task,
    transcript_weights,
)

__all__ = ["TrainingData", "load_data", "scores_by_source", "train_baseline"]


@dataclass
class TrainingData:
    codebook: Codebook
    transcripts: list[Transcript]
    sources: dict[str, DataSource]  # transcript id -> the data source it came from


def load_data(config: TrainConfig) -> TrainingData:
    """`load_training_data`, source by source, remembering each transcript's source (for its
    consensus rule and weight). Transcript ids must not repeat across sources."""
    codebook: Codebook | None = None
    transcripts: list[Transcript] = []
    sources: dict[str, DataSource] = {}
    for source in config.data:
        if source.weight == 0:
            continue  # weight 0: the source is left out entirely
        codebook, loaded = load_training_data(config.model_copy(update={"data": [source]}))
        for transcript in loaded:
            earlier = sources.get(transcript.transcript_id)
            if earlier is not None:
                raise InputError(source.name, f"transcript '{transcript.transcript_id}' is also in {earlier.name}",
                                 "use each transcript in one data source only")
            sources[transcript.transcript_id] = source
            transcripts.append(transcript)
    if codebook is None:
        raise InputError("config", "no data sources", "list at least one entry under 'data'")
    return TrainingData(codebook, transcripts, sources)


def _label_counts(examples: dict[str, Examples], sources: dict[str, DataSource]) -> dict[str, list[LabelCount]]:
    """task -> per label: positives per source (in config order)..., total."""
    names = list(dict.fromkeys(s.name for s in sources.values()))
    out: dict[str, list[LabelCount]] = {}
    for task_name, e in examples.items():
        source_of_row = np.array([names.index(sources[g].name) for g in e.groups]) if len(e) else np.zeros(0, int)
        out[task_name] = []
        for j, label in enumerate(e.task.labels):
            positive = e.hard().targets[:, j] > 0
            per_source = [int((positive & (source_of_row == k)).sum()) for k in range(len(names))]
            out[task_name].append(LabelCount(label, (*per_source, int(positive.sum()))))
    return out


def train_baseline(config: TrainConfig, out_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Cross-validate, fit on all data and save the baseline model with its card into `out_dir`."""
    say = progress or (lambda _: None)
    if config.model != "baseline":
        raise InputError("config", f"model '{config.model}' is not the baseline",
                         "set 'model: baseline', or train the transformer with its own command")
    out_dir = Path(out_dir)
    if config.aux:
        say("warning: the baseline ignores 'aux' (auxiliary tasks are for the transformer)")
    say(f"loading {len(config.data)} data source(s)")
    data = load_data(config)
    tasks = tasks_for(data.codebook, config.dimensions, config.level)
    examples = examples_for(config, data.codebook, tasks, data.transcripts, data.sources)
    for task in tasks:
        if not len(examples[task.name]):
            raise InputError(data.codebook.name, f"task '{task.name}' has no coded examples in "
                             f"{', '.join(s.name for s in config.data)}",
                             "add coded utterances for this dimension, or leave it out of 'dimensions'")
    counts = _label_counts(examples, data.sources)
    rare = {task: [c.label for c in table if c.counts[-1] < MIN_POSITIVES] for task, table in counts.items()}
    for task, labels in rare.items():
        if labels:
            say(f"warning: {task}: no classifier for {', '.join(labels)} (fewer than {MIN_POSITIVES} positive "
                "examples; score 0, never predicted)")
    say(f"{len(data.transcripts)} transcripts; " + "; ".join(f"{t.name}: {len(examples[t.name])} examples"
                                                             for t in tasks))
    inputs = prepare_inputs(data.transcripts, config.baseline.context_turns, config.baseline.use_features)
    cv = cross_validate(config, data.transcripts, data.codebook, tasks, progress, examples=examples,
                        sources=data.sources, inputs=inputs)
    by_source = scores_by_source(config, tasks, cv, data.sources)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = cv.to_dict()
    metrics["by_source"] = {task: {source: report.to_dict() for source, report in reports.items()}
                            for task, reports in by_source.items()}
    (out_dir / "cv_metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    (out_dir / "cv_metrics.md").write_text(f"# Cross-validation: baseline, codebook {data.codebook.name}\n\n"
                                           + cv.to_markdown() + render_by_source(source_scores(by_source)),
                                           encoding="utf-8")
    say("fitting on all data")
    tagger = BaselineTagger(config.baseline, data.codebook, tasks, seed=config.seed).fit(
        data.transcripts, examples, inputs=inputs, weights=transcript_weights(data.sources))
    if config.decisions.folds >= 2:
        if config.decisions.folds != config.evaluation.folds:
            say(f"note: the baseline's decisions come from its {cv.n_folds}-fold cross-validation (evaluation.folds); "
                f"decisions.folds ({config.decisions.folds}) only switches them on")
        tagger.decisions = decisions_from_cv(config, tasks, cv, data.sources)
    tagger.save(out_dir)
    (out_dir / "config.yaml").write_text(
        "# Resolved training config (defaults filled in, --set overrides applied).\n"
        + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True), encoding="utf-8")
    card = from_baseline(config, data, tasks, examples, counts, cv, tagger, by_source)
    (out_dir / "MODEL_CARD.md").write_text(render_card(card), encoding="utf-8")
    say(f"saved to {out_dir}")
    return out_dir


def decisions_from_cv(config: TrainConfig, tasks: list[Task], cv: CVReport,
                      sources: dict[str, DataSource]) -> dict[str, HierarchicalDecision]:
    """Hierarchical decisions of the multi-label tasks from the cross-validated (out-of-fold)
    scores of the transcripts of the sources in `decisions.tune_on` (all sources when unset)."""
    tune_on = tune_on_sources(config.decisions.tune_on, [s.name for s in config.data if s.weight != 0])
    out = {}
    for task in tasks:
        if not task.multi_label:
            continue
        predictions = cv.predictions[task.name]
        keys = predictions["keys"]
        # the tuning rows, each session's turns in order (the context calibration reads neighbours)
        rows = np.asarray(sorted((i for i, key in enumerate(keys) if sources[key[0]].name in tune_on),
                                 key=lambda i: (str(keys[i][0]), keys[i][1])), dtype=np.int64)
        if not len(rows):
            raise InputError("decisions.tune_on", f"{', '.join(sorted(tune_on))} hold(s) no coded utterances of "
                             f"'{task.name}'", "tune on a source coded in every multi-label dimension")
        transcripts = len({keys[i][0] for i in rows})
        out[task.name] = HierarchicalDecision.fit(
            task.name, task.labels, predictions["scores"][rows], predictions["targets"][rows],
            config.decisions.min_positives,
            sessions=[str(keys[i][0]) for i in rows] if config.decisions.context else None,
            tuned_on=f"out-of-fold scores of {len(rows):,} coded utterances in {transcripts} transcripts of "
                     f"{', '.join(sorted(tune_on))} ({cv.n_folds}-fold cross-validation grouped by {config.group_by})")
    return out


def scores_by_source(config: TrainConfig, tasks: list[Task], cv: CVReport,
                     sources: dict[str, DataSource]) -> dict[str, dict[str, TaskReport]]:
    """The out-of-fold predictions of `cv` scored separately on each data source's transcripts
    (only with more than one source): a pooled score can hide a source the model fails on."""
    names = list(dict.fromkeys(s.name for s in sources.values()))
    if len(names) < 2:
        return {}
    out: dict[str, dict[str, TaskReport]] = {}
    for task in tasks:
        predictions = cv.predictions[task.name]
        groups = np.array([key[0] for key in predictions["keys"]], dtype=object)
        source_of_row = np.array([sources[g].name for g in groups], dtype=object)
        out[task.name] = {}
        for name in names:
            rows = np.flatnonzero(source_of_row == name)
            if len(rows):
                report = score_task(
                    task, predictions["targets"][rows], predictions["predicted"][rows], predictions["scores"][rows],
                    groups[rows], bootstrap=config.evaluation.bootstrap, seed=config.evaluation.seed)
                reference = reference_baselines(task, predictions["targets"][rows], predictions["folds"][rows])
                for label, chance in zip(report.labels, reference.pop("per_label_chance_f1"), strict=True):
                    label.chance_f1 = chance
                report.baselines = reference
                out[task.name][name] = report
    return out
