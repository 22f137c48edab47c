"""AnnoMI benchmark: 5-fold cross-validation grouped by transcript over the shared AnnoMI
transcripts, for AnnoMI's therapist behaviour (4 classes) and client talk type (3 classes),
next to the published figures; then the model as one more rater on the three 10-rater
transcripts (7, 55, 66), using each model's out-of-fold predictions (never trained on them).

Usage: python scripts/benchmark_annomi.py [--models baseline,transformer] [--folds 5] [--epochs N]
           [--set transformer.KEY=VALUE ...] [--name LABEL] [--save-predictions DIR]
           [--predictions LABEL=FILE ...]
Writes its section of BENCHMARKS.md. The transformer folds fine-tune the encoder: under a minute
per fold on a GPU, about 10 minutes per fold on the 2-core CPU. So the transformer's folds can run
on a GPU machine with `--save-predictions DIR` (out-of-fold tags as JSONL, and a JSON of how they
were made), and the table be written here with `--predictions LABEL=DIR/LABEL.jsonl`: the folds
are the same wherever they run (seeded), and the scores are computed here from the tags.
The transformer's settings are those of configs/annomi.yaml; `--set transformer.KEY=VALUE` changes them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from benchlib import SHARED_DATA, machine, write_section

from rupturekit.agree import bootstrap_ci
from rupturekit.agree.report import run_agreement
from rupturekit.ingest.batch import read_transcripts
from rupturekit.records import Transcript, read_jsonl, write_jsonl
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


def fold_predictions(model: str, config: TrainConfig, codebook, tasks, transcripts, fold_of, log,
                     runs: list[dict] | None = None):
    """Out-of-fold tagged transcripts for every transcript (`runs` gets one entry per fold)."""
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
                "model": "transformer", "data": [DataSource(path=str(folder / "train.jsonl"))]})
            train_transformer(fold_config, folder / "model", progress=log, resume=False)
            tagger = TransformerTagger.load(folder / "model")
        for transcript in tagger.tag(test):
            tagged[transcript.transcript_id] = transcript
        seconds = time.perf_counter() - began
        if runs is not None:
            entry = {"fold": fold + 1, "train": len(train), "test": len(test), "seconds": round(seconds, 1)}
            if model != "baseline":
                trained = json.loads((folder / "model" / "model.json").read_text())["trained"]
                entry |= {k: trained[k] for k in ("device", "epochs_run", "best_epoch", "validation_macro_f1")}
            runs.append(entry)
        log(f"{model}: fold {fold + 1}: {len(train)} training / {len(test)} test transcripts, {seconds:.0f} s")
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
    labels = list(task.labels)
    per_label = label_report(np.array(truth, dtype=object), np.array(pred, dtype=object), labels=labels)
    # label indices (no label: -1) so that each of the thousands of bootstrap scores is a fast
    # scikit-learn call (label_report's table per resample would take minutes)
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index[x] for x in truth])
    pred = np.array([index.get(x, -1) for x in pred])
    groups = np.array(groups, dtype=object)
    return {"arrays": (truth, pred, groups)} | {
        name: bootstrap_ci(lambda idx, fn=fn: fn(truth, pred, len(labels), idx), groups, n_resamples=n_bootstrap,
                           seed=seed) for name, fn in (("macro_f1", macro_f1), ("accuracy", accuracy), ("kappa", kappa))
    } | {"n": len(truth), "per_label": {label: {k: float(per_label.loc[label, k])
                                                for k in ("precision", "recall", "f1", "support")} for label in labels}}


def macro_f1(truth, pred, n_labels: int, idx) -> float:
    """Macro F1 over the task's labels (as `label_report`'s macro row: scikit-learn, zero_division 0)."""
    from sklearn.metrics import f1_score

    return float(f1_score(truth[idx], pred[idx], labels=list(range(n_labels)), average="macro", zero_division=0))


def accuracy(truth, pred, n_labels: int, idx) -> float:
    return float(np.mean(truth[idx] == pred[idx]))


def kappa(truth, pred, n_labels: int, idx) -> float:
    """Cohen's κ (scikit-learn's, which `rupturekit.agree.cohen_kappa` wraps; no missing values here)."""
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(truth[idx], pred[idx]))


def paired_difference(task, reference: dict, other: dict, n_bootstrap: int, seed: int):
    """`other` minus `reference` in macro F1 and κ on the same utterances, with a CI from one
    bootstrap over transcripts that resamples both models together (a paired comparison)."""
    truth, first, groups = reference["arrays"]
    truth_other, second, _ = other["arrays"]
    assert (truth == truth_other).all()
    n = len(task.labels)
    return {name: bootstrap_ci(lambda idx, fn=fn: fn(truth, second, n, idx) - fn(truth, first, n, idx), groups,
                               n_resamples=n_bootstrap, seed=seed) for name, fn in (("macro_f1", macro_f1),
                                                                                     ("kappa", kappa))}


def load_predictions(spec: str, transcripts: list[Transcript]) -> tuple[str, list[Transcript], dict]:
    """LABEL=FILE: out-of-fold tags saved by --save-predictions (every transcript must be there)."""
    label, sep, file = spec.partition("=")
    if not sep or not label.strip():
        raise SystemExit(f"error: --predictions '{spec}' is not LABEL=FILE")
    path = Path(file)
    tagged = {t.transcript_id: t for t in read_jsonl(path)}
    missing = [t.transcript_id for t in transcripts if t.transcript_id not in tagged]
    if missing:
        raise SystemExit(f"error: {path}: no predictions for {len(missing)} transcripts (e.g. {missing[:3]}); "
                         "rerun the folds with --save-predictions")
    sidecar = path.with_suffix(".json")
    about = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    return label.strip(), [tagged[t.transcript_id] for t in transcripts], about


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower() or "model"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annomi", type=Path, default=SHARED_DATA / "annomi")
    parser.add_argument("--models", default="baseline,transformer")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="transformer epochs (default: configs/annomi.yaml)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change the transformer's settings (e.g. transformer.lora=false); repeatable")
    parser.add_argument("--name", default=None, help="row label of the transformer (default: transformer)")
    parser.add_argument("--save-predictions", type=Path, default=None, metavar="DIR",
                        help="write each model's out-of-fold tags to DIR/LABEL.jsonl (+ .json: how they were made)")
    parser.add_argument("--predictions", action="append", default=[], metavar="LABEL=FILE",
                        help="score out-of-fold tags saved earlier (e.g. on a GPU) as one more model; repeatable")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not write BENCHMARKS.md")
    args = parser.parse_args()
    simple, full = args.annomi / "AnnoMI-simple.csv", args.annomi / "AnnoMI-full.csv"
    if not simple.exists():
        print(f"error: {simple} not found; run scripts/download_annomi.py or pass --annomi", file=sys.stderr)
        return 2
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    common = [f"data.0.path={simple}", f"seed={args.seed}"]
    config = load_train_config(ROOT / "configs" / "baseline-annomi.yaml", common)
    # the transformer's settings are those of the shipped AnnoMI transformer config, plus --set
    transformer = load_train_config(ROOT / "configs" / "annomi.yaml", common + args.overrides).transformer
    if args.epochs is not None:
        transformer = transformer.model_copy(update={"epochs": args.epochs})
    config = config.model_copy(update={"transformer": transformer})
    from rupturekit.codebook import load_codebook

    codebook = load_codebook("annomi")
    tasks = tasks_for(codebook, config.dimensions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transcripts = read_transcripts(simple)
    fold_of = assign_folds(examples_for(config, codebook, tasks, transcripts), args.folds, args.seed)
    started = time.perf_counter()
    rows, rater_lines, timings, made = [], [], {}, {}
    runs_of: dict[str, tuple[list[Transcript], dict]] = {}
    for model in models:
        label = args.name if model == "transformer" and args.name else model
        began = time.perf_counter()
        fold_runs: list[dict] = []
        tagged = fold_predictions(model, config, codebook, tasks, transcripts, fold_of, print, fold_runs)
        timings[label] = time.perf_counter() - began
        about = {"command": " ".join(["python", "scripts/benchmark_annomi.py", *sys.argv[1:]]), "machine": machine(),
                 "model": model, "transformer": config.transformer.model_dump(mode="json") if model != "baseline"
                 else None, "overrides": args.overrides, "folds": fold_runs,
                 "seconds": round(timings[label], 1)}
        if model != "baseline":
            import torch

            if torch.cuda.is_available():
                about["gpu"] = torch.cuda.get_device_name(0)
        runs_of[label] = (tagged, about)
        if args.save_predictions:
            args.save_predictions.mkdir(parents=True, exist_ok=True)
            write_jsonl(tagged, args.save_predictions / f"{slug(label)}.jsonl")
            (args.save_predictions / f"{slug(label)}.json").write_text(json.dumps(about, indent=1))
    for spec in args.predictions:
        label, tagged, about = load_predictions(spec, transcripts)
        runs_of[label] = (tagged, about)
        made[label] = about
    for label, (tagged, _) in runs_of.items():
        for task in tasks:
            result = scores(task, transcripts, tagged, args.bootstrap, args.seed)
            rows.append((label, task.name, result))
        with tempfile.TemporaryDirectory() as folder:
            tags = Path(folder) / "tags.jsonl"
            write_jsonl([t for t in tagged if t.transcript_id in MULTI_RATER], tags)
            agreement = run_agreement(full, tags, codebook, Path(folder) / "agree", transcripts=MULTI_RATER,
                                      dimensions=[t.name for t in tasks], level="subtype", figures=False,
                                      n_bootstrap=200, seed=args.seed)
            rater_lines += [f"- {label}: {sentence}" for sentence in agreement.sentences]

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
    paired = []
    if "baseline" in runs_of and len(runs_of) > 1:
        paired = ["| model | task | Δ macro F1 [95% CI] | Δ κ [95% CI] |", "| --- | --- | --- | --- |"]
        for task in tasks:
            results = {m: r for m, t, r in rows if t == task.name}
            for label in runs_of:
                if label == "baseline":
                    continue
                delta = paired_difference(task, results["baseline"], results[label], args.bootstrap, args.seed)
                paired.append(f"| {label} | {task.name} | {delta['macro_f1'].estimate:+.3f} "
                              f"[{delta['macro_f1'].low:+.3f}, {delta['macro_f1'].high:+.3f}] | "
                              f"{delta['kappa'].estimate:+.3f} "
                              f"[{delta['kappa'].low:+.3f}, {delta['kappa'].high:+.3f}] |")
    labels_of = {task.name: list(task.labels) for task in tasks}
    models_shown = list(runs_of)
    per_label = []
    for task in tasks:
        per_label += [f"**{task.name}**", "", "| label | support | " + " | ".join(
            f"{m} P / R / F1" for m in models_shown) + " |", "| --- | ---: |" + " --- |" * len(models_shown)]
        results = {m: r for m, t, r in rows if t == task.name}
        for label in labels_of[task.name]:
            support = int(results[models_shown[0]]["per_label"][label]["support"])
            cells = [" / ".join(f"{results[m]['per_label'][label][k]:.2f}" for k in ("precision", "recall", "f1"))
                     for m in models_shown]
            per_label.append(f"| `{label}` | {support:,} | " + " | ".join(cells) + " |")
        per_label.append("| macro F1 | | " + " | ".join(f"**{results[m]['macro_f1'].estimate:.3f}**"
                                                       for m in models_shown) + " |")
        per_label.append("")
    elsewhere = []
    for label, about in made.items():
        folds = about.get("folds", [])
        device = folds[0].get("device", "?") if folds else "?"
        epochs = ", ".join(f"{f.get('epochs_run', '?')} (best {f.get('best_epoch', '?')})" for f in folds)
        elsewhere.append(f"- {label}: out-of-fold tags from `{about.get('command', '?')}` "
                         f"on {about['gpu'] + ', ' if about.get('gpu') else ''}{about.get('machine', '?')} "
                         f"(device {device}; {about.get('seconds', 0):.0f} s for {len(folds)} folds; "
                         f"epochs run per fold: {epochs})")
    command = (f"python scripts/benchmark_annomi.py --models {','.join(models)} --folds {args.folds}"
               + (f" --epochs {args.epochs}" if args.epochs else "") + "".join(f" --set {o}" for o in args.overrides)
               + (f" --name '{args.name}'" if args.name else "")
               + "".join(f" --predictions '{p}'" for p in args.predictions))
    if not args.no_write:
        write_section("bench_annomi", f"""
## AnnoMI benchmark: therapist behaviour and client talk type

Command: `{command}`
Machine: {machine()}
Wall time: {time.perf_counter() - started:.0f} s ({', '.join(f'{m} {s:.0f} s' for m, s in timings.items())}).
{chr(10).join(elsewhere)}

{args.folds}-fold cross-validation grouped by transcript over the {len(transcripts)} shared AnnoMI transcripts
(folds: StratifiedGroupKFold, seed {args.seed}; the same folds for every model). Labels against AnnoMI's
codes (`AnnoMI-simple.csv`); 95% CIs by bootstrap over transcripts ({args.bootstrap} resamples).
Published figures are macro F1 from the papers, on their own splits (not directly comparable; some AnnoMI
transcripts are held back from this copy).

{chr(10).join(lines)}

{"Paired against the baseline (same folds, same utterances; one bootstrap over transcripts resamples both "
 "models together, so a CI that excludes 0 is a difference these transcripts support):" + chr(10) + chr(10)
 + chr(10).join(paired) + chr(10) if paired else ""}
Per label (out-of-fold, all folds pooled; precision / recall / F1):

{chr(10).join(per_label)}
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
