"""Merge blind 3RS coding passes and their adjudication into data/gold/annomi-3rs/codes.csv.

    python scripts/build_annomi_3rs.py --pass-a DIR --pass-b DIR --adjudicated DIR [--check-only]

Each pass folder holds one ``<transcript_id>.jsonl`` per transcript, one object per utterance:
``{"transcript_id", "utterance_id", "role", "labels": [...]}`` (the format of
``../shared/coding/blind-pass-brief.md``). The adjudication folder holds, per transcript with
disagreements, one object per disputed utterance: ``{"transcript_id", "utterance_id", "labels",
"note"}``. Where the passes agree, the adjudicated code is their common code (note "passes agree").

Checks before anything is written (exit 2 with one line otherwise): every AnnoMI utterance of
every coded transcript is coded once by each pass with the right role; labels are in the 3RS
codebook and fit the role; every disputed utterance is adjudicated, and nothing else is. The
existing rows of other raters (the project team's ``team`` codes) are kept byte for byte; rows of
``pass-a``, ``pass-b`` and ``adjudicated`` are replaced. The file is written atomically. No AnnoMI
text is written: codes and ids only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rupturekit.codebook import load_codebook  # noqa: E402
from rupturekit.gold import default_annomi_dir, gold_dir  # noqa: E402

RATERS = ("pass-a", "pass-b", "adjudicated")
FIELDS = ["transcript_id", "utterance_id", "rater", "label", "note"]
Key = tuple[str, int]


class Problem(Exception):
    pass


def read_annomi_roles(annomi: Path) -> dict[Key, str]:
    with (annomi / "AnnoMI-simple.csv").open(newline="", encoding="utf-8") as handle:
        return {(row["transcript_id"], int(row["utterance_id"])): row["interlocutor"]
                for row in csv.DictReader(handle)}


def checked_labels(record: dict, key: Key, roles: dict[Key, str], valid: dict[str, str], where: str) -> list[str]:
    """The record's labels, sorted and unique, each a 3RS label of the turn's role."""
    labels = sorted(set(record["labels"]))
    for label in labels:
        if valid.get(label) != roles[key]:
            raise Problem(f"{where}: label {label!r} is not a 3RS label for a {roles[key]} turn")
    return labels


def records(folder: Path):
    """(where, key, record) of every line of every .jsonl file in `folder`, in file and line order."""
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                record = json.loads(line)
                yield f"{path}:{number}", (str(record["transcript_id"]), int(record["utterance_id"])), record


def read_pass(folder: Path, roles: dict[Key, str], valid: dict[str, str]) -> dict[Key, list[str]]:
    out: dict[Key, list[str]] = {}
    for where, key, record in records(folder):
        if key in out:
            raise Problem(f"{where}: utterance {key} coded twice")
        if key not in roles:
            raise Problem(f"{where}: utterance {key} is not in AnnoMI")
        if record.get("role", roles[key]) != roles[key]:
            raise Problem(f"{where}: role {record.get('role')} but AnnoMI says {roles[key]}")
        out[key] = checked_labels(record, key, roles, valid, where)
    return out


def build(pass_a: Path, pass_b: Path, adjudicated: Path, codes_csv: Path, annomi: Path) -> tuple[str, dict]:
    codebook = load_codebook("3rs")
    valid = {label.name: dimension.role for dimension in codebook.dimensions if dimension.multi_label
             for label in dimension.labels}
    roles = read_annomi_roles(annomi)
    a, b = read_pass(pass_a, roles, valid), read_pass(pass_b, roles, valid)
    transcripts = sorted({k[0] for k in a} | {k[0] for k in b}, key=int)
    for tid in transcripts:
        expected = {k for k in roles if k[0] == tid}
        for name, coded in (("pass-a", a), ("pass-b", b)):
            have = {k for k in coded if k[0] == tid}
            if have != expected:
                raise Problem(f"{name}: transcript {tid} has {len(have)} of its {len(expected)} utterances coded")
    disputed = {k for k in a if a[k] != b[k]}
    decided: dict[Key, tuple[list[str], str]] = {}
    for where, key, record in records(adjudicated):
        if key not in disputed:
            raise Problem(f"{where}: utterance {key} was not disputed")
        labels = checked_labels(record, key, roles, valid, where)
        note = " ".join(str(record.get("note", "")).split())
        if not note:
            raise Problem(f"{where}: an adjudicated code needs a note")
        decided[key] = (labels, note)
    missing = disputed - set(decided)
    if missing:
        raise Problem(f"{len(missing)} disputed utterances are not adjudicated, e.g. {sorted(missing)[:3]}")

    kept: list[dict[str, str]] = []
    with codes_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["rater"] not in RATERS:
                kept.append(row)
    rows = list(kept)
    order = sorted(a, key=lambda k: (int(k[0]), k[1]))
    for rater in RATERS:
        for key in order:
            if rater == "adjudicated":
                labels, note = decided.get(key, (a[key], "passes agree"))
            else:
                labels, note = (a if rater == "pass-a" else b)[key], ""
            for label in labels or ["none"]:
                rows.append({"transcript_id": key[0], "utterance_id": str(key[1]), "rater": rater, "label": label,
                             "note": note})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    summary = {"transcripts": len(transcripts), "utterances": len(order), "disputed": len(disputed),
               "kept_rows": len(kept), "rows": len(rows)}
    return buffer.getvalue(), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pass-a", type=Path, required=True)
    parser.add_argument("--pass-b", type=Path, required=True)
    parser.add_argument("--adjudicated", type=Path, required=True)
    parser.add_argument("--annomi-dir", type=Path, default=None)
    parser.add_argument("--check-only", action="store_true", help="check everything, write nothing")
    args = parser.parse_args(argv)
    target = gold_dir() / "annomi-3rs" / "codes.csv"
    try:
        text, summary = build(args.pass_a, args.pass_b, args.adjudicated, target,
                              args.annomi_dir or default_annomi_dir())
    except (Problem, OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    if not args.check_only:
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
