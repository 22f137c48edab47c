"""Write tagged transcripts: canonical JSONL (+ labels, scores, evidence), CSV, ELAN, HTML."""

from __future__ import annotations

import html
import json
from pathlib import Path

from rupturekit.records import Code, Transcript
from rupturekit.safe_output import safe_csv_text

TAG_FORMATS = ("jsonl", "csv", "eaf", "html")


def with_tags_as_codes(transcripts: list[Transcript], rater: str) -> list[Transcript]:
    """Copies where each utterance's predicted labels are also codes of `rater` (for ELAN review).

    `rater` is a machine rater (``model:<name>``, see `rupturekit.codes.machine_rater`): earlier
    codes of that rater (tagging a file that an earlier `tag --format eaf` wrote) are replaced,
    and every other rater's codes are kept."""
    return [t.model_copy(update={"utterances": [
        u.model_copy(update={"codes": [*(c for c in u.codes if c.rater != rater),
                                       *(Code(rater=rater, label=label)
                                         for label in u.labels or [])]})
        for u in t.utterances]}) for t in transcripts]


TAG_CSV_HEADER = ["transcript_id", "utterance_id", "speaker", "role", "start", "end", "text", "labels",
                  "uncertain", "scores"]


def _tag_row(u) -> list:
    return [u.transcript_id, u.utterance_id, u.speaker, u.role, "" if u.start is None else u.start,
            "" if u.end is None else u.end, u.text, ";".join(u.labels or []),
            ";".join(f"{family}={guess}" for family, guess in (u.uncertain or {}).items()),
            json.dumps({k: round(v, 4) for k, v in (u.scores or {}).items()})]


def tags_csv_text(transcripts: list[Transcript], header: bool = True) -> str:
    """The CSV of tagged transcripts, one row per utterance (and the header row first, with
    `header`): pieces of one file when written unit by unit."""
    return safe_csv_text((_tag_row(u) for t in transcripts for u in t.utterances),
                         TAG_CSV_HEADER if header else None)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ccc;padding-bottom:.3rem}
.turn{display:grid;grid-template-columns:7rem 1fr;gap:.6rem;padding:.35rem 0;border-bottom:1px solid #eee}
.who{font-weight:600;color:#555}.therapist .who{color:#1f5fa8}.client .who{color:#8a3b12}
.tag{display:inline-block;font-size:.8rem;border-radius:.6rem;padding:0 .5rem;margin:.15rem .25rem 0 0}
.withdrawal{background:#fde2c8}.confrontation{background:#f8c9c9}.resolution{background:#cfe8d4}
.other{background:#e3e3f3}.note{color:#666;font-size:.85rem}
"""


def write_tags_html(transcripts: list[Transcript], path: Path, model_name: str) -> None:
    """One self-contained page: each turn with its labels; hover a label for score and evidence."""
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8><title>rupturekit tags</title>"
             f"<style>{_STYLE}</style><h1>rupturekit tags</h1>"
             f"<p class=note>Model: {html.escape(model_name)}. Research tool, not a clinical instrument.</p>"]
    for transcript in transcripts:
        parts.append(f"<h2>{html.escape(transcript.transcript_id)}</h2>")
        for u in transcript.utterances:
            chips = []
            for label in u.labels or []:
                family = label.split(".", 1)[0]
                css = family if family in ("withdrawal", "confrontation", "resolution") else "other"
                reasons = (u.evidence or {}).get(label, [])
                evidence = "; ".join(f"{name} ({value:.2g})" for name, value in reasons)
                guess = (u.uncertain or {}).get(label)
                score = (u.scores or {}).get(guess or label, 0)
                title = (f"subtype uncertain, most likely {guess} (p = {score:.2f})" if guess else f"p = {score:.2f}") \
                    + (f" | {evidence}" if evidence else "")
                text = f"{label} (subtype uncertain)" if guess else label
                chips.append(f'<span class="tag {css}" title="{html.escape(title)}">{html.escape(text)}</span>')
            when = f"{u.start:.0f}s " if u.start is not None else ""
            parts.append(f'<div class="turn {html.escape(u.role)}"><div class=who>{when}{html.escape(u.speaker)}</div>'
                         f"<div>{html.escape(u.text)}<div>{''.join(chips)}</div></div></div>")
    path.write_text("".join(parts) + "</html>\n", encoding="utf-8")
