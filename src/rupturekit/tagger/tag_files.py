"""The files `rupturekit tag` writes besides canonical JSONL: the tags CSV, the HTML page, and tags as
codes for ELAN."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from rupturekit.records import Code, Transcript, Utterance
from rupturekit.safe_output import safe_csv_text
from rupturekit.templating import render

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


@dataclass(frozen=True)
class _Chip:
    css: str  # the label's family, or "other"
    title: str  # shown on hover: score and evidence
    text: str


@dataclass(frozen=True)
class _Turn:
    role: str
    who: str  # start time and speaker
    text: str
    chips: list[_Chip]


@dataclass(frozen=True)
class _Section:
    transcript_id: str
    turns: list[_Turn]


def _escaped(text: str) -> Markup:
    # html.escape's entities (&quot;, &#x27;), as the page has always had; autoescaping would
    # write &#34; and &#39;, and the page would change byte for byte
    return Markup(html.escape(text))


def _chip(u: Utterance, label: str) -> _Chip:
    family = label.split(".", 1)[0]
    css = family if family in ("withdrawal", "confrontation", "resolution") else "other"
    reasons = (u.evidence or {}).get(label, [])
    evidence = "; ".join(f"{name} ({value:.2g})" for name, value in reasons)
    guess = (u.uncertain or {}).get(label)
    score = (u.scores or {}).get(guess or label, 0)
    title = (f"subtype uncertain, most likely {guess} (p = {score:.2f})" if guess else f"p = {score:.2f}") \
        + (f" | {evidence}" if evidence else "")
    text = f"{label} (subtype uncertain)" if guess else label
    return _Chip(css, _escaped(title), _escaped(text))


def _turn(u: Utterance) -> _Turn:
    when = f"{u.start:.0f}s " if u.start is not None else ""
    return _Turn(_escaped(u.role), _escaped(when + u.speaker), _escaped(u.text),
                 [_chip(u, label) for label in u.labels or []])


def write_tags_html(transcripts: list[Transcript], path: Path, model_name: str) -> None:
    """One self-contained page: each turn with its labels; hover a label for score and evidence."""
    sections = [_Section(_escaped(t.transcript_id), [_turn(u) for u in t.utterances]) for t in transcripts]
    page = render("tags.html.j2", model_name=_escaped(model_name), sections=sections)
    path.write_text(page, encoding="utf-8")
