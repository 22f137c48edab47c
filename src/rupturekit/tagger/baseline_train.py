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
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from rupturekit.codebook import Codebook
from rupturekit.errors import InputError
from rupturekit.records import Transcript
from rupturekit.tagger.baseline import MIN_POSITIVES, BaselineTagger, prepare_inputs
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


def _label_counts(examples: dict[str, Examples], sources: dict[str, DataSource]) -> dict[str, dict[str, list[int]]]:
    """task -> label -> [positives per source (in config order)..., total]."""
    names = list(dict.fromkeys(s.name for s in sources.values()))
    out: dict[str, dict[str, list[int]]] = {}
    for task_name, e in examples.items():
        source_of_row = np.array([names.index(sources[g].name) for g in e.groups]) if len(e) else np.zeros(0, int)
        table = {}
        for j, label in enumerate(e.task.labels):
            positive = e.hard().targets[:, j] > 0
            table[label] = [int((positive & (source_of_row == k)).sum()) for k in range(len(names))] + \
                [int(positive.sum())]
        out[task_name] = table
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
    rare = {task: [label for label, row in table.items() if row[-1] < MIN_POSITIVES] for task, table in counts.items()}
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
                                           + cv.to_markdown() + _by_source_markdown(by_source), encoding="utf-8")
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
    (out_dir / "MODEL_CARD.md").write_text(model_card(config, data, tasks, examples, counts, cv, tagger, by_source),
                                           encoding="utf-8")
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


def _by_source_markdown(by_source: dict[str, dict[str, TaskReport]]) -> str:
    if not by_source:
        return ""
    lines = ["", "## By data source", "",
             "The same out-of-fold predictions (models trained on all sources), scored on each source's "
             "transcripts alone.", "",
             "| task | source | examples / transcripts | labels with support | macro F1 [95% CI] | micro F1 | "
             "stratified-random macro F1 |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: |"]
    for task, reports in by_source.items():
        for source, report in reports.items():
            ci = report.macro_f1_ci
            interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if all(math.isfinite(v) for v in ci) else ""
            lines.append(f"| {task} | {source} | {report.n_examples:,} / {report.n_transcripts} | "
                         f"{report.macro_labels} | {_f(report.macro_f1)}{interval} | {_f(report.micro_f1)} | "
                         f"{_f(report.baselines['stratified_random']['macro_f1'])} |")
    return "\n".join(lines) + "\n"


def _f(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(float(value)) else f"{value:.2f}"


def model_card(config: TrainConfig, data: TrainingData, tasks: list[Task], examples: dict[str, Examples],
               counts: dict[str, dict[str, list[int]]], cv: CVReport, tagger: BaselineTagger,
               by_source: dict[str, dict[str, TaskReport]] | None = None) -> str:
    from rupturekit import __version__

    source_names = list(dict.fromkeys(s.name for s in data.sources.values()))
    lines = [
        f"# Model card: rupturekit baseline tagger, codebook `{data.codebook.name}`", "",
        f"Trained with rupturekit {__version__}. Cue features + TF-IDF word/character n-grams (+ the previous "
        f"{config.baseline.context_turns} turn(s)) -> logistic regression per label "
        "(one-vs-rest for multi-label tasks, multinomial for single-label ones), Platt-calibrated on "
        "out-of-fold decision values; multi-label thresholds tuned for F1 on those. "
        f"Level: {config.level}. Seed {config.seed}.", "",
        "## Intended use", "",
        "A research tool: it pre-screens transcripts for utterances that may carry a label, ranks them for "
        "human coders, and serves as a transparent baseline when measuring agreement with human codes. "
        "It is **not a clinical instrument**: do not use it to assess clients, grade therapists or make "
        "decisions about care. Every label it gives is a hypothesis for a trained human coder to check; "
        "`evidence` shows which words and cues pushed each label.", "",
        "## Training data", "",
        "| source | consensus | raters | transcripts | utterances |", "| --- | --- | --- | ---: | ---: |",
    ]
    for name in source_names:
        source = next(s for s in data.sources.values() if s.name == name)
        ids = {tid for tid, s in data.sources.items() if s.name == name}
        n_utt = sum(len(t.utterances) for t in data.transcripts if t.transcript_id in ids)
        rule = "soft (trained on its hard labels)" if source.consensus == "soft" else source.consensus
        lines.append(f"| {name} | {rule} | {', '.join(source.raters) if source.raters else 'all'} | "
                     f"{len(ids)} | {n_utt:,} |")
    for task in tasks:
        e = examples[task.name]
        lines += ["", f"### {task.name} ({'multi-label' if task.multi_label else 'single-label'}, {task.role} "
                      f"utterances, {len(e):,} coded examples)", "",
                  "| label | " + " | ".join(source_names) + " | total |",
                  "| --- |" + " ---: |" * (len(source_names) + 1)]
        for label, row in counts[task.name].items():
            lines.append(f"| `{label}` | " + " | ".join(str(v) for v in row) + " |")
        skipped = tagger.skipped_.get(task.name, [])
        if skipped:
            lines += ["", f"**Warning:** no classifier for {', '.join(f'`{s}`' for s in skipped)}: fewer than "
                          f"{MIN_POSITIVES} positive examples. Their score is always 0 and they are never predicted."]
    lines += ["", "## Cross-validated performance", "",
              f"{cv.n_folds}-fold cross-validation grouped by {config.group_by} (no group in both training and test), "
              f"seed {cv.seed}; 95% CIs by bootstrap over transcripts ({config.evaluation.bootstrap} resamples). "
              "Macro F1 averages the labels with support > 0. Read every number against the chance rows. "
              "Full per-label tables: `cv_metrics.md`.", "",
              "| task | macro F1 [95% CI] | micro F1 | κ | majority / always-negative macro F1 | "
              "stratified-random macro F1 |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for report in cv.tasks:
        reference = report.baselines.get("majority") or report.baselines.get("always_negative") or {}
        ci = report.macro_f1_ci
        interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if all(math.isfinite(v) for v in ci) else ""
        kappa = _f(report.kappa) if report.kappa is not None else "–"
        lines.append(f"| {report.task.name} | {_f(report.macro_f1)}{interval} | {_f(report.micro_f1)} | {kappa} | "
                     f"{_f(reference.get('macro_f1'))} | {_f(report.baselines['stratified_random']['macro_f1'])} |")
    if by_source:
        lines += _by_source_markdown(by_source).replace("## By data source", "### By data source").splitlines()
    for name, decision in tagger.decisions.items():
        lines += ["", f"## Decisions at real base rates: {name}", "",
                  f"Hierarchical (any marker, then family, then subtype; `rupturekit.tagger.decisions`), tuned on "
                  f"{decision.tuned_on}. A subtype with fewer than {decision.min_positives} gold positives there is "
                  "tagged as its family, with the subtype in `uncertain`. Precision, recall and flag rates are "
                  "measured on the rows that chose the thresholds (in sample for the threshold); "
                  "`scripts/benchmark_ruptures.py` gives the nested out-of-fold figures.", "",
                  "| operating point | threshold | precision | recall | F1 | flags per 100 | coded per 100 |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for point in decision.points.values():
            lines.append(f"| `{point.name}`{' (default)' if point.name == decision.active else ''} | "
                         f"{point.threshold:.3f} | {point.precision:.2f} | {point.recall:.2f} | {point.f1:.2f} | "
                         f"{point.flags_per_100:.1f} | {point.coded_per_100:.1f} |")
    lines += ["", "## Limits", "",
              "- Scores are only as good as the codes: check each source's datasheet (number of raters, whether "
              "they are certified coders, whether the text is constructed or real).",
              "- Labels with few examples have wide CIs or none; a label's F1 on a handful of positives says "
              "little. Constructed transcripts overstate performance on real sessions.",
              "- Utterance-level and English only; the cue features use English lexicons. Context is limited to "
              f"the previous {config.baseline.context_turns} turn(s) and the features' own context cues.",
              "- Probabilities are calibrated on the training data's label mix; on data with other base rates "
              "they (and the tuned thresholds) shift. Re-check on a coded sample of your own data.",
              "- Not validated against clinical outcomes."]
    return "\n".join(lines) + "\n"
