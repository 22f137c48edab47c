"""Benchmark: weak 3RS labels for every utterance of the shared AnnoMI simple file (8,297 utterances).

Usage: python scripts/bench_weak.py [--repeats 3] [--data ../shared/data/annomi/AnnoMI-simple.csv]
Writes its section of BENCHMARKS.md: run time of `weak_label` (features, labeling functions and
the label models, in process, after one warm-up call; reading the file is not timed), utterances
labelled per label, the labeling-function table, and both label models against the two gold corpora
(`3rs-constructed`, `annomi-3rs`; codes by rater `team`).
"""

from __future__ import annotations

import os
import sys
import time

from benchlib import annomi_arguments, machine, median_seconds, read_quietly, write_section

from rupturekit.codebook import load_codebook
from rupturekit.features import FeatureExtractor
from rupturekit.gold import GOLD_CORPORA, load_gold
from rupturekit.weak import evaluate_gold, fit_corpus, weak_label


def _f1_line(evaluation, model: str) -> str:
    a = evaluation.averages(model)
    return (f"micro P/R/F1 {a['micro_precision']:.2f} / {a['micro_recall']:.2f} / **{a['micro_f1']:.2f}**, "
            f"macro F1 {a['macro_f1']:.2f}")


def main() -> int:
    args = annomi_arguments(__doc__.split("\n")[0])
    transcripts = read_quietly(args.data)
    utterances = sum(len(t.utterances) for t in transcripts)
    codebook = load_codebook("3rs")
    extractor = FeatureExtractor()

    began = time.perf_counter()
    labelled, report = weak_label(transcripts, codebook, extractor=extractor)  # warm-up: loads the models
    first = time.perf_counter() - began
    timings = {}
    for model in ("generative", "majority"):
        median, runs = median_seconds(
            lambda model=model: weak_label(transcripts, codebook, model, extractor=extractor), args.repeats)
        timings[model] = (median, runs)
        print(f"weak_label model={model}: median {median:.2f} s over {args.repeats} runs "
              f"({utterances / median:,.0f} utterances/s)")
    _, majority_report = weak_label(transcripts, codebook, "majority", extractor=extractor)
    table = extractor(transcripts)
    features_s, _ = median_seconds(lambda: extractor(transcripts), args.repeats)
    model_s = {model: median_seconds(lambda model=model: fit_corpus(table, codebook, model), args.repeats)[0]
               for model in ("generative", "majority")}

    for name in GOLD_CORPORA:
        gold = load_gold(name)
        print(f"gold {name}: {sum(len(t.utterances) for t in gold)} utterances")
        report.gold.append(evaluate_gold(gold, codebook, name, extractor=extractor,
                                         weak_transcripts=labelled if name == "annomi-3rs" else None))

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    timing_rows = "\n".join(
        f"| `weak_label(..., model=\"{m}\")` | {t:.2f} s | {', '.join(f'{r:.2f}' for r in runs)} | "
        f"{utterances / t:,.0f} |" for m, (t, runs) in timings.items())
    count_rows = "\n".join(
        f"| `{label}` | {report.label_counts[label]:,} | {majority_report.label_counts[label]:,} |"
        for label in report.label_counts)
    labelled_any = report.rows_by_role.get("client", 0) + report.rows_by_role.get("therapist", 0) - report.none_count
    highlights = []
    for evaluation in report.gold:
        for model in evaluation.scores:
            highlights.append(f"- {evaluation.corpus}, {model}: {_f1_line(evaluation, model)}")
    highlight_lines = "\n".join(highlights)
    for line in highlights:
        print(line)

    write_section("bench_weak", f"""
## Weak labels: labeling functions and label models on the shared AnnoMI simple file

Command: `python scripts/bench_weak.py --repeats {args.repeats}`
Machine: {machine()}

{len(transcripts)} transcripts, {utterances:,} utterances from `{args.data.name}`, 3RS codebook,
{len(report.lfs)} labeling functions. `weak_label` in process: features (with embeddings), LF votes, one label
model per label, and the labelled copies of the transcripts; reading the file is not timed. Median of
{args.repeats} runs after one warm-up call ({first:.2f} s, which also loads spaCy, VADER and the embedding
table). Timed on their own (medians): feature extraction {features_s:.2f} s; LF votes plus the 24 label
models (`fit_corpus` on the feature table) {1000 * model_s["generative"]:.0f} ms generative,
{1000 * model_s["majority"]:.0f} ms majority; the rest of a call is copying the transcripts with their `weak`
fields and codes. So the run time is the feature extractor's; the label model adds about a tenth of a
second. Load average when this ran: {load}; with other jobs on the 2 cores, runs of one call
differ by a second or more.

| what | median | runs (s) | utterances/s |
| --- | ---: | --- | ---: |
{timing_rows}

{labelled_any:,} of {report.rows_by_role.get('client', 0) + report.rows_by_role.get('therapist', 0):,} client and
therapist utterances got at least one label at P >= 0.5 from the generative model.

| label | utterances (generative) | utterances (majority) |
| --- | ---: | ---: |
{count_rows}

Against the gold corpora (precision / recall / F1 at P >= 0.5; macro over the labels with gold
support). "generative" and "majority" are fitted on each gold corpus's own votes (no codes
used); for annomi-3rs, "generative, fitted on the labelled corpus" is the model fitted on all of
AnnoMI above, read off the `weak` probabilities of the 23 coded transcripts:

{highlight_lines}

{report.to_markdown(title="Weak labels on AnnoMI", label_counts=False)}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
