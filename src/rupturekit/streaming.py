"""Run a corpus through a command a unit of transcripts at a time (`rupturekit.ingest.units`): read a
unit, transform it, write it, so that memory does not grow with the corpus.

A file output is written into a `rupturekit.resumable.ResumableOutput`: it appears whole at the end,
and an interrupted run continues with ``--resume``. The ingest side (the corpus as canonical JSONL
or CSV, or a folder of files) is here; the tagging side is in `rupturekit.tagger.api`.

What the user is told as the run goes (warnings, failures, progress, notes) goes to a `Listener`,
which the command line prints (`rupturekit.cli._util.Problems`). A run that cannot go on raises
`Stop`, which the command line turns into its one line and exit status 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rupturekit.errors import InputError
from rupturekit.ingest.units import Unit, plan_units
from rupturekit.reading import IngestConfig, IngestResult, expand_inputs, iter_units
from rupturekit.records import Transcript
from rupturekit.resumable import ResumableOutput


class Stop(Exception):
    """The run ends with exit status 2; `message` is the one line that says why, or None where the
    failures already reported say it."""

    def __init__(self, message: str | None = None):
        super().__init__(message or "")
        self.message = message


class Listener(Protocol):
    """Hears a run as it goes, and counts its problems (`--strict` and the exit status read them)."""

    warnings: int
    failures: int

    def add(self, result: IngestResult) -> None:
        """A unit's (or the input list's) warnings and failures."""

    def finish(self) -> None:
        """Every unit is read."""

    def say(self, line: str) -> None: ...

    def error(self, line: str) -> None: ...

    def progress(self, total: int, completed: int, description: str) -> AbstractContextManager[Callable[[], None]]:
        """A progress bar over `total` units (`completed` done before); yields the callable that
        advances it by one."""


@dataclass
class Written:
    """What a run wrote (a resumed run: the interrupted run's part included)."""

    transcripts: int = 0
    utterances: int = 0

    def add(self, transcripts: list[Transcript]) -> None:
        self.transcripts += len(transcripts)
        self.utterances += sum(len(t.utterances) for t in transcripts)


@dataclass(frozen=True)
class FileTarget:
    """A resumable output file: its path, what a resumed run must share with the interrupted one
    (`fingerprint`), and whether to resume."""

    path: Path
    fingerprint: dict[str, Any]
    resume: bool = False


Transform = Callable[[list[Transcript]], list[Transcript]]
Write = Callable[[int, list[Transcript], int], None]  # (unit index, transcripts, inputs that failed)


def unchanged(transcripts: list[Transcript]) -> list[Transcript]:
    return transcripts


def plan(inputs: list[str], config: IngestConfig, listener: Listener) -> list[Unit]:
    """The corpus as units of work (`rupturekit.ingest.units`); inputs that name nothing are failures."""
    missing = IngestResult()
    paths = expand_inputs(inputs, missing)
    listener.add(missing)
    return plan_units(paths, format_name=config.format)


def fingerprint(command: str, units: list[Unit], settings: dict[str, Any]) -> dict[str, Any]:
    """What a resumed run must share with the interrupted one: the plan, each input's size and
    modification time, and the settings."""
    files = sorted({part.path for unit in units for part in unit.parts})
    stats = []
    for name in files:
        try:
            info = os.stat(name)
            stats.append([name, info.st_size, info.st_mtime_ns])
        except OSError:
            stats.append([name, None, None])
    planned = json.dumps([[u.to_json() for u in units], stats], sort_keys=True)
    return {"command": command, "plan": hashlib.sha256(planned.encode()).hexdigest(), "settings": settings}


def any_problem(listener: Listener) -> bool:
    return bool(listener.warnings or listener.failures)


def strict_stop(listener: Listener) -> Stop:
    n = listener.warnings + listener.failures
    return Stop(f"--strict: {n} problem{'s' * (n != 1)} above; nothing was written")


def nothing_read(listener: Listener, message: str = "no transcript could be read; nothing was written") -> Stop:
    """No transcript was read: the failures reported say why, else `message` does."""
    return Stop(None if listener.failures else message)


@contextlib.contextmanager
def resumable(target: FileTarget, listener: Listener) -> Iterator[ResumableOutput]:
    """A `ResumableOutput`; an interruption leaves its partial for `--resume`, and says so."""
    try:
        sink = ResumableOutput(target.path, target.fingerprint, resume=target.resume)
    except InputError as error:
        raise Stop(str(error)) from None
    if sink.units_done:
        listener.say(f"resuming: {sink.units_done} unit{'s' * (sink.units_done != 1)} already written")
        if sink.failures_before:
            listener.error(f"{sink.failures_before} input{'s' * (sink.failures_before != 1)} of those could not "
                           "be read (see the interrupted run)")
    elif sink.replaced_partial:
        listener.say("note: an interrupted run's partial output was started over (--resume continues one)")
    try:
        with sink:
            yield sink
    except Stop:
        raise
    except BaseException:  # an error, Ctrl-C or SIGTERM: the partial stays for --resume
        listener.say(f"{sink.units_done} of the units were written before the stop; rerun the same command with "
                     "--resume to continue")
        raise


def stream(units: list[Unit], config: IngestConfig, listener: Listener, transform: Transform, write: Write,
           skip: Collection[int] = (), description: str = "working") -> Written:
    """Read each unit, `transform` its transcripts and `write` them, one unit at a time (units in
    `skip` were written by an interrupted run)."""
    written = Written()
    with listener.progress(len(units), len(skip), description) as advance:
        for unit, result in iter_units(units, config, skip):
            listener.add(result)
            done = transform(result.transcripts) if result.transcripts else []
            write(unit.index, done, len(result.failures))
            written.add(done)
            advance()
    listener.finish()
    return written


def any_transcript(written: Written) -> bool:
    return bool(written.transcripts)


def to_file(units: list[Unit], config: IngestConfig, listener: Listener, transform: Transform,
            serialize: Callable[[list[Transcript]], str], target: FileTarget, header: str = "",
            strict: bool = False, description: str = "reading",
            keep: Callable[[Written], bool] = any_transcript) -> Written:
    """Write unit by unit into a resumable file: `transform` a unit's transcripts, then `serialize`
    them; `header` first; `description` labels the progress bar. With `strict`, any problem discards
    the partial (nothing is written). When `keep` refuses what was written (by default: no
    transcript), nothing is written and the caller says why."""
    with resumable(target, listener) as sink:
        listener.failures += sink.failures_before

        def stop_if_strict() -> None:
            if strict and any_problem(listener):
                sink.discard()
                raise strict_stop(listener)

        def write(index: int, transcripts: list[Transcript], failures: int) -> None:
            stop_if_strict()
            sink.write(index, serialize(transcripts), failures, len(transcripts),
                       sum(len(t.utterances) for t in transcripts))

        if header and -1 not in sink.done:
            sink.write(-1, header)
        written = stream(units, config, listener, transform, write, {i for i in sink.done if i >= 0},
                         description)
        stop_if_strict()
        written.transcripts += sink.transcripts_before
        written.utterances += sink.utterances_before
        if keep(written):
            sink.commit()
        else:
            sink.discard()
    return written


# ------------------------------------------------------------------ the ingest side


def ingest_to_file(units: list[Unit], config: IngestConfig, listener: Listener, target: FileTarget, kind: str,
                   strict: bool = False) -> Written:
    """The canonical JSONL or CSV, written unit by unit into a resumable file."""
    from rupturekit.export.output import FilePieces
    from rupturekit.export.tables import csv_text

    pieces = FilePieces(kind, csv_text)
    written = to_file(units, config, listener, unchanged, pieces.text, target, pieces.header, strict)
    if not written.transcripts:
        raise nothing_read(listener)
    return written


def ingest_to_folder(units: list[Unit], config: IngestConfig, listener: Listener, output: Path,
                     to: str | None, strict: bool = False) -> tuple[Written, list[Path]]:
    """One file per transcript (or one ELAN / WebVTT file): every transcript is read first, then the
    folder is written whole; what was read, and the files written."""
    from rupturekit.export.output import write_transcripts

    collected: list[Transcript] = []
    written = stream(units, config, listener, unchanged, lambda _i, ts, _f: collected.extend(ts), (), "reading")
    if strict and any_problem(listener):
        raise strict_stop(listener)
    if not collected:
        raise nothing_read(listener)
    try:
        return written, write_transcripts(collected, output, to)
    except InputError as error:
        raise Stop(str(error)) from None
