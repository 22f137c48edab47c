"""What the commands share: the app and its consoles, the one-line failure, the output guard, the
problems printed as inputs are read, and Python warnings as lines (the options: `_options`)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from rupturekit.errors import InputError
from rupturekit.safe_output import file_or_none as file_or_none  # re-exported: every command guards its inputs

app = typer.Typer(
    name="rupturekit",
    help="Find alliance ruptures and resolution moves in psychotherapy transcripts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# No markup unless a line asks for it (markup=True, the input it quotes escaped): a plain line naming
# a path such as a[/b].jsonl is printed as it is, not read as a closing tag.
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
out = Console(highlight=False)

EXIT_BAD_INPUT = 2
MAX_WARNINGS_SHOWN = 30
RESUME_NEEDS_A_FILE = "--resume continues an --output file in jsonl or csv; give one"


# ------------------------------------------------------------------ failing in one line


def fail(message: str) -> typer.Exit:
    # escaped: a message quoting the input ("[laughs]", "[1, 3]") must not be read as markup
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(EXIT_BAD_INPUT)


@contextlib.contextmanager
def one_line() -> Iterator[None]:
    """An InputError raised inside (bad input, an output that cannot be written) ends the command in
    its one line."""
    try:
        yield
    except InputError as error:
        raise fail(str(error)) from None


@contextlib.contextmanager
def stops() -> Iterator[None]:
    """A streamed run's `rupturekit.streaming.Stop` ends the command: its line, or none where the
    failures printed above say why."""
    from rupturekit.streaming import Stop  # here: it loads the ingest stage, which --help does not need

    try:
        yield
    except Stop as stop:
        raise (typer.Exit(EXIT_BAD_INPUT) if stop.message is None else fail(stop.message)) from None


def fail_if_unread(failures: int) -> None:
    """The closing line of a run where some inputs could not be read (each was reported above)."""
    if failures:
        raise fail(f"{failures} input{'s' * (failures != 1)} could not be read (above)")


def guard(inputs: list, *outputs) -> None:
    """The output guard (`rupturekit.safe_output.check_outputs`), before any work: no output may be
    an input, lie under a file, or replace a folder holding files the run would not write."""
    from rupturekit.safe_output import check_outputs

    with one_line():
        check_outputs(outputs, [item for item in inputs if item is not None])


def input_files(inputs: list[str]) -> list[Path]:
    """The files an ingest-style command will read (missing ones are reported when reading)."""
    from rupturekit.reading import IngestResult, expand_inputs

    return expand_inputs(inputs, IngestResult())


# ------------------------------------------------------------------ problems, progress and warnings


def warn_lines(lines: Iterable) -> None:
    for line in lines:
        err.print(f"[yellow]warning:[/] {escape(str(line))}", markup=True)


def progress_bar(total: int, description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True, disable=total < 2 or not err.is_terminal)


class Problems:
    """Warnings and failures printed as units are read (the first MAX_WARNINGS_SHOWN warnings, unless
    `show_all`), counted for the closing lines: the `rupturekit.streaming.Listener` of a command."""

    def __init__(self, show_all: bool = False):
        self.show_all = show_all
        self.warnings = 0
        self.failures = 0
        self.files: set[str] = set()  # files read

    def add(self, result) -> None:
        self.files.update(getattr(result, "files_read", ()))  # a Ray result names no files
        for warning in result.warnings:
            if self.show_all or self.warnings < MAX_WARNINGS_SHOWN:
                warn_lines([warning])
            self.warnings += 1
        for failure in result.failures:
            err.print(f"[bold red]error:[/] {escape(str(failure))}", markup=True)
        self.failures += len(result.failures)

    def finish(self) -> None:
        hidden = self.warnings - MAX_WARNINGS_SHOWN
        if not self.show_all and hidden > 0:
            err.print(f"[yellow]warning:[/] … {hidden} more warnings (rerun with --all-warnings to see them)",
                      markup=True)

    def say(self, line: str) -> None:
        err.print(line)

    def error(self, line: str) -> None:
        err.print(f"[bold red]error:[/] {escape(line)}", markup=True)

    @contextlib.contextmanager
    def progress(self, total: int, completed: int, description: str) -> Iterator[Callable[[], None]]:
        with progress_bar(total, description) as bar:
            task = bar.add_task(description, total=total, completed=completed)
            yield lambda: bar.advance(task)


def print_problems(result, show_all: bool = False) -> None:
    problems = Problems(show_all)
    problems.add(result)
    problems.finish()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001
    """Python warnings (from rupturekit's library code and from other libraries) as one line
    each on stderr, like every other warning, without the source line Python would print."""
    text = " ".join(str(message).split())
    kind = "" if category is UserWarning else f"{category.__name__}: "
    warn_lines([kind + text])


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    with warnings.catch_warnings():  # restores the previous hook and filters when the command ends
        warnings.showwarning = _show_warning
        warnings.filterwarnings("default", category=UserWarning)  # printed, even under -W error
        yield


@app.callback()
def _every_command(ctx: typer.Context) -> None:
    ctx.with_resource(_warnings_as_lines())
