"""`run_agreement`: compare predictions (or one rater) with human codes and write the report.

Writes into ``out_dir``:

* ``metrics.json``: every number (NaN written as null);
* ``summary.md``: a compact table per dimension and level, and the model-as-rater sentences;
* ``report.html``: one self-contained page (inline CSS, figures as data: URIs, no external
  resources) with the header, summary, per-label F1 with CIs, agreement coefficients, confusion
  matrices, human-vs-model agreement, counts (segment / session units), ratings, a session
  timeline and a table of disagreements with the utterance text;
* ``disagreements.csv``: every disagreement (the page shows the first ``max_disagreements``).

Research tool, not a clinical instrument.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rupturekit.agree import plots
from rupturekit.agree.compare import (
    PREDICTED,
    Aligned,
    Table,
    Unit,
    aggregate,
    align,
    build_table,
    classification_metrics,
    consensus,
    count_metrics,
    disagreements,
    projections,
    rating_metrics,
    segment_ids,
)
from rupturekit.codebook import Codebook
from rupturekit.errors import InputError
from rupturekit.safe_output import entries_other_than, safe_csv_writer, staged_folder

__all__ = ["REPORT_FILES", "AgreementResult", "SUMMARY_COLUMNS", "report_folder_foreign", "run_agreement",
           "to_jsonable"]

REPORT_FILES = {"metrics": "metrics.json", "summary": "summary.md", "html": "report.html",
                "disagreements": "disagreements.csv"}
report_folder_foreign = entries_other_than(REPORT_FILES.values())  # an existing report folder holds only these

NOTE = "Research tool, not a clinical instrument."
SUMMARY_COLUMNS = ("dimension", "level", "unit", "kind", "label", "support", "predicted", "precision", "recall",
                   "f1", "f1_low", "f1_high", "kappa", "n", "icc", "icc_low", "icc_high", "pearson", "spearman")
METRICS_FORMAT = 1


@dataclass
class AgreementResult:
    """What `run_agreement` computed and wrote.

    * ``summary_rows``: one dict per table row of summary.md, keys `SUMMARY_COLUMNS` (None where a
      column does not apply): per-label rows (``kind`` "label"), ``micro`` / ``macro`` rows for
      utterance and segment units, ``count`` rows (ICC(2,1) of predicted vs reference mean counts,
      Pearson, Spearman) for segment and session units;
    * ``sentences``: the model-as-rater sentences, e.g. "therapist_behaviour: rater 0: κ = .74,
      inside the human range .64–.88, above 6 of 10 raters";
    * ``metrics``: the dict written to metrics.json (JSON-able, NaN as None);
    * ``paths``: "metrics", "summary", "html", "disagreements" -> the files written.
    """

    metrics: dict[str, Any]
    summary_rows: list[dict[str, Any]]
    sentences: list[str]
    paths: dict[str, Path]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- JSON
def to_jsonable(value: Any) -> Any:
    """numpy scalars -> Python, NaN / inf -> None, sets -> sorted lists, tuples -> lists, keys -> str."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Path):
        return str(value)
    return str(value)


# --------------------------------------------------------------------------- the run
def run_agreement(
    reference: Path,
    predicted: Path,
    codebook: Codebook,
    out_dir: Path,
    *,
    unit: str = "utterance",
    dimensions: list[str] | None = None,
    reference_raters: list[str] | None = None,
    predicted_rater: str | None = None,
    level: Literal["subtype", "family", "both"] = "both",
    allow_partial: bool = False,
    n_bootstrap: int = 1000,
    seed: int = 0,
    crosswalk_from: Codebook | None = None,
    transcripts: list[str] | None = None,
    max_disagreements: int = 200,
    timeline_transcripts: int = 6,
    figures: bool = True,
    exhaustive: bool = False,
) -> AgreementResult:
    """Compare `predicted` (a tag output, or one rater's codes) with the human codes in `reference`.

    See `rupturekit.agree.compare` for alignment, units, levels and the definitions used.
    `transcripts` restricts both sides to those transcript ids; `max_disagreements` caps the
    page's disagreement table, `timeline_transcripts` the transcripts drawn in the timeline;
    `figures=False` leaves the figures out of the page (faster). `exhaustive=True` says the
    human raters went through whole transcripts: in multi-label dimensions an utterance of the
    right role that a rater left without codes counts as "nothing applies" (needed for
    references that record only positive marks, e.g. ELAN code tiers; by default such an
    utterance counts as not coded, as `rupturekit.codes` treats it). Bad input raises `InputError`
    (one line). Writes metrics.json, summary.md, report.html and disagreements.csv in `out_dir`.
    """
    unit_spec = Unit.parse(unit, codebook)
    if level not in ("subtype", "family", "both"):
        raise InputError("--level", f"level '{level}' not understood", "use subtype, family or both")
    if n_bootstrap < 0:
        raise InputError("--bootstrap", "the number of bootstrap resamples cannot be negative",
                         "use 0 to skip the confidence intervals")
    aligned = align(Path(reference), Path(predicted), codebook, reference_raters=reference_raters,
                    predicted_rater=predicted_rater, allow_partial=allow_partial, crosswalk_from=crosswalk_from,
                    transcripts=transcripts)
    projs, skipped = projections(aligned, dimensions, level)
    notes = list(aligned.notes)

    group_of = None
    if unit_spec.kind == "segment":
        seg_of, seg_warnings = segment_ids(aligned, unit_spec.spec)  # type: ignore[arg-type]
        notes.extend(seg_warnings)

        def group_of(key):
            return (key[0], seg_of[key])
    elif unit_spec.kind == "session":
        def group_of(key):
            return (key[0], 0)

    dims: dict[str, dict[str, Any]] = {}
    utterance_tables: dict[tuple[str, str], Table] = {}
    unit_tables: dict[tuple[str, str], Table] = {}
    uncovered: dict[str, int] = {}
    counted: set[str] = set()
    for proj in projs:
        table = build_table(aligned, proj, exhaustive=exhaustive)
        if proj.name not in counted:  # coverage is the same at every level: count each dimension once
            counted.add(proj.name)
            for rater, n in table.uncovered.items():
                uncovered[rater] = uncovered.get(rater, 0) + n
        entry = dims.setdefault(proj.name, {
            "title": proj.dimension.title, "role": proj.dimension.role, "multi_label": proj.dimension.multi_label,
            "levels": {}, "skipped_levels": dict(skipped.get(proj.name, {}))})
        if not len(table):
            entry["skipped_levels"][proj.level] = "the reference has no codes in this dimension"
            continue
        utterance_tables[(proj.name, proj.level)] = table
        block: dict[str, Any] = {"n_utterances": len(table)}
        if unit_spec.kind == "utterance":
            block.update(classification_metrics(table, n_bootstrap=n_bootstrap, seed=seed,
                                                predicted_kind=aligned.predicted_kind))
            unit_tables[(proj.name, proj.level)] = table
        elif unit_spec.kind == "segment":
            seg_table, counts = aggregate(table, group_of, "segment", codebook.none_label)
            block.update(classification_metrics(seg_table, n_bootstrap=n_bootstrap, seed=seed,
                                                predicted_kind=aligned.predicted_kind))
            block["counts"] = count_metrics(counts, aligned.reference_raters)
            ratings = rating_metrics(aligned, proj, table, group_of)
            if ratings is not None:
                block["ratings"] = ratings
            unit_tables[(proj.name, proj.level)] = seg_table
        else:
            _, counts = aggregate(table, group_of, "session", codebook.none_label)
            block.update({"unit": "session", "n_subjects": len(next(iter(counts.values()))) if counts else 0,
                          "categories": [c for c in table.categories if c != codebook.none_label],
                          "counts": count_metrics(counts, aligned.reference_raters)})
        entry["levels"][proj.level] = block
    skipped_dimensions = {name: "; ".join(f"{lvl}: {why}" for lvl, why in dims[name]["skipped_levels"].items())
                          for name in dims if not dims[name]["levels"]}
    for name, reasons in skipped.items():
        if name not in dims:
            skipped_dimensions[name] = "; ".join(f"{lvl}: {why}" for lvl, why in reasons.items())
    dims = {name: d for name, d in dims.items() if d["levels"]}
    if not dims:
        raise InputError(aligned.reference_path, "no dimension has reference codes to compare"
                         + (f" ({'; '.join(f'{k}: {v}' for k, v in skipped_dimensions.items())})"
                            if skipped_dimensions else ""),
                         "check the codebook and the dimensions chosen")

    if uncovered and not exhaustive:
        worst = sorted(uncovered.items(), key=lambda item: -item[1])
        notes.append("in multi-label dimensions, utterances a rater left without codes (not even "
                     f"'{codebook.none_label}') are not compared: "
                     + ", ".join(f"rater {r}: {n}" for r, n in worst[:5])
                     + ("; if the raters coded whole transcripts (e.g. ELAN code tiers hold only positive marks), "
                        "pass exhaustive=True (--exhaustive) so that the predicted side's labels there count as "
                        "false alarms"))
    n_groups = aligned.counts["shared_transcripts"]
    if n_bootstrap and n_groups < 10 and any("labels" in b for d in dims.values() for b in d["levels"].values()):
        notes.append(f"only {n_groups} transcript(s): bootstrap CIs over transcripts are coarse (few distinct "
                     "resamples) and should be read with care")
    primary = _primary_tables(utterance_tables)
    rows = disagreements(aligned, primary)
    summary_rows, sentences = _summary(dims, aligned)
    metrics = {
        "format": METRICS_FORMAT,
        "tool": "rupturekit agree",
        "note": NOTE,
        "inputs": {
            "reference": aligned.reference_path, "predicted": aligned.predicted_path,
            "codebook": {"name": codebook.name, "version": codebook.version, "title": codebook.title},
            "crosswalk_from": ({"name": crosswalk_from.name, "version": crosswalk_from.version,
                                "families": aligned.crosswalk} if crosswalk_from is not None else None),
            "unit": str(unit_spec), "level": level, "dimensions": dimensions, "transcripts": transcripts,
            "allow_partial": allow_partial, "exhaustive": exhaustive, "n_bootstrap": n_bootstrap, "seed": seed,
            "same_file": aligned.same_file,
        },
        "predicted": {"kind": aligned.predicted_kind, "name": aligned.predicted_name,
                      "rater": aligned.predicted_rater, "has_scores": aligned.has_scores},
        "reference_raters": aligned.reference_raters,
        "counts": aligned.counts,
        "overlap": aligned.overlap,
        "notes": notes,
        "warnings": aligned.warnings,
        "dimensions": dims,
        "skipped_dimensions": skipped_dimensions,
        "disagreements": {"total": len(rows), "shown": min(len(rows), max_disagreements),
                          "rows": rows[:max_disagreements]},
        "summary_rows": summary_rows,
        "sentences": sentences,
    }
    metrics = to_jsonable(metrics)

    out = Path(out_dir)
    paths = {key: out / name for key, name in REPORT_FILES.items()}
    timeline = _timeline_data(aligned, primary, timeline_transcripts)
    page = _html(metrics, aligned, unit_tables, timeline, rows, max_disagreements, figures)
    # The four files are built in a folder beside `out_dir` and swapped in together: an
    # interrupted run leaves the old report whole, never new metrics beside an old page.
    with staged_folder(out, report_folder_foreign) as stage:
        (stage / REPORT_FILES["metrics"]).write_text(
            json.dumps(metrics, ensure_ascii=False, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        (stage / REPORT_FILES["summary"]).write_text(_summary_md(metrics), encoding="utf-8")
        _write_disagreements_csv(rows, stage / REPORT_FILES["disagreements"])
        (stage / REPORT_FILES["html"]).write_text(page, encoding="utf-8")
    return AgreementResult(metrics=metrics, summary_rows=metrics["summary_rows"],
                           sentences=[s["text"] for s in metrics["sentences"]], paths=paths,
                           warnings=list(aligned.warnings), notes=notes)


def _primary_tables(tables: dict[tuple[str, str], Table]) -> list[Table]:
    """One utterance table per dimension: the subtype level where compared, else the family level."""
    out: dict[str, Table] = {}
    for (name, lvl), table in tables.items():
        if name not in out or (lvl == "subtype" and out[name].level != "subtype"):
            out[name] = table
    return list(out.values())


# --------------------------------------------------------------------------- summary rows
def _row(**values: Any) -> dict[str, Any]:
    return {column: values.get(column) for column in SUMMARY_COLUMNS}


def _summary(dims: dict[str, Any], aligned: Aligned) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    sentences: list[dict[str, Any]] = []
    who = aligned.predicted_name
    for name, dim in dims.items():
        for lvl, block in dim["levels"].items():
            unit = block.get("unit")
            if "labels" in block and block.get("n_compared"):
                for e in block["labels"]:
                    if not e["support"] and not e["predicted"]:
                        continue
                    ci = e.get("f1_ci") or [None, None]
                    rows.append(_row(dimension=name, level=lvl, unit=unit, kind="label", label=e["label"],
                                     support=e["support"], predicted=e["predicted"], precision=e["precision"],
                                     recall=e["recall"], f1=e["f1"], f1_low=ci[0], f1_high=ci[1], kappa=e["kappa"]))
                for avg in ("micro", "macro"):
                    a = block[avg]
                    ci = a.get("f1_ci") or [None, None]
                    kappa = block["kappa"]["value"] if avg == "micro" else block["kappa"]["macro"]
                    rows.append(_row(dimension=name, level=lvl, unit=unit, kind=avg, label=f"{avg} avg",
                                     support=block["micro"]["support"], precision=a["precision"], recall=a["recall"],
                                     f1=a["f1"], f1_low=ci[0], f1_high=ci[1], kappa=kappa))
            for cat, c in (block.get("counts") or {}).items():
                forms = ((c.get("predicted_vs_reference") or {}).get("forms") or {}).get("ICC2") or {}
                ci = forms.get("ci") or [None, None]
                rows.append(_row(dimension=name, level=lvl, unit=unit, kind="count", label=cat, n=c["n_subjects"],
                                 icc=forms.get("icc"), icc_low=ci[0], icc_high=ci[1], pearson=c["pearson"],
                                 spearman=c["spearman"]))
            raters = block.get("raters") or {}
            if "model_as_rater" in raters:
                text = raters["model_as_rater"]["sentence"]
                sentences.append({"dimension": name, "level": lvl, "label": None,
                                  "text": f"{name}: {who}: {text}"})
            for cat, entry in (raters.get("per_label") or {}).items():
                if "model_as_rater" in entry:
                    text = entry["model_as_rater"]["sentence"]
                    sentences.append({"dimension": name, "level": lvl, "label": cat,
                                      "text": f"{name} ({lvl}) {cat}: {who}: {text}"})
    return rows, sentences


# --------------------------------------------------------------------------- formatting
def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}f}" if math.isfinite(number) else "—"


def _ci_text(ci: Sequence[Any] | None, digits: int = 2) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def _prefix(name: str, labels: Sequence[str]) -> str | None:
    """The dimension name when every label starts with it (AnnoMI style), to shorten plot labels."""
    return name if labels and all(str(label).startswith(name + ".") for label in labels) else None


def _inputs_lines(m: dict[str, Any]) -> list[tuple[str, str]]:
    i, o, c = m["inputs"], m["overlap"], m["counts"]
    pred = m["predicted"]
    raters = m["reference_raters"]
    codebook = f"{i['codebook']['name']}" + (f" ({i['codebook']['version']})" if i["codebook"]["version"] else "")
    if i["crosswalk_from"]:
        walk = ", ".join(f"{k}→{v}" for k, v in (i["crosswalk_from"]["families"] or {}).items() if v)
        codebook += f"; reference coded in {i['crosswalk_from']['name']}, crosswalk {walk} (families only)"
    predicted = ("model tags" + (" with scores" if pred["has_scores"] else " (no scores)")
                 if pred["kind"] == "model" else f"codes of rater {pred['rater']}")
    lines = [
        ("reference", f"{i['reference']} — {len(raters)} rater(s): {', '.join(raters)}"),
        ("predicted", f"{i['predicted']} — {predicted}"),
        ("codebook", codebook),
        ("unit / level", f"{i['unit']} / {i['level']}"),
        ("counts", f"{c['shared_utterances']} shared utterances in {c['shared_transcripts']} transcripts; "
                   f"{c['reference_codes']} reference codes, {c['predicted_labels']} predicted labels"),
        ("overlap", f"{o['shared']} shared; {o['reference_only']} coded in the reference only"
                    + (f" (e.g. {', '.join(o['reference_only_examples'])})" if o["reference_only"] else "")
                    + f"; {o['predicted_only']} predicted only"
                    + (f" (e.g. {', '.join(o['predicted_only_examples'])})" if o["predicted_only"] else "")
                    + (f"; {o['predicted_not_coded_in_reference']} predicted where the reference has no codes "
                       "(not compared)" if o.get("predicted_not_coded_in_reference") and pred["kind"] == "rater"
                       else "")
                    + (" — partial comparison" if o["partial"] else "")),
        ("confidence intervals", f"{i['n_bootstrap']} bootstrap resamples over transcripts (seed {i['seed']})"
         if i["n_bootstrap"] else "not computed (n_bootstrap = 0)"),
    ]
    return lines


# --------------------------------------------------------------------------- summary.md
def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _summary_md(m: dict[str, Any]) -> str:
    out = ["# rupturekit agreement report", "", f"*{NOTE}*", ""]
    out += [f"- **{k}**: {_md_cell(v)}" for k, v in _inputs_lines(m)]
    out.append("")
    who = m["predicted"]["name"]
    for name, dim in m["dimensions"].items():
        for lvl, block in dim["levels"].items():
            unit = block.get("unit")
            out.append(f"## {name} — {lvl} ({unit})")
            out.append("")
            if "labels" in block:
                if not block.get("n_compared"):
                    out += ["No subject has both a reference consensus and a prediction.", ""]
                else:
                    out.append(f"{block['n_compared']} {unit}s compared ({block['n_no_consensus']} without a "
                               f"reference consensus). P, R, F1 and κ of {who} against the reference consensus.")
                    out += ["", "| label | support | P | R | F1 [95% CI] | κ |", "|---|---:|---:|---:|---|---:|"]
                    for e in block["labels"]:
                        if not e["support"] and not e["predicted"]:
                            continue
                        out.append(f"| {e['label']} | {e['support']} | {_f(e['precision'])} | {_f(e['recall'])} | "
                                   f"{_f(e['f1'])} {_ci_text(e['f1_ci'])} | {_f(e['kappa'])} |")
                    mi, ma, k = block["micro"], block["macro"], block["kappa"]
                    out.append(f"| micro avg | {mi['support']} | {_f(mi['precision'])} | {_f(mi['recall'])} | "
                               f"{_f(mi['f1'])} {_ci_text(mi['f1_ci'])} | {_f(k['value'])} |")
                    out.append(f"| macro avg ({ma['n_labels']} labels) | {mi['support']} | {_f(ma['precision'])} | "
                               f"{_f(ma['recall'])} | {_f(ma['f1'])} {_ci_text(ma['f1_ci'])} | {_f(k['macro'])} |")
                    out.append("")
                    kind = "class κ" if not block["multi_label"] else "pooled κ"
                    out.append(f"κ in the micro row: {kind} {_f(k['value'])} {_ci_text(k['ci'])}; "
                               "macro row: mean of the per-label κ.")
                    out.append("")
            out += _md_raters(block, who)
            if block.get("counts"):
                out += _md_counts(block, who)
            if block.get("ratings"):
                r = block["ratings"]
                parts = [f"{r['n_cells']} rated (segment, category) cells"]
                if "weighted_kappa_mean" in r:
                    parts.append(f"quadratic weighted κ of {who} vs each reference rater, mean "
                                 f"{_f(r['weighted_kappa_mean'])}")
                icc_ref = ((r.get("icc_reference") or {}).get("forms") or {}).get("ICC2")
                if icc_ref:
                    parts.append(f"ICC(2,1) among reference raters {_f(icc_ref['icc'])}")
                out += [f"Significance ratings: {'; '.join(parts)}.", ""]
    if m["skipped_dimensions"]:
        out.append("Not compared: " + "; ".join(f"{k} ({v})" for k, v in m["skipped_dimensions"].items()) + ".")
        out.append("")
    for note in m["notes"]:
        out.append(f"> {_md_cell(note)}")
    return "\n".join(out).rstrip() + "\n"


def _md_raters(block: dict[str, Any], who: str) -> list[str]:
    raters = block.get("raters") or {}
    out: list[str] = []
    n = raters.get("n_reference_raters", 0)
    if "model_as_rater" in raters:
        out.append(f"**{who} as a rater** (against the majority of {n} reference raters): "
                   f"{raters['model_as_rater']['sentence']}.")
    if raters.get("fleiss_reference") is not None and n >= 2:
        line = f"Fleiss' κ among the {n} reference raters: {_f(raters['fleiss_reference'], 3)}"
        if raters.get("fleiss_all") is not None:
            line += f"; all {n + 1} raters (reference + {who}): {_f(raters['fleiss_all'], 3)}"
        out.append(line + ".")
    per = raters.get("per_label") or {}
    sentences = [(cat, e["model_as_rater"]["sentence"]) for cat, e in per.items() if "model_as_rater" in e]
    if sentences:
        out.append(f"**{who} as a rater**, per label (against the majority of {n} reference raters):")
        out.append("")
        out += [f"- {cat}: {text}" for cat, text in sentences]
    fleiss = [(cat, e.get("fleiss_reference"), e.get("fleiss_all")) for cat, e in per.items()]
    if fleiss and n >= 2:
        out.append("")
        out.append("Fleiss' κ per label (reference" + (" / all raters" if any(f[2] is not None for f in fleiss)
                                                     else "") + "): " + "; ".join(
            f"{cat} {_f(r, 3)}" + (f" / {_f(a, 3)}" if a is not None else "") for cat, r, a in fleiss) + ".")
    return out + ([""] if out else [])


def _md_counts(block: dict[str, Any], who: str) -> list[str]:
    unit = block.get("unit")
    out = [f"Label counts per {unit}: {who} against the mean of the reference raters.", "",
           f"| label | {unit}s | ICC(2,1) [95% CI] | ICC(3,1) | Pearson r | Spearman ρ | reference total (mean) | "
           f"{who} total |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for cat, c in block["counts"].items():
        forms = ((c.get("predicted_vs_reference") or {}).get("forms") or {})
        icc2, icc3 = forms.get("ICC2") or {}, forms.get("ICC3") or {}
        totals = c["totals"]
        ref_totals = [v for k, v in totals.items() if k != "predicted" and v is not None]
        out.append(f"| {cat} | {c['n_subjects']} | {_f(icc2.get('icc'))} {_ci_text(icc2.get('ci'))} | "
                   f"{_f(icc3.get('icc'))} | {_f(c['pearson'])} | {_f(c['spearman'])} | "
                   f"{_f(np.mean(ref_totals) if ref_totals else None, 1)} | {_f(totals.get('predicted'), 0)} |")
    return out + [""]


# --------------------------------------------------------------------------- CSV
def _write_disagreements_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = safe_csv_writer(handle)
        writer.writerow(["transcript_id", "utterance_id", "dimension", "level", "speaker", "role", "text",
                         "reference", "predicted", "votes", "scores"])
        for r in rows:
            writer.writerow([r["transcript_id"], r["utterance_id"], r["dimension"], r["level"], r["speaker"],
                             r["role"], r["text"], ";".join(r["reference"]), ";".join(r["predicted"]),
                             json.dumps(r["votes"], ensure_ascii=False),
                             json.dumps({k: round(v, 4) for k, v in r["scores"].items()})])


# --------------------------------------------------------------------------- timeline
def _timeline_data(aligned: Aligned, tables: list[Table], limit: int) -> list[dict[str, Any]]:
    none = aligned.codebook.none_label
    sessions = []
    for tid in aligned.transcript_order[: max(0, limit)]:
        tracks = []
        for table in tables:
            cons = consensus(table)
            pred_marks, ref_marks = [], []
            for i, key in enumerate(table.keys):
                if key[0] != tid:
                    continue
                pos = aligned.position[key]
                for value, marks in ((table.predicted[i], pred_marks), (cons[i], ref_marks)):
                    if value is None:
                        continue
                    for cat in (sorted(value) if table.multi_label else [value]):
                        if cat != none:
                            marks.append((pos, cat))
            ref_name = "reference" if table.reference.shape[1] == 1 else "reference (majority)"
            tracks.append({"name": f"{table.dimension} · {aligned.predicted_name}", "marks": pred_marks})
            tracks.append({"name": f"{table.dimension} · {ref_name}", "marks": ref_marks})
        sessions.append({"id": tid, "length": aligned.transcript_lengths.get(tid, 0), "tracks": tracks})
    return sessions


# --------------------------------------------------------------------------- HTML
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:74rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;padding-bottom:.3rem;margin-top:2.2rem}
h3{margin:1.4rem 0 .4rem;font-size:1.05rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.86rem}
th,td{border-bottom:1px solid #e3e3e3;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.avg td{background:#fafafa;font-weight:600}
dl.inputs{display:grid;grid-template-columns:11rem 1fr;gap:.2rem .8rem;font-size:.9rem}
dl.inputs dt{font-weight:600;color:#555}dl.inputs dd{margin:0;overflow-wrap:anywhere}
.note{color:#666;font-size:.85rem}.warn{color:#8a3b12;font-size:.85rem}
.sentence{background:#eef4fb;border-left:4px solid #1f5fa8;padding:.4rem .7rem;margin:.5rem 0}
.tag{display:inline-block;font-size:.78rem;border-radius:.6rem;padding:0 .45rem;margin:.1rem .2rem 0 0;
white-space:nowrap}
.withdrawal{background:#fde2c8}.confrontation{background:#f8c9c9}.resolution{background:#cfe8d4}
.other{background:#e3e3f3}.therapist .who{color:#1f5fa8}.client .who{color:#8a3b12}
img{max-width:100%;height:auto;display:block;margin:.4rem 0 1rem}
.figs{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}.figs img{max-width:100%}
table.dis{width:100%}table.dis td:nth-child(5){width:36%}table.dis .tag{white-space:normal}
table.dis td:nth-child(8){white-space:nowrap}
nav a{margin-right:.8rem;font-size:.9rem}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _chip(label: str, extra: str = "", strip: str | None = None) -> str:
    family = label.split(".", 1)[0]
    css = family if family in ("withdrawal", "confrontation", "resolution") else "other"
    shown = label[len(strip) + 1:] if strip and label.startswith(strip + ".") else label
    return f'<span class="tag {css}" title="{_e(label)}">{_e(shown)}{_e(extra)}</span>'


def _img(uri: str | None, alt: str) -> str:
    if uri is None:
        return f'<p class="note">No figure: nothing to plot for {_e(alt)}.</p>'
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = (),
           css: str = "", avg_rows: Sequence[int] = (), table_id: str | None = None) -> str:
    """Cells are already-escaped HTML."""
    head = "".join(f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cells = "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f'<tr class="avg">{cells}</tr>' if r in avg_rows else f"<tr>{cells}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    klass = f' class="{css}"' if css else ""
    return f"<table{ident}{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _level_title(name: str, lvl: str, block: dict[str, Any]) -> str:
    return f"{name} — {lvl} ({block.get('unit')})"


def _html(m: dict[str, Any], aligned: Aligned, unit_tables: dict[tuple[str, str], Table],
          timeline: list[dict[str, Any]], rows: list[dict[str, Any]], cap: int, figures: bool = True) -> str:
    who = m["predicted"]["name"]
    have_plots = figures and plots.available()
    parts: list[str] = []
    dims = m["dimensions"]
    unit = m["inputs"]["unit"]
    count_unit = not unit.startswith("utterance")

    # ---- header
    parts.append('<header id="header"><h1>rupturekit agreement report</h1>'
                 f'<p class="note"><strong>{_e(NOTE)}</strong> Agreement of {_e(who)} with human observer codes; '
                 "figures and tables are for research use.</p>")
    parts.append('<dl class="inputs">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _inputs_lines(m))
                 + "</dl>")
    for w in m["warnings"]:
        parts.append(f'<p class="warn">warning: {_e(w)}</p>')
    for n in m["notes"]:
        parts.append(f'<p class="note">note: {_e(n)}</p>')
    if not figures:
        parts.append('<p class="note">Figures were left out (figures=False).</p>')
    elif not have_plots:
        parts.append('<p class="warn">matplotlib is not installed: figures are left out '
                     "(pip install matplotlib).</p>")
    sections = [("summary", "Summary"), ("f1", "Per-label F1"), ("coefficients", "Agreement coefficients"),
                ("confusion", "Confusion matrices"), ("raters", "Human raters and the predicted side")]
    if count_unit:
        sections.append(("counts", "Counts"))
    if any(b.get("ratings") for d in dims.values() for b in d["levels"].values()):
        sections.append(("ratings", "Significance ratings"))
    sections += [("timeline", "Session timeline"), ("disagreements", "Disagreements"), ("method", "Method")]
    parts.append("<nav>" + "".join(f'<a href="#{i}">{_e(t)}</a>' for i, t in sections) + "</nav></header>")

    # ---- summary
    parts.append('<section id="summary"><h2>Summary</h2>')
    for name, dim in dims.items():
        for lvl, block in dim["levels"].items():
            parts.append(f"<h3>{_e(_level_title(name, lvl, block))}</h3>")
            if "labels" in block:
                if not block.get("n_compared"):
                    parts.append('<p class="note">No subject has both a reference consensus and a prediction.</p>')
                else:
                    parts.append(f'<p class="note">{block["n_compared"]} {_e(block["unit"])}s compared in '
                                 f'{block["n_transcripts"]} transcripts; {block["n_no_consensus"]} without a '
                                 f"reference consensus. {_e(who)} against the reference consensus.</p>")
                    body, avg = [], []
                    for e in block["labels"]:
                        if not e["support"] and not e["predicted"]:
                            continue
                        body.append([_chip(e["label"]), str(e["support"]), str(e["predicted"]), _f(e["precision"]),
                                     _f(e["recall"]), f"{_f(e['f1'])} {_ci_text(e['f1_ci'])}", _f(e["kappa"])])
                    mi, ma, k = block["micro"], block["macro"], block["kappa"]
                    avg = [len(body), len(body) + 1]
                    body.append(["micro avg", str(mi["support"]), "", _f(mi["precision"]), _f(mi["recall"]),
                                 f"{_f(mi['f1'])} {_ci_text(mi['f1_ci'])}", _f(k["value"])])
                    body.append([f"macro avg ({ma['n_labels']} labels)", str(mi["support"]), "",
                                 _f(ma["precision"]), _f(ma["recall"]), f"{_f(ma['f1'])} {_ci_text(ma['f1_ci'])}",
                                 _f(k["macro"])])
                    parts.append(_table(["label", "support", "predicted", "P", "R", "F1 [95% CI]", "κ"], body,
                                        numeric=(1, 2, 3, 4, 6), avg_rows=avg))
            if block.get("counts") and "labels" not in block:
                parts.append(_counts_table(block, who))
            raters = block.get("raters") or {}
            if "model_as_rater" in raters:
                parts.append(f'<p class="sentence"><strong>{_e(who)} as a rater:</strong> '
                             f'{_e(raters["model_as_rater"]["sentence"])}</p>')
            per = [(c, e["model_as_rater"]["sentence"]) for c, e in (raters.get("per_label") or {}).items()
                   if "model_as_rater" in e]
            if per:
                parts.append(f'<div class="sentence"><strong>{_e(who)} as a rater</strong>, per label:<ul>'
                             + "".join(f"<li>{_chip(c)} {_e(s)}</li>" for c, s in per) + "</ul></div>")
    if m["skipped_dimensions"]:
        parts.append('<p class="note">Not compared: ' + _e("; ".join(f"{k} ({v})" for k, v in
                                                                     m["skipped_dimensions"].items())) + "</p>")
    parts.append("</section>")

    # ---- F1 bars
    parts.append('<section id="f1"><h2>Per-label F1 with 95% confidence intervals</h2>'
                 '<p class="note">Bars: F1 of the predicted side against the reference consensus; whiskers: '
                 "percentile bootstrap over transcripts.</p>")
    any_f1 = False
    figs = []
    for name, dim in dims.items():
        for lvl, block in dim["levels"].items():
            if "labels" not in block or not block.get("n_compared"):
                continue
            any_f1 = True
            shown = [e for e in block["labels"] if e["support"]]
            uri = plots.f1_bars(_level_title(name, lvl, block), shown,
                                _prefix(name, [e["label"] for e in shown])) if have_plots else None
            figs.append(_img(uri, f"F1 of {name} ({lvl})"))
    parts.append('<div class="figs">' + "".join(figs) + "</div>" if figs else "")
    if not any_f1:
        parts.append(f'<p class="note">Not computed for the {_e(unit)} unit: see the counts.</p>')
    parts.append("</section>")

    # ---- coefficients
    parts.append('<section id="coefficients"><h2>Agreement coefficients</h2>'
                 f'<p class="note">{_e(who)} against the reference consensus. κ: Cohen; α: Krippendorff '
                 "(nominal); AC1: Gwet; PABAK: prevalence- and bias-adjusted κ; AUCs from the model's scores.</p>")
    parts.append(_coefficient_tables(dims))
    parts.append("</section>")

    # ---- confusion
    parts.append('<section id="confusion"><h2>Confusion matrices</h2>'
                 '<p class="note">Rows: reference consensus; columns: predicted. For multi-label dimensions, '
                 "each cell counts subjects with that reference label and that predicted label (co-occurrence); "
                 "(none): no label.</p>")
    figs = []
    for name, dim in dims.items():
        for lvl, block in dim["levels"].items():
            conf = block.get("confusion")
            if not conf:
                continue
            uri = (plots.confusion_heatmap(_level_title(name, lvl, block), conf["rows"], conf["columns"],
                                           conf["matrix"], _prefix(name, conf["rows"][:-1] or conf["rows"]))
                   if have_plots else None)
            figs.append(_img(uri, f"confusion matrix of {name} ({lvl})"))
    parts.append('<div class="figs">' + "".join(figs) + "</div>" if figs else
                 f'<p class="note">Not computed for the {_e(unit)} unit.</p>')
    parts.append("</section>")

    # ---- raters
    parts.append(_raters_section(dims, who, have_plots))

    # ---- counts
    if count_unit:
        parts.append('<section id="counts"><h2>Counts</h2>')
        for name, dim in dims.items():
            for lvl, block in dim["levels"].items():
                if not block.get("counts"):
                    continue
                parts.append(f"<h3>{_e(_level_title(name, lvl, block))}</h3>")
                parts.append(_counts_table(block, who))
                if have_plots:
                    points = []
                    for cat, c in block["counts"].items():
                        xs, ys = [], []
                        for s in c["subjects"]:
                            ref = [v for v in s["reference"].values() if v is not None]
                            xs.append(float(np.mean(ref)) if ref else math.nan)
                            ys.append(s["predicted"] if s["predicted"] is not None else math.nan)
                        points.append((cat, xs, ys))
                    parts.append(_img(plots.count_scatter(_level_title(name, lvl, block), points, who,
                                                          _prefix(name, list(block["counts"])),
                                                          unit=str(block.get("unit"))),
                                      f"counts of {name} ({lvl})"))
        parts.append("</section>")

    # ---- ratings
    if any(b.get("ratings") for d in dims.values() for b in d["levels"].values()):
        parts.append('<section id="ratings"><h2>Significance ratings</h2>'
                     '<p class="note">Per segment and category, the highest rating a rater gave; a rater who '
                     "covered the segment but did not code the category gets the bottom of the scale.</p>")
        for name, dim in dims.items():
            for lvl, block in dim["levels"].items():
                r = block.get("ratings")
                if not r:
                    continue
                body = []
                for label, key in (("reference raters", "icc_reference"), ("all raters", "icc_all")):
                    forms = ((r.get(key) or {}).get("forms") or {})
                    if forms:
                        f2 = forms.get("ICC2", {})
                        body.append([label, _f(f2.get("icc")) + " " + _ci_text(f2.get("ci")),
                                     _f(forms.get("ICC3", {}).get("icc"))])
                parts.append(f"<h3>{_e(_level_title(name, lvl, block))}</h3><p>{r['n_cells']} rated cells; raters: "
                             f"{_e(', '.join(who if x == PREDICTED else x for x in r['raters']))}.</p>")
                if body:
                    parts.append(_table(["ICC over", "ICC(2,1) [95% CI]", "ICC(3,1)"], body, numeric=(2,)))
                if "weighted_kappa" in r:
                    parts.append(_table(["reference rater", f"quadratic weighted κ with {who}"],
                                        [[_e(k), _f(v)] for k, v in r["weighted_kappa"].items()], numeric=(1,)))
                if r.get("note"):
                    parts.append(f'<p class="note">{_e(r["note"])}</p>')
        parts.append("</section>")

    # ---- timeline
    parts.append('<section id="timeline"><h2>Session timeline</h2>'
                 f'<p class="note">Per transcript (the first {len(timeline)} of '
                 f'{m["counts"]["shared_transcripts"]}), labels over the utterance index: {_e(who)} above the '
                 "reference for each dimension. Colours: withdrawal orange, confrontation red, resolution green "
                 "(other codebooks: one colour per label).</p>")
    cats = sorted({c for t in unit_tables.values() for c in t.categories})
    uri = plots.timeline(timeline, cats) if have_plots else None
    parts.append(_img(uri, "session timeline"))
    parts.append("</section>")

    # ---- disagreements
    parts.append(_disagreement_section(rows, cap, who))

    # ---- method
    parts.append('<section id="method"><h2>Method</h2><ul class="note">'
                 "<li>Alignment by (transcript_id, utterance_id). A rater covers an utterance in a dimension when "
                 "they gave it a label of the dimension, or a <code>none</code> code and the dimension applies to "
                 "the speaker's role; the model covers every utterance of that role.</li>"
                 "<li>Reference consensus: single-label, the plurality label (ties: no consensus, left out); "
                 "multi-label, labels given by more than half of the covering raters.</li>"
                 "<li>P/R/F1: one-vs-rest per label; micro pools all decisions; macro averages the labels with "
                 "support &gt; 0. A ratio with a zero denominator is 0 (recall is undefined without support).</li>"
                 "<li>CIs: percentile bootstrap over whole transcripts.</li>"
                 "<li>Model as rater: each human against the majority of the other humans (leave-one-out) gives "
                 "the human range; the predicted side is compared with the majority of all reference raters.</li>"
                 "<li>Segments: a label is present in a segment for a rater if any utterance of the segment "
                 "carries it. Sessions: label tallies per transcript, compared with Shrout–Fleiss ICCs and "
                 "Pearson / Spearman correlations against the reference raters' mean.</li>"
                 "</ul></section>")
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>rupturekit agreement report</title><style>{_STYLE}</style></head><body>"
            + "".join(parts) + "</body></html>\n")


def _coefficient_tables(dims: dict[str, Any]) -> str:
    parts = []
    for name, dim in dims.items():
        for lvl, block in dim["levels"].items():
            if "labels" not in block or not block.get("n_compared"):
                continue
            parts.append(f"<h3>{_e(_level_title(name, lvl, block))}</h3>")
            k = block["kappa"]
            if not block["multi_label"]:
                sc = block.get("scores") or {}
                parts.append(_table(
                    ["n", "κ [95% CI]", "α", "AC1", "PABAK", "ROC-AUC (macro)", "PR-AUC (macro)"],
                    [[str(block["n_compared"]), f"{_f(k['value'])} {_ci_text(k['ci'])}",
                      _f(block.get("krippendorff_alpha")), _f(block.get("gwet_ac1")), _f(block.get("pabak")),
                      _f((sc.get("macro") or {}).get("roc_auc")), _f((sc.get("macro") or {}).get("pr_auc"))]],
                    numeric=(0, 2, 3, 4, 5, 6)))
            else:
                parts.append(f'<p class="note">Pooled κ {_f(k["value"])} {_ci_text(k["ci"])}; mean per-label κ '
                             f'{_f(k["macro"])}.</p>')
            body = []
            for e in block["labels"]:
                if not e["support"] and not e["predicted"]:
                    continue
                body.append([_chip(e["label"]), str(e["support"]), f"{_f(e['kappa'])} {_ci_text(e['kappa_ci'])}",
                             _f(e["krippendorff_alpha"]), _f(e["gwet_ac1"]), _f(e["pabak"]), _f(e["roc_auc"]),
                             _f(e["pr_auc"])])
            if body:
                parts.append(_table(["label (present / absent)", "support", "κ [95% CI]", "α", "AC1", "PABAK",
                                     "ROC-AUC", "PR-AUC"], body, numeric=(1, 3, 4, 5, 6, 7)))
    return "".join(parts) or '<p class="note">Not computed for this unit: see the counts.</p>'


def _counts_table(block: dict[str, Any], who: str) -> str:
    body = []
    for cat, c in block["counts"].items():
        forms = ((c.get("predicted_vs_reference") or {}).get("forms") or {})
        ref_forms = ((c.get("reference") or {}).get("forms") or {})
        icc2, icc3 = forms.get("ICC2") or {}, forms.get("ICC3") or {}
        totals = c["totals"]
        ref_totals = [v for k, v in totals.items() if k != "predicted" and v is not None]
        body.append([_chip(cat), str(c["n_subjects"]), f"{_f(icc2.get('icc'))} {_ci_text(icc2.get('ci'))}",
                     _f(icc3.get("icc")), _f((ref_forms.get("ICC2") or {}).get("icc")), _f(c["pearson"]),
                     _f(c["spearman"]), _f(np.mean(ref_totals) if ref_totals else None, 1),
                     _f(totals.get("predicted"), 0)])
    unit = block.get("unit")
    return (f'<p class="note">Label counts per {_e(unit)}: {_e(who)} against the mean of the reference raters '
            "(ICC of the two columns; Shrout–Fleiss forms); human ICC(2,1) among the reference raters.</p>"
            + _table(["label", f"{unit}s", "ICC(2,1) [95% CI]", "ICC(3,1)", "human ICC(2,1)", "Pearson r",
                      "Spearman ρ", "reference total (mean)", f"{who} total"], body, numeric=(1, 3, 4, 5, 6, 7, 8)))


def _raters_section(dims: dict[str, Any], who: str, have_plots: bool) -> str:
    parts = ['<section id="raters"><h2>Human raters and the predicted side</h2>'
             f'<p class="note">Each human against the majority of the other humans (leave-one-out κ: the points), '
             f"and {_e(who)} against the majority of all reference raters (the red diamond).</p>"]
    figs, tables = [], []
    for name, dim in dims.items():
        for lvl, block in dim["levels"].items():
            raters = block.get("raters") or {}
            n = raters.get("n_reference_raters", 0)
            if n < 2:
                continue
            groups = []
            if "model_as_rater" in raters:
                mar = raters["model_as_rater"]
                groups.append((name, [r["kappa"] for r in mar["leave_one_out"]], mar["model_vs_majority"]["kappa"]))
                tables.append(_rater_tables(f"{_level_title(name, lvl, block)}", raters, mar, who))
            for cat, e in (raters.get("per_label") or {}).items():
                if "model_as_rater" in e:
                    mar = e["model_as_rater"]
                    groups.append((cat, [r["kappa"] for r in mar["leave_one_out"]], mar["model_vs_majority"]["kappa"]))
            if raters.get("per_label"):
                tables.append(_per_label_rater_table(_level_title(name, lvl, block), raters, who))
            if groups and have_plots:
                figs.append(_img(plots.agreement_strip(_level_title(name, lvl, block), groups, who,
                                                       _prefix(name, [g[0] for g in groups])),
                                 f"rater agreement of {name} ({lvl})"))
    if not figs and not tables:
        parts.append('<p class="note">Needs two or more reference raters (there is one, or the unit has no '
                     "classification statistics).</p>")
    parts.append('<div class="figs">' + "".join(figs) + "</div>")
    parts += tables
    parts.append("</section>")
    return "".join(parts)


def _rater_tables(title: str, raters: dict[str, Any], mar: dict[str, Any], who: str) -> str:
    names = raters["reference_raters"]
    out = [f"<h3>{_e(title)}</h3>"]
    fleiss = f"Fleiss' κ among the {len(names)} reference raters: {_f(raters.get('fleiss_reference'), 3)}"
    if raters.get("fleiss_all") is not None:
        fleiss += f"; all {len(names) + 1} raters (reference + {who}): {_f(raters.get('fleiss_all'), 3)}"
    coeff = raters.get("coefficients", {}).get("reference", {})
    fleiss += (f". Krippendorff's α (reference): {_f(coeff.get('krippendorff_alpha'), 3)}; "
               f"Gwet's AC1: {_f(coeff.get('gwet_ac1'), 3)}.")
    out.append(f"<p>{_e(fleiss)}</p>")
    vs = {r["rater"]: r for r in mar["model_vs_raters"]}
    body = [[_e(r["rater"]), _f(r["kappa"]), str(r["n"]), _f(r["model_kappa"]), _f(vs.get(r["rater"], {}).get("kappa"))]
            for r in mar["leave_one_out"]]
    mv = mar["model_vs_majority"]
    body.append([f"{_e(who)} vs majority of all", _f(mv["kappa"]), str(mv["n"]), "", ""])
    out.append(_table(["rater", "κ vs majority of the others", "n", f"{who}: κ vs the same majority",
                       f"{who}: κ vs this rater"], body, numeric=(1, 2, 3, 4), avg_rows=(len(body) - 1,)))
    pair = {(p["rater_a"], p["rater_b"]): p["kappa"] for p in mar["pairwise"]}
    if len(names) <= 12:
        rows = []
        for a in names:
            rows.append([_e(a)] + ["" if a == b else _f(pair.get((a, b), pair.get((b, a)))) for b in names])
        out.append('<p class="note">Cohen\'s κ of every pair of reference raters:</p>')
        out.append(_table(["", *names], rows, numeric=tuple(range(1, len(names) + 1))))
    else:
        finite = [v for v in pair.values() if v is not None and math.isfinite(v)]
        out.append(f'<p class="note">{len(pair)} rater pairs; pairwise κ from {_f(min(finite) if finite else None)} '
                   f"to {_f(max(finite) if finite else None)} (all in metrics.json).</p>")
    return "".join(out)


def _per_label_rater_table(title: str, raters: dict[str, Any], who: str) -> str:
    body = []
    for cat, e in raters["per_label"].items():
        mar = e.get("model_as_rater")
        pos = mar["position"] if mar else {}
        body.append([_chip(cat), _f(e.get("fleiss_reference"), 3),
                     _f(e.get("fleiss_all"), 3) if "fleiss_all" in e else "",
                     _f(pos.get("human_min")) + "–" + _f(pos.get("human_max")) if mar else "",
                     _f(pos.get("model_kappa")) if mar else "",
                     f"{pos.get('n_raters_below_model')} of {pos.get('n_raters')}" if mar else ""])
    return (f"<h3>{_e(title)}</h3>"
            + _table(["label (present / absent)", "Fleiss' κ (reference)", "Fleiss' κ (all)",
                      "human leave-one-out κ range", f"{who} κ vs majority", f"raters below {who}"], body,
                     numeric=(1, 2, 4)))


def _disagreement_section(rows: list[dict[str, Any]], cap: int, who: str) -> str:
    shown = rows[:cap]
    left = len(rows) - len(shown)
    body = []
    for r in shown:
        dim = r["dimension"]  # the dimension column names it: chips show the label without it
        ref = " ".join(_chip(c, f" {r['votes'][c]}" if c in r["votes"] else "", dim) for c in r["reference"]) or \
            '<span class="note">none</span>'
        pred = " ".join(_chip(c, "", dim) for c in r["predicted"]) or '<span class="note">none</span>'
        score = "<br>".join(f"{_e(c[len(dim) + 1:] if c.startswith(dim + '.') else c)}&nbsp;{v:.2f}"
                            for c, v in r["scores"].items())
        body.append([_e(r["transcript_id"]), str(r["utterance_id"]), _e(r["dimension"]),
                     f'<span class="{_e(r["role"])}"><span class="who">{_e(r["speaker"])}</span></span>',
                     _e(r["text"]), ref, pred, score])
    intro = (f'<p class="note">Utterances where {_e(who)} differs from the reference consensus '
             f"({len(rows)} in all; the reference cell shows how many raters gave each label). "
             + (f"Showing the first {len(shown)}; {left} more left out (all are in disagreements.csv)."
                if left else f"All {len(shown)} shown.") + "</p>")
    if not rows:
        return ('<section id="disagreements"><h2>Disagreements</h2><p class="note">None: the predicted side '
                "matches the reference consensus on every compared utterance.</p>"
                + _table(["transcript", "utterance", "dimension", "speaker", "text", "reference", "predicted",
                          "score"], [], table_id="disagreements-table", css="dis") + "</section>")
    return ('<section id="disagreements"><h2>Disagreements</h2>' + intro
            + _table(["transcript", "utterance", "dimension", "speaker", "text", "reference", "predicted", "score"],
                     body, numeric=(1,), table_id="disagreements-table", css="dis") + "</section>")
