"""AnnoMI benchmark: 5-fold cross-validation grouped by transcript over the shared AnnoMI
transcripts, for AnnoMI's therapist behaviour (4 classes) and client talk type (3 classes),
next to the published figures; then the model as one more rater on the three 10-rater
transcripts (7, 55, 66), using each model's out-of-fold predictions (never trained on them).

Usage: python scripts/benchmark_annomi.py [--models baseline,transformer] [--folds 5] [--epochs 4]
Writes its section of BENCHMARKS.md. The transformer folds fine-tune the encoder: minutes per fold
on a GPU, about 10 minutes per fold on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from benchlib import SHARED_DATA, machine, write_section

from rupturekit.agree import bootstrap_ci, cohen_kappa
from rupturekit.agree.report import run_agreement
from rupturekit.ingest.batch import read_transcripts
from rupturekit.records import Transcript, write_jsonl
from rupturekit.tagger.config import DataSource, TrainConfig, load_train_config
from rupturekit.tagger.dataset import tasks_for
from rupturekit.tagger.evaluate import assign_folds, examples_for

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {  # utterance-level macro F1
    "text-only baselines (Wu et al. 2023, approx.)": {"therapist_behaviour": 0.72, "client_talk_type": 0.55},
    "M3TCM, text + audio + context (LREC-COLING 2024)": {"therapist_behaviour": 0.83, "client_talk_type": 0.66},
}
MULTI_RATER = ["7", "55", "66"]
HUMAN_FLEISS = {"therapist_behaviour": 0.728, "client_talk_type": 0.479}


def fold_predictions(model: str, config: TrainConfig, codebook, tasks, transcripts, fold_of, epochs, log):
    """Out-of-fold tagged transcripts for every transcript."""
    tagged: dict[str, Transcript] = {}
    for fold in sorted(set(fold_of.values())):
        train = [t for t in transcripts if fold_of.get(t.transcript_id, -1) != fold]
        test = [t for t in transcripts if fold_of.get(t.transcript_id, -1) == fold]
        began = time.perf_counter()
        if model == "baseline":
            from rupturekit.tagger.baseline import BaselineTagger

            tagger = BaselineTagger(config.baseline, codebook, tasks, seed=config.seed)
            tagger.fit(train, examples_for(config, codebook, tasks, train))
        else:
            from rupturekit.tagger.transformer import TransformerTagger
            from rupturekit.tagger.transformer_train import train_transformer

            folder = Path(tempfile.mkdtemp(prefix=f"annomi-fold{fold}-"))
            write_jsonl(train, folder / "train.jsonl")
            fold_config = config.model_copy(update={
                "model": "transformer", "data": [DataSource(path=str(folder / "train.jsonl"))],
                "transformer": config.transformer.model_copy(update={"epochs": epochs})})
            train_transformer(fold_config, folder / "model", progress=log, resume=False)
            tagger = TransformerTagger.load(folder / "model")
        for transcript in tagger.tag(test):
            tagged[transcript.transcript_id] = transcript
        log(f"{model}: fold {fold + 1}: {len(train)} training / {len(test)} test transcripts, "
            f"{time.perf_counter() - began:.0f} s")
    return [tagged[t.transcript_id] for t in transcripts if t.transcript_id in tagged]


def scores(task, transcripts, tagged, n_bootstrap, seed):
    """Macro F1, accuracy and κ of the out-of-fold labels against the AnnoMI codes, with CIs."""
    from rupturekit.agree import label_report

    truth, pred, groups = [], [], []
    predicted = {(u.transcript_id, u.utterance_id): (u.model_extra or {}).get("labels", [])
                 for t in tagged for u in t.utterances}
    for transcript in transcripts:
        for u in transcript.utterances:
            gold = [c.label for c in u.codes if c.label in task.labels]
            if not task.applies_to(u.role) or len(gold) != 1:
                continue
            mine = [label for label in predicted.get((u.transcript_id, u.utterance_id), []) if label in task.labels]
            truth.append(gold[0])
            pred.append(mine[0] if mine else "(none)")
            groups.append(u.transcript_id)
    truth, pred, groups = np.array(truth, dtype=object), np.array(pred, dtype=object), np.array(groups, dtype=object)
    labels = list(task.labels)

    def macro(idx):
        return float(label_report(truth[idx], pred[idx], labels=labels).loc["macro avg", "f1"])

    def accuracy(idx):
        return float(np.mean(truth[idx] == pred[idx]))

    def kappa(idx):
        return float(cohen_kappa(truth[idx], pred[idx]))

    return {name: bootstrap_ci(fn, groups, n_resamples=n_bootstrap, seed=seed)
            for name, fn in (("macro_f1", macro), ("accuracy", accuracy), ("kappa", kappa))} | {"n": len(truth)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annomi", type=Path, default=SHARED_DATA / "annomi")
    parser.add_argument("--models", default="baseline,transformer")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    simple, full = args.annomi / "AnnoMI-simple.csv", args.annomi / "AnnoMI-full.csv"
    if not simple.exists():
        print(f"error: {simple} not found; run scripts/download_annomi.py or pass --annomi", file=sys.stderr)
        return 2
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    config = load_train_config(ROOT / "configs" / "baseline-annomi.yaml",
                               [f"data.0.path={simple}", f"seed={args.seed}"])
    from rupturekit.codebook import load_codebook

    codebook = load_codebook("annomi")
    tasks = tasks_for(codebook, config.dimensions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transcripts = read_transcripts(simple)
    fold_of = assign_folds(examples_for(config, codebook, tasks, transcripts), args.folds, args.seed)
    started = time.perf_counter()
    rows, rater_lines, timings = [], [], {}
    for model in models:
        began = time.perf_counter()
        tagged = fold_predictions(model, config, codebook, tasks, transcripts, fold_of, args.epochs, print)
        timings[model] = time.perf_counter() - began
        for task in tasks:
            result = scores(task, transcripts, tagged, args.bootstrap, args.seed)
            rows.append((model, task.name, result))
        with tempfile.TemporaryDirectory() as folder:
            tags = Path(folder) / "tags.jsonl"
            write_jsonl([t for t in tagged if t.transcript_id in MULTI_RATER], tags)
            agreement = run_agreement(full, tags, codebook, Path(folder) / "agree", transcripts=MULTI_RATER,
                                      dimensions=[t.name for t in tasks], level="subtype", figures=False,
                                      n_bootstrap=200, seed=args.seed)
            rater_lines += [f"- {model}: {sentence}" for sentence in agreement.sentences]

    def cell(ci):
        return f"{ci.estimate:.3f} [{ci.low:.2f}, {ci.high:.2f}]"

    lines = ["| model | task | utterances | macro F1 [95% CI] | accuracy | κ |",
             "| --- | --- | ---: | --- | --- | --- |"]
    for model, task, result in rows:
        lines.append(f"| {model} | {task} | {result['n']:,} | {cell(result['macro_f1'])} | "
                     f"{cell(result['accuracy'])} | {cell(result['kappa'])} |")
    for name, figures in PUBLISHED.items():
        for task, value in figures.items():
            lines.append(f"| {name} | {task} | | {value:.2f} (published) | | |")
    write_section("bench_annomi", f"""
## AnnoMI benchmark: therapist behaviour and client talk type

Command: `python scripts/benchmark_annomi.py --models {','.join(models)} --folds {args.folds} --epochs {args.epochs}`
Machine: {machine()}
Wall time: {time.perf_counter() - started:.0f} s ({', '.join(f'{m} {s:.0f} s' for m, s in timings.items())}).

{args.folds}-fold cross-validation grouped by transcript over the {len(transcripts)} shared AnnoMI transcripts
(folds: StratifiedGroupKFold, seed {args.seed}; the same folds for every model). Labels against AnnoMI's
codes (`AnnoMI-simple.csv`); 95% CIs by bootstrap over transcripts ({args.bootstrap} resamples).
Published figures are macro F1 from the papers, on their own splits (not directly comparable; some AnnoMI
transcripts are held back from this copy).

{chr(10).join(lines)}

Model as one more rater on transcripts 7, 55 and 66 (10 human annotators each; out-of-fold predictions;
human Fleiss' κ there: therapist behaviour {HUMAN_FLEISS['therapist_behaviour']}, client talk type
{HUMAN_FLEISS['client_talk_type']}):

{chr(10).join(rater_lines)}
""")
    for line in lines + rater_lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
