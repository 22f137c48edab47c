"""Timing helper for the Ray engine: `tag_with_ray` with 1 and with 2 workers on AnnoMI repeated until
the corpus holds --utterances utterances, each call starting its own local Ray instance; prints JSON.

Per run: the whole call (seconds), Ray's start-up (ray.init), the slowest actor's model load, the
workers' busy time (reading and tagging units, summed over workers) and from it one worker's rate
(utterances per busy second), which is what the README's sizing table scales from. The speed-up of
2 workers over 1 is given for the whole call and net of start-up and model load.

Usage: python scripts/bench_ray.py [--utterances 30000] [--workers 1,2] [--repeats 1] [--runtime auto]
                                   [--data ../shared/data/annomi/AnnoMI-simple.csv]
Run it on an otherwise idle machine: on 2 cores any other job distorts every number.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import annomi_parser, machine, parse_annomi, read_quietly


def arguments() -> argparse.Namespace:
    parser = annomi_parser(__doc__.split("\n")[0], repeats=1)
    parser.add_argument("--utterances", type=int, default=30_000, help="corpus size (AnnoMI repeated)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to time")
    parser.add_argument("--runtime", default="auto", help="auto, torch or onnx")
    parser.add_argument("--model", default="default")
    return parse_annomi(parser)


def write_corpus(transcripts, count: int, path: Path) -> int:
    """Canonical JSONL of `count` utterances: the transcripts again and again, new ids `<id>~<round>`."""
    written, round_ = 0, 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < count:
            for transcript in transcripts:
                take = transcript.utterances[: count - written]
                if not take:
                    break
                tid = f"{transcript.transcript_id}~{round_}"
                handle.write("".join(u.model_copy(update={"transcript_id": tid}).to_json() + "\n" for u in take))
                written += len(take)
            round_ += 1
    return written


def one_run(corpus: Path, out: Path, workers: int, args: argparse.Namespace) -> dict:
    from rupturekit.ingest.batch import IngestConfig
    from rupturekit.tagger.ray_engine import RayOptions, tag_with_ray

    began = time.perf_counter()
    result = tag_with_ray([str(corpus)], args.model, out, RayOptions(num_workers=workers, runtime=args.runtime),
                          IngestConfig())
    seconds = time.perf_counter() - began
    fixed = result.check_seconds + result.startup_seconds + result.load_seconds
    return {"workers": workers, "seconds": round(seconds, 2), "check_seconds": round(result.check_seconds, 2),
            "startup_seconds": round(result.startup_seconds, 2), "load_seconds": round(result.load_seconds, 2),
            "pipeline_seconds": round(result.pipeline_seconds, 2), "busy_seconds": round(result.busy_seconds, 2),
            "net_seconds": round(seconds - fixed, 2), "units": result.units, "utterances": result.utterances,
            "runtime": result.runtime, "utterances_per_second": round(result.utterances / seconds, 1),
            "per_worker_rate": round(result.utterances / result.busy_seconds, 1) if result.busy_seconds else None}


def main() -> None:
    args = arguments()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:
        corpus = Path(scratch) / "corpus.jsonl"
        size = write_corpus(read_quietly(args.data), args.utterances, corpus)
        runs: dict[int, list[dict]] = {n: [] for n in counts}
        for _ in range(args.repeats):
            for n in counts:
                runs[n].append(one_run(corpus, Path(scratch) / f"out-{n}", n, args))
                print(json.dumps(runs[n][-1]), file=sys.stderr, flush=True)
    median = {n: {key: statistics.median(r[key] for r in rows) for key in ("seconds", "net_seconds",
                                                                             "startup_seconds", "load_seconds")}
              for n, rows in runs.items()}
    report = {"machine": machine(), "load_average": os.getloadavg(), "utterances": size, "repeats": args.repeats,
              "runs": runs, "median": median}
    if 1 in median and 2 in median:
        report["speedup_2_vs_1"] = round(median[1]["seconds"] / median[2]["seconds"], 3)
        report["net_speedup_2_vs_1"] = round(median[1]["net_seconds"] / median[2]["net_seconds"], 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
