"""Benchmark: transcript-grouped cross-validation of the baseline tagger, read against chance.

Usage: python scripts/evaluate_baseline.py [--bootstrap 1000] [--only 3rs-constructed/label ...] [--no-write]

Runs, each with 5-fold transcript-grouped CV (seed 13) and the settings of the shipped configs:
  (a) the 3rs-constructed gold alone, (b) annomi-3rs alone, (c) both combined - each at label and at
  family level (configs/baseline-3rs.yaml with `data` and `level` overridden);
  (d) AnnoMI therapist_behaviour and client_talk_type over every shared AnnoMI transcript
  (configs/baseline-annomi.yaml).
Writes its section of BENCHMARKS.md: per-label and macro F1 with 95% transcript-bootstrap CIs, and
the reference baselines (majority / always-negative, stratified random). Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

from benchlib import ROOT, SHARED_DATA, machine, write_section

from rupturekit.tagger.baseline import prepare_inputs
from rupturekit.tagger.baseline_train import load_data, scores_by_source
from rupturekit.tagger.config import load_train_config
from rupturekit.tagger.dataset import tasks_for
from rupturekit.tagger.evaluate import CVReport, TaskReport, cross_validate, examples_for

CONFIG_3RS = ROOT / "configs" / "baseline-3rs.yaml"
CONFIG_ANNOMI = ROOT / "configs" / "baseline-annomi.yaml"
GOLD_RUNS = {
    "3rs-constructed": "[{gold: 3rs-constructed}]",
    "annomi-3rs": "[{gold: annomi-3rs}]",
    "both": "[{gold: 3rs-constructed}, {gold: annomi-3rs}]",
}


def run_names() -> list[str]:
    return [f"{data}/{level}" for data in GOLD_RUNS for level in ("label", "family")] + ["annomi"]


def _f(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.2f}"


def summary_rows(name: str, tasks: list[TaskReport]) -> list[str]:
    rows = []
    for task in tasks:
        reference = task.baselines.get("majority") or task.baselines.get("always_negative") or {}
        low, high = task.macro_f1_ci
        kappa = f"{_f(task.kappa)} [{_f(task.kappa_ci[0])}, {_f(task.kappa_ci[1])}]" if task.kappa is not None \
            else "–"
        rows.append(f"| {name} | {task.task.name} | {task.n_examples:,} / {task.n_transcripts} | "
                    f"{task.macro_labels} | **{_f(task.macro_f1)}** [{_f(low)}, {_f(high)}] | {_f(task.micro_f1)} | "
                    f"{kappa} | {_f(reference.get('macro_f1'))} | "
                    f"{_f(task.baselines['stratified_random']['macro_f1'])} |")
    return rows


HEADER = ("| run | task | examples / transcripts | labels | macro F1 [95% CI] | micro F1 | κ [95% CI] | "
          "majority / always-neg. macro F1 | stratified-random macro F1 |\n"
          "| --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    parser.add_argument("--only", nargs="*", choices=run_names(), help="run only these (default: all)")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    annomi_csv = SHARED_DATA / "annomi" / "AnnoMI-simple.csv"
    if not annomi_csv.exists():
        print(f"error: {annomi_csv} not found; run scripts/download_annomi.py", file=sys.stderr)
        return 2
    wanted = args.only or run_names()
    warnings.filterwarnings("ignore", message=".*no timestamps")  # constructed transcripts have none
    began = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    def say(line: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {line}", file=sys.stderr, flush=True)

    reports: list[tuple[str, CVReport, float]] = []
    split: list[tuple[str, TaskReport]] = []  # runs on both gold corpora, scored per corpus
    overrides = [f"evaluation.bootstrap={args.bootstrap}"]
    gold_wanted = [name for name in wanted if name != "annomi"]
    if gold_wanted:
        # features once for both gold corpora; each run picks its rows by key
        config = load_train_config(CONFIG_3RS, overrides)
        data = load_data(config)
        inputs = prepare_inputs(data.transcripts, config.baseline.context_turns, config.baseline.use_features)
        for name in gold_wanted:
            source, level = name.split("/")
            config = load_train_config(CONFIG_3RS, [*overrides, f"data={GOLD_RUNS[source]}", f"level={level}"])
            keep = {s.name for s in config.data}
            transcripts = [t for t in data.transcripts if data.sources[t.transcript_id].name in keep]
            sources = {t.transcript_id: data.sources[t.transcript_id] for t in transcripts}
            tasks = tasks_for(data.codebook, config.dimensions, config.level)
            examples = examples_for(config, data.codebook, tasks, transcripts, sources)
            say(f"{name}: {len(transcripts)} transcripts")
            start = time.perf_counter()
            report = cross_validate(config, transcripts, data.codebook, tasks, lambda line, n=name: say(f"{n}: {line}"),
                                    examples=examples, sources=sources, inputs=inputs)
            reports.append((name, report, time.perf_counter() - start))
            for by_source in scores_by_source(config, tasks, report, sources).values():
                for source_name, task_report in by_source.items():
                    split.append((f"{name}, scored on {source_name} only", task_report))
    if "annomi" in wanted:
        start = time.perf_counter()
        config = load_train_config(CONFIG_ANNOMI, [*overrides, f"data.0.path={annomi_csv}"])
        data = load_data(config)
        tasks = tasks_for(data.codebook, config.dimensions, config.level)
        say(f"annomi: {len(data.transcripts)} transcripts")
        report = cross_validate(config, data.transcripts, data.codebook, tasks, lambda line: say(f"annomi: {line}"),
                                sources=data.sources)
        reports.append(("annomi", report, time.perf_counter() - start))
    total = time.perf_counter() - began

    only = f" --only {' '.join(args.only)}" if args.only else ""
    bootstrap = f" --bootstrap {args.bootstrap}" if args.bootstrap != 1000 else ""
    summary = [row for name, report, _ in reports for row in summary_rows(name, report.tasks)]
    summary += [row for name, task in split for row in summary_rows(name, [task])]
    n_annomi = next((f"all {len(r.folds)}" for name, r, _ in reports if name == "annomi"), "all")
    times = ", ".join(f"{name} {seconds:.0f} s" for name, _, seconds in reports)
    details = []
    for name, report, _ in reports:
        details += [f"<details><summary>{name}: per-label scores</summary>", "",
                    report.to_markdown(heading="####"), "</details>", ""]
    section = f"""
## Baseline tagger: transcript-grouped cross-validation

Command: `python scripts/evaluate_baseline.py{bootstrap}{only}`
Machine: {machine()}
Wall time: {total:.0f} s in all, features, {args.bootstrap} bootstrap resamples and every fold's fit included
(1-minute load average at the start: {load:.1f}, on {os.cpu_count()} cores); per run: {times}.

Settings of `configs/baseline-3rs.yaml` and `configs/baseline-annomi.yaml`: cue features + TF-IDF word
(1-2) and character (2-5) n-grams + previous-turn words, logistic regression per label (multinomial for
AnnoMI's single-label tasks), class-balanced, Platt-calibrated on out-of-fold decision values, thresholds
tuned on them inside each training fold. 5-fold CV grouped by transcript (StratifiedGroupKFold, seed 13):
no transcript is in both training and test; every example gets one out-of-fold prediction.
Macro F1 averages the labels with support > 0 ("labels" column); CIs are 95% percentile bootstrap
intervals over transcripts. References on the same folds: always-negative (multi-label; F1 0 by
definition) or majority class (single-label), and a stratified-random predictor that says each label at
its training-fold prevalence (expected value, no sampling noise; its F1 is about the prevalence).
Runs: 3rs-constructed = written transcripts (every label 15-31 times; text and codes by the same team,
so scores overstate real sessions); annomi-3rs = the team's 3RS codes on 23 real AnnoMI transcripts (most
labels rare: per-label numbers on 1-5 positives mean little); both = the two together (the shipped
3RS config); "both, scored on X only" = the out-of-fold predictions of the "both" run (models trained on both
corpora) restricted to one corpus's transcripts; annomi = AnnoMI's own codes (rater `annomi`) on {n_annomi}
shared AnnoMI transcripts.

{HEADER}
{chr(10).join(summary)}

{chr(10).join(details)}
"""
    if args.no_write:
        print(section)
    else:
        write_section("bench_baseline", section)
        say("wrote the bench_baseline section of BENCHMARKS.md")
    for line in summary:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
