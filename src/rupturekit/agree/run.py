"""`run_agreement`: compare predictions (or one rater) with human codes and write the report folder.

`compute_agreement` reads, aligns and measures, and writes nothing: it returns an
`AgreementResult` (`rupturekit.agree.results`). `write_agreement` writes that result into
``out_dir``, all files swapped in together:

* ``metrics.json``: every number (NaN written as null), `to_jsonable` of the typed results;
* ``summary.md``: a compact table per dimension and level, and the model-as-rater sentences;
* ``report.html``: one self-contained page (`rupturekit.agree.page`);
* ``disagreements.csv``: every disagreement (the page shows the first ``max_disagreements``).

`run_agreement` does both. Dimensions the predicted side gives no label or score in (a model
trained on some dimensions only) are listed as "not predicted" and left out of the comparison.

Research tool, not a clinical instrument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from rupturekit.agree.align import Aligned, align
from rupturekit.agree.counts import count_metrics, rating_metrics
from rupturekit.agree.disagreements import disagreements, primary_tables, timeline_sessions
from rupturekit.agree.metrics import classification_metrics
from rupturekit.agree.page import render_page
from rupturekit.agree.results import (
    Agreement,
    AgreementResult,
    ClassificationLevel,
    CodebookRef,
    CountsLevel,
    CrosswalkRef,
    DimensionResult,
    Disagreement,
    Disagreements,
    Inputs,
    Level,
    NotPredicted,
    PredictedSide,
    Sentence,
    SummaryRow,
    defined,
    to_jsonable,
)
from rupturekit.agree.tables import (
    GroupOf,
    Projection,
    Table,
    Unit,
    aggregate,
    build_table,
    predicts,
    projections,
    segment_ids,
)
from rupturekit.agree.text import NOTE, summary_markdown
from rupturekit.codebook import Codebook
from rupturekit.errors import InputError
from rupturekit.safe_output import entries_other_than, safe_csv_writer, staged_folder

__all__ = ["REPORT_FILES", "SUMMARY_COLUMNS", "AgreementResult", "compute_agreement", "report_folder_foreign",
           "run_agreement", "to_jsonable", "write_agreement"]

REPORT_FILES = {"metrics": "metrics.json", "summary": "summary.md", "html": "report.html",
                "disagreements": "disagreements.csv"}
report_folder_foreign = entries_other_than(REPORT_FILES.values())  # an existing report folder holds only these
SUMMARY_COLUMNS = tuple(f.name for f in fields(SummaryRow))
METRICS_FORMAT = 1
LevelChoice = Literal["subtype", "family", "both"]


# --------------------------------------------------------------------------- the run
def run_agreement(reference: Path, predicted: Path, codebook: Codebook, out_dir: Path, *, figures: bool = True,
                  **options: Any) -> AgreementResult:
    """Compare `predicted` (a tag output, or one rater's codes) with the human codes in `reference`,
    and write metrics.json, summary.md, report.html and disagreements.csv in `out_dir`.

    `compute_agreement` with `options` (unit, dimensions, raters, level, bootstrap, ...: see there),
    then `write_agreement` (`figures=False` leaves the figures out of the page, faster); the
    result's `paths` name the files written.
    """
    result = compute_agreement(reference, predicted, codebook, **options)
    result.paths = write_agreement(result, out_dir, figures=figures)
    return result


def compute_agreement(
    reference: Path,
    predicted: Path,
    codebook: Codebook,
    *,
    unit: str = "utterance",
    dimensions: list[str] | None = None,
    reference_raters: list[str] | None = None,
    predicted_rater: str | None = None,
    level: LevelChoice = "both",
    allow_partial: bool = False,
    n_bootstrap: int = 1000,
    seed: int = 0,
    crosswalk_from: Codebook | None = None,
    transcripts: list[str] | None = None,
    max_disagreements: int = 200,
    timeline_transcripts: int = 6,
    exhaustive: bool = False,
) -> AgreementResult:
    """Compare `predicted` (a tag output, or one rater's codes) with the human codes in `reference`.

    See `rupturekit.agree.align` and `rupturekit.agree.tables` for alignment, units, levels and
    consensus, `rupturekit.agree.metrics` for the statistics. `transcripts` restricts both sides to
    those transcript ids; `max_disagreements` caps the disagreements listed in metrics.json and the
    page, `timeline_transcripts` the transcripts in the page's timeline. `exhaustive=True` says the
    human raters went through whole transcripts: in multi-label dimensions an utterance of the
    right role that a rater left without codes counts as "nothing applies" (needed for
    references that record only positive marks, e.g. ELAN code tiers; by default such an
    utterance counts as not coded, as `rupturekit.codes` treats it). Bad input raises `InputError`
    (one line). Writes nothing.
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
    notes = list(aligned.notes)
    group_of = _grouping(aligned, unit_spec, notes)
    compared = _compare(aligned, *projections(aligned, dimensions, level), unit_spec, group_of,
                        n_bootstrap=n_bootstrap, seed=seed, exhaustive=exhaustive)
    _refuse_nothing_compared(compared, aligned)
    _coverage_notes(compared, aligned, notes, exhaustive=exhaustive, n_bootstrap=n_bootstrap)
    primary = primary_tables(compared.utterance_tables)
    rows = disagreements(aligned, primary)
    summary_rows, sentences = _summary(compared.dimensions, aligned.predicted_name)
    agreement = Agreement(
        format=METRICS_FORMAT, tool="rupturekit agree", note=NOTE,
        inputs=Inputs(
            reference=aligned.reference_path, predicted=aligned.predicted_path,
            codebook=CodebookRef(name=codebook.name, version=codebook.version, title=codebook.title),
            crosswalk_from=(CrosswalkRef(name=crosswalk_from.name, version=crosswalk_from.version,
                                         families=aligned.crosswalk) if crosswalk_from is not None else None),
            unit=str(unit_spec), level=level, dimensions=dimensions, transcripts=transcripts,
            allow_partial=allow_partial, exhaustive=exhaustive, n_bootstrap=n_bootstrap, seed=seed,
            same_file=aligned.same_file),
        predicted=PredictedSide(kind=aligned.predicted_kind, name=aligned.predicted_name,
                                rater=aligned.predicted_rater, has_scores=aligned.has_scores),
        reference_raters=aligned.reference_raters, counts=aligned.counts, overlap=aligned.overlap, notes=notes,
        warnings=aligned.warnings, dimensions=compared.dimensions, skipped_dimensions=compared.skipped,
        not_predicted=_not_predicted(compared.not_predicted, aligned),
        disagreements=Disagreements(total=len(rows), shown=min(len(rows), max_disagreements),
                                    rows=rows[:max_disagreements]),
        summary_rows=summary_rows, sentences=sentences)
    return AgreementResult(agreement=agreement, all_disagreements=rows,
                           timeline=timeline_sessions(aligned, primary, timeline_transcripts))


def _grouping(aligned: Aligned, unit: Unit, notes: list[str]) -> GroupOf | None:
    """The subject (transcript, segment) of each utterance for the segment and session units."""
    if unit.kind == "segment":
        assert unit.spec is not None  # Unit.parse gives a segment unit its spec
        seg_of, seg_warnings = segment_ids(aligned, unit.spec)
        notes.extend(seg_warnings)
        return lambda key: (key[0], seg_of[key])
    if unit.kind == "session":
        return lambda key: (key[0], 0)
    return None


# --------------------------------------------------------------------------- comparing
@dataclass
class _Compared:
    dimensions: dict[str, DimensionResult]  # the compared dimensions (with at least one level)
    skipped: dict[str, str]  # dimension -> why it is not compared
    not_predicted: list[str]  # dimensions with reference codes where the predicted side has nothing
    utterance_tables: dict[tuple[str, str], Table]  # (dimension, level) -> the utterance table
    uncovered: dict[str, int]  # rater -> utterances left without codes in multi-label dimensions


def _compare(aligned: Aligned, projs: list[Projection], skipped: dict[str, dict[str, str]], unit: Unit,
             group_of: GroupOf | None, *, n_bootstrap: int, seed: int, exhaustive: bool) -> _Compared:
    """Every (dimension, level) table measured, or the reason it is not."""
    out = _Compared({}, {}, [], {}, {})
    entries: dict[str, DimensionResult] = {}
    uncovered: dict[str, dict[str, int]] = {}  # coverage is the same at every level: the first one counts
    # one check per dimension (a dimension has a projection per level)
    dimensions = {p.name: p.dimension for p in projs}
    predicted = {name: predicts(aligned, dimension) for name, dimension in dimensions.items()}
    for proj in projs:
        table = build_table(aligned, proj, exhaustive=exhaustive)
        uncovered.setdefault(proj.name, dict(table.uncovered))
        entry = entries.setdefault(proj.name, DimensionResult(
            title=proj.dimension.title, role=proj.dimension.role, multi_label=proj.dimension.multi_label,
            levels={}, skipped_levels=dict(skipped.get(proj.name, {}))))
        if not len(table):
            entry.skipped_levels[proj.level] = "the reference has no codes in this dimension"
        elif not predicted[proj.name]:
            if proj.name not in out.not_predicted:
                out.not_predicted.append(proj.name)
        else:
            out.utterance_tables[(proj.name, proj.level)] = table
            entry.levels[proj.level] = _measure(aligned, proj, table, unit, group_of, n_bootstrap=n_bootstrap,
                                                seed=seed)
    for name, entry in entries.items():
        if entry.levels:
            out.dimensions[name] = entry
        elif name not in out.not_predicted:
            out.skipped[name] = "; ".join(f"{lvl}: {why}" for lvl, why in entry.skipped_levels.items())
    for name, reasons in skipped.items():
        if name not in entries:
            out.skipped[name] = "; ".join(f"{lvl}: {why}" for lvl, why in reasons.items())
    for name, per_rater in uncovered.items():
        for rater, n in per_rater.items():
            if name not in out.not_predicted:
                out.uncovered[rater] = out.uncovered.get(rater, 0) + n
    return out


def _measure(aligned: Aligned, proj: Projection, table: Table, unit: Unit, group_of: GroupOf | None, *,
             n_bootstrap: int, seed: int) -> Level:
    """One level's result in the chosen unit."""
    kind = aligned.predicted_kind
    if group_of is None:
        return classification_metrics(table, n_bootstrap=n_bootstrap, seed=seed, predicted_kind=kind)
    none = aligned.codebook.none_label
    if unit.kind == "segment":
        seg_table, counts = aggregate(table, group_of, "segment", none)
        result = classification_metrics(seg_table, n_bootstrap=n_bootstrap, seed=seed, predicted_kind=kind)
        result.n_utterances = len(table)
        result.counts = count_metrics(counts, aligned.reference_raters)
        result.ratings = rating_metrics(aligned, proj, table, group_of)
        return result
    _, counts = aggregate(table, group_of, "session", none)
    return CountsLevel(n_utterances=len(table), unit="session",
                       n_subjects=len(next(iter(counts.values()))) if counts else 0,
                       categories=[c for c in table.categories if c != none],
                       counts=count_metrics(counts, aligned.reference_raters))


def _refuse_nothing_compared(compared: _Compared, aligned: Aligned) -> None:
    if compared.dimensions:
        return
    if compared.not_predicted:
        raise InputError(aligned.predicted_path, f"{aligned.predicted_name} gives no {_what_it_gives(aligned)} "
                                                 f"in {', '.join(compared.not_predicted)}",
                         "choose dimensions the predicted side codes (--dimension)")
    raise InputError(aligned.reference_path, "no dimension has reference codes to compare"
                     + (f" ({'; '.join(f'{k}: {v}' for k, v in compared.skipped.items())})"
                        if compared.skipped else ""),
                     "check the codebook and the dimensions chosen")


def _coverage_notes(compared: _Compared, aligned: Aligned, notes: list[str], *, exhaustive: bool,
                    n_bootstrap: int) -> None:
    """Note the utterances raters left uncoded, and bootstrap intervals over few transcripts."""
    if compared.uncovered and not exhaustive:
        worst = sorted(compared.uncovered.items(), key=lambda item: -item[1])
        notes.append("in multi-label dimensions, utterances a rater left without codes (not even "
                     f"'{aligned.codebook.none_label}') are not compared: "
                     + ", ".join(f"rater {r}: {n}" for r, n in worst[:5])
                     + ("; if the raters coded whole transcripts (e.g. ELAN code tiers hold only positive marks), "
                        "pass exhaustive=True (--exhaustive) so that the predicted side's labels there count as "
                        "false alarms"))
    n_groups = aligned.counts.shared_transcripts
    if n_bootstrap and n_groups < 10 and any(isinstance(b, ClassificationLevel) for d in compared.dimensions.values()
                                             for b in d.levels.values()):
        notes.append(f"only {n_groups} transcript(s): bootstrap CIs over transcripts are coarse (few distinct "
                     "resamples) and should be read with care")


def _what_it_gives(aligned: Aligned) -> str:
    """What the predicted side gives in a dimension: a model labels or scores, a rater codes."""
    return "label or score" if aligned.predicted_kind == "model" else "code"


def _not_predicted(names: list[str], aligned: Aligned) -> NotPredicted | None:
    if not names:
        return None
    return NotPredicted(dimensions=names, note=f"The predicted side ({aligned.predicted_name}) gives no "
                                               f"{_what_it_gives(aligned)} in these dimensions, so they are not "
                                               "compared (every reference code would count as missed).")


# --------------------------------------------------------------------------- summary rows
def _row(**values: Any) -> SummaryRow:
    """A summary row: None for a missing or undefined number, numpy floats as float."""
    return SummaryRow(**{k: defined(v) for k, v in values.items()})


def _level_rows(name: str, lvl: str, block: Level) -> list[SummaryRow]:
    rows: list[SummaryRow] = []
    if isinstance(block, ClassificationLevel) and block.n_compared:
        assert block.micro and block.macro and block.kappa  # set whenever a subject is compared
        for e in block.shown_labels:
            low, high = e.f1_ci or (None, None)
            rows.append(_row(dimension=name, level=lvl, unit=block.unit, kind="label", label=e.label,
                             support=e.support, predicted=e.predicted, precision=e.precision, recall=e.recall,
                             f1=e.f1, f1_low=low, f1_high=high, kappa=e.kappa))
        for avg, a, kappa in (("micro", block.micro, block.kappa.value), ("macro", block.macro, block.kappa.macro)):
            low, high = a.f1_ci or (None, None)
            rows.append(_row(dimension=name, level=lvl, unit=block.unit, kind=avg, label=f"{avg} avg",
                             support=block.micro.support, precision=a.precision, recall=a.recall, f1=a.f1,
                             f1_low=low, f1_high=high, kappa=kappa))
    for cat, c in (block.counts or {}).items():
        icc2 = c.predicted_vs_reference.form("ICC2")
        low, high = icc2.ci if icc2 else (None, None)
        rows.append(_row(dimension=name, level=lvl, unit=block.unit, kind="count", label=cat, n=c.n_subjects,
                         icc=icc2.icc if icc2 else None, icc_low=low, icc_high=high, pearson=c.pearson,
                         spearman=c.spearman))
    return rows


def _level_sentences(name: str, lvl: str, block: Level, who: str) -> list[Sentence]:
    if not isinstance(block, ClassificationLevel):
        return []
    out = []
    overall = block.raters.overall
    if overall is not None and overall.model_as_rater is not None:
        out.append(Sentence(dimension=name, level=lvl, label=None,
                            text=f"{name}: {who}: {overall.model_as_rater.sentence}"))
    for cat, entry in (block.raters.per_label or {}).items():
        if entry.model_as_rater is not None:
            out.append(Sentence(dimension=name, level=lvl, label=cat,
                                text=f"{name} ({lvl}) {cat}: {who}: {entry.model_as_rater.sentence}"))
    return out


def _summary(dims: dict[str, DimensionResult], who: str) -> tuple[list[SummaryRow], list[Sentence]]:
    """The summary table's rows (per label, micro / macro, counts) and the model-as-rater sentences."""
    rows: list[SummaryRow] = []
    sentences: list[Sentence] = []
    for name, dim in dims.items():
        for lvl, block in dim.levels.items():
            rows += _level_rows(name, lvl, block)
            sentences += _level_sentences(name, lvl, block, who)
    return rows, sentences


# --------------------------------------------------------------------------- writing
def write_agreement(result: AgreementResult, out_dir: Path, *, figures: bool = True) -> dict[str, Path]:
    """Write metrics.json, summary.md, disagreements.csv and report.html into `out_dir`; their paths."""
    out = Path(out_dir)
    paths = {key: out / name for key, name in REPORT_FILES.items()}
    page = render_page(result, figures=figures)
    # The four files are built in a folder beside `out_dir` and swapped in together: an
    # interrupted run leaves the old report whole, never new metrics beside an old page.
    with staged_folder(out, report_folder_foreign) as stage:
        (stage / REPORT_FILES["metrics"]).write_text(
            json.dumps(result.metrics, ensure_ascii=False, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        (stage / REPORT_FILES["summary"]).write_text(summary_markdown(result.agreement), encoding="utf-8")
        _write_disagreements_csv(result.all_disagreements, stage / REPORT_FILES["disagreements"])
        (stage / REPORT_FILES["html"]).write_text(page, encoding="utf-8")
    return paths


def _write_disagreements_csv(rows: list[Disagreement], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = safe_csv_writer(handle)
        writer.writerow(["transcript_id", "utterance_id", "dimension", "level", "speaker", "role", "text",
                         "reference", "predicted", "votes", "scores"])
        for r in rows:
            writer.writerow([r.transcript_id, r.utterance_id, r.dimension, r.level, r.speaker, r.role, r.text,
                             ";".join(r.reference), ";".join(r.predicted), json.dumps(r.votes, ensure_ascii=False),
                             json.dumps({k: round(v, 4) for k, v in r.scores.items()})])
