"""Benchmark: `rupturekit train configs/annomi.yaml` as a user runs it on this machine, whole process.

Usage: python scripts/bench_train_annomi.py [--annomi ../shared/data/annomi] [--config configs/annomi.yaml]

Three runs, each a fresh `rupturekit` process, timed from start to exit:
1. cold: an empty cache folder ($RUPTUREKIT_CACHE), so the encoder runs over the whole corpus
   and the hybrid's cue features and out-of-fold baseline scores are computed;
2. warm: the same command again (vectors, cue features and baseline scores read from the cache),
   into a new folder;
3. `rupturekit tag AnnoMI-simple.csv --model DIR`: every therapist and client utterance must get
   one label of its own dimension (the acceptance check), counted here.
Writes its section of BENCHMARKS.md (targets: cold <= 10 min, warm <= 2 min on the 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, SHARED_DATA, machine, write_section

TARGETS = {"cold": 600, "warm": 120}


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    if done.returncode:
        sys.exit(f"error: {' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds, done.stderr + done.stdout


def main() -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annomi", type=Path, default=SHARED_DATA / "annomi")
    parser.add_argument("--config", default="configs/annomi.yaml")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    full, simple = args.annomi / "AnnoMI-full.csv", args.annomi / "AnnoMI-simple.csv"
    if not full.exists():
        print(f"error: {full} not found; pass --annomi", file=sys.stderr)
        return 2
    rk = str(Path(sys.executable).with_name("rupturekit"))
    with tempfile.TemporaryDirectory(prefix="bench-train-") as scratch:
        work = Path(scratch)
        env = {**os.environ, "RUPTUREKIT_CACHE": str(work / "cache"), "PYTHONWARNINGS": "ignore"}
        train = [rk, "train", args.config, "--set", f"data.0.path={full}"]
        cold, log = timed([*train, "-o", str(work / "cold")], env)
        print(f"cold: {cold:.0f} s")
        said = [line for line in log.splitlines() if line.startswith(("encoder mode", "encoder vectors",
                                                                       "transformer ("))]
        warm, _ = timed([*train, "-o", str(work / "warm")], env)
        print(f"warm: {warm:.0f} s")
        tag, _ = timed([rk, "tag", str(simple), "--model", str(work / "warm"), "-o", str(work / "tags.jsonl")], env)
        manifest = json.loads((work / "warm" / "model.json").read_text())
        roles = {t["name"]: t["role"] for t in manifest["tasks"]}
        counts = {"utterances": 0, "own label": 0, "no label": 0, "other dimension": 0, "empty text": 0}
        for line in (work / "tags.jsonl").read_text().splitlines():
            record = json.loads(line)
            for u in record.get("utterances", [record]):
                if u["role"] not in roles.values():
                    continue
                counts["utterances"] += 1
                own = [label for label in u.get("labels", []) if roles.get(label.split(".")[0]) == u["role"]]
                other = [label for label in u.get("labels", []) if label not in own]
                if not u["text"].strip():
                    counts["empty text"] += 1
                elif len(own) == 1 and not other:
                    counts["own label"] += 1
                elif other:
                    counts["other dimension"] += 1
                else:
                    counts["no label"] += 1
        size = sum(p.stat().st_size for p in (work / "warm").rglob("*") if p.is_file() and "checkpoint" not in p.parts)
    verdict = {k: ("met" if s <= TARGETS[k] else f"missed by {s - TARGETS[k]:.0f} s") for k, s in
               (("cold", cold), ("warm", warm))}
    text = f"""
## Training the AnnoMI tagger on this CPU, whole process

Command: `python scripts/bench_train_annomi.py` (runs `rupturekit train {args.config}` twice, then `rupturekit tag`)
Machine: {machine()}

What the cold run said about the encoder:

{chr(10).join("    " + line for line in said)}

| run | seconds | target | |
| --- | ---: | ---: | --- |
| cold cache (encoding, cue features, baseline out of fold, training) | {cold:.0f} | {TARGETS['cold']} \
| {verdict['cold']} |
| warm cache: the same command again | {warm:.0f} | {TARGETS['warm']} | {verdict['warm']} |
| `rupturekit tag AnnoMI-simple.csv --model DIR` ({counts['utterances']:,} therapist and client turns) \
| {tag:.0f} | | |

Model folder (without the resumable `checkpoint/`): {size / 2**20:.1f} MiB. Tagging AnnoMI with it:
{counts['own label']:,} of {counts['utterances']:,} therapist and client utterances got one label of their own
dimension; {counts['no label']} got none, {counts['other dimension']} a label of the other role's dimension,
{counts['empty text']} have no text (no tag by design).
"""
    if not args.no_write:
        write_section("bench_train_annomi", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
