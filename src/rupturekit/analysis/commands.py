"""The workflows behind `rupturekit episodes`, `sessions`, `alliance` and `meta`: read, analyse,
and write each command's files (every file through the atomic writers; folders swapped in whole)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rupturekit.analysis.alliance import (
    CRITERIA,
    DEFAULT_SETTINGS,
    CriteriaResult,
    CriteriaSettings,
    Ratings,
    apply_criteria,
    patient_summaries,
    read_ratings,
)
from rupturekit.analysis.episodes import DEFAULT_RULE, Episode, EpisodeRule, find_episodes
from rupturekit.analysis.events import Source, choose_source, turns_of
from rupturekit.analysis.meta import VARIANCES, MetaResult, meta_analysis, study_from
from rupturekit.analysis.page import Figure, Figures, Heading, Note, Page, Sentence, Warn, render
from rupturekit.analysis.ratings import RatingMapping, SessionAnalysis, analyse_sessions, estimate_corpus
from rupturekit.analysis.stats import Correlation, correlate
from rupturekit.analysis.table_files import jsonable, write_csv, write_jsonl
from rupturekit.analysis.tables import parse_mapping, read_table
from rupturekit.analysis.timeline import SessionView, timeline_html
from rupturekit.codebook import Codebook
from rupturekit.errors import InputError
from rupturekit.records import Transcript, dumps_jsonl
from rupturekit.safe_output import atomic_write, entries_other_than, staged_folder
from rupturekit.segment.segments import SegmentSpec

__all__ = ["ALLIANCE_FILES", "META_FILES", "SESSION_FILES", "AllianceRun", "EpisodesRun", "MetaRun",
           "load_corpus", "run_alliance", "run_episodes", "run_meta", "run_sessions", "write_alliance",
           "write_episodes", "write_meta", "write_sessions"]

SESSION_FILES = ("segments.csv", "sessions.csv", "episodes.jsonl", "estimates.jsonl", "mapping.json")
ALLIANCE_FILES = ("episodes.csv", "patients.csv", "sessions.csv", "summary.json", "report.html", "trajectories")
META_FILES = ("studies.csv", "meta.json", "summary.md", "forest.png", "report.html")


def load_corpus(path: Path, transcripts: Sequence[str] | None = None) -> tuple[list[Transcript], list[str]]:
    """Transcripts in any format ingest reads, with ingest's warnings as lines (segment-size notes
    left out: the analysis assigns its own segments)."""
    from rupturekit.reading import read_with_notes

    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file or folder", "check the path")
    corpus, notes = read_with_notes(path)
    if transcripts:
        present = {t.transcript_id for t in corpus}
        missing = [t for t in transcripts if t not in present]
        if missing:
            raise InputError(str(path), f"no transcript {', '.join(repr(m) for m in missing[:3])} in this file",
                             f"transcripts present: {', '.join(sorted(present)[:8])}")
        corpus = [t for t in corpus if t.transcript_id in set(transcripts)]
    if not corpus:
        raise InputError(str(path), "no transcripts", "give a corpus with utterances")
    return corpus, notes


# ------------------------------------------------------------------ episodes
@dataclass
class EpisodesRun:
    source: Source
    rule: EpisodeRule
    views: list[SessionView]
    warnings: list[str] = field(default_factory=list)

    @property
    def episodes(self) -> list[Episode]:
        return [e for v in self.views for e in v.episodes]


def run_episodes(path: Path, codebook: Codebook, rule: EpisodeRule, source: str | None = None,
                 transcripts: Sequence[str] | None = None) -> EpisodesRun:
    corpus, notes = load_corpus(path, transcripts)
    chosen = choose_source(corpus, codebook, source, str(path))
    views = []
    for t in corpus:
        turns = turns_of(t, codebook, chosen)
        views.append(SessionView(t.transcript_id, turns, find_episodes(t.transcript_id, turns, rule)))
    ignored = [(v.transcript_id, turn.utterance_id) for v in views for turn in v.turns if turn.ignored]
    if ignored:
        notes.append(f"{len(ignored)} utterance(s) carry markers or strategies on a speaker they do not belong to "
                     f"(client markers on non-client turns, strategies on non-therapist turns), left out of the "
                     f"episodes; first: {ignored[0][0]}#{ignored[0][1]} (check the speaker roles, --roles)")
    if rule.gap_unit == "seconds":
        untimed = [v.transcript_id for v in views if all(turn.time is None for turn in v.turns)]
        if untimed:
            notes.append(f"{len(untimed)} transcript(s) have no times, so the {rule.gap:g} s gap joins nothing there "
                         f"(markers join until the client returns); give the gap in turns, e.g. --gap 4u")
    return EpisodesRun(chosen, rule, views, notes)


EPISODE_COLUMNS = ("episode_id", "transcript_id", "episode", "start_utterance_id", "end_utterance_id",
                   "start_index", "end_index", "n_turns", "start_time", "end_time", "marker_utterance_ids",
                   "families", "subtypes", "uncertain_subtypes", "marker_counts", "strategies", "strategy_kinds",
                   "first_repair_utterance_id", "turns_to_first_repair", "client_returned", "ended_by", "outcome")


def write_episodes(run: EpisodesRun, output: Path, html: Path | None = None) -> None:
    records = [e.to_record() for e in run.episodes]
    if Path(output).suffix.lower() == ".csv":
        atomic_write(output, lambda p: write_csv(records, p, EPISODE_COLUMNS))
    else:
        atomic_write(output, lambda p: write_jsonl(records, p))
    if html is not None:
        page = timeline_html(run.views, run.rule, run.source)
        atomic_write(html, lambda p: p.write_text(page, encoding="utf-8"))


# ------------------------------------------------------------------ sessions
def run_sessions(path: Path, codebook: Codebook, spec: SegmentSpec | None, rule: EpisodeRule,
                 source: str | None = None, mapping_path: Path | None = None, calibrate: bool = True,
                 seed: int = 0) -> tuple[SessionAnalysis, list[Transcript], list[str]]:
    corpus, notes = load_corpus(path)
    chosen = choose_source(corpus, codebook, source, str(path))
    mapping = None
    if mapping_path is not None:
        from rupturekit.bounded import loads_json

        try:
            data = loads_json(Path(mapping_path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError):
            raise InputError(str(mapping_path), "cannot read the mapping as JSON",
                             "give a mapping.json written by rupturekit sessions") from None
        mapping = RatingMapping.from_dict(data, str(mapping_path))
    analysis = analyse_sessions(corpus, codebook, chosen, spec, rule, mapping, calibrate, str(path), seed)
    analysis.warnings[:0] = notes
    return analysis, corpus, analysis.warnings


def write_sessions(analysis: SessionAnalysis, corpus: list[Transcript], codebook: Codebook, folder: Path) -> None:
    estimates = dumps_jsonl(estimate_corpus(corpus, analysis, codebook))
    mapping = {**analysis.mapping.to_dict(), "segment": str(analysis.spec), "source": str(analysis.source),
               "cross_fitted": analysis.cross_fitted, "human_raters": analysis.human_raters}
    with staged_folder(folder, entries_other_than(SESSION_FILES)) as stage:
        write_csv(analysis.segments, stage / "segments.csv")
        write_csv(analysis.sessions, stage / "sessions.csv")
        write_jsonl([e.to_record() for e in analysis.episodes], stage / "episodes.jsonl")
        (stage / "estimates.jsonl").write_text(estimates, encoding="utf-8")
        (stage / "mapping.json").write_text(json.dumps(jsonable(mapping), indent=1) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ alliance
@dataclass
class AllianceRun:
    ratings: Ratings
    criteria: list[str]
    result: CriteriaResult
    patients: list[dict[str, Any]]
    outcome_links: list[Correlation]
    joined: list[dict[str, Any]] = field(default_factory=list)
    join_links: list[Correlation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


JOIN_INDICES = ("marker_turns", "markers_per_100_client_turns", "episodes", "rupture_significance_est")


def run_alliance(ratings_path: Path, columns: str | None = None, criteria: Sequence[str] = CRITERIA,
                 settings: CriteriaSettings = DEFAULT_SETTINGS, transcripts: Path | None = None,
                 codebook: Codebook | None = None, source: str | None = None, n_bootstrap: int = 2000,
                 seed: int = 0, spec: SegmentSpec | None = None, rule: EpisodeRule = DEFAULT_RULE) -> AllianceRun:
    unknown = [c for c in criteria if c not in CRITERIA]
    if unknown or not criteria:
        raise InputError("--criterion", f"unknown criterion {', '.join(repr(c) for c in unknown) or '(none)'}",
                         f"use {', '.join(CRITERIA)}")
    ratings = read_ratings(ratings_path, columns)
    result = apply_criteria(ratings, criteria, settings)
    patients = patient_summaries(ratings, result, criteria)
    links = []
    if "outcome" in ratings.columns:
        for criterion in criteria:
            links.append(correlate([p[f"{criterion}_rupture_repair"] if p[f"{criterion}_rupture_repair"] is not None
                                    else math.nan for p in patients],
                                   [p["outcome_change"] if p["outcome_change"] is not None else math.nan
                                    for p in patients], [p["patient"] for p in patients],
                                   x_name=f"{criterion}_rupture_repair", y_name="outcome_change",
                                   n_bootstrap=n_bootstrap, seed=seed, resampled="patients"))
    run = AllianceRun(ratings, list(criteria), result, patients, links, warnings=list(result.warnings))
    if transcripts is not None:
        _join(run, transcripts, codebook, source, n_bootstrap, seed, spec, rule)
    return run


def _join(run: AllianceRun, path: Path, codebook: Codebook | None, source: str | None, n_bootstrap: int,
          seed: int, spec: SegmentSpec | None, rule: EpisodeRule) -> None:
    from rupturekit.codebook import load_codebook

    ratings = run.ratings
    if "transcript" not in ratings.columns:
        raise InputError(ratings.file, "--transcripts needs a transcript column naming each session's transcript",
                         "add a column 'transcript' (the transcript_id), or map it with --columns transcript=COLUMN",
                         location="line 1")
    codebook = codebook or load_codebook("3rs")
    analysis, _, notes = run_sessions(path, codebook, spec, rule, source, calibrate=True, seed=seed)
    run.warnings += notes
    by_id = {s["transcript_id"]: s for s in analysis.sessions}
    named = [a for a in ratings.rows if a.transcript]
    absent = [a for a in named if a.transcript not in by_id]
    if absent:
        run.warnings.append(f"{len(absent)} session(s) name a transcript that is not in {path} (first: "
                            f"'{absent[0].transcript}' at line {absent[0].line}); they are left out of the join")
    for a in named:
        session = by_id.get(a.transcript)
        if session is None:
            continue
        run.joined.append({"patient": a.patient, "session": a.session, "transcript_id": a.transcript,
                           "alliance": a.alliance, "psq_occurrence": a.psq_occurrence,
                           "psq_intensity": a.psq_intensity, "psq_resolution": a.psq_resolution,
                           "outcome": a.outcome, **{k: session.get(k) for k in JOIN_INDICES}})
    if not run.joined:
        raise InputError(ratings.file, f"no session's transcript is in {path}",
                         "check that the transcript column holds the corpus' transcript ids")
    for item in ("psq_occurrence", "psq_intensity", "psq_resolution", "alliance"):
        if item not in ratings.columns:
            continue
        for index in ("marker_turns", "markers_per_100_client_turns", "episodes"):
            run.join_links.append(correlate([_num(r[index]) for r in run.joined], [_num(r[item]) for r in run.joined],
                                            [r["patient"] for r in run.joined], x_name=index, y_name=item,
                                            n_bootstrap=n_bootstrap, seed=seed, resampled="patients"))


def _num(value: Any) -> float:
    return float(value) if value is not None else math.nan


def _safe_name(patient: str, used: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", patient).strip("._") or "patient"
    base, k = name[:80], 1
    while name in used:
        k += 1
        name = f"{base}-{k}"
    used.add(name)
    return name


def write_alliance(run: AllianceRun, folder: Path, figures: bool = True) -> None:
    from rupturekit.analysis import plots

    by_patient = run.ratings.by_patient()
    page = Page("rupturekit alliance: rupture-repair criteria")
    page.add(Note(f"{len(by_patient)} patients, {len(run.ratings.rows)} sessions, from {run.ratings.file}; "
                  f"columns: " + ", ".join(f"{k}={v}" for k, v in run.ratings.columns.items())))
    for w in run.warnings:
        page.add(Warn(w))
    page.add(Heading("Criteria"))
    rows = []
    for criterion in run.criteria:
        mine = [e for e in run.result.episodes if e.criterion == criterion]
        eligible = [p for p in run.patients if p.get(f"{criterion}_ruptures") is not None]
        rows.append({"criterion": criterion, "patients": len(eligible),
                     "skipped": len(run.result.skipped.get(criterion, [])), "ruptures": len(mine),
                     "repaired": sum(e.repaired for e in mine),
                     "patients with rupture-repair": sum(p[f"{criterion}_rupture_repair"] or 0 for p in eligible)})
    page.table(rows)
    settings = asdict(run.result.settings)
    page.add(Note("settings: " + ", ".join(f"{k} = {v}" for k, v in settings.items())
                  + (f"; Strauss threshold (mean within-patient SD) = {run.result.strauss_threshold:.3f}"
                     if run.result.strauss_threshold is not None else "")))
    if run.outcome_links:
        page.add(Heading("Outcome link (within this dataset)"))
        page.add(Note("outcome_change = last minus first outcome score of each patient (negative is improvement "
                      "on a symptom scale); r with a Fisher-z CI and a percentile bootstrap over patients."))
        for link in run.outcome_links:
            page.add(Sentence(link.sentence()))
    if run.join_links:
        page.add(Heading("Self-report and transcripts"))
        page.add(Note(f"{len(run.joined)} sessions have both ratings and a transcript; bootstrap over patients."))
        for link in run.join_links:
            page.add(Sentence(link.sentence()))
    summary = {"file": run.ratings.file, "columns": run.ratings.columns, "criteria": rows, "settings": settings,
               "strauss_threshold": run.result.strauss_threshold,
               "skipped": run.result.skipped, "warnings": run.warnings,
               "outcome_links": [c.to_dict() for c in run.outcome_links],
               "join_links": [c.to_dict() for c in run.join_links]}
    pngs: dict[str, bytes] = {}
    if figures:
        used: set[str] = set()
        page.add(Heading("Trajectories"))
        page.add(Note("▼ rupture, △ repair; the bars under each plot: one track per criterion, from rupture to "
                      "repair (hatched: not repaired by the last session)."))
        items = []
        for patient, assessments in by_patient.items():
            png = plots.trajectory(patient, [a.session for a in assessments], [a.alliance for a in assessments],
                                   [e for e in run.result.episodes if e.patient == patient], run.criteria,
                                   run.ratings.columns.get("alliance", "alliance"))
            pngs[f"{_safe_name(patient, used)}.png"] = png
            items.append(Figure(plots.data_uri(png), f"patient {patient}"))
        page.add(Figures(tuple(items)))
    page.add(Heading("Patients"))
    page.table(run.patients)
    html = render(page)
    with staged_folder(folder, entries_other_than(ALLIANCE_FILES)) as stage:
        write_csv([e.to_record() for e in run.result.episodes], stage / "episodes.csv",
                  list(_fields_of_episode()))
        write_csv(run.patients, stage / "patients.csv")
        if run.joined:
            write_csv(run.joined, stage / "sessions.csv")
        (stage / "summary.json").write_text(json.dumps(jsonable(summary), indent=1) + "\n", encoding="utf-8")
        (stage / "report.html").write_text(html, encoding="utf-8")
        if pngs:
            (stage / "trajectories").mkdir()
            for name, png in pngs.items():
                (stage / "trajectories" / name).write_bytes(png)


def _fields_of_episode() -> list[str]:
    from dataclasses import fields

    from rupturekit.analysis.alliance import AllianceEpisode

    return [f.name for f in fields(AllianceEpisode)]


# ------------------------------------------------------------------ meta
STUDY_ROLES = {"study": "study", "r": "r", "n": "n", "ci_low": "ci_low", "ci_high": "ci_high", "z": "z"}
_STUDY_NAMES = {"study": ("study", "name", "label"), "r": ("r", "correlation"), "n": ("n", "sample_size"),
                "ci_low": ("ci_low", "lower", "ci_lower"), "ci_high": ("ci_high", "upper", "ci_upper"),
                "z": ("z", "z_value")}


@dataclass
class MetaRun:
    result: MetaResult
    kind: str  # "studies" or "sites"
    within: Correlation | None = None  # the pooled-data correlation (patient tables)
    source: str = ""
    notes: list[str] = field(default_factory=list)


def run_meta(path: Path, columns: str | None = None, variance: str | None = None, x: str | None = None,
             y: str | None = None, site: str | None = None, group: str | None = None, n_bootstrap: int = 2000,
             seed: int = 0) -> MetaRun:
    """A table of studies (r with N, a CI or z), or with --x/--y a patient (or session) table: one
    correlation per --site, meta-analysed, plus the correlation over all rows."""
    table = read_table(path)
    if x is not None or y is not None:
        return _meta_of_sites(table, x, y, site, group, n_bootstrap, seed)
    mapping = parse_mapping(columns, STUDY_ROLES)
    lower = {h.lower(): h for h in table.header}
    used = {role: mapping.get(role) or next((lower[n] for n in names if n in lower), None)
            for role, names in _STUDY_NAMES.items()}
    for role, column in mapping.items():
        if column not in table.header:
            raise InputError(table.file, f"--columns {role}={column}: no such column (the header has: "
                                         f"{', '.join(table.header)})", "name a column of the file", location="line 1")
    if used["r"] is None:
        raise InputError(table.file, f"no r column (the header has: {', '.join(table.header)})",
                         "name it 'r', or map it with --columns r=COLUMN; or give --x and --y for a patient table",
                         location="line 1")
    if variance is None:
        variance = "n" if used["n"] else "ci" if used["ci_low"] and used["ci_high"] else "z" if used["z"] else "n"
    if variance not in VARIANCES:
        raise InputError("--variance", f"'{variance}' is not one of {', '.join(VARIANCES)}",
                         "use n (1/(N-3)), n-weight (1/N), ci (from the reported CI) or z (from the reported z)")
    needed = {"n": ["n"], "n-weight": ["n"], "ci": ["ci_low", "ci_high"], "z": ["z"]}[variance]
    for role in needed:
        if used[role] is None:
            raise InputError(table.file, f"--variance {variance} needs a {role} column", f"add it, or map it with "
                                         f"--columns {role}=COLUMN", location="line 1")
    studies = []
    seen: dict[str, str] = {}
    for number, row in enumerate(table.rows, start=1):
        where = f"line {row.line}"
        name = (row.values.get(used["study"]) or "").strip() if used["study"] else ""
        name = name or f"study {number}"
        if name in seen:  # a study listed twice would count twice
            raise InputError(table.file, f"study '{name}' repeats {seen[name]}", "list each study once",
                             location=where)
        seen[name] = where
        r = table.number(row, used["r"], "r", required=True)
        n = table.number(row, used["n"], "N", required=variance in ("n", "n-weight")) if used["n"] else None
        if n is not None and n != int(n):
            raise InputError(table.file, f"study '{name}': N = {n:g} is not a whole number", "give the sample size",
                             location=where)
        ci = None
        if used["ci_low"] and used["ci_high"]:
            low = table.number(row, used["ci_low"], "CI low", required=variance == "ci")
            high = table.number(row, used["ci_high"], "CI high", required=variance == "ci")
            ci = (low, high) if low is not None and high is not None else None
        z = table.number(row, used["z"], "z", required=variance == "z") if used["z"] else None
        studies.append(study_from(name, float(r), n=int(n) if n is not None else None, ci=ci, z_stat=z,
                                  variance_from=variance, where=where, file=table.file))
    return MetaRun(meta_analysis(studies, table.file), "studies", source=table.file)


def _meta_of_sites(table, x, y, site, group, n_bootstrap, seed) -> MetaRun:
    for option, column in (("--x", x), ("--y", y), ("--site", site), ("--group", group)):
        if option in ("--x", "--y") and not column:
            raise InputError(option, "give both --x and --y (columns of the table)", "e.g. --x stevens_rupture_repair "
                                                                                    "--y outcome_change")
        if column and column not in table.header:
            raise InputError(table.file, f"{option} {column}: no such column (the header has: "
                                         f"{', '.join(table.header)})", "name a column of the file", location="line 1")
    xs = [table.number(r, x, x) for r in table.rows]
    ys = [table.number(r, y, y) for r in table.rows]
    groups = [(r.values.get(group) or "").strip() or f"line {r.line}" for r in table.rows] if group else None
    xs_f = [math.nan if v is None else v for v in xs]
    ys_f = [math.nan if v is None else v for v in ys]
    within = correlate(xs_f, ys_f, groups, x_name=x, y_name=y, n_bootstrap=n_bootstrap, seed=seed,
                       resampled="groups" if group else "rows")
    if not site:
        raise InputError("--site", "a meta-analysis across sites needs --site COLUMN",
                         "name the column that tells the sites (or studies) apart")
    by_site: dict[str, list[int]] = {}
    for i, row in enumerate(table.rows):
        name = (row.values.get(site) or "").strip()
        if not name:
            raise InputError(table.file, f"the site ({site}) is empty", "give every row a site",
                             location=f"line {row.line}")
        by_site.setdefault(name, []).append(i)
    studies, notes = [], []
    for name, members in by_site.items():
        one = correlate([xs_f[i] for i in members], [ys_f[i] for i in members], n_bootstrap=0,
                        x_name=x, y_name=y)
        if not math.isfinite(one.r):
            notes.append(f"site '{name}': no correlation (n = {one.n}, or constant {x} or {y}); left out")
            continue
        studies.append(study_from(name, one.r, n=one.n, variance_from="n",
                                  where=f"site {name}", file=table.file))
    return MetaRun(meta_analysis(studies, table.file), "sites", within, table.file, notes)


def write_meta(run: MetaRun, folder: Path, figures: bool = True) -> None:
    from rupturekit.analysis import plots

    result = run.result
    records = [{"study": s.name, "r": s.r, "n": s.n, "fisher_z": s.z, "variance": s.variance,
                "variance_from": s.variance_from, "ci_low": s.ci_low, "ci_high": s.ci_high,
                "weight_fixed": s.weight_fixed, "weight_random_dl": s.weight_random} for s in result.studies]
    pooled = [result.fixed, result.random_dl, result.random_reml]
    lines = ["# rupturekit meta-analysis", "", "Research tool, not a clinical instrument.", "",
             *(f"- {s}" for s in result.sentences()), *(f"- note: {n}" for n in [*result.notes, *run.notes])]
    if run.within is not None:
        lines.append(f"- all rows together: {run.within.sentence()}")
    page = Page("rupturekit meta-analysis of correlations")
    page.add(Note(f"{run.source}: {len(result.studies)} {run.kind}; Fisher z, inverse-variance weights "
                  f"(variance from {result.variance_from})."))
    for sentence in result.sentences()[1:]:
        page.add(Sentence(sentence))
    for note in [*result.notes, *run.notes]:
        page.add(Note(note))
    if run.within is not None:
        page.add(Sentence("all rows together: " + run.within.sentence()))
    png = None
    if figures:
        png = plots.forest([s.name for s in result.studies], [s.r for s in result.studies],
                           [s.ci_low for s in result.studies], [s.ci_high for s in result.studies],
                           [s.weight_fixed or 0 for s in result.studies],
                           [(p.model, p.r, p.ci_low, p.ci_high) for p in pooled], "forest plot")
        page.add(Figure(plots.data_uri(png), "forest plot"))
    page.add(Heading("Studies"))
    page.table(records)
    data = {"kind": run.kind, **result.to_dict(), "within": run.within.to_dict() if run.within else None,
            "notes": [*result.notes, *run.notes]}
    with staged_folder(folder, entries_other_than(META_FILES)) as stage:
        write_csv(records, stage / "studies.csv")
        (stage / "meta.json").write_text(json.dumps(jsonable(data), indent=1) + "\n", encoding="utf-8")
        (stage / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (stage / "report.html").write_text(render(page), encoding="utf-8")
        if png is not None:
            (stage / "forest.png").write_bytes(png)
