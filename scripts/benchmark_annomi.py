"""AnnoMI benchmark: 5-fold cross-validation grouped by source video over the shared AnnoMI
transcripts, for AnnoMI's therapist behaviour (4 classes) and client talk type (3 classes): the
baseline and transformer variants side by side, seeds, paired bootstrap against the baseline,
per-class F1, and each model as one more rater on the three 10-rater transcripts (7, 55, 66),
using out-of-fold predictions only (never trained on them).

Usage: python scripts/benchmark_annomi.py [--variants hybrid|all|KEY,KEY] [--seeds 13,14,15]
           [--folds 5] [--transcript-grouped] [--set transformer.KEY=VALUE ...]
           [--save-predictions DIR] [--predictions LABEL=FILE ...] [--no-write]

Variants (`--variants`; settings on top of configs/annomi.yaml: a frozen encoder; the others are
one model each, not an ensemble):
  hybrid   the shipped recipe: the baseline's out-of-fold scores and cue features enter the
           dialogue layer over the whole session (`transformer.hybrid: joint`), 5 members
  hybrid1  the same, one model
  session  the encoder alone, dialogue layer over the whole session
  w2, w5, w10  the encoder alone, dialogue layer over +-2, +-5, +-10 turns
  prev     the encoder alone over "[previous turn] [SEP] [turn]" (a cross-encoder), no dialogue layer
  none     the encoder alone, each turn by itself
  stack    a logistic regression over the baseline's and the `session` variant's out-of-fold
           scores of the turn and its two neighbours (stacking; needs `session` in the run)
The frozen encoder's vectors are computed once (and cached); each fold then trains the dialogue
layer and heads only, so every variant runs in minutes on a CPU. `--set transformer.encoder_mode=
full` (or lora) fine-tunes the encoder instead: minutes per fold on a GPU, hours on 2 CPU cores;
run such folds on a GPU with `--save-predictions DIR` and score them here with
`--predictions LABEL=DIR/FILE.jsonl` (the folds are the same wherever they run: seeded).

A hybrid fold is nested: its training transcripts get baseline scores from 5 inner folds (grouped
by video) of those transcripts alone, and its test transcripts from the baseline fitted on all of
them; nothing of the test fold reaches the model. `stack` is measured with the outer folds' scores
(the base models that scored fold j saw fold k, the stacker of fold k never sees fold k's codes).
`--transcript-grouped` also runs the baseline and the first variant with folds grouped by
transcript, as the project did before: one video's transcripts can then sit in training and test.
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

from rupturekit.agree.run import run_agreement
from rupturekit.measures import bootstrap_ci
from rupturekit.reading import read_transcripts
from rupturekit.records import Transcript, read_jsonl, write_jsonl
from rupturekit.tagger.config import TrainConfig, load_train_config
from rupturekit.tagger.dataset import group_map, tasks_for
from rupturekit.tagger.evaluate import assign_folds, examples_for

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {  # utterance-level macro F1
    "text-only baselines (Wu et al. 2023, approx.)": {"therapist_behaviour": 0.72, "client_talk_type": 0.55},
    "M3TCM, text + audio + context (LREC-COLING 2024)": {"therapist_behaviour": 0.83, "client_talk_type": 0.66},
}
MULTI_RATER = ["7", "55", "66"]
HUMAN_FLEISS = {"therapist_behaviour": 0.728, "client_talk_type": 0.479}
ONE = "transformer.ensemble=1"
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "hybrid": ("hybrid, 5-member ensemble (configs/annomi.yaml)", ["transformer.hybrid=joint"]),
    "hybrid1": ("hybrid, one model", ["transformer.hybrid=joint", ONE]),
    "session": ("encoder, dialogue over the session", ["transformer.hybrid=none", ONE]),
    "w2": ("encoder, dialogue +-2 turns", ["transformer.hybrid=none", ONE, "transformer.dialogue_window=2"]),
    "w5": ("encoder, dialogue +-5 turns", ["transformer.hybrid=none", ONE, "transformer.dialogue_window=5"]),
    "w10": ("encoder, dialogue +-10 turns", ["transformer.hybrid=none", ONE, "transformer.dialogue_window=10"]),
    "prev": ("encoder, previous turn (cross-encoder)", ["transformer.hybrid=none", ONE, "transformer.context=concat",
                                                        "transformer.context_turns=1"]),
    "none": ("encoder, no context", ["transformer.hybrid=none", ONE, "transformer.context=none"]),
    "stack": ("stacking: baseline + encoder (session)", []),
}


def video_folds(config: TrainConfig, codebook, tasks, transcripts: list[Transcript], n_folds: int, seed: int,
                grouping: str = "video") -> dict[str, int]:
    """Transcript id -> fold: StratifiedGroupKFold grouped by source video (or by transcript)."""
    group_of = group_map(transcripts, "video") if grouping == "video" else None
    return assign_folds(examples_for(config, codebook, tasks, transcripts), n_folds, seed, group_of=group_of)


def baseline_folds(config: TrainConfig, codebook, tasks, transcripts, fold_of, log) -> list[Transcript]:
    """Out-of-fold tagged transcripts of the baseline."""
    from rupturekit.tagger.baseline import BaselineTagger

    tagged: dict[str, Transcript] = {}
    for fold in sorted(set(fold_of.values())):
        train = [t for t in transcripts if fold_of.get(t.transcript_id, -1) != fold]
        test = [t for t in transcripts if fold_of.get(t.transcript_id, -1) == fold]
        began = time.perf_counter()
        tagger = BaselineTagger(config.baseline, codebook, tasks, seed=config.seed)
        tagger.fit(train, examples_for(config, codebook, tasks, train))
        for transcript in tagger.tag(test):
            tagged[transcript.transcript_id] = transcript
        log(f"baseline: fold {fold + 1}: {len(train)} training / {len(test)} test transcripts, "
            f"{time.perf_counter() - began:.0f} s")
    return [tagged[t.transcript_id] for t in transcripts if t.transcript_id in tagged]


def tag_with(transcripts: list[Transcript], tasks, probs: dict[str, dict[str, np.ndarray]]) -> list[Transcript]:
    """Copies of `transcripts` whose utterances carry `labels` (the most probable label of each
    single-label task that applies to the role) and `scores`, from per-transcript probabilities."""
    out = []
    for transcript in transcripts:
        mine = probs.get(transcript.transcript_id)
        if mine is None:
            continue
        utterances = []
        for row, u in enumerate(transcript.utterances):
            labels, scores = [], {}
            for task in tasks:
                if not task.applies_to(u.role):
                    continue
                p = mine[task.key][row]
                scores |= {label: round(float(v), 6) for label, v in zip(task.labels, p, strict=True)}
                if u.text.strip():
                    labels.append(task.labels[int(np.argmax(p))])
            utterances.append(u.model_copy(update={"labels": labels, "scores": scores, "evidence": {}}))
        out.append(transcript.model_copy(update={"utterances": utterances}))
    return out


def joint_provenance(config: TrainConfig, fold_of: dict[str, int]) -> str:
    """What a hybrid's per-fold inputs depend on: the folds, the data and the baseline's settings."""
    return json.dumps({"folds": sorted(fold_of.items()), "data": [d.model_dump(mode="json") for d in config.data],
                       "baseline": config.baseline.model_dump(mode="json"), "seed": config.seed,
                       "group_by": config.group_by, "hybrid_folds": config.transformer.hybrid_folds}, sort_keys=True)


def save_joint(path: Path, extras: dict[int, tuple], sessions, provenance: str) -> None:
    """The hybrid's per-fold inputs, so that a machine without the baseline's dependencies (spaCy)
    can run the same hybrid folds: the cue-feature columns once (they do not depend on the fold)
    and the score columns per fold, float32 safetensors, with the JointInputs and what they were
    made from (`joint_provenance`) as metadata; written beside its name and renamed."""
    import os

    from safetensors.torch import save_file

    joint = next(iter(extras.values()))[1]
    width = len(joint.labels)
    tensors = {f"features/{s.transcript_id}": next(iter(extras.values()))[0][i][:, width:].contiguous()
               for i, s in enumerate(sessions)}
    tensors |= {f"scores/{fold}/{s.transcript_id}": extra[0][i][:, :width].contiguous()
                for fold, extra in extras.items() for i, s in enumerate(sessions)}
    partial = path.with_name(f".{path.name}.partial")
    save_file(tensors, str(partial), metadata={"joint": json.dumps(joint.to_json()), "provenance": provenance})
    os.replace(partial, path)


def load_joint(path: Path, sessions, provenance: str) -> dict[int, tuple]:
    """The inputs `save_joint` wrote; refused unless made for these folds, data and settings (a
    file from other folds would give test transcripts scores from a baseline trained on them)."""
    import torch
    from safetensors import safe_open

    from rupturekit.tagger.hybrid import JointInputs

    extras: dict[int, tuple] = {}
    with safe_open(str(path), "pt") as handle:
        if handle.metadata().get("provenance") != provenance:
            raise SystemExit(f"error: {path} holds hybrid inputs of other folds, data or settings; "
                             "delete it or name another --joint-cache")
        joint = JointInputs.from_json(json.loads(handle.metadata()["joint"]))
        folds = sorted({int(k.split("/")[1]) for k in handle.keys() if k.startswith("scores/")})
        features = [handle.get_tensor(f"features/{s.transcript_id}").float() for s in sessions]
        for fold in folds:
            extras[fold] = ([torch.cat([handle.get_tensor(f"scores/{fold}/{s.transcript_id}").float(), f], dim=1)
                             for s, f in zip(sessions, features, strict=True)], joint, None)
    return extras


def transformer_folds(config: TrainConfig, transcripts: list[Transcript], fold_of: dict[str, int],
                      seeds: list[int], log, joint_cache: Path | None = None) -> tuple[dict[int, list[Transcript]],
                                                                                     dict]:
    """Out-of-fold tagged transcripts per seed for one transformer setting: the corpus is prepared
    (tokenised, and with a frozen encoder encoded) once; each fold trains on the other folds, with
    a video-grouped validation split of them for early stopping. `joint_cache`: a hybrid's
    per-fold inputs, read if the file exists, else written."""
    from rupturekit.tagger import transformer_train as tt

    began = time.perf_counter()
    hybrid = config.transformer.hybrid == "joint"
    # a hybrid's inputs are made per fold below (nested), not once over the whole corpus
    plain = config.model_copy(update={"transformer": config.transformer.model_copy(update={"hybrid": "none"})})
    prep = tt.prepare_training(plain, log)
    prepared = time.perf_counter() - began
    sessions = prep.corpus.sessions
    index = {s.transcript_id: i for i, s in enumerate(sessions)}
    extras: dict[int, tuple] = {}
    provenance = joint_provenance(config, fold_of)
    if hybrid and joint_cache is not None and joint_cache.exists():
        extras = load_joint(joint_cache, sessions, provenance)
        log(f"hybrid inputs of {len(extras)} folds read from {joint_cache}")
    data = tt.joint_data(config, log) if hybrid and not extras else None
    runs, tagged = [], {}
    folds = sorted(set(fold_of.values()))
    for seed in seeds:
        probs: dict[str, dict[str, np.ndarray]] = {}
        for fold in folds:
            t0 = time.perf_counter()
            test = sorted(index[t] for t, f in fold_of.items() if f == fold and t in index)
            rest = [i for i in range(len(sessions)) if i not in set(test)]
            if hybrid:
                if fold not in extras:  # nested: inner folds over this fold's training transcripts only
                    tt.joint_inputs(prep, data, [sessions[i].transcript_id for i in rest],
                                    [sessions[i].transcript_id for i in test])
                    extras[fold] = (prep.extra, prep.joint, prep.baseline)
                prep.extra, prep.joint, prep.baseline = extras[fold]
            train_idx, val_idx = tt.split_sessions(prep.corpus, config.transformer.validation_fraction, seed + fold,
                                                   among=rest)
            result = tt.fit_ensemble(prep, train_idx, val_idx, seed=seed + fold, quiet=True)
            p = tt.predict_prepared(result.model, prep, test)
            start = 0
            for i in test:
                probs[sessions[i].transcript_id] = {k: v[start:start + sessions[i].n] for k, v in p.items()}
                start += sessions[i].n
            seconds = time.perf_counter() - t0
            runs.append({"seed": seed, "fold": fold + 1, "seconds": round(seconds, 1),
                         "best_epoch": result.state["best_epoch"], "epochs_run": result.state["epoch"]})
            log(f"  seed {seed} fold {fold + 1}: best epoch {result.state['best_epoch']}, {seconds:.0f} s")
        tagged[seed] = tag_with(transcripts, prep.corpus.main_tasks, probs)
        if hybrid and joint_cache is not None and not joint_cache.exists():
            save_joint(joint_cache, extras, sessions, provenance)
    about = {"mode": prep.mode, "device": str(prep.device), "prepare_seconds": round(prepared, 1), "folds": runs,
             "transformer": config.transformer.model_dump(mode="json")}
    return tagged, about


def mean_scores(runs: list[list[Transcript]], tasks) -> list[Transcript]:
    """The seed ensemble: per utterance the mean of the runs' label scores, its argmax per task."""
    first = runs[0]
    probs = {}
    for k, transcript in enumerate(first):
        own = {}
        for task in tasks:
            rows = []
            for row, _ in enumerate(transcript.utterances):
                rows.append(np.mean([[float((r[k].utterances[row].scores or {}).get(label, 0.0))
                                      for label in task.labels] for r in runs], axis=0))
            own[task.key] = np.asarray(rows)
        probs[transcript.transcript_id] = own
    return tag_with(first, tasks, probs)


def stack_folds(transcripts, tasks, fold_of, baseline: list[Transcript], encoder: list[Transcript]) -> list[Transcript]:
    """Stacking: per task a multinomial logistic regression over both models' label scores of the
    turn and of its two neighbours, trained on the other folds' out-of-fold scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = [label for task in tasks for label in task.labels]
    by_id = [{t.transcript_id: t for t in run} for run in (baseline, encoder)]
    rows, keys = [], []
    for transcript in transcripts:
        grids = []
        for run in by_id:
            own = run[transcript.transcript_id]
            grids.append(np.asarray([[float((u.scores or {}).get(label, 0.0))
                                      for label in labels] for u in own.utterances]))
        grid = np.hstack(grids)
        padded = np.vstack([np.zeros((1, grid.shape[1])), grid, np.zeros((1, grid.shape[1]))])
        for row, u in enumerate(transcript.utterances):
            rows.append(np.concatenate([padded[row], padded[row + 1], padded[row + 2]]))
            keys.append((transcript.transcript_id, row, u))
    x = np.asarray(rows)
    probs: dict[str, dict[str, np.ndarray]] = {t.transcript_id: {} for t in transcripts}
    for task in tasks:
        truth = np.asarray([next((task.labels.index(c.label) for c in u.codes if c.label in task.labels), -1)
                            if task.applies_to(u.role) else -1 for _, _, u in keys])
        fold = np.asarray([fold_of.get(tid, -1) for tid, _, _ in keys])
        out = np.zeros((len(keys), len(task.labels)))
        for k in sorted(set(fold_of.values())):
            train = (fold != k) & (truth >= 0)
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, class_weight="balanced", max_iter=2000))
            model.fit(x[train], truth[train])
            test = fold == k
            out[np.ix_(test, model.classes_)] = model.predict_proba(x[test])
        for (tid, _row, _), p in zip(keys, out, strict=True):
            probs[tid].setdefault(task.key, []).append(p)
    for tid in probs:
        probs[tid] = {key: np.asarray(v) for key, v in probs[tid].items()}
    return tag_with(transcripts, tasks, probs)


def label_arrays(task, transcripts, tagged, cluster_of: dict[str, str] | None = None):
    """Gold and predicted label names of the task's coded utterances, and their clusters (the
    transcript's source video, or the transcript)."""
    truth, pred, groups = [], [], []
    predicted = {(u.transcript_id, u.utterance_id): (u.labels or [])
                 for t in tagged for u in t.utterances}
    for transcript in transcripts:
        for u in transcript.utterances:
            gold = [c.label for c in u.codes if c.label in task.labels]
            if not task.applies_to(u.role) or len(gold) != 1:
                continue
            mine = [label for label in predicted.get((u.transcript_id, u.utterance_id), []) if label in task.labels]
            truth.append(gold[0])
            pred.append(mine[0] if mine else "(none)")
            groups.append((cluster_of or {}).get(u.transcript_id, u.transcript_id))
    return truth, pred, groups


def point(task, transcripts, tagged) -> float:
    """Macro F1 alone (no interval), for the spread over seeds."""
    from sklearn.metrics import f1_score

    truth, pred, _ = label_arrays(task, transcripts, tagged)
    return float(f1_score(truth, pred, labels=list(task.labels), average="macro", zero_division=0))


def scores(task, transcripts, tagged, n_bootstrap, seed, cluster_of: dict[str, str] | None = None):
    """Macro F1, accuracy and κ of the out-of-fold labels against the AnnoMI codes, with CIs from
    a bootstrap over clusters (`cluster_of`: transcript id -> source video)."""
    from rupturekit.measures import label_report

    truth, pred, groups = label_arrays(task, transcripts, tagged, cluster_of)
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
    bootstrap over clusters (videos) that resamples both models together (a paired comparison)."""
    truth, first, groups = reference["arrays"]
    truth_other, second, _ = other["arrays"]
    assert (truth == truth_other).all()
    n = len(task.labels)
    return {name: bootstrap_ci(lambda idx, fn=fn: fn(truth, second, n, idx) - fn(truth, first, n, idx), groups,
                               n_resamples=n_bootstrap, seed=seed) for name, fn in (("macro_f1", macro_f1),
                                                                                     ("kappa", kappa))}


def load_predictions(spec: str, transcripts: list[Transcript]) -> tuple[str, list[list[Transcript]], dict]:
    """LABEL=FILE[,FILE...]: out-of-fold tags saved by --save-predictions, one file per seed
    (every transcript must be in each)."""
    label, sep, files = spec.partition("=")
    if not sep or not label.strip():
        raise SystemExit(f"error: --predictions '{spec}' is not LABEL=FILE[,FILE...]")
    runs, about = [], {}
    for file in files.split(","):
        path = Path(file)
        tagged = {t.transcript_id: t for t in read_jsonl(path)}
        missing = [t.transcript_id for t in transcripts if t.transcript_id not in tagged]
        if missing:
            raise SystemExit(f"error: {path}: no predictions for {len(missing)} transcripts (e.g. {missing[:3]}); "
                             "rerun the folds with --save-predictions")
        runs.append([tagged[t.transcript_id] for t in transcripts])
        sidecar = path.with_suffix(".json")
        about = about or (json.loads(sidecar.read_text()) if sidecar.exists() else {})
    return label.strip(), runs, about


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower() or "model"


def report(args, runs: dict[str, dict], transcripts, tasks, codebook, full: Path, started: float) -> None:
    video = group_map(transcripts, "video")
    first = {label: next(iter(run["seeds"].values())) for label, run in runs.items()}
    results = {(label, task.name): scores(task, transcripts, first[label], args.bootstrap, args.fold_seed, video)
               for label in runs for task in tasks}
    spread, ensembles = {}, {}
    for label, run in runs.items():
        if len(run["seeds"]) > 1:
            ensembles[label] = mean_scores(list(run["seeds"].values()), tasks)
            for task in tasks:
                values = [point(task, transcripts, tagged) for tagged in run["seeds"].values()]
                spread[(label, task.name)] = values
                results[(label + " [seed ensemble]", task.name)] = scores(task, transcripts, ensembles[label],
                                                                        args.bootstrap, args.fold_seed, video)
    shown = [label for label in runs if runs[label]["grouping"] == "video"]
    shown_all = [x for label in shown for x in ([label] + ([label + " [seed ensemble]"] if label in ensembles
                                                            else []))]
    lines = ["| model | task | utterances | macro F1 [95% CI] | over seeds: mean (min–max) | accuracy | κ |",
             "| --- | --- | ---: | --- | --- | --- | --- |"]
    for task in tasks:
        for label in shown_all:
            result = results[(label, task.name)]
            values = spread.get((label, task.name))
            seeds = (f"{np.mean(values):.3f} ({min(values):.3f}–{max(values):.3f}), {len(values)} seeds"
                     if values else "")
            lines.append(f"| {label} | {task.name} | {result['n']:,} | {cell(result['macro_f1'])} | {seeds} | "
                         f"{cell(result['accuracy'])} | {cell(result['kappa'])} |")
        for name, figures in PUBLISHED.items():
            lines.append(f"| {name} | {task.name} | | {figures[task.name]:.2f} (published) | | | |")
    paired = []
    if "baseline" in runs:
        paired = ["| model | task | Δ macro F1 [95% CI] | Δ κ [95% CI] |", "| --- | --- | --- | --- |"]
        for task in tasks:
            for label in shown_all:
                if label == "baseline":
                    continue
                delta = paired_difference(task, results[("baseline", task.name)], results[(label, task.name)],
                                          args.bootstrap, args.fold_seed)
                paired.append(f"| {label} | {task.name} | {delta['macro_f1'].estimate:+.3f} "
                              f"[{delta['macro_f1'].low:+.3f}, {delta['macro_f1'].high:+.3f}] | "
                              f"{delta['kappa'].estimate:+.3f} "
                              f"[{delta['kappa'].low:+.3f}, {delta['kappa'].high:+.3f}] |")
    per_class = []
    for task in tasks:
        support = results[(shown_all[0], task.name)]["per_label"]
        header = " | ".join(f"{label.split('.', 1)[1]} ({int(support[label]['support']):,})" for label in task.labels)
        per_class += [f"**{task.name}** (F1 per class, first seed; support in the header)", "",
                      f"| model | {header} | macro |", "| --- |" + " ---: |" * (len(task.labels) + 1)]
        for label in shown_all:
            result = results[(label, task.name)]
            per_class.append(f"| {label} | " + " | ".join(f"{result['per_label'][x]['f1']:.2f}" for x in task.labels)
                             + f" | **{result['macro_f1'].estimate:.3f}** |")
        per_class.append("")
    leak = []
    by_transcript = [label for label in runs if runs[label]["grouping"] == "transcript"]
    if by_transcript:
        leak = ["| model | task | folds by video | folds by transcript | difference |",
                "| --- | --- | --- | --- | --- |"]
        for label in by_transcript:
            plain = label.replace(" (folds by transcript)", "")
            for task in tasks:
                a, b = results[(plain, task.name)]["macro_f1"], results[(label, task.name)]["macro_f1"]
                leak.append(f"| {plain} | {task.name} | {a.estimate:.3f} | {b.estimate:.3f} | "
                            f"{b.estimate - a.estimate:+.3f} |")
    raters = []
    for label in shown:
        raters += rater_sentences(label, first[label], full, codebook, tasks, args.fold_seed)
        if label in ensembles:
            raters += rater_sentences(label + " [seed ensemble]", ensembles[label], full, codebook, tasks,
                                      args.fold_seed)
    timing = []
    for label, run in runs.items():
        about = run["about"]
        folds = about.get("folds", [])
        if folds:
            per_fold = np.median([f["seconds"] for f in folds])
            timing.append(f"- {label}: {about.get('mode', '?')} encoder on {about.get('device', '?')}"
                          f"{' (' + about['gpu'] + ')' if about.get('gpu') else ''}; preparing the corpus "
                          f"{about.get('prepare_seconds', 0):.0f} s, then a median {per_fold:.0f} s per fold "
                          f"({len(folds)} fold fits; {about.get('seconds', 0):.0f} s in all"
                          + (f"; from `{about['command']}` on {about.get('machine', '?')}" if label in
                             [s.partition('=')[0].strip() for s in args.predictions] else "") + ")")
        elif about.get("seconds"):
            timing.append(f"- {label}: {about['seconds']:.0f} s for the folds")
    text = f"""
## AnnoMI benchmark: therapist behaviour and client talk type

Command: `{" ".join(["python", "scripts/benchmark_annomi.py", *sys.argv[1:]])}`
Machine: {machine()}
Wall time: {time.perf_counter() - started:.0f} s.

{args.folds}-fold cross-validation **grouped by source video** (AnnoMI's `video_url`; several transcripts
can come from one video) over the {len(transcripts)} shared AnnoMI transcripts (StratifiedGroupKFold, seed
{args.fold_seed}; the same folds for every model). Labels against AnnoMI's codes (`AnnoMI-simple.csv`); 95%
CIs by a bootstrap over source videos ({args.bootstrap} resamples) of the first seed's out-of-fold labels.
"Seed ensemble": the mean of the seeds' scores. Published figures are from the papers, on their own splits
(not directly comparable; 17 AnnoMI transcripts are held back from this copy).

{chr(10).join(lines)}

Time:

{chr(10).join(timing)}

{"Paired against the baseline (same folds, same utterances; one bootstrap over videos resamples both models "
 "together, so a CI that excludes 0 is a difference these sessions support):" + chr(10) + chr(10)
 + chr(10).join(paired) + chr(10) if paired else ""}
Per class (out of fold, all folds pooled):

{chr(10).join(per_class)}
{"Folds grouped by transcript, as before this benchmark grouped them (a video's transcripts can then be on "
 "both sides of a fold), next to folds grouped by video (first seed):" + chr(10) + chr(10)
 + chr(10).join(leak) + chr(10) if leak else ""}
Each model as one more rater on transcripts 7, 55 and 66 (10 human annotators each; out-of-fold
predictions; human Fleiss' κ there: therapist behaviour {HUMAN_FLEISS['therapist_behaviour']}, client
talk type {HUMAN_FLEISS['client_talk_type']}):

{chr(10).join(raters)}
"""
    if not args.no_write:
        write_section("bench_annomi", text)
    print(text)


def rater_sentences(label: str, tagged: list[Transcript], full: Path, codebook, tasks, seed: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        tags = Path(folder) / "tags.jsonl"
        write_jsonl([t for t in tagged if t.transcript_id in MULTI_RATER], tags)
        agreement = run_agreement(full, tags, codebook, Path(folder) / "agree", transcripts=MULTI_RATER,
                                  dimensions=[t.name for t in tasks], level="subtype", figures=False,
                                  n_bootstrap=200, seed=seed)
    return [f"- {label}: {sentence}" for sentence in agreement.sentences]


def cell(ci) -> str:
    return f"{ci.estimate:.3f} [{ci.low:.2f}, {ci.high:.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annomi", type=Path, default=SHARED_DATA / "annomi")
    parser.add_argument("--variants", default="hybrid", help="comma-separated keys (see above), or 'all'")
    parser.add_argument("--seeds", default="13", help="comma-separated training seeds of the transformer variants")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=13, help="seed of the fold assignment")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-baseline", action="store_true", help="transformer folds only (e.g. on a GPU machine)")
    parser.add_argument("--transcript-grouped", action="store_true",
                        help="also run the baseline and the first variant with folds grouped by transcript (leaky)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change the transformer's settings for every variant; repeatable")
    parser.add_argument("--tag", default="", help="suffix of the variants' row labels (e.g. ', full fine-tune')")
    parser.add_argument("--save-predictions", type=Path, default=None, metavar="DIR",
                        help="write each run's out-of-fold tags to DIR/LABEL.jsonl (+ .json: how they were made)")
    parser.add_argument("--predictions", action="append", default=[], metavar="LABEL=FILE",
                        help="score out-of-fold tags saved earlier (e.g. on a GPU) as one more model; repeatable")
    parser.add_argument("--joint-cache", type=Path, default=None, metavar="FILE",
                        help="the hybrid's per-fold baseline inputs: read if FILE exists, else written (safetensors)")
    parser.add_argument("--no-write", action="store_true", help="print the tables, do not write BENCHMARKS.md")
    args = parser.parse_args()
    simple, full = args.annomi / "AnnoMI-simple.csv", args.annomi / "AnnoMI-full.csv"
    if not simple.exists():
        print(f"error: {simple} not found; run scripts/download_annomi.py or pass --annomi", file=sys.stderr)
        return 2
    keys = list(VARIANTS) if args.variants == "all" else [k.strip() for k in args.variants.split(",") if k.strip()]
    unknown = [k for k in keys if k not in VARIANTS]
    if unknown:
        print(f"error: unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    if "stack" in keys and args.no_baseline:
        print("error: stack needs the baseline; leave out --no-baseline", file=sys.stderr)
        return 2
    if "stack" in keys and "session" not in keys:
        keys.insert(keys.index("stack"), "session")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    common = [f"data.0.path={simple}", f"seed={args.fold_seed}"]
    config = load_train_config(ROOT / "configs" / "baseline-annomi.yaml", common)
    from rupturekit.codebook import load_codebook
    from rupturekit.tagger.transformer import TaskSpec

    codebook = load_codebook("annomi")
    tasks = tasks_for(codebook, config.dimensions)
    specs = [TaskSpec.of(t, codebook.name) for t in tasks]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transcripts = read_transcripts(simple)
    groupings = ["video"] + (["transcript"] if args.transcript_grouped else [])
    fold_of = {g: video_folds(config, codebook, tasks, transcripts, args.folds, args.fold_seed, g) for g in groupings}
    started = time.perf_counter()
    runs: dict[str, dict] = {}  # row label -> {"grouping", "seeds": {seed: tagged}, "about", "seconds"}

    def save(label: str, tagged: list[Transcript], about: dict) -> None:
        if args.save_predictions:
            args.save_predictions.mkdir(parents=True, exist_ok=True)
            write_jsonl(tagged, args.save_predictions / f"{slug(label)}.jsonl")
            (args.save_predictions / f"{slug(label)}.json").write_text(json.dumps(about, indent=1))

    command = " ".join(["python", "scripts/benchmark_annomi.py", *sys.argv[1:]])
    for grouping in groupings:
        if args.no_baseline:
            break
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tagged = baseline_folds(config, codebook, tasks, transcripts, fold_of[grouping], print)
        label = "baseline" + ("" if grouping == "video" else " (folds by transcript)")
        about = {"command": command, "machine": machine(), "grouping": grouping,
                 "seconds": round(time.perf_counter() - began, 1)}
        runs[label] = {"grouping": grouping, "seeds": {args.fold_seed: tagged}, "about": about}
        save(label, tagged, about)
    for n, key in enumerate(keys):
        name, settings = VARIANTS[key]
        label = name + args.tag
        if key == "stack":
            encoder = runs[VARIANTS["session"][0] + args.tag]["seeds"]
            tagged = {seed: stack_folds(transcripts, specs, fold_of["video"], runs["baseline"]["seeds"][args.fold_seed],
                                        encoder[seed]) for seed in encoder}
            runs[label] = {"grouping": "video", "seeds": tagged, "about": {"seconds": 0}}
            continue
        for grouping in groupings if n == 0 else ["video"]:
            began = time.perf_counter()
            # trained as configs/annomi.yaml trains: on AnnoMI-full with soft targets (the 10-rater
            # transcripts' label shares); scored, as the baseline, against AnnoMI-simple's codes
            own = [f"data.0.path={full}", f"seed={args.fold_seed}"]
            variant = load_train_config(ROOT / "configs" / "annomi.yaml", own + settings + args.overrides)
            if key == "hybrid" and variant.transformer.ensemble != 5:  # the label names the recipe's 5 members
                label = f"hybrid, {variant.transformer.ensemble}-member ensemble{args.tag}"
            print(f"{label} (folds by {grouping}): {' '.join(settings + args.overrides) or 'configs/annomi.yaml'}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tagged, about = transformer_folds(variant, transcripts, fold_of[grouping],
                                                  seeds if grouping == "video" else seeds[:1], print,
                                                  args.joint_cache if grouping == "video" else None)
            if about["device"].startswith("cuda"):
                import torch

                about["gpu"] = torch.cuda.get_device_name(0)
            about |= {"command": command, "machine": machine(), "grouping": grouping,
                      "seconds": round(time.perf_counter() - began, 1)}
            row = label + ("" if grouping == "video" else " (folds by transcript)")
            runs[row] = {"grouping": grouping, "seeds": tagged, "about": about}
            for seed, run in tagged.items():
                save(f"{row} seed {seed}", run, about)
    for spec in args.predictions:
        label, tagged_runs, about = load_predictions(spec, transcripts)
        runs[label] = {"grouping": about.get("grouping", "video"), "seeds": dict(enumerate(tagged_runs)),
                       "about": about}
    report(args, runs, transcripts, specs, codebook, full, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
