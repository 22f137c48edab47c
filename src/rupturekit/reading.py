"""Read a batch of files into transcripts as `rupturekit ingest` does: read (the `ingest` readers),
map roles, segment (the `segment` stage), and collect problems per file. It runs the first two
stages as one, so it sits above both packages (neither imports the other's runner).

One bad file never stops the others; the caller decides (``--strict``) whether
any problem is fatal before anything is written.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from rupturekit.errors import InputError, Problem, ProblemLog
from rupturekit.ingest import read_source
from rupturekit.ingest.detect import detect_format
from rupturekit.ingest.options import ReadOptions
from rupturekit.ingest.roles import assign_roles, normalise_label
from rupturekit.ingest.units import Part, Unit, read_part_text
from rupturekit.records import ROLES, Transcript, loads_jsonl
from rupturekit.segment import SegmentSpec, SentenceSplitter, assign_segments
from rupturekit.segment.segments import DEFAULT_FALLBACK, DEFAULT_SEGMENT
from rupturekit.source import Source

# Extensions picked up when a directory is given; files named explicitly are always read.
TRANSCRIPT_EXTENSIONS = frozenset(
    {".txt", ".text", ".vtt", ".webvtt", ".srt", ".json", ".eaf", ".csv", ".tsv", ".tab", ".jsonl"}
)
# Formats holding one transcript named after the file (the others carry their own ids).
SINGLE_TRANSCRIPT_FORMATS = frozenset({"text", "vtt", "srt", "whisper", "eaf"})


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str | None = None
    read: ReadOptions = ReadOptions()
    roles: dict[str, str] = {}
    # None keeps the segment ids a canonical input already has and fills the rest with 5m.
    segment: str | None = None
    segment_fallback: str = DEFAULT_FALLBACK
    sentences: bool = False

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: dict[str, str]) -> dict[str, str]:
        """Roles as `--roles` takes them (case-insensitive); an unknown one would be written
        into every record and break each later command."""
        checked = {}
        for label, role in roles.items():
            if role.casefold() not in ROLES:
                raise ValueError(f"role '{role}' of speaker '{label}' is not one of {', '.join(ROLES)}")
            checked[label] = role.casefold()
        return checked


@dataclass
class IngestResult:
    transcripts: list[Transcript] = field(default_factory=list)
    log: ProblemLog = field(default_factory=ProblemLog)
    failures: list[InputError] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[Problem]:
        return self.log.warnings


def expand_inputs(inputs: Iterable[str], result: IngestResult) -> list[Path]:
    """Files, globs and directories -> a sorted, de-duplicated list of files."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in TRANSCRIPT_EXTENSIONS
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                result.failures.append(InputError(
                    item, "the folder holds no transcript files",
                    "give files, or a folder with .txt, .vtt, .srt, .json, .eaf, .csv or .jsonl files"))
            paths.extend(found)
        elif path.exists():
            paths.append(path)
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                result.failures.append(InputError(item, "no files match this pattern", "check the pattern"))
            paths.extend(matches)
        else:
            result.failures.append(InputError(item, "no such file or folder", "check the path"))
    unique: dict[Path, None] = {}
    for path in paths:
        unique.setdefault(path.resolve(), None)
    resolved = {p.resolve(): p for p in paths}
    return [resolved[p] for p in unique]


def _rename_clashing(transcripts: list[Transcript], source: Source, format_name: str,
                     taken: dict[str, str], result: IngestResult) -> None:
    for transcript in transcripts:
        old = transcript.transcript_id
        if old not in taken:
            taken[old] = source.name
            continue
        if format_name not in SINGLE_TRANSCRIPT_FORMATS:
            raise InputError(source.name, f"transcript id '{old}' is also in {taken[old]}",
                             "ingest the files separately, or give each transcript its own id")
        # session.vtt beside session.srt -> session_srt; a/s1.txt and b/s1.txt -> b_s1.
        same_folder = Path(taken[old]).parent == source.path.parent
        base = f"{old}_{source.path.suffix.lstrip('.')}" if same_folder else f"{source.path.parent.name}_{old}"
        new, n = base, 2
        while new in taken:
            new, n = f"{base}_{n}", n + 1
        for utterance in transcript.utterances:
            utterance.transcript_id = new
        transcript.transcript_id = new
        taken[new] = source.name
        result.log.warn(source.name, f"transcript id '{old}' is also in {taken[old]}; renamed to '{new}'")


class IngestRun:
    """One run's state across its files: the transcript ids taken (a clash is renamed or refused),
    the speakers seen (for the unused --roles warning), and the segment rules."""

    def __init__(self, config: IngestConfig):
        self.config = config
        self.segment = SegmentSpec.parse(config.segment or DEFAULT_SEGMENT)
        self.fallback = SegmentSpec.parse(config.segment_fallback)
        self.taken: dict[str, str] = {}
        self.speakers_seen: set[str] = set()
        self.transcripts_read = 0
        # "said once per file" warnings stay once per file when a file is read in several byte ranges
        self.once_keys: set[tuple[str, str]] = set()
        self._splitter: SentenceSplitter | None = None  # one for the run: it builds a spaCy pipeline

    def new_result(self) -> IngestResult:
        """An empty result to `read` into, whose once-per-file warnings are the run's."""
        return IngestResult(log=ProblemLog.sharing(self.once_keys))

    def read(self, part: Part, result: IngestResult) -> list[Transcript]:
        """Read one file (or a byte range of a canonical JSONL file) into `result` (made by
        `new_result`, so that a file read in ranges says its once-per-file warnings once); a failure
        is kept in `result.failures`. Returns the transcripts read."""
        source = Source(Path(part.path), log=ProblemLog.sharing(self.once_keys))
        try:
            if part.whole:
                format_name = self.config.format or detect_format(source)
                transcripts = read_source(source, format_name, self.config.read)
            else:  # planned by units.plan_units: canonical JSONL, whole transcripts
                format_name = "jsonl"
                try:
                    text = read_part_text(part)
                except UnicodeDecodeError as exc:
                    raise InputError(source.name, f"not UTF-8 text (byte {part.start + exc.start})",
                                     "give the .jsonl file that `rupturekit ingest` wrote") from None
                except OSError as exc:
                    raise InputError(source.name, f"cannot read the file ({exc.strerror or exc})",
                                     "check the path and its permissions") from None
                transcripts = loads_jsonl(text, source.name, part.line)
            _rename_clashing(transcripts, source, format_name, self.taken, result)
        except InputError as error:
            result.failures.append(error)
            return []
        finally:
            result.log.warnings.extend(source.log.warnings)
        for transcript in transcripts:
            assign_roles(transcript, self.config.roles, result.log, source.name)
            assign_segments(transcript, self.segment, self.fallback, result.log, source.name,
                            overwrite=self.config.segment is not None)
            self.speakers_seen.update(normalise_label(u.speaker) for u in transcript.utterances)
        self.transcripts_read += len(transcripts)
        if self.config.sentences and transcripts:
            self._splitter = self._splitter or SentenceSplitter()
            self._splitter(transcripts)
        result.transcripts.extend(transcripts)
        if source.name not in result.files_read:
            result.files_read.append(source.name)
        return transcripts

    def finish(self, result: IngestResult) -> None:
        """The warnings that need every file read first."""
        unused = sorted(label for label in self.config.roles if normalise_label(label) not in self.speakers_seen)
        if unused and self.transcripts_read:
            result.log.warn("--roles", f"no speaker is labelled {', '.join(repr(s) for s in unused)}",)


def ingest(inputs: Iterable[str], config: IngestConfig,
           progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None) -> IngestResult:
    """Read every input; failures are kept per file in `result.failures`."""
    run = IngestRun(config)
    result = run.new_result()
    paths = expand_inputs(inputs, result)
    for path in progress(paths) if progress else paths:
        run.read(Part(str(path)), result)
    run.finish(result)
    return result


def read_unit(unit: Unit, config: IngestConfig, run: IngestRun | None = None) -> IngestResult:
    """The transcripts of one planned unit (see `units.plan_units`), read as `ingest` reads them.
    Pass one `run` for all units of a corpus so that transcript ids clashing across files are caught."""
    run = run or IngestRun(config)
    result = run.new_result()
    for part in unit.parts:
        run.read(part, result)
    return result


def iter_units(units: Iterable[Unit], config: IngestConfig, skip: Collection[int] = ()
               ) -> Iterator[tuple[Unit, IngestResult]]:
    """Each unit read in turn (`read_unit`, one run across all, so that clashing ids are caught),
    except those in `skip` (done by an interrupted run): those are read again but not yielded, so
    that ids taken and speakers seen are what a run from the start would have (a clash is renamed
    or refused the same way). The files they read are added to the next item's `files_read` (a
    resumed run's "from N files" counts them), their warnings are not. The last item's result also
    holds the warnings that need every file read first."""
    run = IngestRun(config)
    pending: tuple[Unit, IngestResult] | None = None
    skipped_files: list[str] = []  # files the skipped units read: part of this run's "from N files"
    for unit in units:
        if unit.index in skip:
            # its warnings were printed by the interrupted run; the files it read still count
            skipped_files.extend(read_unit(unit, config, run).files_read)
            continue
        if pending is not None:
            yield pending
        result = read_unit(unit, config, run)
        if skipped_files:
            result.files_read[:0] = [name for name in dict.fromkeys(skipped_files) if name not in result.files_read]
            skipped_files = []
        pending = (unit, result)
    if pending is not None:
        run.finish(pending[1])
        yield pending


def read_transcripts(*inputs: str | Path, **config) -> list[Transcript]:
    """Python API: read files, globs or folders into transcripts.

    Keyword arguments are IngestConfig fields (format, roles, segment, sentences, read).
    Warnings are issued with `warnings.warn`; the first unreadable input raises InputError.
    """
    import warnings

    result = ingest([str(item) for item in inputs], IngestConfig(**config))
    for problem in result.warnings:
        warnings.warn(str(problem), stacklevel=2)
    if result.failures:
        raise result.failures[0]
    return result.transcripts


def read_with_notes(path: str | Path) -> tuple[list[Transcript], list[str]]:
    """`read_transcripts` of one path, with the reader's warnings as distinct lines instead of
    Python warnings. The "no timestamps; 5m segments approximated" notes are left out: the
    callers (agreement units, the analysis layer) assign their own segments."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transcripts = read_transcripts(path)
    notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)
                               and "segments approximated by" not in str(w.message)))
    return transcripts, notes
