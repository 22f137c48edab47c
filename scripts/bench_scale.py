"""Scaling parts of `scripts/bench_tag.py`: peak memory of the streaming `rupturekit tag` and
`rupturekit ingest` at growing corpus sizes, and Ray with one and two workers against the
single-process engine. Imported by bench_tag.py (which writes the BENCHMARKS.md section); each
part runs whole commands in fresh processes.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

MEMORY_TARGET = 1.5e9  # bytes: peak RSS at 1M utterances, streaming
RAY_TARGET = 1.6  # 2 workers against 1


def iter_repeated(transcripts, count: int):
    """`count` utterances: the transcripts again and again with new ids (`<id>~<round>`), the last
    one cut short; one transcript at a time."""
    total, round_ = 0, 0
    if not any(t.utterances for t in transcripts):
        return
    while total < count:
        for t in transcripts:
            take = t.utterances[: count - total]
            if not take:
                break
            tid = f"{t.transcript_id}~{round_}"
            yield t.model_copy(update={"transcript_id": tid, "utterances": [
                u.model_copy(update={"transcript_id": tid}) for u in take]})
            total += len(take)
            if total >= count:
                break
        round_ += 1


def write_repeated(transcripts, count: int, path: Path) -> int:
    """Canonical JSONL of `iter_repeated`, written as it is made (the benchmark itself stays small)."""
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        for t in iter_repeated(transcripts, count):
            handle.write("".join(u.to_json() + "\n" for u in t.utterances))
            written += len(t.utterances)
    return written


def memory_curve(cli: str, transcripts, sizes: list[int], run_process, scratch: Path,
                 tag_max: int | None = None) -> list[dict]:
    """Peak RSS and wall time of `rupturekit ingest` and `rupturekit tag` (the default path),
    streaming, over corpora of these sizes (`tag` only up to `tag_max` utterances)."""
    rows = []
    for size in sizes:
        corpus = scratch / f"corpus-{size}.jsonl"
        write_repeated(transcripts, size, corpus)
        mb = corpus.stat().st_size / 1e6
        for command, argv in (("ingest", [cli, "ingest", str(corpus), "-o", str(scratch / "ingested.jsonl")]),
                              ("tag", [cli, "tag", str(corpus), "-o", str(scratch / "tagged.jsonl")])):
            if command == "tag" and tag_max is not None and size > tag_max:
                continue
            seconds, peak = run_process(argv, memory=True)
            rows.append({"command": command, "utterances": size, "input_mb": mb, "seconds": seconds, "peak": peak})
            print(f"memory: {command} {size:,} utterances ({mb:,.0f} MB): peak RSS {peak / 2**30:.2f} GiB, "
                  f"{seconds:.0f} s", flush=True)
        corpus.unlink()
    return rows


def memory_section(rows: list[dict], sizes: list[int]) -> tuple[str, str]:
    """(the markdown of the curve, the target row)."""
    lines = ["| command | utterances | input | peak RSS | wall | utterances/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| `rupturekit {r['command']}` | {r['utterances']:,} | {r['input_mb']:,.0f} MB | "
                     f"{r['peak'] / 2**30:.2f} GiB | {r['seconds']:,.0f} s | {r['utterances'] / r['seconds']:,.0f} |")
    largest = max(sizes)
    tagged = [r for r in rows if r["command"] == "tag"]
    tag_largest = max(r["utterances"] for r in tagged)
    worst = max(r["peak"] for r in rows if r["utterances"] == largest)
    worst_tag = max(r["peak"] for r in tagged if r["utterances"] == tag_largest)
    smallest = min(r["peak"] for r in tagged if r["utterances"] == min(sizes))
    met = worst < MEMORY_TARGET and worst_tag < MEMORY_TARGET and largest >= 1_000_000
    verdict = ("**met**" if met and tag_largest >= 1_000_000 else
               f"**met for ingest; tag measured to {tag_largest:,} only**" if met else "**not met**")
    target = (f"| peak RSS < 1.5 GB at 1M utterances, streaming | ingest {worst / 1e9:.2f} GB at {largest:,}; tag "
              f"{smallest / 2**30:.2f} GiB at {min(sizes):,}, {worst_tag / 2**30:.2f} GiB at {tag_largest:,} | "
              f"{verdict} |")
    return "\n".join(lines), target


def ray_runs(cli: str, transcripts, size: int, repeats: int, run_process, scratch: Path) -> dict:
    """Whole-process wall time of the single-process engine and of Ray with 1 and 2 workers on one
    corpus (each Ray run starts its own local instance, so its start-up is in the time), and the
    start-up alone (a one-transcript corpus)."""
    corpus = scratch / "ray-corpus.jsonl"
    write_repeated(transcripts, size, corpus)
    tiny = scratch / "ray-tiny.jsonl"
    write_repeated(transcripts[:1], len(transcripts[0].utterances), tiny)
    commands = {
        "single process (default engine)": [cli, "tag", str(corpus), "-o", str(scratch / "single.jsonl")],
        "ray, 1 worker": [cli, "tag", str(corpus), "--engine", "ray", "--num-workers", "1", "-o",
                          str(scratch / "ray1")],
        "ray, 2 workers": [cli, "tag", str(corpus), "--engine", "ray", "--num-workers", "2", "-o",
                           str(scratch / "ray2")],
        "ray start-up: one transcript (one worker)": [cli, "tag", str(tiny), "--engine", "ray", "--num-workers", "2",
                                                      "-o", str(scratch / "ray-tiny")],
    }
    out: dict = {"manifests": {}}
    for label, command in commands.items():
        runs = [run_process(command)[0] for _ in range(repeats)]
        out[label] = {"median": statistics.median(runs), "runs": runs,
                      "utterances": len(transcripts[0].utterances) if "start-up" in label else size}
        print(f"ray: {label}: median {out[label]['median']:.1f} s", flush=True)
    for name in ("ray1", "ray2"):
        manifest = scratch / name / "manifest.json"
        if manifest.is_file():
            out["manifests"][name] = json.loads(manifest.read_text(encoding="utf-8"))
    return out


def ray_section(runs: dict, repeats: int) -> tuple[str, str]:
    """(the markdown rows, the target row)."""
    lines = ["| engine | utterances | median | runs (s) | utterances/s | vs 1 Ray worker |",
             "| --- | ---: | ---: | --- | ---: | ---: |"]
    one = runs["ray, 1 worker"]["median"]
    for label, r in runs.items():
        if label == "manifests":
            continue
        lines.append(f"| {label} | {r['utterances']:,} | {r['median']:.1f} s | "
                     f"{', '.join(f'{t:.1f}' for t in r['runs'])} | {r['utterances'] / r['median']:,.0f} | "
                     f"{one / r['median']:.2f}x |" if "start-up" not in label else
                     f"| {label} | {r['utterances']:,} | {r['median']:.1f} s | "
                     f"{', '.join(f'{t:.1f}' for t in r['runs'])} | – | – |")
    ratio = one / runs["ray, 2 workers"]["median"]
    startup = runs["ray start-up: one transcript (one worker)"]["median"]
    net = (one - startup) / max(runs["ray, 2 workers"]["median"] - startup, 1e-9)
    target = (f"| Ray: 2 workers ≥ {RAY_TARGET}× one worker | {ratio:.2f}× whole command (medians of {repeats}); "
              f"{net:.2f}× with the start-up ({startup:.1f} s) taken off both | "
              f"{'**met**' if ratio >= RAY_TARGET else '**not met**'} |")
    for name, manifest in runs["manifests"].items():  # the last run's own breakdown
        seconds = manifest.get("seconds", {})
        busy = seconds.get("busy") or 0
        rate = f"{manifest.get('utterances', 0) / busy:,.0f} utterances per busy worker-second" if busy else "–"
        lines.append("")
        lines.append(f"`{name}` (last run), from its manifest: " + ", ".join(
            f"{k} {v:.1f} s" for k, v in seconds.items()) + f"; {rate}.")
    return "\n".join(lines), target
