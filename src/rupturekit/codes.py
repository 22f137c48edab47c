"""Human codes: read them in long format, check them against a codebook, attach them to
utterances keeping every rater's codes, and derive consensus views on demand.

Long format is one row per (utterance, rater, label): ``transcript_id, utterance_id,
rater, label`` plus optional ``rating`` (for 1-5 scales) and ``note``. A row whose
label is the codebook's none label (``none``) records "coded, nothing applies".

Raters are namespaced: machine codes are by ``model:<name>`` (`rupturekit tag`) or
``weak:<name>`` (`rupturekit weak-label`), and human codes may not use those names (nor plain
``model`` / ``weak``), so machine codes never replace or mix with a human rater's codes.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rupturekit.bounded import allow_csv_fields
from rupturekit.codebook import Codebook, Dimension
from rupturekit.errors import InputError
from rupturekit.records import Code, Transcript, Utterance, json_objects
from rupturekit.safe_output import safe_csv_writer, unescape_cell
from rupturekit.source import Source

LONG_COLUMNS = ("transcript_id", "utterance_id", "rater", "label")
OPTIONAL_COLUMNS = ("rating", "note")
# How several raters' codes become one target: majority / any / unanimous give labels (a consensus
# view); soft gives each label's share of the raters (`label_shares`), a training target only.
Consensus = Literal["majority", "any", "unanimous", "soft"]
CONSENSUS_VIEWS = ("majority", "any", "unanimous")  # the rules that give labels (codes as rows)
_EXAMPLES = 3
MACHINE_KINDS = ("model", "weak")


# ------------------------------------------------------------------ rater names


def machine_rater(kind: Literal["model", "weak"], name: str) -> str:
    """The rater name of machine codes: ``model:<name>`` or ``weak:<name>``."""
    return f"{kind}:{name.strip() or 'unnamed'}"


def is_machine_rater(rater: str) -> bool:
    """A name reserved for machine codes: ``model``, ``weak``, or one starting ``model:`` / ``weak:``
    (in any case). Plain ``model`` / ``weak`` are what older versions wrote for machine codes."""
    name = rater.strip().casefold()
    return any(name == kind or name.startswith(f"{kind}:") for kind in MACHINE_KINDS)


def check_human_raters(rows: Iterable[CodeRow], file: str) -> None:
    """Human codes may not use a reserved machine rater name."""
    for row in rows:
        if is_machine_rater(row.rater):
            raise InputError(file, f"rater name '{row.rater}' is reserved for machine codes (model:NAME from "
                                   f"`rupturekit tag`, weak:NAME from `rupturekit weak-label`; at {row.where})",
                             "import human codes under another name with --rater NAME")


def resolve_rater(name: str, present: Iterable[str]) -> str | None:
    """`name` if a rater of that name is present; for plain ``model`` / ``weak`` (as older files and
    commands say) the one ``model:*`` / ``weak:*`` rater present; else None."""
    present = sorted(set(present))
    if name in present:
        return name
    if name in MACHINE_KINDS:
        matches = [rater for rater in present if rater.startswith(f"{name}:")]
        if len(matches) == 1:
            return matches[0]
    return None


@dataclass(frozen=True)
class CodeRow:
    """One rater's label on one utterance, with where it was read (for messages)."""

    transcript_id: str
    utterance_id: int
    rater: str
    label: str
    rating: float | None = None
    note: str | None = None
    where: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.transcript_id, self.utterance_id)

    def to_code(self) -> Code:
        return Code(rater=self.rater, label=self.label, rating=self.rating, note=self.note)


# ------------------------------------------------------------------ reading


def _row(values: dict, file: str, location: str, unescape: bool = False) -> CodeRow:
    missing = [column for column in LONG_COLUMNS if values.get(column) in (None, "")]
    if missing:
        raise InputError(file, f"empty or missing {', '.join(missing)}",
                         "give every code row a transcript_id, utterance_id, rater and label", location=location)
    try:
        utterance_id = int(str(values["utterance_id"]).strip())
    except ValueError:
        raise InputError(file, f"utterance_id '{values['utterance_id']}' is not a whole number",
                         "use the utterance ids of the canonical JSONL", location=location) from None
    rating = values.get("rating")
    if rating in ("", None):
        rating = None
    else:
        try:
            rating = float(rating)
        except (TypeError, ValueError):
            raise InputError(file, f"rating '{rating}' is not a number", "use a number such as 1-5, or leave it empty",
                             location=location) from None
    note = values.get("note")
    if unescape:  # our own CSV outputs escape text a spreadsheet would run as a formula
        values = {key: unescape_cell(value) if isinstance(value, str) else value for key, value in values.items()}
        note = values.get("note")
    return CodeRow(str(values["transcript_id"]).strip(), utterance_id, str(values["rater"]).strip(),
                   str(values["label"]).strip(), rating, note if note not in ("", None) else None,
                   f"{file}:{location}")


def read_long_codes(path: str | Path) -> list[CodeRow]:
    """Codes in long format from CSV, TSV or JSONL; every problem names its line."""
    source = Source(Path(path))
    file, text = source.name, source.text
    rows: list[CodeRow] = []
    if text.lstrip().startswith("{"):
        return [_row(values, file, f"line {number}") for number, values in json_objects(text, file)]
    delimiter = "\t" if source.path.suffix.lower() in (".tsv", ".tab") else ","
    allow_csv_fields(text)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in LONG_COLUMNS if column not in header]
    if missing:
        raise InputError(file, f"the header lacks {', '.join(missing)} (it has: {', '.join(header)})",
                         "codes in long format need the columns transcript_id, utterance_id, rater, label",
                         location="line 1")
    reader.fieldnames = header
    line_of_row = 1
    for values in reader:
        rows.append(_row(values, file, f"line {line_of_row + 1}", unescape=True))
        line_of_row = reader.line_num
    return rows


def rows_from_transcripts(transcripts: Iterable[Transcript]) -> list[CodeRow]:
    """The codes that ingest already attached (AnnoMI, ELAN code tiers, canonical JSONL)."""
    return [
        CodeRow(u.transcript_id, u.utterance_id, code.rater, code.label, code.rating, code.note,
                f"{u.transcript_id}#{u.utterance_id}")
        for t in transcripts for u in t.utterances for code in u.codes
    ]


# ------------------------------------------------------------------ checking


def _first(items: list[str]) -> str:
    shown = ", ".join(items[:_EXAMPLES])
    return shown + (f" and {len(items) - _EXAMPLES} more" if len(items) > _EXAMPLES else "")


def check_labels(rows: Iterable[CodeRow], codebook: Codebook, file: str, *, any_known: bool | None = None) -> None:
    """Every label must be in the codebook; an unknown one names the nearest valid labels.

    When several labels are unknown and none is known (`any_known`, by default: a label of the
    rows is in the codebook), the codes are taken to be another codebook's, and the hint says how
    to name it instead of suggesting look-alike labels."""
    rows = list(rows)
    unknown: dict[str, list[CodeRow]] = defaultdict(list)
    for row in rows:
        if not codebook.is_valid(row.label):
            unknown[row.label].append(row)
    if not unknown:
        return
    if any_known is None:
        any_known = any(codebook.dimension_of(row.label) is not None for row in rows)
    label, bad = next(iter(unknown.items()))
    near = codebook.suggest(label)
    others = f"; {len(unknown) - 1} other unknown labels too" if len(unknown) > 1 else ""
    if len(unknown) > 1 and not any_known:
        hint = (f"no label is in codebook '{codebook.name}': for codes of your own codebook, pass --codebook NAME "
                "and --codebook-dir FOLDER (the folder holding NAME.yaml)")
    elif near:
        hint = f"did you mean {' or '.join(near)}?"
    else:
        hint = f"use labels from `rupturekit codebook show {codebook.name}`"
    raise InputError(file, f"unknown label '{label}' in codebook '{codebook.name}' ({len(bad)} rows, first at "
                           f"{bad[0].where}){others}", hint)


def check_rows(rows: list[CodeRow], codebook: Codebook, roles: dict[tuple[str, int], str], file: str) -> None:
    """Labels valid and fit the speaker's role; no rater codes one utterance twice in a
    single-label dimension (or gives the same label twice)."""
    check_labels(rows, codebook, file)
    seen: dict[tuple[str, int, str, str], CodeRow] = {}
    for row in rows:
        role = roles.get(row.key)
        dimension = codebook.dimension_of(row.label)
        if dimension is not None and role is not None and role not in ("unknown",) and not dimension.applies_to(role):
            raise InputError(file, f"label '{row.label}' is for {dimension.role} utterances, but "
                                   f"{row.transcript_id}#{row.utterance_id} is a {role} utterance (at {row.where})",
                             "check the utterance id, or the speaker's role in the corpus")
        slot = row.label if dimension is None or dimension.multi_label else dimension.name
        key = (row.transcript_id, row.utterance_id, row.rater, slot)
        if key in seen:
            earlier = seen[key]
            what = (f"gives label '{row.label}' twice" if earlier.label == row.label else
                    f"codes it twice in single-label dimension '{slot}' ('{earlier.label}' and '{row.label}')")
            raise InputError(file, f"rater '{row.rater}' {what} on {row.transcript_id}#{row.utterance_id} "
                                   f"(at {earlier.where} and {row.where})",
                             "keep one code per rater and utterance in a single-label dimension")
        seen[key] = row


def attach_codes(transcripts: list[Transcript], rows: list[CodeRow], file: str,
                 replace: bool = False, covered: Iterable[tuple[str, str]] | None = None) -> list[Transcript]:
    """Copies of `transcripts` with `rows` added to their utterances' codes.

    The input covers (rater, transcript) pairs: `covered`, which defaults to the pairs of `rows`
    (a reviewed ELAN file covers its whole transcript, even where its tier is empty). A rater's
    codes on a transcript the input does not cover are always kept.

    Raises InputError, before changing anything, when rows refer to transcripts or utterances
    that do not exist, or, unless `replace`, when a rater already has codes on a covered
    transcript. With `replace`, those codes are replaced, and no others.
    """
    utterances = {(u.transcript_id, u.utterance_id): u for t in transcripts for u in t.utterances}
    missing = [row for row in rows if row.key not in utterances]
    if missing:
        transcript_ids = {t.transcript_id for t in transcripts}
        no_transcript = sorted({r.transcript_id for r in missing if r.transcript_id not in transcript_ids})
        no_utterance = [r for r in missing if r.transcript_id in transcript_ids]
        parts = []
        if no_transcript:
            parts.append(f"{len(no_transcript)} unknown transcripts ({_first([repr(t) for t in no_transcript])})")
        if no_utterance:
            parts.append(f"{len(no_utterance)} rows for utterances that do not exist "
                         f"({_first([f'{r.transcript_id}#{r.utterance_id} at {r.where}' for r in no_utterance])})")
        raise InputError(file, f"{len(missing)} of {len(rows)} code rows match no utterance: {'; '.join(parts)}",
                         "check the ids against the corpus (rupturekit info), or ingest those transcripts first")
    pairs = {(row.rater, row.transcript_id) for row in rows} | set(covered or ())
    clashes = sorted({(c.rater, u.transcript_id) for u in utterances.values() for c in u.codes} & pairs)
    if clashes and not replace:
        raters = sorted({rater for rater, _ in clashes})
        where = _first(sorted({repr(tid) for _, tid in clashes}))
        raise InputError(file, f"the corpus already has codes by rater {', '.join(repr(r) for r in raters)} on "
                               f"transcript {where}",
                         "import as another rater (--rater), or pass --replace to replace that rater's codes "
                         "on the transcripts this input covers")
    by_key: dict[tuple[str, int], list[Code]] = defaultdict(list)
    for row in rows:
        by_key[row.key].append(row.to_code())
    copies = []
    for transcript in transcripts:
        new_utterances = []
        for utterance in transcript.utterances:
            kept = [c for c in utterance.codes if (c.rater, utterance.transcript_id) not in pairs]
            added = by_key.get((utterance.transcript_id, utterance.utterance_id), [])
            new_utterances.append(utterance.model_copy(update={"codes": kept + added}))
        copies.append(transcript.model_copy(update={"utterances": new_utterances}))
    return copies


def out_of_codebook(transcripts: Iterable[Transcript], codebook: Codebook,
                    raters: Iterable[str] | None = None) -> Counter[str]:
    """Labels (with counts) of the codes, of `raters` or of everyone, that are neither a label of
    `codebook` nor its none label: what a codebook-based view cannot use."""
    allowed = set(raters) if raters is not None else None
    return Counter(code.label for t in transcripts for u in t.utterances for code in u.codes
                   if (allowed is None or code.rater in allowed) and not codebook.is_valid(code.label))


def describe_unknown(unknown: Counter[str]) -> str:
    """'5 codes (withdrawl.denial x3, x.y x2)': counts and the most common labels."""
    shown = ", ".join(f"{label} x{n}" for label, n in unknown.most_common(_EXAMPLES))
    more = f" and {len(unknown) - _EXAMPLES} more labels" if len(unknown) > _EXAMPLES else ""
    total = sum(unknown.values())
    return f"{total} code{'s' * (total != 1)} ({shown}{more})"


# ------------------------------------------------------------------ consensus


def raters_of(utterance: Utterance, codebook: Codebook, dimension: Dimension) -> set[str]:
    """Raters who coded this utterance in this dimension; a none code counts for every
    dimension that applies to the utterance's role. Machine raters included."""
    none_counts = dimension.applies_to(utterance.role)
    return {c.rater for c in utterance.codes
            if (c.label == codebook.none_label and none_counts) or codebook.dimension_of(c.label) == dimension}


def _coders(utterance: Utterance, codebook: Codebook, dimension: Dimension,
            raters: Iterable[str] | None) -> set[str]:
    """`raters_of`, restricted to `raters`; without `raters`, the human raters (see `consensus_labels`)."""
    allowed = set(raters) if raters is not None else None
    return {r for r in raters_of(utterance, codebook, dimension)
            if (r in allowed if allowed is not None else not _namespaced_machine(r))}


def _no_view(how: str) -> None:
    if how == "soft":
        raise ValueError("consensus 'soft' gives each label's share of the raters, not labels: it is a training "
                         "target (a data source's consensus), not a consensus view of the codes; use majority, "
                         "any or unanimous, or label_shares for the shares")
    if how not in CONSENSUS_VIEWS:
        raise ValueError(f"consensus '{how}' is not one of {', '.join(CONSENSUS_VIEWS)}")


def consensus_labels(utterance: Utterance, codebook: Codebook, dimension: Dimension,
                     how: Consensus = "majority", raters: Iterable[str] | None = None) -> list[str] | None:
    """Labels of `dimension` on which the raters agree; None when nobody coded it.

    majority: given by more than half of the raters who coded the utterance (for a
    single-label dimension at most one label can pass); any: given by at least one;
    unanimous: given by all of them. [] means they agree that no label applies.
    Without `raters`, the human raters: machine codes (``model:*``, ``weak:*``) count only when
    named in `raters`, so that a weak-labelled corpus never votes in a human consensus.
    ``soft`` gives no labels (ValueError): see `label_shares`.
    """
    _no_view(how)
    coders = _coders(utterance, codebook, dimension, raters)
    if not coders:
        return None
    votes = Counter()
    for code in utterance.codes:
        if code.rater in coders and codebook.dimension_of(code.label) == dimension:
            votes[code.label] += 1
    needed = {"majority": len(coders) // 2 + 1, "any": 1, "unanimous": len(coders)}[how]
    return sorted(label for label, n in votes.items() if n >= needed)


def label_shares(utterance: Utterance, codebook: Codebook, dimension: Dimension,
                 raters: Iterable[str] | None = None,
                 key: Callable[[str], str] | None = None) -> dict[str, float] | None:
    """The ``soft`` consensus: per label of `dimension`, the share of the raters who coded the
    utterance (`raters_of`; restricted to `raters`, or without it the human raters, as in
    `consensus_labels`) that gave it. None when nobody coded it; {} when every one of them coded
    ``none``. Labels nobody gave are left out.

    `key` maps a label to the name it counts under (e.g. its family): a rater who gave two labels
    of one name counts once, so a share never exceeds 1. With one rater every share is 1, the
    labels being those `consensus_labels` gives under any rule. The shares of a single-label
    dimension sum to 1 unless some raters coded ``none``.
    """
    coders = _coders(utterance, codebook, dimension, raters)
    if not coders:
        return None
    givers: dict[str, set[str]] = defaultdict(set)
    for code in utterance.codes:
        if code.rater in coders and codebook.dimension_of(code.label) == dimension:
            givers[key(code.label) if key is not None else code.label].add(code.rater)
    return {name: len(who) / len(coders) for name, who in sorted(givers.items())}


def _namespaced_machine(rater: str) -> bool:
    # Plain "model" / "weak" may be human raters of older corpora: only namespaced names are
    # known to be machine codes.
    return is_machine_rater(rater) and ":" in rater


def consensus_rows(transcripts: Iterable[Transcript], codebook: Codebook, how: Consensus = "majority",
                   raters: Iterable[str] | None = None) -> list[CodeRow]:
    """A consensus view as long-format rows with rater = `how` (never stored over raw codes).

    Codes whose label is not in `codebook` cannot take part; they are reported with a
    `UserWarning` (the CLI prints it as one line), never dropped silently. ``soft`` has no such
    view (ValueError): shares are not codes."""
    _no_view(how)
    transcripts = list(transcripts)
    raters = list(raters) if raters is not None else None
    unknown = out_of_codebook(transcripts, codebook, raters)
    if unknown:
        warnings.warn(f"labels that are not in codebook '{codebook.name}' are not counted in the consensus: "
                      f"{describe_unknown(unknown)}; fix the labels, or pass the codebook they come from",
                      UserWarning, stacklevel=2)
    rows = []
    for transcript in transcripts:
        for utterance in transcript.utterances:
            for dimension in codebook.dimensions_for(utterance.role):
                labels = consensus_labels(utterance, codebook, dimension, how, raters)
                if labels is None:
                    continue
                for label in labels or [codebook.none_label]:
                    rows.append(CodeRow(utterance.transcript_id, utterance.utterance_id, how, label))
    return rows


def write_long_codes(rows: Iterable[CodeRow], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = safe_csv_writer(handle)
        writer.writerow([*LONG_COLUMNS, *OPTIONAL_COLUMNS])
        for row in rows:
            writer.writerow([row.transcript_id, row.utterance_id, row.rater, row.label,
                             "" if row.rating is None else f"{row.rating:g}", row.note or ""])
