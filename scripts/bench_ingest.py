"""Benchmark: ingest the shared AnnoMI full file (9,755 rows -> 8,297 utterances).

Usage: python scripts/bench_ingest.py [--repeats 5] [--data ../shared/data/annomi/AnnoMI-full.csv]
Writes its section of BENCHMARKS.md. Target (issue 2): under 5 s on the 2-core dev machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from benchlib import SHARED_DATA, machine, median_process_seconds, median_seconds, write_section

from rupturekit.reading import IngestConfig, ingest
from rupturekit.records import dumps_jsonl


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "annomi" / "AnnoMI-full.csv")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"error: {args.data} not found; run scripts/download_annomi.py or pass --data", file=sys.stderr)
        return 2

    result = ingest([str(args.data)], IngestConfig())
    utterances = sum(len(t.utterances) for t in result.transcripts)
    in_process, in_runs = median_seconds(
        lambda: dumps_jsonl(ingest([str(args.data)], IngestConfig()).transcripts), args.repeats)
    executable = shutil.which("rupturekit") or str(Path(sys.executable).with_name("rupturekit"))
    with tempfile.TemporaryDirectory() as folder:
        command = [executable, "ingest", str(args.data), "-o", f"{folder}/annomi.jsonl"]
        whole, whole_runs = median_process_seconds(command, args.repeats)

    def row(what, median, runs):
        return f"| {what} | {median:.2f} s | {', '.join(f'{t:.2f}' for t in runs)} | {utterances / median:,.0f} |"

    write_section("bench_ingest", f"""
## Ingest: shared AnnoMI full file

Command: `python scripts/bench_ingest.py --repeats {args.repeats}`
Machine: {machine()}

{len(result.transcripts)} transcripts, {utterances:,} utterances from `AnnoMI-full.csv` (9,755 rows, one per annotator).
Target: under 5 s.

| what | median | runs (s) | utterances/s |
| --- | ---: | --- | ---: |
{row("in process: read, roles, 5-minute segments, JSONL text", in_process, in_runs)}
{row("whole process: `rupturekit ingest AnnoMI-full.csv -o annomi.jsonl`", whole, whole_runs)}
""")
    print(f"in process {in_process:.2f} s, whole process {whole:.2f} s for {utterances} utterances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
