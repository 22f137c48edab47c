#!/usr/bin/env python3
"""Download AnnoMI (AnnoMI-full.csv and AnnoMI-simple.csv) from github.com/uccollab/AnnoMI.

Standard library only. Cite Wu et al. (ICASSP 2022; Future Internet 15(3):110, 2023)
when reporting results. Read the files with `rupturekit` (format "annomi").
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

BASE_URL = "https://raw.githubusercontent.com/uccollab/AnnoMI/main/"
FILES = ("AnnoMI-full.csv", "AnnoMI-simple.csv")


class DownloadError(Exception):
    pass


def download(url: str, target: Path, timeout: float) -> None:
    """Fetch `url` into `target` via a temporary file, so a failed download leaves nothing."""
    request = urllib.request.Request(url, headers={"User-Agent": "rupturekit-download-annomi"})
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as r:
            while chunk := r.read(1 << 16):
                out.write(chunk)
        os.chmod(temporary, 0o644)  # mkstemp makes the file private
        os.replace(temporary, target)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"{url}: cannot connect ({exc.reason})") from None
    except (OSError, TimeoutError) as exc:
        raise DownloadError(f"{url}: {exc}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def count_rows(path: Path) -> int:
    """Data rows (the header not counted); csv handles texts that span lines."""
    with path.open(encoding="utf-8", newline="") as handle:
        return max(sum(1 for row in csv.reader(handle) if row) - 1, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("data/annomi"),
                        help="folder to write the files to (default: data/annomi)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the server (default: 60)")
    parser.add_argument("--force", action="store_true",
                        help="download again even if a file is already there")
    args = parser.parse_args(argv)

    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot create {args.out} ({exc.strerror})", file=sys.stderr)
        return 1
    for name in FILES:
        target = args.out / name
        if target.exists() and not args.force:
            print(f"{target}: already there (use --force to download again)")
        else:
            try:
                download(BASE_URL + name, target, args.timeout)
            except DownloadError as exc:
                print(f"error: download failed: {exc}; check the network and try again",
                      file=sys.stderr)
                return 1
        try:
            rows = count_rows(target)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            print(f"error: {target} is not a readable CSV file ({exc}); run with --force",
                  file=sys.stderr)
            return 1
        print(f"{target}: {rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
