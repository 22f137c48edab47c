"""Rupture tags on real sessions: baseline and transformer side by side, out of fold.

    python scripts/benchmark_ruptures.py                       # writes its section of BENCHMARKS.md
    python scripts/benchmark_ruptures.py --no-write --bootstrap 200 --weights 0.3

Data: the real-session 3RS corpus (`annomi-3rs`, rater `adjudicated`: 116 AnnoMI transcripts coded
twice blind and adjudicated) and the constructed corpus (`3rs-constructed`) as an auxiliary
training source with a weight (`--weights`: one run per weight; the first is the headline). The
folds (5, seeded) are grouped by AnnoMI source video (constructed transcripts: by transcript), the
same for both models. Each model scores every transcript out of fold. The decision thresholds for
fold k are chosen on the out-of-fold scores of the *other* folds' real sessions (hierarchical:
any marker -> family -> subtype, `rupturekit.tagger.decisions`, operating point "balanced"), so no
transcript's codes choose its own threshold.

Reported, on real sessions (the constructed corpus has its own row and is never pooled):
client-rupture F1 at family level (any marker, withdrawal, confrontation) and subtype level,
resolution family F1, with transcript-bootstrap CIs and paired transformer - baseline CIs; flags per
100 client turns against the coded rate, by AnnoMI quality; known-groups AUC (a session's share of
flagged client turns separating AnnoMI's low- from high-quality sessions); and the model as one
more coder (kappa against `adjudicated`) next to pass-a against pass-b.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import machine, write_section  # noqa: E402

from rupturekit.tagger.decisions import prf  # noqa: E402

REAL, CONSTRUCTED = "annomi-3rs", "3rs-constructed"
CLIENT, THERAPIST = "client_markers", "resolution"
Key = tuple[str, int]


@dataclass
class Scores:
    """Out-of-fold probabilities of one model, per task: keys, probabilities (rows x labels)."""

    name: str
    probs: dict[str, dict[Key, np.ndarray]] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Truth:
    labels: dict[str, tuple[str, ...]]
    rows: dict[str, dict[Key, np.ndarray]]  # task -> key -> 0/1 row
    fold: dict[str, int]  # transcript -> fold
    source: dict[str, str]  # transcript -> source name
    quality: dict[str, str]  # transcript -> AnnoMI mi_quality (real sessions)
    group: dict[str, str]  # transcript -> split group (source video)


# ---------------------------------------------------------------------------- configs


def configs(weight: float, folds: int, seed: int):
    from rupturekit.tagger.config import load_train_config

    data = [f"data=[{{gold: {CONSTRUCTED}, weight: {weight}}}, {{gold: {REAL}, raters: [adjudicated]}}]"]
    common = [f"evaluation.folds={folds}", f"evaluation.seed={seed}", "evaluation.bootstrap=0"]
    baseline = load_train_config(ROOT / "configs" / "baseline-3rs.yaml", data + common)
    transformer = load_train_config(ROOT / "configs" / "transformer-3rs.yaml", data + common + ["decisions.folds=0"])
    return baseline, transformer


def run_baseline(config, say) -> tuple[Scores, Truth]:
    from rupturekit.tagger.baseline import prepare_inputs
    from rupturekit.tagger.baseline_train import load_data
    from rupturekit.tagger.dataset import tasks_for
    from rupturekit.tagger.evaluate import cross_validate, examples_for

    began = time.perf_counter()
    data = load_data(config)
    tasks = tasks_for(data.codebook, config.dimensions, config.level)
    examples = examples_for(config, data.codebook, tasks, data.transcripts, data.sources)
    inputs = prepare_inputs(data.transcripts, config.baseline.context_turns, config.baseline.use_features)
    cv = cross_validate(config, data.transcripts, data.codebook, tasks, say, examples=examples, sources=data.sources,
                        inputs=inputs)
    scores = Scores("baseline", seconds=time.perf_counter() - began)
    rows: dict[str, dict[Key, np.ndarray]] = {}
    for task in tasks:
        p = cv.predictions[task.name]
        scores.probs[task.name] = {tuple(k): p["scores"][i] for i, k in enumerate(p["keys"])}
        rows[task.name] = {tuple(k): (p["targets"][i] > 0.5).astype(np.int8) for i, k in enumerate(p["keys"])}
    quality = {t.transcript_id: str(t.utterances[0].meta.get("mi_quality", "")) for t in data.transcripts
               if t.utterances}
    from rupturekit.tagger.dataset import group_map

    sources = {tid: s.name for tid, s in data.sources.items()}
    truth = Truth({t.name: tuple(t.labels) for t in tasks}, rows, dict(cv.folds), sources, quality,
                  group_map(data.transcripts, config.group_by))
    return scores, truth


def run_transformer(config, truth: Truth, say) -> Scores:
    from rupturekit.tagger.transformer_train import cross_fit, oof_rows, prepare_training

    began = time.perf_counter()
    prep = prepare_training(config, say)
    folds = {i: truth.fold[s.transcript_id] for i, s in enumerate(prep.corpus.sessions)
             if s.has_gold(prep.corpus.main_tasks)}
    crossfit = cross_fit(prep, len(set(folds.values())), config.seed, say, folds=folds)
    scores = Scores("transformer", seconds=time.perf_counter() - began)
    for task in prep.corpus.main_tasks:
        probs, _, keys = oof_rows(prep, crossfit, task)
        scores.probs[task.name] = {k: probs[i] for i, k in enumerate(keys)}
    scores.epochs = crossfit.epochs  # type: ignore[attr-defined]
    return scores


# ---------------------------------------------------------------------------- decisions out of fold


@dataclass
class Decided:
    """One model's out-of-fold decisions of one task, rows in `keys` order."""

    keys: list[Key]
    truth: np.ndarray  # rows x labels
    guess: np.ndarray  # rows x labels (a family tag counts for its guessed subtype)
    reliable: dict[int, list[bool]]  # fold -> per label


def decide(scores: Scores, truth: Truth, task: str, keys: list[Key], context: bool = True) -> Decided:
    """Nested decisions (`decisions.decide_out_of_fold`): fold k decided by thresholds and context
    fitted on the other folds' real sessions. `keys`: each session's turns in order."""
    from rupturekit.tagger.decisions import decide_out_of_fold

    y = np.vstack([truth.rows[task][k] for k in keys])
    p = np.vstack([scores.probs[task][k] for k in keys])
    folds = np.asarray([truth.fold[k[0]] for k in keys])
    real = np.asarray([truth.source[k[0]] == REAL for k in keys])
    nested = decide_out_of_fold(task, truth.labels[task], p, y, folds, real, [k[0] for k in keys] if context else None)
    return Decided(keys, nested.truth, nested.guess, nested.reliable)


# ---------------------------------------------------------------------------- statistics


def _groups(keys: list[Key], group_of: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """Bootstrap clusters: the source video (the split group), so that the CIs respect the folds'
    grouping; a transcript without a video is its own cluster."""
    names = sorted({group_of.get(k[0], k[0]) for k in keys})
    index = {n: i for i, n in enumerate(names)}
    return np.asarray([index[group_of.get(k[0], k[0])] for k in keys]), names


def counts_by_transcript(truth: np.ndarray, guess: np.ndarray, which: np.ndarray, n: int) -> np.ndarray:
    """(3, transcripts): tp, fp, fn of a 0/1 decision per transcript."""
    out = np.zeros((3, n))
    for k, mask in enumerate((truth & guess, ~truth & guess, truth & ~guess)):
        np.add.at(out[k], which, mask.astype(np.float64))
    return out


def f1_of(c: np.ndarray) -> np.ndarray:
    tp, fp, fn = c[0], c[1], c[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    weights = np.zeros((resamples, n))
    np.add.at(weights, (np.repeat(np.arange(resamples), n), draws.ravel()), 1.0)
    return weights


def interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if len(values) else (math.nan,) * 2


@dataclass
class Level:
    """A 0/1 decision (e.g. any client marker) of one model over real rows."""

    name: str
    truth: np.ndarray
    guess: np.ndarray


def levels(decided: Decided, labels: tuple[str, ...], rows: np.ndarray, task: str) -> list[Level]:
    y, g = decided.truth[rows].astype(bool), decided.guess[rows].astype(bool)
    if task == THERAPIST:
        return [Level("resolution (any strategy)", y.any(1), g.any(1))]
    out = [Level("any client marker", y.any(1), g.any(1))]
    for family in ("withdrawal", "confrontation"):
        cols = [j for j, label in enumerate(labels) if label.startswith(family + ".")]
        out.append(Level(family, y[:, cols].any(1), g[:, cols].any(1)))
    return out


def subtype_macro(decided: Decided, rows: np.ndarray, which: np.ndarray, n: int, weights: np.ndarray
                  ) -> tuple[float, np.ndarray, list[int]]:
    """Macro F1 over labels with support in these rows, and its bootstrap replicates (each
    replicate averages the labels with support in that resample, as the point estimate does)."""
    y, g = decided.truth[rows].astype(bool), decided.guess[rows].astype(bool)
    supported = [j for j in range(y.shape[1]) if y[:, j].any()]
    per = [counts_by_transcript(y[:, j], g[:, j], which, n) for j in supported]
    point = float(np.nanmean([f1_of(c.sum(1)) for c in per])) if per else math.nan
    if not per:
        return point, np.full(len(weights), np.nan), supported
    replicates = []
    for c in per:
        r = np.einsum("rt,kt->kr", weights, c)
        f1 = f1_of(r)
        replicates.append(np.where(r[0] + r[2] > 0, f1, np.nan))  # no support in the resample: not averaged
    with np.errstate(all="ignore"):
        return point, np.nanmean(np.vstack(replicates), axis=0), supported


def kappa_counts(truth: np.ndarray, guess: np.ndarray, which: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((4, n))
    for k, mask in enumerate((truth & guess, ~truth & guess, truth & ~guess, ~truth & ~guess)):
        np.add.at(out[k], which, mask.astype(np.float64))
    return out


def kappa(c: np.ndarray) -> np.ndarray:
    from rupturekit.agree.pairwise import binary_statistics

    return binary_statistics(c[0], c[1], c[2], c[3])["kappa"]


# ---------------------------------------------------------------------------- the report


def fmt(value: float, ci: tuple[float, float] | None = None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    def num(v: float) -> str:
        return f"{round(v, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.00"

    text = num(value)
    if ci is not None and all(math.isfinite(v) for v in ci):
        text += f" [{num(ci[0])}, {num(ci[1])}]"
    return text


def pass_codes() -> dict[str, dict[Key, set[str]]]:
    """The two blind passes' labels per (transcript, utterance) of the real-session corpus."""
    from rupturekit.gold import load_gold

    out: dict[str, dict[Key, set[str]]] = {"pass-a": {}, "pass-b": {}}
    for transcript in load_gold(REAL):
        for u in transcript.utterances:
            for rater in out:
                out[rater][(u.transcript_id, u.utterance_id)] = {c.label for c in u.codes
                                                                 if c.rater == rater and c.label != "none"}
    return out


def _level_of_labels(name: str, labels: set[str]) -> bool:
    if name in ("any client marker", "resolution (any strategy)"):
        return bool(labels)
    return any(label.startswith(name + ".") for label in labels)


def evaluate(models: list[Scores], truth: Truth, bootstrap: int, seed: int) -> dict:
    """Every figure of the section, per model, from nested out-of-fold decisions."""
    from sklearn.metrics import roc_auc_score

    result: dict = {"models": {}, "coded": {}, "passes": {}}
    passes = pass_codes()
    decided = {}
    for task in (CLIENT, THERAPIST):
        # rows every model scored (a run without the constructed corpus scores real sessions only),
        # each session's turns in order
        keys = sorted((k for k in truth.rows[task] if all(k in m.probs[task] for m in models)),
                      key=lambda k: (truth.source[k[0]], k[0], k[1]))
        for m in models:
            decided.setdefault(m.name, {})[task] = decide(m, truth, task, keys)
    for source in (REAL, CONSTRUCTED):
        for task in (CLIENT, THERAPIST):
            keys = decided[models[0].name][task].keys
            rows = np.asarray([truth.source[k[0]] == source for k in keys])
            if not rows.any():
                continue
            row_keys = [k for k, r in zip(keys, rows, strict=True) if r]
            which_all, names = _groups(row_keys, truth.group)
            weights = resample_weights(len(names), bootstrap, seed)
            human = {}
            if source == REAL:  # pass-a against pass-b on the same rows, resampled with the same weights
                for level in levels(decided[models[0].name][task], truth.labels[task], rows, task):
                    a = np.asarray([_level_of_labels(level.name, passes["pass-a"][k]) for k in row_keys])
                    b = np.asarray([_level_of_labels(level.name, passes["pass-b"][k]) for k in row_keys])
                    kc = kappa_counts(a, b, which_all, len(names))
                    human[level.name] = kappa(np.einsum("rt,kt->kr", weights, kc))
                    result["passes"][level.name] = (float(kappa(kc.sum(1))), interval(human[level.name]))
            for m in models:
                d = decided[m.name][task]
                entry = result["models"].setdefault(m.name, {}).setdefault(source, {})
                reps_of = entry.setdefault("_reps", {})
                for level in levels(d, truth.labels[task], rows, task):
                    c = counts_by_transcript(level.truth, level.guess, which_all, len(names))
                    reps = f1_of(np.einsum("rt,kt->kr", weights, c))
                    tp, fp, fn = c.sum(1)
                    entry[level.name] = {"f1": float(f1_of(c.sum(1))), "ci": interval(reps),
                                         "precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn),
                                         "support": int(tp + fn), "flagged": int(tp + fp)}
                    reps_of[level.name] = reps
                    kc = kappa_counts(level.truth, level.guess, which_all, len(names))
                    kappa_reps = kappa(np.einsum("rt,kt->kr", weights, kc))
                    entry[level.name]["kappa"] = float(kappa(kc.sum(1)))
                    entry[level.name]["kappa_ci"] = interval(kappa_reps)
                    if level.name in human:
                        entry[level.name]["kappa_delta"] = (entry[level.name]["kappa"]
                                                            - result["passes"][level.name][0],
                                                            interval(kappa_reps - human[level.name]))
                point, reps, supported = subtype_macro(d, rows, which_all, len(names), weights)
                label = "subtype macro F1 (client)" if task == CLIENT else "subtype macro F1 (resolution)"
                entry[label] = {"f1": point, "ci": interval(reps), "labels": len(supported)}
                reps_of[label] = reps
                if source == REAL:
                    y, g = d.truth[rows].astype(bool), d.guess[rows].astype(bool)
                    per_label = {}
                    for j, name in enumerate(truth.labels[task]):
                        r = prf(y[:, j], g[:, j])
                        r["reliable_folds"] = sum(v[j] for v in d.reliable.values())
                        per_label[name] = r
                    entry.setdefault("labels", {})[task] = per_label
    # flags per 100 client turns by quality, and known-groups validity (sessions resampled)
    keys = decided[models[0].name][CLIENT].keys
    real = [i for i, k in enumerate(keys) if truth.source[k[0]] == REAL]
    sessions = sorted({keys[i][0] for i in real}, key=lambda t: (len(t), t))
    y_any = decided[models[0].name][CLIENT].truth.any(1)
    low = np.asarray([truth.quality[t] == "low" for t in sessions])
    row_session: dict[str, list[int]] = {}
    for i in real:
        row_session.setdefault(keys[i][0], []).append(i)
    coded_share = np.asarray([y_any[row_session[t]].mean() for t in sessions])
    for quality in ("high", "low"):
        rows = [i for i in real if truth.quality[keys[i][0]] == quality]
        result["coded"][quality] = {"turns": len(rows), "per_100": 100.0 * y_any[rows].mean(),
                                    "sessions": len({keys[i][0] for i in rows})}
    weights = resample_weights(len(sessions), bootstrap, seed + 1)

    def auc_with_ci(share: np.ndarray) -> tuple[float, tuple[float, float]]:
        point = float(roc_auc_score(low, share))
        reps = []
        idx = np.arange(len(sessions))
        for w in weights:
            take = np.repeat(idx, w.astype(int))
            if low[take].all() or not low[take].any():
                continue
            reps.append(roc_auc_score(low[take], share[take]))
        return point, interval(np.asarray(reps))

    result["coded"]["auc"] = auc_with_ci(coded_share)
    for m in models:
        g_any = decided[m.name][CLIENT].guess.any(1)
        entry = result["models"][m.name]
        for quality in ("high", "low"):
            rows = [i for i in real if truth.quality[keys[i][0]] == quality]
            entry[f"flags_{quality}"] = 100.0 * g_any[rows].mean()
        share = np.asarray([g_any[row_session[t]].mean() for t in sessions])
        entry["auc"] = auc_with_ci(share)
    return result


def paired(result: dict, a: str, b: str, source: str, level: str) -> tuple[float, tuple[float, float]]:
    ra, rb = result["models"][a][source]["_reps"][level], result["models"][b][source]["_reps"][level]
    point = result["models"][a][source][level]["f1"] - result["models"][b][source][level]["f1"]
    return point, interval(ra - rb)


def markdown(runs: list[tuple[float, dict, list[Scores]]], args, seconds: float) -> str:
    weight, result, models = runs[0]
    names = [m.name for m in models]
    coded = result["coded"]
    lines = [
        "## Rupture tags on real sessions: baseline and transformer, out of fold",
        "",
        f"Command: `python scripts/benchmark_ruptures.py{' ' + ' '.join(args.argv) if args.argv else ''}`; "
        f"{seconds / 60:.1f} min on {machine()}.",
        "",
        f"Real sessions: `annomi-3rs`, rater `adjudicated` (116 AnnoMI transcripts, two blind passes plus "
        f"adjudication; not certified 3RS coders, see the datasheet). {args.folds}-fold cross-validation grouped by "
        f"AnnoMI source video (seed {args.seed}); the constructed corpus trains with weight {weight:g} and is "
        "scored in its own rows. Thresholds for each fold are chosen on the other folds' out-of-fold scores of "
        "real sessions (hierarchical decision with session context, operating point `balanced`). 95% CIs: bootstrap "
        f"({args.bootstrap} resamples of source videos, the folds' groups); Δ is paired (both models resampled "
        "together).",
        "",
        "### Client ruptures and resolution, real sessions",
        "",
        "| level | " + " | ".join(f"{n} F1 [95% CI]" for n in names) + " | " +
        " | ".join(f"{n} P / R" for n in names) + (f" | Δ {names[1]} − {names[0]} [95% CI]" if len(names) > 1 else "")
        + " | support |",
        "| --- |" + " --- |" * len(names) + " ---: |" * len(names) + (" --- |" if len(names) > 1 else "") + " ---: |",
    ]
    levels_ = ["any client marker", "withdrawal", "confrontation", "subtype macro F1 (client)",
               "resolution (any strategy)", "subtype macro F1 (resolution)"]
    for level in levels_:
        cells = [fmt(result["models"][n][REAL][level]["f1"], result["models"][n][REAL][level]["ci"]) for n in names]
        pr = [(f"{result['models'][n][REAL][level]['precision']:.2f} / {result['models'][n][REAL][level]['recall']:.2f}"
               if "precision" in result["models"][n][REAL][level] else "–") for n in names]
        row = f"| {level} | " + " | ".join(cells) + " | " + " | ".join(pr)
        if len(names) > 1:
            delta, ci = paired(result, names[1], names[0], REAL, level)
            row += f" | {fmt(delta, ci)}"
        cell = result["models"][names[0]][REAL][level]
        support = cell["support"] if "support" in cell else f"{cell['labels']} labels"
        lines.append(row + f" | {support} |")
    lines += ["", "### False alarms: flags per 100 client turns (real sessions, out of fold)", "",
              "| sessions | turns | coded rate (`adjudicated`) | " + " | ".join(f"{n} flags" for n in names)
              + " | " + " | ".join(f"{n} ÷ coded" for n in names) + " |",
              "| --- | ---: | ---: |" + " ---: |" * (2 * len(names))]
    for quality in ("high", "low"):
        c = coded[quality]
        flags = [result["models"][n][f"flags_{quality}"] for n in names]
        lines.append(f"| {quality} quality ({c['sessions']}) | {c['turns']:,} | {c['per_100']:.1f} | "
                     + " | ".join(f"{f:.1f}" for f in flags) + " | "
                     + " | ".join(f"{f / c['per_100']:.2f}×" if c["per_100"] else "–" for f in flags) + " |")
    lines += ["", "### Known-groups validity", "",
              "AUC with which a session's share of flagged client turns separates AnnoMI's low-quality from its "
              "high-quality sessions (AnnoMI's own expert label). The coded share is the ceiling a perfect tagger "
              "of these codes would reach.", "",
              "| share from | AUC [95% CI] |", "| --- | --- |",
              f"| coded (`adjudicated`) | {fmt(coded['auc'][0], coded['auc'][1])} |"]
    for n in names:
        lines.append(f"| {n} | {fmt(result['models'][n]['auc'][0], result['models'][n]['auc'][1])} |")
    lines += ["", "### The model as one more coder", "",
              "Cohen's κ, utterance level, real sessions: each model against `adjudicated`, next to the two blind "
              "passes against each other (the inter-coder range; `adjudicated` is built from the passes, so a pass "
              "against it would be inflated). Δ is the model's κ minus the passes' κ, paired: both resampled "
              "together over videos.", "",
              "| level | pass-a vs pass-b κ [95% CI] | " + " | ".join(f"{n} vs adjudicated κ [95% CI]" for n in names)
              + " | " + " | ".join(f"{n} Δκ [95% CI]" for n in names) + " |",
              "| --- | --- |" + " --- |" * (2 * len(names))]
    for level in ("any client marker", "withdrawal", "confrontation", "resolution (any strategy)"):
        human, human_ci = result["passes"][level]
        cells = [fmt(result["models"][n][REAL][level]["kappa"], result["models"][n][REAL][level]["kappa_ci"])
                 for n in names]
        deltas = [fmt(*result["models"][n][REAL][level]["kappa_delta"]) for n in names]
        lines.append(f"| {level} | {fmt(human, human_ci)} | " + " | ".join(cells) + " | " + " | ".join(deltas) + " |")
    lines += ["", "### Constructed corpus (its own row; never pooled with real sessions)", "",
              "| level | " + " | ".join(f"{n} F1 [95% CI]" for n in names) + " | support |",
              "| --- |" + " --- |" * len(names) + " ---: |"]
    for level in ("any client marker", "withdrawal", "confrontation", "subtype macro F1 (client)",
                  "resolution (any strategy)"):
        cells = [fmt(result["models"][n][CONSTRUCTED][level]["f1"], result["models"][n][CONSTRUCTED][level]["ci"])
                 for n in names]
        cell = result["models"][names[0]][CONSTRUCTED][level]
        support = cell["support"] if "support" in cell else f"{cell['labels']} labels"
        lines.append(f"| {level} | " + " | ".join(cells) + f" | {support} |")
    if len(runs) > 1:
        lines += ["", "### Weight of the constructed corpus in training", "",
                  "The same folds and decisions with the constructed corpus at other weights (0: dropped); real "
                  "sessions only. The baseline runs at the headline weight only, unless `--baseline-weights`.", "",
                  "| weight | model | any marker F1 | withdrawal F1 | confrontation F1 | subtype macro F1 | "
                  "flags per 100 (high quality) | known-groups AUC |",
                  "| ---: | --- | --- | --- | --- | --- | ---: | --- |"]
        for w, res, ms in runs:
            for m in ms:
                e = res["models"][m.name]
                lines.append(f"| {w:g} | {m.name} | " + " | ".join(
                    fmt(e[REAL][lv]["f1"], e[REAL][lv]["ci"]) for lv in
                    ("any client marker", "withdrawal", "confrontation", "subtype macro F1 (client)"))
                    + f" | {e['flags_high']:.1f} | {fmt(e['auc'][0], e['auc'][1])} |")
    lines += ["", "### Per label, real sessions (out of fold)", "",
              "`reliable folds`: in how many folds the label had enough gold positives in the tuning rows (20) to be "
              "decided on its own; otherwise the tag was its family and the subtype a guess (scored here as that "
              "guess).", "",
              "| label | support | " + " | ".join(f"{n} P / R / F1 (flagged)" for n in names) + " | reliable folds |",
              "| --- | ---: |" + " --- |" * len(names) + " ---: |"]
    for task in (CLIENT, THERAPIST):
        for label, row in result["models"][names[0]][REAL]["labels"][task].items():
            cells = []
            for n in names:
                r = result["models"][n][REAL]["labels"][task][label]
                cells.append(f"{r['precision']:.2f} / {r['recall']:.2f} / {r['f1']:.2f} ({r['flagged']})")
            lines.append(f"| `{label}` | {row['support']} | " + " | ".join(cells) + f" | {row['reliable_folds']} |")
    if args.shipped:
        lines += shipped_flag_rates(coded)
    timing = ", ".join(f"{m.name} {m.seconds / 60:.1f} min" for m in models)
    lines += ["", f"Cross-validation time (headline run): {timing}."]
    return "\n".join(lines) + "\n"


def shipped_flag_rates(coded: dict) -> list[str]:
    """The acceptance check as a user runs it: the shipped default model over AnnoMI-simple.csv
    (`rupturekit tag`), flags per 100 client turns by AnnoMI quality. In sample: the default model
    was trained on these transcripts, so this shows the operating point at work, not generalisation
    (the out-of-fold rows above do that)."""
    import warnings

    import rupturekit
    from rupturekit.gold import default_annomi_dir
    from rupturekit.tagger.api import load_tagger

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transcripts = rupturekit.read(str(default_annomi_dir() / "AnnoMI-simple.csv"))
    tagger = load_tagger("default")
    flagged = {"high": [0, 0], "low": [0, 0]}
    for start in range(0, len(transcripts), 20):
        for t in tagger.tag(transcripts[start:start + 20]):
            quality = str(t.utterances[0].meta.get("mi_quality", "")) if t.utterances else ""
            for u in t.utterances:
                if u.role == "client" and quality in flagged:
                    flagged[quality][1] += 1
                    flagged[quality][0] += bool(u.labels)
    lines = ["", "### The shipped default model on AnnoMI, as a user runs it (in sample)", "",
             "`rupturekit tag ../shared/data/annomi/AnnoMI-simple.csv` with `models/default` (operating point "
             "`balanced`). The model was trained on these transcripts, so this is in sample: it shows the flag rate "
             "of the stored operating point, not how well the tags generalise (the out-of-fold tables do).", "",
             "| sessions | client turns | coded per 100 (`adjudicated`) | flags per 100 | ÷ coded |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for quality, (hits, turns) in flagged.items():
        rate = 100.0 * hits / max(1, turns)
        lines.append(f"| {quality} quality | {turns:,} | {coded[quality]['per_100']:.1f} | {rate:.1f} | "
                     f"{rate / coded[quality]['per_100']:.2f}× |")
    return lines


def card_section(card: Path, text: str) -> None:
    """Put the section into a model card between markers (replacing an earlier one), headings one
    level down; written beside the card and renamed, so the card is never half-written."""
    import re

    start, end = "<!-- ruptures:start -->", "<!-- ruptures:end -->"
    body = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text.strip(), flags=re.MULTILINE)
    block = f"{start}\n{body}\n{end}"
    current = card.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    current = pattern.sub(lambda _: block, current) if pattern.search(current) else current.rstrip() + "\n\n" + \
        block + "\n"
    partial = card.with_name(f".{card.name}.partial")
    partial.write_text(current, encoding="utf-8")
    os.replace(partial, card)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--weights", default="0.3,0,1",
                        help="weights of the constructed corpus, comma-separated; the first is the headline")
    parser.add_argument("--models", default="baseline,transformer")
    parser.add_argument("--baseline-weights", action="store_true",
                        help="run the baseline at every weight too (by default only at the headline weight)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    parser.add_argument("--no-shipped", dest="shipped", action="store_false",
                        help="skip tagging AnnoMI with the shipped default model")
    parser.add_argument("--model-card", type=Path, default=ROOT / "models" / "default" / "MODEL_CARD.md",
                        help="also write the section into this model card (the default model's, by default)")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    os.chdir(ROOT)  # config data paths are relative to the repository root
    from rupturekit.gold import default_annomi_dir

    if not (default_annomi_dir() / "AnnoMI-simple.csv").exists():
        print("error: AnnoMI not found; run scripts/download_annomi.py or set $RUPTUREKIT_ANNOMI", file=sys.stderr)
        return 2
    began = time.perf_counter()
    wanted = args.models.split(",")

    def say(line: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f}s] {line}", file=sys.stderr, flush=True)

    runs = []
    truth = None
    for weight in [float(w) for w in args.weights.split(",")]:
        baseline_config, transformer_config = configs(weight, args.folds, args.seed)
        models = []
        if truth is None or ("baseline" in wanted and args.baseline_weights):
            # the baseline's cross-validation also fixes the folds (the same for every model and weight)
            say(f"constructed weight {weight:g}: baseline cross-validation")
            baseline, truth = run_baseline(baseline_config, say)
            if "baseline" in wanted:
                models.append(baseline)
        if "transformer" in wanted:
            say(f"constructed weight {weight:g}: transformer cross-fitting")
            models.append(run_transformer(transformer_config, truth, say))
        runs.append((weight, evaluate(models, truth, args.bootstrap, args.seed), models))
    text = markdown(runs, args, time.perf_counter() - began)
    if args.no_write:
        print(text)
    else:
        write_section("ruptures", text)
        say("wrote the 'ruptures' section of BENCHMARKS.md")
        if args.model_card is not None and args.model_card.exists():
            card_section(args.model_card, text)
            say(f"wrote the section into {args.model_card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
