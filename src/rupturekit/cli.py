"""The `rupturekit` command line.

Bad input ends in one line on stderr (file, line or record, what to do) and
exit status 2; never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import track
from rich.table import Table

from rupturekit.errors import InputError

app = typer.Typer(
    name="rupturekit",
    help="Find alliance ruptures and resolution moves in psychotherapy transcripts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)

EXIT_BAD_INPUT = 2
MAX_WARNINGS_SHOWN = 30
RESUME_NEEDS_A_FILE = "--resume continues an --output file in jsonl or csv; give one"

FormatOption = Annotated[
    str | None,
    typer.Option("--format", "-f", help="Input format: text, vtt, srt, whisper, eaf, table, annomi or jsonl. "
                                         "Detected from extension and content when left out."),
]
RolesOption = Annotated[
    str | None,
    typer.Option("--roles", help='Speaker roles, e.g. "Dr. Smith=therapist,Anna=client". Overrides the '
                                  "defaults and the inference for generic labels such as SPEAKER_00."),
]
SegmentOption = Annotated[
    str | None,
    typer.Option("--segment", help="3RS coding segments: a time window (5m, 300s) when the transcript has "
                                    "timestamps, else N utterances (40u) or N words (600w). Default 5m, "
                                    "keeping the segments a canonical .jsonl input already has."),
]


def _fail(message: str) -> typer.Exit:
    # escaped: a message quoting the input ("[laughs]", "[1, 3]") must not be read as markup
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _guard(inputs: list, *outputs) -> None:
    """The output guard (`rupturekit.safe_output.check_outputs`), before any work: no output may be
    an input, lie under a file, or replace a folder holding files the run would not write."""
    from rupturekit.safe_output import check_outputs

    try:
        check_outputs(outputs, [item for item in inputs if item is not None])
    except InputError as error:
        raise _fail(str(error)) from None


def _input_files(inputs: list[str]) -> list[Path]:
    """The files an ingest-style command will read (missing ones are reported when reading)."""
    from rupturekit.ingest.batch import IngestResult, expand_inputs

    return expand_inputs(inputs, IngestResult())


def _file_or_none(name: str | Path | None) -> Path | None:
    """A codebook or model given as a path (not a name) is an input too."""
    return Path(name) if name is not None and Path(name).exists() else None


def _print_problems(result, show_all: bool) -> None:
    problems = _Problems(show_all)
    problems.add(result)
    problems.finish()


class _Problems:
    """Warnings and failures printed as units are read (the first MAX_WARNINGS_SHOWN warnings, unless
    `show_all`), counted for the closing lines."""

    def __init__(self, show_all: bool = False):
        self.show_all = show_all
        self.warnings = 0
        self.failures = 0
        self.files: set[str] = set()  # files read

    def add(self, result) -> None:
        self.files.update(getattr(result, "files_read", ()))  # a Ray result names no files
        for warning in result.warnings:
            if self.show_all or self.warnings < MAX_WARNINGS_SHOWN:
                err.print(f"[yellow]warning:[/] {escape(str(warning))}", markup=True)
            self.warnings += 1
        for failure in result.failures:
            err.print(f"[bold red]error:[/] {escape(str(failure))}", markup=True)
        self.failures += len(result.failures)

    def finish(self) -> None:
        hidden = self.warnings - MAX_WARNINGS_SHOWN
        if not self.show_all and hidden > 0:
            err.print(f"[yellow]warning:[/] … {hidden} more warnings (rerun with --all-warnings to see them)",
                      markup=True)


def _plan(inputs: list[str], config, problems: _Problems):
    """The corpus as units of work (`rupturekit.ingest.units`); inputs that name nothing are failures."""
    from rupturekit.ingest.batch import IngestResult, expand_inputs
    from rupturekit.ingest.units import plan_units

    missing = IngestResult()
    paths = expand_inputs(inputs, missing)
    problems.add(missing)
    return plan_units(paths, format_name=config.format)


def _fingerprint(command: str, units, settings: dict) -> dict:
    """What a resumed run must share with the interrupted one: the plan, each input's size and
    modification time, and the settings."""
    import hashlib

    files = sorted({part.path for unit in units for part in unit.parts})
    stats = []
    for name in files:
        try:
            info = os.stat(name)
            stats.append([name, info.st_size, info.st_mtime_ns])
        except OSError:
            stats.append([name, None, None])
    plan = json.dumps([[u.to_json() for u in units], stats], sort_keys=True)
    return {"command": command, "plan": hashlib.sha256(plan.encode()).hexdigest(), "settings": settings}


@contextlib.contextmanager
def _resumable(output: Path, fingerprint: dict, resume: bool):
    """A `ResumableOutput`; an interruption leaves its partial for `--resume`, and says so."""
    from rupturekit.resumable import ResumableOutput

    try:
        sink = ResumableOutput(output, fingerprint, resume=resume)
    except InputError as error:
        raise _fail(str(error)) from None
    if sink.resumed_from:
        err.print(f"resuming: {sink.resumed_from} unit{'s' * (sink.resumed_from != 1)} already written")
        if sink.failures_before:
            err.print(f"[bold red]error:[/] {sink.failures_before} input{'s' * (sink.failures_before != 1)} of "
                      "those could not be read (see the interrupted run)", markup=True)
    elif sink.replaced_partial:
        err.print("note: an interrupted run's partial output was started over (--resume continues one)")
    try:
        with sink:
            yield sink
    except typer.Exit:
        raise
    except BaseException:  # an error, Ctrl-C or SIGTERM: the partial stays for --resume
        err.print(f"{len(sink.done)} of the units were written before the stop; rerun the same command with "
                  "--resume to continue")
        raise


def _progress(total: int, description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True, disable=total < 2 or not err.is_terminal)


def _stream(units, config, problems: _Problems, transform, write, skip=(), description: str = "working"):
    """Read each unit, `transform` its transcripts and `write(unit index, transcripts)`, one unit at a
    time (memory does not grow with the corpus). Returns (transcripts, utterances) written."""
    from rupturekit.ingest.batch import iter_units

    counts = [0, 0]
    with _progress(len(units), description) as bar:
        task = bar.add_task(description, total=len(units), completed=len(skip))
        for unit, result in iter_units(units, config, skip):
            problems.add(result)
            done = transform(result.transcripts) if result.transcripts else []
            write(unit.index, done, len(result.failures))
            counts[0] += len(done)
            counts[1] += sum(len(t.utterances) for t in done)
            bar.advance(task)
    problems.finish()
    return counts


def _load_config(path: Path | None):
    from pydantic import ValidationError

    from rupturekit.ingest.batch import IngestConfig

    if path is None:
        return IngestConfig()
    import yaml

    from rupturekit.bounded import load_yaml, read_text_file

    try:
        data = load_yaml(read_text_file(path, "config", "see configs/ingest.yaml")) or {}
        if not isinstance(data, dict):
            raise _fail(f"{path}: an ingest config must be a YAML mapping; see configs/ingest.yaml for the fields")
        return IngestConfig.model_validate(data)
    except InputError as error:
        raise _fail(str(error)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise _fail(f"{path}{where}: not valid YAML{f' ({problem})' if problem else ''}; fix the config") from None
    except ValidationError as exc:
        detail = exc.errors()[0]
        field = ".".join(str(p) for p in detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        raise _fail(f"{path}: '{field}': {message}; see configs/ingest.yaml for the fields") from None


def _ingest_config(config_path: Path | None, overrides: dict, columns: dict, read_overrides: dict):
    """The ingest config: the YAML file, then command-line overrides; bad settings exit 2."""
    from rupturekit.ingest.detect import FORMATS
    from rupturekit.ingest.roles import parse_role_overrides
    from rupturekit.segment import SegmentSpec

    config = _load_config(config_path)
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if isinstance(overrides.get("roles"), str):
        try:
            overrides["roles"] = {**config.roles, **parse_role_overrides(overrides["roles"])}
        except ValueError as exc:
            raise _fail(f"--roles: {exc}") from None
    columns = {key: value for key, value in columns.items() if value is not None}
    read_overrides = {key: value for key, value in read_overrides.items() if value is not None}
    read = config.read.model_copy(update={
        "columns": config.read.columns.model_copy(update=columns), **read_overrides})
    config = config.model_copy(update={**overrides, "read": read})
    if config.format is not None and config.format not in FORMATS:
        raise _fail(f"--format: unknown format '{config.format}'; use one of {', '.join(FORMATS)}")
    for option, spec in (("--segment", config.segment), ("segment_fallback", config.segment_fallback)):
        try:
            if spec is not None:
                SegmentSpec.parse(spec)
        except ValueError as exc:
            raise _fail(f"{option}: {exc}") from None
    return config


def _run_ingest(inputs: list[str], config_path: Path | None, overrides: dict, columns: dict,
                read_overrides: dict):
    """Build the ingest config (YAML file, then command-line overrides) and run it."""
    from rupturekit.ingest.batch import ingest

    config = _ingest_config(config_path, overrides, columns, read_overrides)

    def progress(paths):
        return track(paths, description="reading", console=err, transient=True,
                     disable=len(paths) < 2 or not err.is_terminal)

    return ingest(inputs, config, progress=progress)


def _tag_on_ray(inputs: list[str], output: Path | None, model: str, engine: dict, tagging: dict,
                config_path: Path | None, overrides: dict) -> None:
    """`tag --engine ray`: the options checked and the run done by `rupturekit.tagger.ray_engine`."""
    from rupturekit.tagger import ray_engine

    try:
        options = ray_engine.cli_options(output, engine, tagging, ray_engine.print_progress(sys.stderr))
        config = _ingest_config(config_path, overrides, columns={}, read_overrides={})
        result = ray_engine.tag_with_ray(inputs, model, output, options, config)
    except InputError as error:
        raise _fail(str(error)) from None
    _print_problems(result, False)
    if not result.written:
        raise typer.Exit(EXIT_BAD_INPUT) if result.failures else _fail(
            f"{', '.join(map(str, inputs))}: no utterances to tag; check the input")
    err.print(ray_engine.summary(result))
    if result.failures:
        raise _fail(f"{len(result.failures)} input{'s' * (len(result.failures) != 1)} could not be read (above)")


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Ingest config (YAML, see configs/ingest.yaml); options given "
                                        "on the command line override it."),
]


def _text_option(name: str, help_text: str):
    return Annotated[str | None, typer.Option(name, help=help_text)]


def _flag(names: str, help_text: str, tristate: bool = False):
    kind = bool | None if tristate else bool
    return Annotated[kind, typer.Option(names, help=help_text, show_default=False)]


@app.command("ingest")
def ingest_command(
    inputs: Annotated[list[str], typer.Argument(help="Transcript files, globs or folders.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.jsonl, .csv, .eaf, .vtt), or a "
                                                                "folder for one file per transcript.")],
    config: ConfigOption = None,
    format_name: FormatOption = None,
    to: _text_option("--to", "Output format: jsonl, csv, eaf or vtt (default: from the output's extension, "
                             "else jsonl).") = None,
    roles: RolesOption = None,
    segment: SegmentOption = None,
    sentences: _flag("--sentences/--no-sentences", "Store sentence spans (spaCy sentencizer).", True) = None,
    strict: _flag("--strict", "Treat any warning or bad file as fatal: stop at the first, and write nothing.")
    = False,
    text_col: _text_option("--text-col", "Tables: the text column.") = None,
    speaker_col: _text_option("--speaker-col", "Tables: the speaker column.") = None,
    transcript_col: _text_option("--transcript-col", "Tables: the transcript (session) id column.") = None,
    order_col: _text_option("--order-col", "Tables: the utterance order (id) column.") = None,
    start_col: _text_option("--start-col", "Tables: the start time column.") = None,
    end_col: _text_option("--end-col", "Tables: the end time column.") = None,
    merge: _flag("--merge/--no-merge", "Whisper: merge consecutive segments of one speaker (default: merge).",
                 True) = None,
    max_merge_gap: Annotated[float | None, typer.Option(
        "--max-merge-gap", help="Whisper: do not merge across a silence longer than this (seconds).")] = None,
    all_warnings: _flag("--all-warnings", "Print every warning, not only the first 30.") = False,
    resume: _flag("--resume", "Continue an interrupted run into the same .jsonl or .csv --output.") = False,
) -> None:
    """Read transcripts in any supported format and write the canonical JSONL (or CSV, ELAN, WebVTT).

    A .jsonl or .csv output is written a unit of transcripts at a time (memory does not grow with the
    corpus), appears whole at the end, and an interrupted run continues with --resume."""
    from rupturekit.export.output import output_format
    from rupturekit.safe_output import Output

    try:
        kind, to_folder = output_format(output, to)
    except InputError as error:
        raise _fail(str(error)) from None
    _guard([*_input_files(inputs), config], Output(output, folder=to_folder))
    streamed = not to_folder and kind in ("jsonl", "csv")
    if resume and not streamed:
        raise _fail(RESUME_NEEDS_A_FILE)
    ingest_config = _ingest_config(
        config, {"format": format_name, "roles": roles, "segment": segment, "sentences": sentences},
        {"text": text_col, "speaker": speaker_col, "transcript": transcript_col, "order": order_col,
         "start": start_col, "end": end_col},
        {"merge_segments": merge, "max_merge_gap": max_merge_gap})
    problems = _Problems(all_warnings)
    units = _plan(inputs, ingest_config, problems)
    if strict and problems.failures:
        raise _fail(f"--strict: {problems.failures} problem{'s' * (problems.failures != 1)} above; nothing was "
                    "written")
    if streamed:
        settings = {"format": kind, "strict": strict, "ingest": ingest_config.model_dump(mode="json")}
        counts = _ingest_to_file(units, ingest_config, problems, output, kind,
                                 _fingerprint("ingest", units, settings), resume, strict)
        target = str(output)
    else:
        counts, target = _ingest_to_folder(units, ingest_config, problems, output, to, strict)
    files = len(problems.files)
    err.print(f"wrote {counts[1]:,} utterances in {counts[0]:,} transcripts "
              f"from {files} file{'s' * (files != 1)} to {target}")
    if problems.failures:
        raise _fail(f"{problems.failures} input{'s' * (problems.failures != 1)} could not be read (above)")


def _strict_stop(problems: _Problems) -> None:
    n = problems.warnings + problems.failures
    raise _fail(f"--strict: {n} problem{'s' * (n != 1)} above; nothing was written")


def _problems_at_all(problems: _Problems) -> bool:
    return bool(problems.warnings or problems.failures)


def _to_file(units, ingest_config, problems: _Problems, transform, serialize, output: Path, fingerprint: dict,
             resume: bool, header: str = "", strict: bool = False, tagging: bool = False):
    """Write unit by unit into a resumable file (`rupturekit.resumable`): `transform` a unit's
    transcripts, then `serialize` them; `header` first. With `strict`, any problem discards the
    partial (nothing is written). Returns (transcripts, utterances) written in all, the
    interrupted run's included; when there is no transcript (`tagging`: no utterance), nothing is
    written and the caller says why."""
    with _resumable(output, fingerprint, resume) as sink:
        problems.failures += sink.failures_before
        if header and -1 not in sink.done:
            sink.write(-1, header)

        def write(index: int, transcripts, failures: int) -> None:
            if strict and _problems_at_all(problems):
                sink.discard()
                _strict_stop(problems)
            sink.write(index, serialize(transcripts), failures, len(transcripts),
                       sum(len(t.utterances) for t in transcripts))

        counts = _stream(units, ingest_config, problems, transform, write, {i for i in sink.done if i >= 0},
                         "tagging" if tagging else "reading")
        if strict and _problems_at_all(problems):
            sink.discard()
            _strict_stop(problems)
        totals = [counts[0] + sink.transcripts_before, counts[1] + sink.utterances_before]
        if totals[1 if tagging else 0]:
            sink.commit()
        else:
            sink.discard()
    return totals


def _ingest_to_file(units, ingest_config, problems: _Problems, output: Path, kind: str, fingerprint: dict,
                    resume: bool, strict: bool):
    """Write the canonical JSONL or CSV unit by unit into a resumable file; (transcripts, utterances)."""
    from rupturekit.export.tables import csv_text
    from rupturekit.records import dumps_jsonl

    def serialize(transcripts) -> str:
        return csv_text(transcripts, header=False) if kind == "csv" else dumps_jsonl(transcripts)

    counts = _to_file(units, ingest_config, problems, lambda ts: ts, serialize, output, fingerprint, resume,
                      csv_text([], header=True) if kind == "csv" else "", strict)
    if not counts[0]:
        raise typer.Exit(EXIT_BAD_INPUT) if problems.failures else \
            _fail("no transcript could be read; nothing was written")
    return counts


def _ingest_to_folder(units, ingest_config, problems: _Problems, output: Path, to: str | None, strict: bool):
    """One file per transcript (or an ELAN / WebVTT file): every transcript is read first, then the
    folder is written whole; ((transcripts, utterances), what was written)."""
    from rupturekit.export.output import write_transcripts

    collected: list = []
    counts = _stream(units, ingest_config, problems, lambda ts: ts, lambda _i, ts, _f: collected.extend(ts),
                     (), "reading")
    if strict and _problems_at_all(problems):
        _strict_stop(problems)
    if not collected:
        raise typer.Exit(EXIT_BAD_INPUT) if problems.failures else \
            _fail("no transcript could be read; nothing was written")
    try:
        written = write_transcripts(collected, output, to)
    except InputError as error:
        raise _fail(str(error)) from None
    return counts, (str(output) if len(written) == 1 else f"{len(written)} files in {output}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


@app.command("info")
def info_command(
    inputs: Annotated[list[str], typer.Argument(help="Transcript files, globs or folders (any format ingest reads).",
                                                show_default=False)],
    config: ConfigOption = None,
    format_name: FormatOption = None,
    roles: RolesOption = None,
    segment: SegmentOption = None,
    by_transcript: Annotated[bool, typer.Option("--by-transcript", help="One row per transcript as well.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Print utterances per role, words, duration, 3RS segments and the share of coded utterances."""
    from rupturekit.report.corpus_stats import describe

    result = _run_ingest(inputs, config, overrides={"format": format_name, "roles": roles,
                                                    "segment": segment, "sentences": False},
                         columns={}, read_overrides={})
    _print_problems(result, False)
    if not result.transcripts:
        if result.failures:
            raise typer.Exit(EXIT_BAD_INPUT)
        raise _fail("no transcript could be read")
    stats = describe(result.transcripts)
    if as_json:
        data = stats.to_dict()
        if by_transcript:
            data["by_transcript"] = {t.transcript_id: describe([t]).to_dict() for t in result.transcripts}
        out.print_json(json.dumps(data))
    else:
        table = Table(title=f"{stats.transcripts:,} transcripts, {stats.utterances:,} utterances")
        for column in ("role", "utterances", "words", "coded"):
            table.add_column(column, justify="left" if column == "role" else "right")
        for role, counts in stats.by_role.items():
            share = counts.coded / counts.utterances
            table.add_row(role, f"{counts.utterances:,}", f"{counts.words:,}", f"{counts.coded:,} ({share:.0%})")
        table.add_row("total", f"{stats.utterances:,}", f"{stats.words:,}",
                      f"{stats.coded:,} ({stats.coded_share:.0%})", style="bold")
        out.print(table)
        timed = f"{stats.timed_transcripts}/{stats.transcripts} transcripts have times"
        out.print(f"duration: {_duration(stats.duration_seconds)} ({timed})")
        out.print(f"3RS segments: {stats.segments:,} ({segment or 'default 5m'})")
        out.print(f"raters: {len(stats.raters)}" + (f" ({', '.join(stats.raters[:12])})" if stats.raters else ""))
        if by_transcript:
            per = Table(title="by transcript")
            for column in ("transcript", "utterances", "therapist", "client", "other/unknown", "words",
                           "duration", "segments", "coded"):
                per.add_column(column, justify="left" if column == "transcript" else "right")
            for transcript in result.transcripts:
                one = describe([transcript])
                roles_n = {r: c.utterances for r, c in one.by_role.items()}
                rest = roles_n.get("other", 0) + roles_n.get("unknown", 0)
                duration = transcript.duration
                per.add_row(transcript.transcript_id, f"{one.utterances:,}", f"{roles_n.get('therapist', 0):,}",
                            f"{roles_n.get('client', 0):,}", f"{rest:,}", f"{one.words:,}",
                            _duration(duration) if duration is not None else "–", str(one.segments),
                            f"{one.coded_share:.0%}")
            out.print(per)
    if result.failures:
        raise _fail(f"{len(result.failures)} input{'s' * (len(result.failures) != 1)} could not be read (above)")


# ------------------------------------------------------------------ features

@app.command("features")
def features_command(
    inputs: Annotated[list[str] | None, typer.Argument(help="Transcript files, globs or folders (any format ingest "
                                                            "reads).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Feature table: .parquet or .csv.")] = None,
    list_features: _flag("--list", "Print the features and the 3RS markers each derives from, then exit.") = False,
    config: ConfigOption = None,
    format_name: FormatOption = None,
    roles: RolesOption = None,
    no_embeddings: _flag("--no-embeddings", "Skip the word-piece embedding similarity feature.") = False,
) -> None:
    """Compute the CIS/3RS cue features, one row per utterance (or list them with --list)."""
    from rupturekit.features import FEATURES

    if list_features:
        for family in dict.fromkeys(spec.family for spec in FEATURES):
            specs = [f for f in FEATURES if f.family == family]
            table = Table(title=f"{family} features", title_justify="left")
            table.add_column("feature", min_width=max(len(f.name) for f in specs))
            table.add_column("3RS markers", min_width=max(len(m) for f in specs for m in f.markers or ["-"]))
            table.add_column("what it measures (for which speakers)", overflow="fold")
            for spec in specs:
                table.add_row(spec.name, "\n".join(spec.markers) or "-",
                              f"{spec.description} ({', '.join(spec.roles)})")
            out.print(table)
        return
    if not inputs or output is None:
        raise _fail("give INPUT... and -o OUTPUT (.parquet or .csv), or --list")
    if output.suffix.lower() not in (".parquet", ".csv"):
        raise _fail(f"{output}: write the features as .parquet or .csv")
    from rupturekit.features import FeatureExtractor
    from rupturekit.safe_output import Output, atomic_write, spreadsheet_safe_frame

    _guard([*_input_files(inputs), config], Output(output))
    result = _run_ingest(inputs, config, overrides={"format": format_name, "roles": roles},
                         columns={}, read_overrides={})
    _print_problems(result, False)
    if not result.transcripts:
        raise typer.Exit(EXIT_BAD_INPUT) if result.failures else _fail("no transcript could be read")
    with err.status(f"computing features for {sum(len(t.utterances) for t in result.transcripts):,} utterances"):
        frame = FeatureExtractor(embeddings=not no_embeddings)(result.transcripts).to_pandas()
    try:
        if output.suffix.lower() == ".csv":
            safe = spreadsheet_safe_frame(frame)
            atomic_write(output, lambda p: safe.to_csv(p, index=False))
        else:
            atomic_write(output, lambda p: frame.to_parquet(p, index=False))
    except InputError as error:
        raise _fail(str(error)) from None
    err.print(f"wrote {len(frame):,} rows x {len(FEATURES)} features to {output}")
    if result.failures:
        raise _fail(f"{len(result.failures)} input{'s' * (len(result.failures) != 1)} could not be read (above)")


# ------------------------------------------------------------------ training and tagging

@app.command("train")
def train_command(
    config_path: Annotated[Path, typer.Argument(help="Training config (YAML), e.g. configs/baseline-3rs.yaml.",
                                                show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the trained model.")],
    overrides: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config value: key.sub=value (repeatable), e.g. --set baseline.C=0.5.")] = None,
    fresh: _flag("--fresh", "Transformer: ignore a checkpoint in the output folder and start over.") = False,
) -> None:
    """Train a tagger (baseline or transformer) from a config; write the model, its metrics and a model card."""
    from rupturekit.safe_output import Output, staged_folder
    from rupturekit.tagger.config import load_train_config

    try:
        config = load_train_config(config_path, overrides or [])
    except InputError as error:
        raise _fail(str(error)) from None
    # Checked before the (long) training: the model folder is built beside OUTPUT and swapped in whole.
    _guard(_training_inputs(config_path, config), Output(output, folder=True, foreign=_model_folder_foreign))
    try:
        with staged_folder(output, _model_folder_foreign) as stage:
            def say(line: str) -> None:
                err.print(line.replace(str(stage), str(output)))

            if config.model == "baseline":
                from rupturekit.tagger.train import train_baseline

                train_baseline(config, stage, progress=say)
            else:
                _train_transformer(config, output, stage, say, resume=not fresh)
    except InputError as error:
        raise _fail(str(error)) from None
    err.print(f"wrote the {config.model} model to {output}")


# The transformer's resumable checkpoint (rupturekit.tagger.transformer.CHECKPOINT_DIR; not imported
# here, as that module loads torch): a folder holding only it is an interrupted run's output.
CHECKPOINT_DIR = "checkpoint"


def _model_folder_foreign(folder: Path) -> list[str]:
    """A model folder (it has model.json) is replaced whole by a new model; any other folder may hold
    only a checkpoint, or nothing."""
    if (folder / "model.json").is_file():
        return []
    return [entry for entry in os.listdir(folder) if entry not in (CHECKPOINT_DIR, f".{CHECKPOINT_DIR}.previous")]


def _training_inputs(config_path: Path, config) -> list[Path | None]:
    """Everything a training config reads: the config, data files and folders, codebooks, a local base."""
    from rupturekit.gold import default_annomi_dir, gold_dir

    sources = [*config.data, *(source for aux in config.aux for source in aux.data)]
    paths: list[Path | None] = [config_path, *(Path(s.path) for s in sources if s.path)]
    paths += [gold_dir() / s.gold for s in sources if s.gold]
    if any(s.gold for s in sources):
        paths.append(Path(config.annomi_dir) if config.annomi_dir else default_annomi_dir())
    paths += [_file_or_none(config.codebook), *(Path(d) for d in config.codebook_dirs),
              *(_file_or_none(aux.codebook) for aux in config.aux), _file_or_none(config.transformer.base)]
    return paths


def _train_transformer(config, output: Path, stage: Path, say, resume: bool) -> None:
    """Train into `stage`, resuming from OUTPUT's checkpoint. If the run stops (error, Ctrl-C,
    SIGTERM), its checkpoint is moved to OUTPUT/checkpoint so that a rerun resumes; OUTPUT's model
    files stay as they were (the checkpoint is not part of the model)."""
    import shutil

    from rupturekit.tagger.transformer_train import train_transformer

    old, new = output / CHECKPOINT_DIR, stage / CHECKPOINT_DIR
    if resume and old.is_dir():
        shutil.copytree(old, new)
    try:
        train_transformer(config, stage, progress=say, resume=resume)
    except BaseException:
        if new.is_dir():
            _keep_checkpoint(new, output)
        raise


def _keep_checkpoint(checkpoint: Path, output: Path) -> None:
    import contextlib
    import shutil

    with contextlib.suppress(OSError):
        output.mkdir(parents=True, exist_ok=True)
        target = output / CHECKPOINT_DIR
        if target.exists():
            previous = output / f".{CHECKPOINT_DIR}.previous"
            shutil.rmtree(previous, ignore_errors=True)
            os.rename(target, previous)
            os.rename(checkpoint, target)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.rename(checkpoint, target)


STREAMED_TAG_FORMATS = ("jsonl", "csv")  # written unit by unit (resumable); html and eaf are built whole


@app.command("tag")
def tag_command(
    inputs: Annotated[list[str], typer.Argument(help="Transcripts in any format ingest reads (files, globs, folders).",
                                                show_default=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (or folder for eaf); "
                                                                       "default: JSONL on standard output.")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="A model folder from `rupturekit train`, or "
                                                             "'default' (the shipped 3RS model).")] = "default",
    out_format: _text_option("--format", "Output: jsonl, csv, eaf or html (default: from the extension).") = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="A threshold of your own instead of a stored operating point: with "
                                              "hierarchical decisions it is read against the (context re-scored) "
                                              "marker score; for older models it replaces every multi-label label's "
                                              "threshold. Not together with --operating-point.")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="auto (ONNX Runtime int8 on a CPU, torch on a GPU), "
                                                           "torch, or onnx.")] = "auto",
    operating_point: Annotated[str | None, typer.Option(
        "--operating-point", help="precision, balanced or recall: which stored operating point decides rupture "
                                  "markers (chosen out of fold; see the model card). Default: the model's own, "
                                  "balanced.")] = None,
    config: ConfigOption = None,
    format_name: _text_option("--input-format", "Input format (text, vtt, srt, whisper, eaf, table, annomi, jsonl); "
                                                "detected when left out.") = None,
    roles: RolesOption = None,
    resume: _flag("--resume", "Continue an interrupted run into the same --output (jsonl or csv): transcripts "
                              "already written are skipped.") = False,
    engine: Annotated[str, typer.Option("--engine", help="local (this process), or ray: a Ray cluster, -o a "
                                        "folder of shards (the [ray] extra; README: \"Tagging on a Ray "
                                        "cluster\").")] = "local",
    address: _text_option("--address", "--engine ray: auto (this node's cluster) or ray://HOST:PORT; default: "
                                       "a local Ray instance for this run.") = None,
    num_workers: Annotated[int | None, typer.Option("--num-workers", help="--engine ray: tagging actors, each "
                                                    "loading the model once (default: one per CPU).")] = None,
    gpus_per_worker: Annotated[float | None, typer.Option("--gpus-per-worker", help="--engine ray: GPUs per actor "
                                                          "(0.5: two share one).")] = None,
    all_warnings: _flag("--all-warnings", "Print every warning, not only the first 30.") = False,
) -> None:
    """Tag utterances with rupture markers and resolution moves: labels, probabilities and evidence.

    Transcripts are read, tagged and written a unit (about 2,000 utterances) at a time, so memory does
    not grow with the corpus; jsonl and csv outputs appear whole at the end, and an interrupted run
    continues with --resume."""
    if engine != "local" or address is not None or num_workers is not None or gpus_per_worker is not None:
        return _tag_on_ray(inputs, output, model, {"engine": engine, "address": address, "num_workers": num_workers,
                                                   "gpus_per_worker": gpus_per_worker, "format": out_format,
                                                   "resume": resume},
                           {"runtime": runtime, "operating_point": operating_point, "threshold": threshold},
                           config, {"format": format_name, "roles": roles})
    kind = out_format or (output.suffix.lower().lstrip(".") if output is not None and output.suffix else "jsonl")
    tagger = _tag_setup(inputs, output, model, kind, threshold, runtime, operating_point, config, resume)
    ingest_config = _ingest_config(config, {"format": format_name, "roles": roles}, {}, {})
    problems = _Problems(all_warnings)
    units = _plan(inputs, ingest_config, problems)
    # the runtime actually in use: an "auto" run resumed on another machine must not mix int8 and torch tags
    settings = {"model": _model_identity(model), "runtime": getattr(tagger, "runtime", runtime), "threshold": threshold,
                "operating_point": operating_point, "format": kind, "ingest": ingest_config.model_dump(mode="json")}
    from rupturekit.tagger.api import tag_unit

    def transform(transcripts):
        return tag_unit(tagger, transcripts)

    if output is not None and kind in STREAMED_TAG_FORMATS:
        counts, labels = _tag_to_file(units, ingest_config, problems, transform, output, kind,
                                      _fingerprint("tag", units, settings), resume)
    else:
        counts, labels = _tag_whole(units, ingest_config, problems, transform, output, kind, model)
    err.print(f"tagged {counts[1]:,} utterances in {counts[0]:,} transcripts ({labels:,} labels)"
              + (f"; wrote {output}" if output else ""))
    if problems.failures:
        raise _fail(f"{problems.failures} input{'s' * (problems.failures != 1)} could not be read (above)")


def _tag_setup(inputs, output, model, kind, threshold, runtime, operating_point, config, resume):
    """Check the tag command's options and load its tagger; anything wrong exits 2 before work starts."""
    from rupturekit.export.output import output_format
    from rupturekit.safe_output import Output
    from rupturekit.tagger.api import load_tagger
    from rupturekit.tagger.tag_files import TAG_FORMATS

    if kind not in TAG_FORMATS:
        raise _fail(f"--format: '{kind}' is not one of {', '.join(TAG_FORMATS)}")
    if output is not None:
        folder = kind == "eaf" and output_format(output, "eaf")[1]
        _guard([*_input_files(inputs), config, _file_or_none(model)], Output(output, folder=folder))
    if resume and (output is None or kind not in STREAMED_TAG_FORMATS):
        raise _fail(RESUME_NEEDS_A_FILE)
    if operating_point is not None and threshold is not None:
        raise _fail("--threshold and --operating-point both set the decision threshold: give one of them")
    if runtime not in ("auto", "torch", "onnx"):
        raise _fail(f"--runtime: '{runtime}' is not one of auto, torch, onnx")
    try:
        with err.status("loading the model"):
            tagger = load_tagger(model, runtime=runtime, progress=err.print)
    except InputError as error:
        raise _fail(str(error)) from None
    if operating_point is not None:
        from rupturekit.tagger.decisions import OPERATING_POINTS

        if operating_point not in OPERATING_POINTS:
            raise _fail(f"--operating-point: '{operating_point}' is not one of {', '.join(OPERATING_POINTS)}")
        try:
            tagger.set_operating_point(operating_point)
        except ValueError as exc:
            raise _fail(f"--operating-point: {exc}") from None
    if threshold is not None:
        tagger.set_threshold(threshold)
    return tagger


def _model_identity(model: str) -> str:
    """The model folder and a hash of its manifest (a retrained model is another model)."""
    import hashlib

    from rupturekit.tagger.api import default_model_dir

    folder = default_model_dir() if model == "default" else Path(model)
    try:
        digest = hashlib.sha256((folder / "model.json").read_bytes()).hexdigest()[:16]
    except OSError:
        digest = "?"
    return f"{folder.resolve()}#{digest}"


def _labels_of(transcripts) -> int:
    return sum(len(u.labels or []) for t in transcripts for u in t.utterances)


def _no_utterances(inputs, problems: _Problems, transcripts: int) -> typer.Exit:
    """The exit when nothing was tagged: the inputs held no transcript, or only empty ones."""
    if transcripts:
        return _fail(f"{', '.join(map(str, inputs))}: no utterances to tag (every transcript is empty); check the "
                     "export")
    return typer.Exit(EXIT_BAD_INPUT) if problems.failures else _fail("no transcript could be read")


def _tag_to_file(units, ingest_config, problems, transform, output: Path, kind: str, fingerprint: dict,
                 resume: bool):
    """Tag unit by unit into a resumable jsonl or csv file; ((transcripts, utterances), labels)."""
    from rupturekit.records import dumps_jsonl
    from rupturekit.tagger.tag_files import tags_csv_text

    labels = 0

    def serialize(tagged) -> str:
        nonlocal labels
        labels += _labels_of(tagged)
        return tags_csv_text(tagged, header=False) if kind == "csv" else dumps_jsonl(tagged)

    counts = _to_file(units, ingest_config, problems, transform, serialize, output, fingerprint, resume,
                      tags_csv_text([], header=True) if kind == "csv" else "", tagging=True)
    if not counts[1]:
        raise _no_utterances(_unit_names(units), problems, counts[0])
    return counts, labels


def _unit_names(units) -> list[str]:
    return list(dict.fromkeys(part.path for unit in units for part in unit.parts))


def _tag_whole(units, ingest_config, problems, transform, output: Path | None, kind: str, model: str):
    """Tag to standard output (JSONL, unit by unit), or collect every tagged transcript for html and
    eaf, which are written whole; ((transcripts, utterances), labels)."""
    from rupturekit.codes import machine_rater
    from rupturekit.records import dumps_jsonl
    from rupturekit.safe_output import atomic_write
    from rupturekit.tagger.tag_files import with_tags_as_codes, write_tags_html

    if output is None and kind != "jsonl":
        raise _fail(f"--format {kind} needs --output")
    collected: list = []
    labels = 0

    def write(_index: int, tagged, _failures: int) -> None:
        nonlocal labels
        labels += _labels_of(tagged)
        if output is None:
            sys.stdout.write(dumps_jsonl(tagged))
            sys.stdout.flush()
        else:
            collected.extend(tagged)

    counts = _stream(units, ingest_config, problems, transform, write, (), "tagging")
    if not counts[1]:
        raise _no_utterances(_unit_names(units), problems, counts[0])
    try:
        if output is not None and kind == "html":
            atomic_write(output, lambda p: write_tags_html(collected, p, str(model)))
        elif output is not None:
            from rupturekit.export.output import write_transcripts

            # Predictions are codes of a machine rater, model:<name>, never of a human rater.
            name = "default" if str(model) == "default" else Path(model).resolve().name
            write_transcripts(with_tags_as_codes(collected, machine_rater("model", name)), output, "eaf")
    except InputError as error:
        raise _fail(str(error)) from None
    return counts, labels


@app.command("weak-label")
def weak_label_command(
    inputs: Annotated[list[str], typer.Argument(help="Transcripts in any format ingest reads.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Canonical JSONL with `weak` probabilities and "
                                                                "codes by rater 'weak:<label model>'.")],
    label_model: Annotated[str, typer.Option("--label-model", help="generative (learns each labeling function's "
                                                                   "accuracy) or majority.")] = "generative",
    codebook: CodebookOption = "3rs",
    report_path: Annotated[Path | None, typer.Option("--report", help="Also write the labeling-function table "
                                                                      "(coverage, overlap, conflict) as Markdown.")]
    = None,
    config: ConfigOption = None,
    format_name: FormatOption = None,
    roles: RolesOption = None,
) -> None:
    """Label a corpus weakly: labeling functions over the cue features, combined by a label model."""
    from rupturekit.records import dumps_jsonl
    from rupturekit.safe_output import Output, atomic_write
    from rupturekit.weak import weak_label, weak_rater

    if label_model not in ("generative", "majority"):
        raise _fail(f"--label-model: '{label_model}' is not one of generative, majority")
    _guard([*_input_files(inputs), config, _file_or_none(codebook)], Output(output),
           Output(report_path, "--report") if report_path is not None else None)
    book = _codebook(codebook, None)
    result = _run_ingest(inputs, config, overrides={"format": format_name, "roles": roles}, columns={},
                         read_overrides={})
    _print_problems(result, False)
    if not result.transcripts:
        raise typer.Exit(EXIT_BAD_INPUT) if result.failures else _fail("no transcript could be read")
    try:
        with err.status(f"weak-labelling {sum(len(t.utterances) for t in result.transcripts):,} utterances"):
            labelled, weak_report = weak_label(result.transcripts, book, model=label_model)
    except ValueError as exc:
        raise _fail(f"--codebook {book.name}: {exc}") from None
    if not any(weak_report.rows_by_role.get(role) for role in ("client", "therapist")):
        err.print("[yellow]warning:[/] no utterance has role client or therapist, so nothing was labelled; "
                  "name the speakers with --roles", markup=True)
    legacy = sorted({c.rater for t in result.transcripts for u in t.utterances for c in u.codes
                     if c.rater.strip().casefold() in ("weak", "model")})
    if legacy:  # older versions wrote machine codes under these plain names; a human may have used them
        err.print(f"[yellow]warning:[/] codes by rater {', '.join(repr(r) for r in legacy)} are kept as they are; "
                  f"the weak labels are codes by '{weak_rater(label_model)}'", markup=True)
    text = dumps_jsonl(labelled)
    try:
        atomic_write(output, lambda p: p.write_text(text, encoding="utf-8"))
        if report_path is not None:
            markdown = weak_report.to_markdown()
            atomic_write(report_path, lambda p: p.write_text(markdown, encoding="utf-8"))
    except InputError as error:
        raise _fail(str(error)) from None
    positive = sum(1 for t in labelled for u in t.utterances for c in u.codes
                   if c.rater == weak_rater(label_model) and c.label != book.none_label)
    err.print(f"wrote {sum(len(t.utterances) for t in labelled):,} utterances ({positive:,} weak labels) to {output}")
    if result.failures:
        raise _fail(f"{len(result.failures)} input{'s' * (len(result.failures) != 1)} could not be read (above)")


# ------------------------------------------------------------------ agreement

def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


@app.command("agree")
def agree_command(
    reference: Annotated[Path, typer.Option("--reference", "-r", help="Human codes: a coded corpus (.jsonl), an "
                                                                      "AnnoMI CSV, ELAN files… (one or many raters).")],
    predicted: Annotated[Path, typer.Option("--predicted", "-p", help="Tags from `rupturekit tag`, or another "
                                                                      "rater's codes.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for report.html, metrics.json, summary.md.")],
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    unit: Annotated[str, typer.Option("--unit", help="utterance, segment:5m | segment:40u | segment:600w, or "
                                                     "session.")] = "utterance",
    dimensions: Annotated[list[str] | None, typer.Option("--dimension", help="Only this dimension (repeatable).")]
    = None,
    level: Annotated[str, typer.Option("--level", help="subtype, family or both.")] = "both",
    reference_raters: Annotated[list[str] | None, typer.Option(
        "--reference-rater", help="Only these reference raters (repeatable).")] = None,
    predicted_rater: _text_option("--predicted-rater", "Take this rater's codes as the predicted side (with the "
                                                       "same file as reference: one rater against the rest).") = None,
    crosswalk_from: _text_option("--crosswalk-from", "The reference is coded with this codebook (e.g. cis): compare "
                                                     "at family level through its declared crosswalk.") = None,
    transcripts: Annotated[list[str] | None, typer.Option("--transcript", help="Only this transcript (repeatable).")]
    = None,
    allow_partial: _flag("--allow-partial", "Compare the overlap when the two sides cover different utterances.")
    = False,
    exhaustive: _flag("--exhaustive", "Treat utterances a reference rater left without any code as 'none'.") = False,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples (of transcripts) for "
                                                                       "95% CIs.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the bootstrap.")] = 0,
    no_figures: _flag("--no-figures", "Skip the plots (faster).") = False,
) -> None:
    """Agreement of tags (or a rater) with human codes: per-label P/R/F1 with CIs, kappa, alpha, AC1, ICC,
    the model as one more rater, and a self-contained HTML report."""
    from rupturekit.agree.report import report_folder_foreign, run_agreement
    from rupturekit.safe_output import Output

    _guard([reference, predicted, _file_or_none(codebook), _file_or_none(crosswalk_from)],
           Output(output, folder=True, foreign=report_folder_foreign))
    book = _codebook(codebook, codebook_dir)
    source_book = _codebook(crosswalk_from, codebook_dir) if crosswalk_from else None
    if level not in ("subtype", "family", "both"):
        raise _fail(f"--level: '{level}' is not one of subtype, family, both")
    if not 0 <= seed < 2**32:
        raise _fail(f"--seed: {seed} is not a seed; give a whole number from 0 to {2**32 - 1}")
    try:
        with err.status("computing agreement"):
            result = run_agreement(reference, predicted, book, output, unit=unit, dimensions=dimensions,
                                   reference_raters=reference_raters, predicted_rater=predicted_rater,
                                   level=level, allow_partial=allow_partial, n_bootstrap=bootstrap, seed=seed,
                                   crosswalk_from=source_book, transcripts=transcripts, figures=not no_figures,
                                   exhaustive=exhaustive)
    except InputError as error:
        raise _fail(str(error)) from None
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", markup=True)
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in result.summary_rows:
        groups.setdefault((str(row["dimension"]), str(row["level"])), []).append(row)
    for (dimension, row_level), rows in groups.items():
        table = Table(title=f"{dimension}, {row_level} level ({unit})", title_justify="left")
        table.add_column("label", min_width=max(len(str(r["label"])) for r in rows))
        for column in ("n", "P", "R", "F1", "95% CI", "κ", "ICC"):
            table.add_column(column, justify="right")
        for row in rows:
            ci = (f"{row['f1_low']:.2f}–{row['f1_high']:.2f}" if row.get("f1_low") is not None
                  and row.get("f1_high") is not None else "–")
            table.add_row(str(row["label"]), _fmt(row.get("support")), _fmt(row.get("precision")),
                          _fmt(row.get("recall")), _fmt(row.get("f1")), ci, _fmt(row.get("kappa")),
                          _fmt(row.get("icc")))
        out.print(table)
    for dimension, data in result.metrics.get("dimensions", {}).items():
        for row_level, level_data in (data.get("levels") or {}).items():
            raters = (level_data or {}).get("raters") or {}
            parts = [f"{name} {raters[key]:.3f}" for key, name in
                     (("fleiss_reference", "reference raters"), ("fleiss_all", "all raters")) if raters.get(key)
                     is not None]
            if parts:
                out.print(f"{dimension} ({row_level}): human Fleiss' κ: {', '.join(parts)}")
    for sentence in result.sentences:
        out.print(sentence)
    for note in result.notes:
        err.print(f"note: {note}")
    err.print(f"wrote {', '.join(str(p) for p in result.paths.values())}")


# ------------------------------------------------------------------ codebooks

codebook_app = typer.Typer(help="List and show codebooks (3RS, CIS, AnnoMI, or your own YAML).",
                           no_args_is_help=True)
app.add_typer(codebook_app, name="codebook")

CodebookDirOption = Annotated[
    list[Path] | None,
    typer.Option("--codebook-dir", help="A folder of your own codebook YAML files (repeatable); also read from "
                                        "$RUPTUREKIT_CODEBOOKS."),
]
CodebookOption = Annotated[str, typer.Option("--codebook", help="Codebook name or YAML file.")]


def _codebook(name: str, dirs: list[Path] | None):
    from rupturekit.codebook import load_codebook

    try:
        return load_codebook(name, dirs or [])
    except InputError as error:
        raise _fail(str(error)) from None


@codebook_app.command("list")
def codebook_list(codebook_dir: CodebookDirOption = None) -> None:
    """List the codebooks found, with their dimensions and label counts."""
    from rupturekit.codebook import available_codebooks

    table = Table(title="codebooks")
    for column in ("name", "title", "dimensions", "labels", "file"):
        table.add_column(column)
    for name, path in available_codebooks(codebook_dir or []).items():
        codebook = _codebook(str(path), None)
        table.add_row(name, codebook.title, ", ".join(d.name for d in codebook.dimensions),
                      str(len(codebook.labels)), str(path))
    out.print(table)


@codebook_app.command("show")
def codebook_show(
    name: Annotated[str, typer.Argument(help="Codebook name (e.g. 3rs, cis, annomi) or a YAML file.")],
    codebook_dir: CodebookDirOption = None,
    examples: _flag("--examples", "Also print each label's examples.") = False,
) -> None:
    """Print a codebook: one table per dimension, with each label and its definition."""
    codebook = _codebook(name, codebook_dir)
    out.print(f"[bold]{codebook.title or codebook.name}[/] ({codebook.name}, {len(codebook.labels)} labels)")
    width = max(len(label) for label in codebook.labels)
    for dimension in codebook.dimensions:
        kind = "multi-label" if dimension.multi_label else "single-label"
        table = Table(title=f"{dimension.name}: {dimension.role} utterances, {kind}", title_justify="left",
                      show_lines=examples)
        table.add_column("label", no_wrap=True, min_width=width)
        table.add_column("definition", overflow="fold")
        for label in dimension.labels:
            definition = label.definition
            if examples and label.examples:
                definition += "\n" + "\n".join(f"e.g. {example}" for example in label.examples)
            table.add_row(label.name, definition)
        out.print(table)
    out.print(f"'{codebook.none_label}': coded, and no label of the dimension applies")
    for rating in codebook.ratings:
        out.print(f"rating {rating.name}: {rating.title}, {rating.scale[0]}-{rating.scale[1]} per {rating.unit}")
    for crosswalk in codebook.crosswalks:
        pairs = ", ".join(f"{a} -> {b or '(no counterpart)'}" for a, b in crosswalk.families.items())
        out.print(f"crosswalk to {crosswalk.to}: {pairs}")


@codebook_app.command("labelstudio")
def codebook_labelstudio(
    name: Annotated[str, typer.Argument(help="Codebook name or YAML file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the labeling config (.xml).")],
    codebook_dir: CodebookDirOption = None,
) -> None:
    """Write the Label Studio labeling config generated from a codebook."""
    from rupturekit.export.labelstudio import labeling_config
    from rupturekit.safe_output import Output, atomic_write

    _guard([_file_or_none(name)], Output(output))
    codebook = _codebook(name, codebook_dir)
    try:
        atomic_write(output, lambda p: p.write_text(labeling_config(codebook), encoding="utf-8"))
    except InputError as error:
        raise _fail(str(error)) from None
    err.print(f"wrote the Label Studio config for '{codebook.name}' to {output}")


# ------------------------------------------------------------------ human codes

codes_app = typer.Typer(help="Import human codes (several raters) and derive consensus views.", no_args_is_help=True)
app.add_typer(codes_app, name="codes")

CODE_FORMATS = ("long", "eaf", "labelstudio", "ingest")


def _read_corpus(path: Path):
    from rupturekit.records import read_jsonl

    try:
        return read_jsonl(path)
    except FileNotFoundError:
        raise _fail(f"{path}: no such file; ingest the transcripts first (rupturekit ingest)") from None
    except InputError as error:
        raise _fail(str(error)) from None


def _code_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".eaf":
        return "eaf"
    if suffix == ".json":
        return "labelstudio"
    if suffix in (".csv", ".tsv", ".jsonl"):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                head = handle.readline(1 << 16)
        except OSError:
            return "ingest"  # missing or a folder: the ingest reader says so in one line
        if "rater" in head and "label" in head and "utterance_id" in head:
            return "long"
    return "ingest"


@codes_app.command("import")
def codes_import(
    inputs: Annotated[list[Path], typer.Argument(help="Code files: long-format CSV/TSV/JSONL, reviewed .eaf files, "
                                                      "a Label Studio export (.json), or any file ingest reads that "
                                                      "carries codes (e.g. AnnoMI-full.csv).", show_default=False)],
    into: Annotated[Path, typer.Option("--into", help="The corpus (canonical JSONL) the codes belong to.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the coded corpus (.jsonl).")],
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    format_name: _text_option("--format", f"One of {', '.join(CODE_FORMATS)}; detected when left out.") = None,
    rater: _text_option("--rater", "Store the codes under this rater name (reviewed ELAN/Label Studio files: "
                                   "default 'review' / the Label Studio user). Names model, weak, model:* and "
                                   "weak:* are reserved for machine codes.") = None,
    tier: Annotated[str, typer.Option("--tier", help="ELAN: the code tier to read (codes@TIER).")] = "review",
    replace: _flag("--replace", "Replace the codes a rater already has on the transcripts the input covers "
                                "(codes on other transcripts are kept).") = False,
) -> None:
    """Attach human codes to a corpus, keeping every rater's codes; nothing is written unless all are valid."""
    from dataclasses import replace as with_rater

    from rupturekit.codes import (
        attach_codes,
        check_human_raters,
        check_rows,
        is_machine_rater,
        read_long_codes,
        rows_from_transcripts,
    )
    from rupturekit.records import dumps_jsonl
    from rupturekit.review import read_reviewed
    from rupturekit.safe_output import Output, atomic_write

    if rater is not None and is_machine_rater(rater):
        raise _fail(f"--rater: '{rater}' is reserved for machine codes (model:NAME, weak:NAME); "
                    "give the human rater's own name")
    _guard([*inputs, into, _file_or_none(codebook)], Output(output))
    book = _codebook(codebook, codebook_dir)
    corpus = _read_corpus(into)
    files = ", ".join(str(p) for p in inputs)
    rows = []
    covered: set[tuple[str, str]] = set()  # (rater, transcript) pairs the inputs cover
    try:
        for path in inputs:
            kind = format_name or _code_format(path)
            if kind not in CODE_FORMATS:
                raise _fail(f"--format: unknown code format '{kind}'; use one of {', '.join(CODE_FORMATS)}")
            if kind == "long":
                read = read_long_codes(path)
            elif kind in ("eaf", "labelstudio"):
                reviewed = read_reviewed([path], corpus, book, "elan" if kind == "eaf" else "labelstudio", rater, tier)
                rows.extend(reviewed.rows)
                covered |= reviewed.covered
                continue
            else:
                from rupturekit.ingest.batch import read_transcripts

                transcripts = read_transcripts(path)
                read = rows_from_transcripts(transcripts)
                if rater:  # the whole file is this rater's coding of its transcripts
                    covered |= {(rater, t.transcript_id) for t in transcripts}
            rows.extend(with_rater(r, rater=rater) for r in read) if rater else rows.extend(read)
        if not rows and not (replace and covered):
            raise InputError(files, "no codes found to import",
                             "check the input (ELAN: the tier given with --tier; tables: the code columns); "
                             "nothing was written")
        check_human_raters(rows, files)
        roles = {(u.transcript_id, u.utterance_id): u.role for t in corpus for u in t.utterances}
        check_rows(rows, book, roles, files)
        coded = attach_codes(corpus, rows, files, replace=replace, covered=covered)
        text = dumps_jsonl(coded)
        atomic_write(output, lambda p: p.write_text(text, encoding="utf-8"))
    except InputError as error:
        raise _fail(str(error)) from None
    raters = sorted({r.rater for r in rows} | {r for r, _ in covered})
    coded_utterances = len({r.key for r in rows})
    err.print(f"attached {len(rows):,} codes by {len(raters)} rater{'s' * (len(raters) != 1)} "
              f"({', '.join(raters[:10])}) to {coded_utterances:,} utterances; wrote {output}")


@codes_app.command("consensus")
def codes_consensus(
    corpus_path: Annotated[Path, typer.Argument(help="A coded corpus (canonical JSONL).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Long-format codes file (.csv) to write.")],
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    how: Annotated[str, typer.Option("--how", help="majority (more than half of the raters), any, or unanimous.")]
    = "majority",
    raters: _text_option("--raters", "Comma-separated raters to use (default: all human raters; machine raters "
                                     "model:NAME and weak:NAME only when named).") = None,
) -> None:
    """Write a consensus view of several raters' codes (the raw codes are never changed)."""
    from rupturekit.codes import consensus_rows, write_long_codes
    from rupturekit.safe_output import Output, atomic_write

    if how == "soft":
        raise _fail("--how: 'soft' (each label's share of the raters) is a training target (a data source's "
                    "consensus), not a consensus view of codes; use majority, any or unanimous")
    if how not in ("majority", "any", "unanimous"):
        raise _fail(f"--how: '{how}' is not one of majority, any, unanimous")
    _guard([corpus_path, _file_or_none(codebook)], Output(output))
    book = _codebook(codebook, codebook_dir)
    corpus = _read_corpus(corpus_path)
    chosen = [r.strip() for r in raters.split(",") if r.strip()] if raters else None
    if chosen:
        present = {c.rater for t in corpus for u in t.utterances for c in u.codes}
        missing = [r for r in chosen if r not in present]
        if missing:
            raise _fail(f"{corpus_path}: rater {', '.join(repr(r) for r in missing)} has no codes; "
                        f"raters present: {', '.join(sorted(present))}")
    rows = consensus_rows(corpus, book, how, chosen)  # type: ignore[arg-type]
    try:
        atomic_write(output, lambda p: write_long_codes(rows, p))
    except InputError as error:
        raise _fail(str(error)) from None
    err.print(f"wrote {len(rows):,} {how} codes on {len({r.key for r in rows}):,} utterances to {output}")


# ------------------------------------------------------------------ review export

@app.command("export")
def export_command(
    corpus_path: Annotated[Path, typer.Argument(help="A corpus (canonical JSONL) with codes and tags.",
                                                show_default=False)],
    to: Annotated[str, typer.Option("--to", help="elan (one .eaf per transcript) or labelstudio (tasks + config).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="A folder (elan), or a tasks .json file or folder "
                                                                "(labelstudio).")],
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    prefill: _text_option("--prefill", "Pre-annotate the review with this rater's (or model's) codes.") = None,
    tier: Annotated[str, typer.Option("--tier", help="ELAN: name of the editable review tier.")] = "review",
) -> None:
    """Export transcripts with every rater's codes for review in ELAN or Label Studio."""
    from rupturekit.codes import resolve_rater
    from rupturekit.review import export_for_review, export_names
    from rupturekit.safe_output import Output, entries_other_than

    if to not in ("elan", "labelstudio"):
        raise _fail(f"--to: '{to}' is not one of elan, labelstudio")
    folder = to == "elan" or output.suffix != ".json"
    _guard([corpus_path, _file_or_none(codebook)], Output(output, folder=folder))
    book = _codebook(codebook, codebook_dir)
    corpus = _read_corpus(corpus_path)
    if folder:  # now that the file names are known
        _guard([corpus_path], Output(output, folder=True, foreign=entries_other_than(export_names(corpus, to, output))))
    else:
        _guard([corpus_path], Output(output.with_name(f"{output.stem}.config.xml"), "--output's .config.xml"))
    if prefill:
        present = {c.rater for t in corpus for u in t.utterances for c in u.codes}
        rater = resolve_rater(prefill, present)  # plain "model" / "weak": the one model:* / weak:* rater
        if rater is None:
            raise _fail(f"--prefill: rater '{prefill}' has no codes in {corpus_path}; raters present: "
                        f"{', '.join(sorted(present)) or 'none'}")
        prefill = rater
    try:
        written = export_for_review(corpus, output, to, book, prefill, tier)  # type: ignore[arg-type]
    except InputError as error:
        raise _fail(str(error)) from None
    err.print(f"wrote {len(written)} file{'s' * (len(written) != 1)} for review to {output}")


# ------------------------------------------------------------------ analysis: from tags to findings

GapOption = Annotated[str, typer.Option("--gap", help="Markers this close belong to one episode: N turns (4u) or "
                                                      "seconds (30s, 1m).")]
ReturnOption = Annotated[int, typer.Option("--return-turns", min=1, help="An episode closes after this many "
                                                                         "consecutive client turns without a marker.")]
RepairOption = _flag("--require-repair/--no-require-repair", "Resolved needs a therapist resolution move before the "
                                                              "client's return (default), or the return alone.")
CodesOption = _text_option("--codes", "Take the labels from this rater's codes, or majority / any / unanimous (the "
                                      "human raters' consensus), or 'tags'. Default: the tags, else the only rater.")


def _episode_rule(gap: str, return_turns: int, require_repair: bool):
    from rupturekit.analysis.episodes import EpisodeRule

    try:
        return EpisodeRule.parse(gap, return_turns, require_repair)
    except ValueError as exc:
        raise _fail(f"--gap: {exc}") from None


def _warn_lines(lines) -> None:
    for line in lines:
        err.print(f"[yellow]warning:[/] {escape(str(line))}", markup=True)


@app.command("episodes")
def episodes_command(
    corpus_path: Annotated[Path, typer.Argument(help="Tagged transcripts (rupturekit tag) or a coded corpus, in any "
                                                     "format ingest reads.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Episodes, one per line: .jsonl, or .csv.")],
    html: Annotated[Path | None, typer.Option("--html", help="Also write the HTML timeline (a strip per session, "
                                                             "episodes as spans; no utterance text).")] = None,
    codes: CodesOption = None,
    gap: GapOption = "4u",
    return_turns: ReturnOption = 2,
    require_repair: RepairOption = True,
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    transcripts: Annotated[list[str] | None, typer.Option("--transcript", help="Only this transcript (repeatable).")]
    = None,
) -> None:
    """Find within-session rupture-repair episodes (rupturekit's rule, not 3RS's own; see the README)."""
    from rupturekit.analysis.commands import run_episodes, write_episodes
    from rupturekit.analysis.episodes import OUTCOMES
    from rupturekit.safe_output import Output

    if output.suffix.lower() not in (".jsonl", ".csv"):
        raise _fail(f"{output}: write the episodes as .jsonl or .csv")
    if html is not None and html.suffix.lower() not in (".html", ".htm"):
        raise _fail(f"--html {html}: give a .html file")
    _guard([corpus_path, _file_or_none(codebook)], Output(output), Output(html, "--html") if html else None)
    rule = _episode_rule(gap, return_turns, require_repair)
    book = _codebook(codebook, codebook_dir)
    try:
        run = run_episodes(corpus_path, book, rule, codes, transcripts)
        write_episodes(run, output, html)
    except InputError as error:
        raise _fail(str(error)) from None
    _warn_lines(run.warnings)
    episodes = run.episodes
    counts = ", ".join(f"{sum(e.outcome == o for e in episodes)} {o.replace('_', ' ')}" for o in OUTCOMES)
    err.print(f"{len(episodes):,} episodes in {len(run.views)} transcripts ({counts}) from {run.source}; "
              f"wrote {output}" + (f" and {html}" if html else ""))


@app.command("sessions")
def sessions_command(
    corpus_path: Annotated[Path, typer.Argument(help="Tagged transcripts or a coded corpus (any format ingest reads).",
                                                show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for segments.csv, sessions.csv, "
                                                                "episodes.jsonl, estimates.jsonl, mapping.json.")],
    segment: Annotated[str | None, typer.Option("--segment", help="Segment size: 5m (default, the codebook's) or "
                                                                  "300s with times; 40u or 600w without.")] = None,
    codes: CodesOption = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Apply a mapping.json from an earlier run (e.g. "
                                                                   "calibrated on human ratings) instead of fitting "
                                                                   "one.")] = None,
    calibrate: _flag("--calibrate/--no-calibrate", "Calibrate the 1-5 estimates on human ratings in the corpus, where "
                                                   "there are any (default), or always use the documented rule.")
    = True,
    gap: GapOption = "4u",
    return_turns: ReturnOption = 2,
    require_repair: RepairOption = True,
    codebook: CodebookOption = "3rs",
    codebook_dir: CodebookDirOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the calibration folds.")] = 0,
) -> None:
    """3RS-style segment and session tables: marker counts, strategies, episodes and ESTIMATED 1-5 ratings; the
    estimates.jsonl feeds `rupturekit agree --unit segment:5m -p` (weighted kappa and ICC against human ratings)."""
    from rupturekit.analysis.commands import SESSION_FILES, run_sessions, write_sessions
    from rupturekit.safe_output import Output, entries_other_than
    from rupturekit.segment import SegmentSpec

    _guard([corpus_path, mapping, _file_or_none(codebook)],
           Output(output, folder=True, foreign=entries_other_than(SESSION_FILES)))
    rule = _episode_rule(gap, return_turns, require_repair)
    book = _codebook(codebook, codebook_dir)
    try:
        spec = SegmentSpec.parse(segment) if segment else None
    except ValueError as exc:
        raise _fail(f"--segment: {exc}") from None
    try:
        analysis, corpus, notes = run_sessions(corpus_path, book, spec, rule, codes, mapping, calibrate, seed)
        write_sessions(analysis, corpus, book, output)
    except InputError as error:
        raise _fail(str(error)) from None
    _warn_lines(notes)
    how = analysis.mapping.method + (" (cross-fitted by transcript)" if analysis.cross_fitted else "")
    raters = f"; human ratings by {', '.join(analysis.human_raters)}" if analysis.human_raters else ""
    err.print(f"{len(analysis.sessions)} sessions, {len(analysis.segments)} segments ({analysis.spec}), "
              f"{len(analysis.episodes)} episodes from {analysis.source}; 1-5 ratings are estimates ({how}{raters}); "
              f"wrote {output}")


@app.command("alliance")
def alliance_command(
    ratings: Annotated[Path, typer.Argument(help="Per-session ratings in long format (.csv/.tsv): patient, session, "
                                                 "and any of alliance (WAI, CALPAS), PSQ items, outcome, transcript.",
                                            show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for episodes.csv, patients.csv, summary.json, "
                                                                "report.html and trajectories/*.png.")],
    columns: _text_option("--columns", "Map roles to columns: patient=ID,session=VISIT,alliance=WAI_TOTAL,outcome=BDI,"
                                       "psq_occurrence=..,psq_intensity=..,psq_resolution=..,transcript=..,site=..")
    = None,
    criteria: Annotated[list[str] | None, typer.Option("--criterion", help="stevens, strauss or stiles (repeatable; "
                                                                          "default all three).")] = None,
    stevens_drop: Annotated[float, typer.Option("--stevens-drop", min=0.0, help="Stevens: the drop that is a "
                                                                                "rupture (WAI item-mean points).")]
    = 1.0,
    stevens_tolerance: Annotated[float, typer.Option("--stevens-tolerance", min=0.0, help="Stevens: repaired within "
                                                                                          "this of the pre-rupture "
                                                                                          "level.")] = 0.25,
    stevens_window: Annotated[int, typer.Option("--stevens-window", min=1, help="Stevens: sessions after the rupture "
                                                                                "in which the repair must come.")] = 5,
    stiles_k: Annotated[float, typer.Option("--stiles-k", min=0.0, help="Stiles: the V's depth in the patient's own "
                                                                        "SDs.")] = 2.0,
    transcripts: Annotated[Path | None, typer.Option("--transcripts", help="Tagged transcripts of the sessions (the "
                                                                           "ratings' transcript column names them): "
                                                                           "join, and correlate self-reports with "
                                                                           "tagged markers.")] = None,
    codes: CodesOption = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples (of patients) for CIs.")]
    = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the bootstrap.")] = 0,
    no_figures: _flag("--no-figures", "Skip the trajectory plots.") = False,
) -> None:
    """Rupture-repair sequences in session-by-session alliance ratings (Stevens 2007, Strauss 2006, Stiles 2004),
    trajectory plots, the outcome link, and the join with tagged transcripts."""
    from rupturekit.analysis.alliance import CRITERIA, CriteriaSettings
    from rupturekit.analysis.commands import ALLIANCE_FILES, run_alliance, write_alliance
    from rupturekit.safe_output import Output, entries_other_than

    _guard([ratings, transcripts], Output(output, folder=True, foreign=entries_other_than(ALLIANCE_FILES)))
    chosen = list(dict.fromkeys(c.strip().lower() for item in (criteria or CRITERIA) for c in item.split(",")
                                if c.strip()))
    if stevens_drop <= 0 or stiles_k <= 0:  # 0 would make every flat pair a rupture (or find none)
        raise _fail("--stevens-drop and --stiles-k must be above 0")
    settings = CriteriaSettings(stevens_drop, stevens_tolerance, stevens_window, stiles_k)
    try:
        run = run_alliance(ratings, columns, chosen, settings, transcripts, None, codes, bootstrap, seed)
        write_alliance(run, output, figures=not no_figures)
    except InputError as error:
        raise _fail(str(error)) from None
    _warn_lines(run.warnings)
    for criterion in run.criteria:
        mine = [e for e in run.result.episodes if e.criterion == criterion]
        out.print(f"{criterion}: {len(mine)} ruptures, {sum(e.repaired for e in mine)} repaired")
    for link in [*run.outcome_links, *run.join_links]:
        out.print(link.sentence())
    err.print(f"{len(run.patients)} patients; wrote {output}")


@app.command("meta")
def meta_command(
    table: Annotated[Path, typer.Argument(help="Studies (r with N, a CI, or z per row), or with --x/--y a patient "
                                               "table such as alliance's patients.csv.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for meta.json, studies.csv, summary.md, "
                                                                "forest.png, report.html.")],
    variance: _text_option("--variance", "Each study's variance: n (1/(N-3)), n-weight (1/N), ci (from its "
                                         "reported CI) or z (from its reported z). Default: n when there is an N "
                                         "column.") = None,
    columns: _text_option("--columns", "Map roles to columns: study=..,r=..,n=..,ci_low=..,ci_high=..,z=..") = None,
    x: _text_option("--x", "Patient table: the rupture index column (e.g. stevens_rupture_repair).") = None,
    y: _text_option("--y", "Patient table: the outcome column (e.g. outcome_change).") = None,
    site: _text_option("--site", "Patient table: one correlation per site (or study), meta-analysed.") = None,
    group: _text_option("--group", "Patient table: the bootstrap of the pooled correlation resamples these groups.")
    = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the pooled-rows CI.")]
    = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the bootstrap.")] = 0,
    no_figures: _flag("--no-figures", "Skip the forest plot.") = False,
) -> None:
    """Fixed- and random-effects meta-analysis of correlations (Fisher z; DerSimonian-Laird and REML tau^2; Q, I^2)
    with a forest plot."""
    from rupturekit.analysis.commands import META_FILES, run_meta, write_meta
    from rupturekit.safe_output import Output, entries_other_than

    _guard([table], Output(output, folder=True, foreign=entries_other_than(META_FILES)))
    try:
        run = run_meta(table, columns, variance, x, y, site, group, bootstrap, seed)
        write_meta(run, output, figures=not no_figures)
    except InputError as error:
        raise _fail(str(error)) from None
    for sentence in run.result.sentences():
        out.print(sentence)
    for note in [*run.result.notes, *run.notes]:
        err.print(f"note: {note}")
    err.print(f"wrote {output}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001
    """Python warnings (from rupturekit's library code and from other libraries) as one line
    each on stderr, like every other warning, without the source line Python would print."""
    text = " ".join(str(message).split())
    kind = "" if category is UserWarning else f"{category.__name__}: "
    err.print(f"[yellow]warning:[/] {escape(kind + text)}", markup=True)


@contextlib.contextmanager
def _warnings_as_lines():
    with warnings.catch_warnings():  # restores the previous hook and filters when the command ends
        warnings.showwarning = _show_warning
        warnings.filterwarnings("default", category=UserWarning)  # printed, even under -W error
        yield


@app.callback()
def _every_command(ctx: typer.Context) -> None:
    ctx.with_resource(_warnings_as_lines())


def main() -> None:
    """Entry point: run the app, turning unexpected errors into one line unless debugging."""
    from rupturekit.safe_output import Terminated, install_signal_handlers, remove_temporaries

    install_signal_handlers()  # SIGTERM / SIGHUP unwind like Ctrl-C, removing temporary files
    try:
        app()
    except InputError as error:  # a stage raised past its command: still one line
        err.print(f"[bold red]error:[/] {error}", markup=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        remove_temporaries()
        err.print("interrupted")
        sys.exit(130)
    except Terminated as stop:
        remove_temporaries()
        err.print(f"stopped by {stop}; nothing half-written was left")
        sys.exit(128 + stop.signum)
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        if os.environ.get("RUPTUREKIT_DEBUG"):
            raise
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                  "(rerun with RUPTUREKIT_DEBUG=1 for the traceback, and report it)", markup=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
