"""Render an HTML report (e.g. the agreement report.html) to a PNG with headless Chromium.

    python scripts/screenshot_report.py out/agree/report.html -o report.png [--width 1280 --height 2400]

Uses /usr/bin/chromium or `chromium` / `chromium-browser` / `google-chrome` on PATH, with a fresh
temporary profile and every background network feature off (the report is self-contained, so
nothing needs fetching). Exit codes: 0 the PNG was written; 2 bad arguments or the report is
missing; 3 "skipped: Chromium not installed"; 1 Chromium failed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXIT_SKIPPED = 3
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(binary: str, report: Path, png: Path, profile: Path, width: int, height: int) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        f"--window-size={width},{height}",
        report.resolve().as_uri(),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot an HTML report with headless Chromium.")
    parser.add_argument("report", type=Path, help="the HTML file")
    parser.add_argument("-o", "--output", type=Path, default=Path("report.png"), help="PNG to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before giving up")
    args = parser.parse_args(argv)

    if not args.report.is_file():
        print(f"error: {args.report}: no such file", file=sys.stderr)
        return 2
    binary = find_chromium()
    if binary is None:
        print("skipped: Chromium not installed")
        return EXIT_SKIPPED
    output = args.output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="rupturekit-chromium-") as profile:
        command = chromium_command(binary, args.report, output, Path(profile), args.width, args.height)
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"error: Chromium did not finish within {args.timeout:g} s", file=sys.stderr)
            return 1
    if result.returncode != 0 or not output.is_file() or output.stat().st_size == 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        print(f"error: Chromium failed (exit {result.returncode}): {' | '.join(tail)}", file=sys.stderr)
        return 1
    print(f"wrote {output} ({output.stat().st_size // 1024} KiB, {args.width}x{args.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
