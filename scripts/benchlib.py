"""Shared bits of the benchmark scripts: machine description and BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
SHARED_DATA = ROOT.parent / "shared" / "data"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


def median_process_seconds(command: list[str], repeats: int) -> tuple[float, list[float]]:
    return median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), repeats)


def write_section(name: str, markdown: str) -> None:
    """Replace this benchmark's section of BENCHMARKS.md (or append it)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else (
        "# Benchmarks\n\nEach section is written by its script; rerun the command shown to update it.\n")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.write_text(text, encoding="utf-8")


def annomi_parser(description: str, file: str = "AnnoMI-simple.csv", repeats: int = 3):
    """An argument parser with the --data/--repeats arguments every AnnoMI benchmark takes."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "annomi" / file)
    parser.add_argument("--repeats", type=int, default=repeats)
    return parser


def speed_parser(description: str, repeats: int):
    """`annomi_parser` plus what both tagging-speed benchmarks take (--naive, --no-write, --transcripts)."""
    parser = annomi_parser(description, repeats=repeats)
    parser.add_argument("--naive", type=int, default=2000, help="utterances for the naive pipeline loop")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    parser.add_argument("--transcripts", type=int, default=None, help="only the first N transcripts (smoke test)")
    return parser


def parse_annomi(parser):
    """Parse the command line; exits with one line if the AnnoMI file is missing."""
    import sys

    args = parser.parse_args()
    if not args.data.exists():
        print(f"error: {args.data} not found; run scripts/download_annomi.py or pass --data", file=sys.stderr)
        sys.exit(2)
    return args


def annomi_arguments(description: str, file: str = "AnnoMI-simple.csv", repeats: int = 3):
    """The parsed --data/--repeats arguments (see `annomi_parser`)."""
    return parse_annomi(annomi_parser(description, file, repeats))


def read_quietly(path: Path):
    """Transcripts of a file, without the reader's warnings (AnnoMI has an irregular timestamp;
    reading is not what these benchmarks time)."""
    import warnings

    import rupturekit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rupturekit.read(str(path))
