"""Benchmark: this checkout against an earlier revision, whole commands side by side on the shared AnnoMI
files: `ingest`, `tag` (the default path) and `agree` (the AnnoMI-simple codes against AnnoMI-full's raters).

For a change that should not move speed or results (a restructuring): the two trees run in turn, A B A B
..., in the same environment (this interpreter, with PYTHONPATH set to each tree's src), so the ratios
hold while the machine's speed drifts. Each command's output of the two trees is compared byte for byte
(metrics.json for agree; its paths name the tree's own files, so those are compared as JSON without them).

    python scripts/bench_revisions.py --base 165b267 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, SHARED_DATA, machine, write_section

# the parts of a tree that the commands read: the code, the codebooks, the gold data and the default model
TREE_PARTS = ("src", "configs", "data", "models")


def extract(revision: str, into: Path) -> Path:
    """The tree of `revision` (git archive), unpacked under `into`."""
    archive = into / "tree.tar"
    with archive.open("wb") as handle:
        subprocess.run(["git", "-C", str(ROOT), "archive", revision, *TREE_PARTS], stdout=handle, check=True)
    tree = into / revision
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def commands(work: Path) -> dict[str, list[str]]:
    """Each command's arguments; {out} is replaced by the run's own output path."""
    annomi = SHARED_DATA / "annomi"
    return {
        "ingest": ["ingest", str(annomi / "AnnoMI-full.csv"), "-o", "{out}.jsonl"],
        "tag": ["tag", str(annomi / "AnnoMI-simple.csv"), "-o", "{out}.jsonl"],
        # the two dimensions both sides code (the simple file has no subtype codes)
        "agree": ["agree", "-r", str(work / "full.jsonl"), "-p", str(work / "simple.jsonl"), "--predicted-rater",
                  "annomi", "--codebook", "annomi", "--dimension", "therapist_behaviour", "--dimension",
                  "client_talk_type", "--bootstrap", "200", "--no-figures", "-o", "{out}"],
    }


def run(tree: Path, arguments: list[str], out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    argv = [sys.executable, "-c", "from rupturekit.cli import main; main()",
            *(a.replace("{out}", str(out)) for a in arguments)]
    began = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def output_of(name: str, out: Path) -> bytes:
    if name != "agree":
        return Path(f"{out}.jsonl").read_bytes()
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    metrics.pop("inputs", None)  # names the run's own files
    return json.dumps(metrics, sort_keys=True).encode()


def compare(base: Path, head: Path, work: Path, repeats: int) -> list[dict]:
    rows = []
    for name, arguments in commands(work).items():
        times: dict[str, list[float]] = {"base": [], "head": []}
        outputs: dict[str, bytes] = {}
        for round_ in range(repeats + 1):  # the first round warms caches and is not counted
            for side, tree in (("head", head), ("base", base)):
                out = work / f"{name}-{side}"
                seconds = run(tree, arguments, out)
                if round_:
                    times[side].append(seconds)
                outputs[side] = output_of(name, out)
        ratios = [h / b for h, b in zip(times["head"], times["base"], strict=True)]
        rows.append({"command": name, "base": statistics.median(times["base"]),
                     "head": statistics.median(times["head"]), "ratio": statistics.median(ratios),
                     "ratio_min": min(ratios), "ratio_max": max(ratios),
                     "identical": outputs["head"] == outputs["base"]})
        print(rows[-1], file=sys.stderr)
    return rows


def markdown(rows: list[dict], base: str, head: str, repeats: int) -> str:
    lines = ["## Revisions side by side: this checkout against an earlier one", "",
             f"Command: `python scripts/bench_revisions.py --base {base} --repeats {repeats}`. Machine: {machine()}.",
             f"Head: {head}. Whole processes, the two trees in turn ({repeats} counted rounds after one warm-up); "
             "the ratio is head / base, the median of the round-by-round ratios (min–max beside it). "
             "`agree` compares the AnnoMI-simple codes with AnnoMI-full's raters on therapist behaviour and client "
             "talk type (116 transcripts, 8,297 utterances, 200 bootstrap resamples).",
             "", "| command | base median s | head median s | head / base | range | same output |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        lines.append(f"| `{r['command']}` | {r['base']:.2f} | {r['head']:.2f} | {r['ratio']:.3f} | "
                     f"{r['ratio_min']:.3f}–{r['ratio_max']:.3f} | {'yes' if r['identical'] else '**no**'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the earlier revision (a commit, tag or branch)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="rk-revisions-") as scratch:
        work = Path(scratch)
        base = extract(args.base, work)
        for name in ("full", "simple"):
            run(ROOT, ["ingest", str(SHARED_DATA / "annomi" / f"AnnoMI-{name}.csv"), "-o", str(work / f"{name}.jsonl")],
                work / "unused")
        section = markdown(compare(base, ROOT, work, args.repeats), args.base, head, args.repeats)
    print(section) if args.no_write else write_section("revisions", section)


if __name__ == "__main__":
    main()
