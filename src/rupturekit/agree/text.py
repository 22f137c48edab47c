"""Plain-text views of the agreement results: number formats, summary.md, and the CLI's summary.

Every view reads the typed results (`rupturekit.agree.results`). Undefined numbers (NaN) read as
missing everywhere, as metrics.json writes them (null).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rupturekit.agree.results import (
    CI,
    Agreement,
    ClassificationLevel,
    CountMetrics,
    Level,
    RaterBlock,
    RatingMetrics,
    SummaryRow,
    defined,
    finite,
)

__all__ = ["CONSOLE_COLUMNS", "NOTE", "ConsoleTable", "ci_text", "console_lines", "console_tables",
           "inputs_lines", "level_title", "num", "prefix", "summary_markdown"]

NOTE = "Research tool, not a clinical instrument."
CONSOLE_COLUMNS = ("n", "P", "R", "F1", "95% CI", "κ", "ICC")


# --------------------------------------------------------------------------- formats
def num(value: Any, digits: int = 2) -> str:
    """A number with `digits` decimals; "—" for a missing or undefined one."""
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}f}" if finite(number) else "—"


def ci_text(ci: CI | None, digits: int = 2) -> str:
    """"[.41, .77]", or nothing where the interval was not computed or is undefined."""
    if not ci or not finite(ci[0]) or not finite(ci[1]):
        return ""
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]"


def prefix(name: str, labels: Sequence[str]) -> str | None:
    """The dimension name when every label starts with it (AnnoMI style), to shorten plot labels."""
    return name if labels and all(str(label).startswith(name + ".") for label in labels) else None


def level_title(name: str, lvl: str, block: Level) -> str:
    return f"{name} — {lvl} ({block.unit})"


def inputs_lines(a: Agreement) -> list[tuple[str, str]]:
    """What was compared with what: the page's header and summary.md's first list."""
    i, o, c, pred = a.inputs, a.overlap, a.counts, a.predicted
    raters = a.reference_raters
    codebook = f"{i.codebook.name}" + (f" ({i.codebook.version})" if i.codebook.version else "")
    if i.crosswalk_from:
        walk = ", ".join(f"{k}→{v}" for k, v in (i.crosswalk_from.families or {}).items() if v)
        codebook += f"; reference coded in {i.crosswalk_from.name}, crosswalk {walk} (families only)"
    predicted = ("model tags" + (" with scores" if pred.has_scores else " (no scores)")
                 if pred.kind == "model" else f"codes of rater {pred.rater}")
    overlap = (f"{o.shared} shared; {o.reference_only} coded in the reference only"
               + (f" (e.g. {', '.join(o.reference_only_examples)})" if o.reference_only else "")
               + f"; {o.predicted_only} predicted only"
               + (f" (e.g. {', '.join(o.predicted_only_examples)})" if o.predicted_only else "")
               + (f"; {o.predicted_not_coded_in_reference} predicted where the reference has no codes "
                  "(not compared)" if o.predicted_not_coded_in_reference and pred.kind == "rater" else "")
               + (" — partial comparison" if o.partial else ""))
    return [
        ("reference", f"{i.reference} — {len(raters)} rater(s): {', '.join(raters)}"),
        ("predicted", f"{i.predicted} — {predicted}"),
        ("codebook", codebook),
        ("unit / level", f"{i.unit} / {i.level}"),
        ("counts", f"{c.shared_utterances} shared utterances in {c.shared_transcripts} transcripts; "
                   f"{c.reference_codes} reference codes, {c.predicted_labels} predicted labels"),
        ("overlap", overlap),
        ("confidence intervals", f"{i.n_bootstrap} bootstrap resamples over transcripts (seed {i.seed})"
         if i.n_bootstrap else "not computed (n_bootstrap = 0)"),
    ]


def skipped_text(a: Agreement) -> str:
    return "; ".join(f"{k} ({v})" for k, v in a.skipped_dimensions.items())


# --------------------------------------------------------------------------- summary.md
def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(a: Agreement) -> str:
    out = ["# rupturekit agreement report", "", f"*{a.note}*", ""]
    out += [f"- **{k}**: {_md_cell(v)}" for k, v in inputs_lines(a)]
    out.append("")
    who = a.predicted.name
    for name, lvl, block in a.levels():
        out += [f"## {level_title(name, lvl, block)}", ""]
        if isinstance(block, ClassificationLevel):
            out += _md_classification(block, who)
            out += _md_raters(block.raters, who)
        if block.counts:
            out += _md_counts(block.unit, block.counts, who)
        if isinstance(block, ClassificationLevel) and block.ratings:
            out += _md_ratings(block.ratings, who)
    if a.skipped_dimensions:
        out += [f"Not compared: {skipped_text(a)}.", ""]
    if a.not_predicted:
        out += [f"Not predicted: {', '.join(a.not_predicted.dimensions)}. {a.not_predicted.note}", ""]
    for note in a.notes:
        out.append(f"> {_md_cell(note)}")
    return "\n".join(out).rstrip() + "\n"


def _md_classification(block: ClassificationLevel, who: str) -> list[str]:
    if not block.n_compared:
        return ["No subject has both a reference consensus and a prediction.", ""]
    assert block.micro and block.macro and block.kappa  # set whenever a subject is compared
    out = [f"{block.n_compared} {block.unit}s compared ({block.n_no_consensus} without a reference consensus). "
           f"P, R, F1 and κ of {who} against the reference consensus.",
           "", "| label | support | P | R | F1 [95% CI] | κ |", "|---|---:|---:|---:|---|---:|"]
    out += [f"| {e.label} | {e.support} | {num(e.precision)} | {num(e.recall)} | {num(e.f1)} {ci_text(e.f1_ci)} | "
            f"{num(e.kappa)} |" for e in block.shown_labels]
    mi, ma, k = block.micro, block.macro, block.kappa
    out.append(f"| micro avg | {mi.support} | {num(mi.precision)} | {num(mi.recall)} | "
               f"{num(mi.f1)} {ci_text(mi.f1_ci)} | {num(k.value)} |")
    out.append(f"| macro avg ({ma.n_labels} labels) | {mi.support} | {num(ma.precision)} | "
               f"{num(ma.recall)} | {num(ma.f1)} {ci_text(ma.f1_ci)} | {num(k.macro)} |")
    kind = "class κ" if not block.multi_label else "pooled κ"
    return out + ["", f"κ in the micro row: {kind} {num(k.value)} {ci_text(k.ci)}; macro row: mean of the "
                      "per-label κ.", ""]


def _md_raters(raters: RaterBlock, who: str) -> list[str]:
    out: list[str] = []
    n = raters.n_reference_raters
    overall = raters.overall
    if overall is not None and overall.model_as_rater is not None:
        out.append(f"**{who} as a rater** (against the majority of {n} reference raters): "
                   f"{overall.model_as_rater.sentence}.")
    if overall is not None and finite(overall.fleiss_reference) and n >= 2:
        line = f"Fleiss' κ among the {n} reference raters: {num(overall.fleiss_reference, 3)}"
        if finite(overall.fleiss_all):
            line += f"; all {n + 1} raters (reference + {who}): {num(overall.fleiss_all, 3)}"
        out.append(line + ".")
    per = raters.per_label or {}
    sentences = [(cat, e.model_as_rater.sentence) for cat, e in per.items() if e.model_as_rater is not None]
    if sentences:
        out.append(f"**{who} as a rater**, per label (against the majority of {n} reference raters):")
        out.append("")
        out += [f"- {cat}: {text}" for cat, text in sentences]
    fleiss = [(cat, defined(e.fleiss_reference), defined(e.fleiss_all)) for cat, e in per.items()]
    if fleiss and n >= 2:
        out.append("")
        out.append("Fleiss' κ per label (reference" + (" / all raters" if any(f[2] is not None for f in fleiss)
                                                     else "") + "): " + "; ".join(
            f"{cat} {num(r, 3)}" + (f" / {num(a, 3)}" if a is not None else "") for cat, r, a in fleiss) + ".")
    return out + ([""] if out else [])


def count_cells(c: CountMetrics) -> tuple[str, str, str]:
    """ICC(2,1) with its CI, ICC(3,1), and the reference raters' mean total of one category's counts."""
    icc2, icc3 = c.predicted_vs_reference.form("ICC2"), c.predicted_vs_reference.form("ICC3")
    ref_totals = c.reference_totals
    return (f"{num(icc2.icc if icc2 else None)} {ci_text(icc2.ci if icc2 else None)}",
            num(icc3.icc if icc3 else None), num(np.mean(ref_totals) if ref_totals else None, 1))


def _md_counts(unit: str, counts: dict[str, CountMetrics], who: str) -> list[str]:
    out = [f"Label counts per {unit}: {who} against the mean of the reference raters.", "",
           f"| label | {unit}s | ICC(2,1) [95% CI] | ICC(3,1) | Pearson r | Spearman ρ | reference total (mean) | "
           f"{who} total |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for cat, c in counts.items():
        icc2, icc3, ref_mean = count_cells(c)
        out.append(f"| {cat} | {c.n_subjects} | {icc2} | {icc3} | {num(c.pearson)} | {num(c.spearman)} | "
                   f"{ref_mean} | {num(c.predicted_total, 0)} |")
    return out + [""]


def _md_ratings(r: RatingMetrics, who: str) -> list[str]:
    parts = [f"{r.n_cells} rated (segment, category) cells"]
    if r.weighted_kappa_mean is not None:
        parts.append(f"quadratic weighted κ of {who} vs each reference rater, mean {num(r.weighted_kappa_mean)}")
    icc_ref = r.icc_reference.form("ICC2") if r.icc_reference is not None else None
    if icc_ref is not None:
        parts.append(f"ICC(2,1) among reference raters {num(icc_ref.icc)}")
    return [f"Significance ratings: {'; '.join(parts)}.", ""]


# --------------------------------------------------------------------------- the command line
@dataclass
class ConsoleTable:
    """One (dimension, level) of the summary as the CLI prints it: cells under `CONSOLE_COLUMNS`."""

    title: str
    label_width: int
    rows: list[tuple[str, ...]]


def _cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _console_row(row: SummaryRow) -> tuple[str, ...]:
    ci = f"{row.f1_low:.2f}–{row.f1_high:.2f}" if row.f1_low is not None and row.f1_high is not None else "–"
    return (str(row.label), _cell(row.support), _cell(row.precision), _cell(row.recall), _cell(row.f1), ci,
            _cell(row.kappa), _cell(row.icc))


def console_tables(a: Agreement, unit: str) -> list[ConsoleTable]:
    """The summary rows grouped by (dimension, level); `unit` as the user wrote it, for the titles."""
    groups: dict[tuple[str, str], list[SummaryRow]] = {}
    for row in a.summary_rows:
        groups.setdefault((str(row.dimension), str(row.level)), []).append(row)
    return [ConsoleTable(title=f"{dimension}, {lvl} level ({unit})",
                         label_width=max(len(str(r.label)) for r in rows), rows=[_console_row(r) for r in rows])
            for (dimension, lvl), rows in groups.items()]


def console_lines(a: Agreement) -> list[str]:
    """Human Fleiss' kappa per single-label dimension, then the model-as-rater sentences."""
    lines = []
    for name, lvl, block in a.levels():
        overall = block.raters.overall if isinstance(block, ClassificationLevel) else None
        if overall is None:
            continue
        parts = [f"{what} {value:.3f}" for what, value in (("reference raters", overall.fleiss_reference),
                                                           ("all raters", overall.fleiss_all)) if finite(value)]
        if parts:
            lines.append(f"{name} ({lvl}): human Fleiss' κ: {', '.join(parts)}")
    return lines + [s.text for s in a.sentences]
