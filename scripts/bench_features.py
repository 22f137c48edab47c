"""Benchmark: 3RS cue features for every utterance of the shared AnnoMI simple file (8,297 utterances).

Usage: python scripts/bench_features.py [--repeats 3] [--data ../shared/data/annomi/AnnoMI-simple.csv]
Writes its section of BENCHMARKS.md. Target: under 15 s on the 2-core dev machine.
Timed in process, after one warm-up call (which loads spaCy, VADER and the embedding table);
reading the file is not timed.
"""

from __future__ import annotations

import sys
import time

from benchlib import annomi_arguments, machine, median_seconds, read_quietly, write_section

from rupturekit.features import FEATURES, FeatureExtractor


def main() -> int:
    args = annomi_arguments(__doc__.split("\n")[0])
    transcripts = read_quietly(args.data)
    utterances = sum(len(t.utterances) for t in transcripts)

    rows = []
    for embeddings in (True, False):
        extractor = FeatureExtractor(embeddings=embeddings)
        began = time.perf_counter()
        table = extractor(transcripts)  # warm-up: loads the models
        first = time.perf_counter() - began
        assert table.values.shape == (utterances, len(FEATURES))
        median, runs = median_seconds(lambda extractor=extractor: extractor(transcripts), args.repeats)
        what = "all features" if extractor.embeddings_used_ else "all features, `embeddings=False`"
        rows.append(f"| {what} | {median:.2f} s | {', '.join(f'{t:.2f}' for t in runs)} | "
                    f"{utterances / median:,.0f} | {first:.2f} s |")
        print(f"{what}: median {median:.2f} s over {args.repeats} runs ({utterances / median:,.0f} utterances/s); "
              f"first call {first:.2f} s")

    table_rows = "\n".join(rows)
    write_section("bench_features", f"""
## Features: 3RS cue features on the shared AnnoMI simple file

Command: `python scripts/bench_features.py --repeats {args.repeats}`
Machine: {machine()}

{len(transcripts)} transcripts, {utterances:,} utterances from `{args.data.name}`; {len(FEATURES)} features per
utterance (`FeatureExtractor()(transcripts)`, in process; reading the file is not timed). Median of
{args.repeats} runs after one warm-up call. The first row's warm-up ("first call") is the cold start: it also
imports spaCy and loads VADER and the MiniLM embedding table, which the second row reuses. Target: under 15 s.

| what | median | runs (s) | utterances/s | first call |
| --- | ---: | --- | ---: | ---: |
{table_rows}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
