"""Transformer vs baseline on the same transcript-grouped held-out data.

The held-out transcripts are the transformer's own validation split (recorded in its
val_metrics.json). The baseline is trained on the config's other transcripts and both models
tag the held-out ones. The transformer's multi-label thresholds were tuned on this split, so it
is also scored with a fixed threshold of 0.5 (the fair comparison); single-label tasks use the
most probable class in both models.

Usage: python scripts/compare_heldout.py --model models/default --config configs/baseline-3rs.yaml --name 3rs
       python scripts/compare_heldout.py --model DIR --config configs/baseline-annomi.yaml --name annomi
Writes the section `bench_heldout_<name>` of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from benchlib import machine, write_section

from rupturekit.measures import cohen_kappa, label_report
from rupturekit.tagger.baseline import BaselineTagger
from rupturekit.tagger.baseline_train import load_data
from rupturekit.tagger.config import load_train_config
from rupturekit.tagger.dataset import Task, tasks_for
from rupturekit.tagger.evaluate import examples_for
from rupturekit.tagger.transformer import TransformerTagger


def level_of(task: Task, level: str, label: str) -> str:
    return label.split(".", 1)[0] if level == "family" else label


def table(task: Task, level: str, truth_rows, runs) -> list[str]:
    """Markdown rows: one per label, then macro F1 (and κ for single-label tasks), one column pair per run."""
    labels = list(dict.fromkeys(level_of(task, level, label) for label in task.labels))
    truth = np.array([[int(label in {level_of(task, level, x) for x in row}) for label in labels]
                      for row in truth_rows])
    reports = {}
    for name, rows in runs.items():
        pred = np.array([[int(label in {level_of(task, level, x) for x in row}) for label in labels] for row in rows])
        reports[name] = label_report(truth, pred, label_names=labels)
    header = "| label | support | " + " | ".join(f"{name} P / R / F1" for name in runs) + " |"
    lines = [header, "| --- | ---: | " + " | ".join("---" for _ in runs) + " |"]
    for label in labels:
        support = int(reports[next(iter(runs))].loc[label, "support"])
        cells = [f"{r.loc[label, 'precision']:.2f} / {r.loc[label, 'recall']:.2f} / {r.loc[label, 'f1']:.2f}"
                 for r in reports.values()]
        lines.append(f"| `{label}` | {support} | " + " | ".join(cells) + " |")
    present = [label for label in labels if truth[:, labels.index(label)].sum() > 0]
    macro = [f"**{np.mean([r.loc[label, 'f1'] for label in present]):.3f}**" for r in reports.values()]
    lines.append(f"| macro F1 ({len(present)} labels present) | {int(truth.sum())} | " + " | ".join(macro) + " |")
    if not task.multi_label and level == "label":
        gold = [row[0] if row else "" for row in truth_rows]
        kappas = [f"κ {cohen_kappa(gold, [r[0] if r else '' for r in rows]):.3f}" for rows in runs.values()]
        lines.append("| Cohen's κ | | " + " | ".join(kappas) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    held_out = set(json.loads((args.model / "val_metrics.json").read_text())["validation_transcripts"])
    config = load_train_config(args.config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(config)
    codebook = data.codebook
    tasks = tasks_for(codebook, config.dimensions, "label")
    train = [t for t in data.transcripts if t.transcript_id not in held_out]
    test = [t for t in data.transcripts if t.transcript_id in held_out]
    baseline = BaselineTagger(config.baseline, codebook, tasks, seed=config.seed)
    baseline.fit(train, examples_for(config, codebook, tasks, train, data.sources))
    runs = {"baseline": baseline.tag(test)}
    transformer = TransformerTagger.load(args.model, codebook=codebook.name)
    runs["transformer (tuned thresholds)"] = transformer.tag(test)
    if any(task.multi_label for task in tasks):
        transformer.set_threshold(0.5)
        runs["transformer (threshold 0.5)"] = transformer.tag(test)
    examples = examples_for(config, codebook, tasks, test, data.sources)
    sections = []
    for task in tasks:
        keys = examples[task.name].keys
        truth_rows = [[task.labels[j] for j in np.flatnonzero(row)] for row in examples[task.name].targets]
        predicted = {}
        for name, tagged in runs.items():
            by_key = {(u.transcript_id, u.utterance_id): [x for x in (u.labels or [])
                                                          if x in task.labels] for t in tagged for u in t.utterances}
            predicted[name] = [by_key.get(key, []) for key in keys]
        levels = ("label", "family") if task.multi_label else ("label",)
        for level in levels:
            sections.append(f"**{task.name}, {level} level** ({len(keys)} coded utterances)\n")
            sections.append("\n".join(table(task, level, truth_rows, predicted)) + "\n")
    write_section(f"bench_heldout_{args.name}", f"""
## Held-out comparison, {args.name}: transformer vs baseline on the same transcripts

Command: `python scripts/compare_heldout.py --model {args.model} --config {args.config} --name {args.name}`
Machine: {machine()}; {time.perf_counter() - started:.0f} s.

Held-out: the transformer's validation transcripts ({len(test)}: {', '.join(sorted(held_out, key=str))});
the baseline is trained on the other {len(train)} transcripts of `{args.config}`. Both are transcript-grouped
held-out scores; the transformer's multi-label thresholds were tuned on these transcripts (optimistic), so the
fixed-threshold column is the fair one. Few held-out transcripts: read per-label numbers with care.

{chr(10).join(sections)}""")
    print("\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
