"""Outputs that never cost the user data: one guard for every command that writes.

* `check_outputs` refuses, before any work, an output that is one of the inputs (symlinks and
  hard links included), an output under a file, a file output that is a folder (or the
  reverse), two outputs on one path, and a folder output that holds an input or files the run
  did not write (the folder is replaced whole, so those would be lost).
* `atomic_write` writes one file through a temporary sibling; `staged_folder` builds a
  multi-file output in a temporary sibling folder and swaps it in whole at the end. An
  interrupted or failed run leaves the old output as it was, never a mix of old and new files.
* Temporary files and folders are created with the user's umask (``tempfile`` would use 0600
  and 0700) and are removed on any error, on SIGINT, and on SIGTERM once
  `install_signal_handlers` has run (the CLI's entry point does that).
* `safe_csv_writer` / `spreadsheet_safe` escape cells that a spreadsheet would run as a
  formula (OWASP "CSV injection"; the convention Microsoft, Google and LibreOffice document):
  text beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``.

Every refusal is an `InputError`: one line naming the path and what to do.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import secrets
import shutil
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rupturekit.errors import InputError

__all__ = [
    "Output",
    "Terminated",
    "atomic_write",
    "check_outputs",
    "install_signal_handlers",
    "remove_temporaries",
    "safe_csv_writer",
    "spreadsheet_safe",
    "staged_folder",
    "unescape_cell",
]

# Names of folder entries a run may replace; None: any entry may go (the caller checked).
Foreign = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Output:
    """One path a command will write: a file, or a folder that is replaced whole."""

    path: Path
    option: str = "--output"
    folder: bool = False
    # For a folder: returns the entries of an existing folder that this run would not write
    # (they would be lost in the swap); any such entry refuses the output.
    foreign: Foreign | None = None


# ------------------------------------------------------------------ the guard


def _same(a: Path, b: Path) -> bool:
    """Same file or folder: by resolved path (symlinks), or by (st_dev, st_ino) (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        first, second = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _inside(path: Path, folder: Path) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real != root and real.startswith(root.rstrip(os.sep) + os.sep)


def _check_parent(output: Output) -> None:
    for parent in Path(output.path).absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(str(output.path), f"{output.option}: '{parent}' is a file, not a folder",
                                 "choose an output in a folder (nothing was written)")
            return


def file_or_none(name: str | Path | None) -> Path | None:
    """A codebook, model or base given as a path (not a name) is an input too: the path, else None."""
    return Path(name) if name is not None and Path(name).exists() else None


def check_outputs(outputs: Iterable[Output | None], inputs: Iterable[str | Path] = ()) -> None:
    """Refuse outputs that would overwrite an input or cannot be written; see the module docstring.

    `inputs` are the files (and folders) the command reads. Raises InputError (one line)."""
    outputs = [o for o in outputs if o is not None and o.path is not None]
    inputs = [Path(p) for p in inputs if p is not None and os.path.exists(p)]
    for number, output in enumerate(outputs):
        path = Path(output.path)
        _check_parent(output)
        for earlier in outputs[:number]:
            if _same(path, Path(earlier.path)) or os.path.abspath(path) == os.path.abspath(earlier.path):
                raise InputError(str(path), f"{output.option} and {earlier.option} are the same file",
                                 "give each output its own path (nothing was written)")
        for source in inputs:
            if path.exists() and _same(path, source):
                raise InputError(str(path), f"{output.option} is the input {source}",
                                 "write to a new file, then rename it if you want (nothing was written)")
            if output.folder and _inside(source, path):
                raise InputError(str(path), f"{output.option} is replaced whole and holds the input {source}",
                                 "write to a new folder (nothing was written)")
        if not path.exists():
            continue
        if output.folder and not path.is_dir():
            raise InputError(str(path), f"{output.option} is a file, and this output is a folder",
                             "give a folder name (nothing was written)")
        if not output.folder and path.is_dir():
            raise InputError(str(path), f"{output.option} is a folder, and this output is a file",
                             "give a file name (nothing was written)")
        if output.folder and output.foreign is not None:
            _check_foreign(path, output.foreign, output.option)


def _check_foreign(folder: Path, foreign: Foreign, option: str = "--output") -> None:
    strangers = sorted(foreign(folder))
    if strangers:
        shown = ", ".join(strangers[:3]) + (f" and {len(strangers) - 3} more" if len(strangers) > 3 else "")
        raise InputError(str(folder), f"{option}: the folder holds files this run would not write ({shown}), "
                                      "and the output replaces the folder whole",
                         "give a new or empty folder, or move those files away (nothing was written)")


def entries_other_than(names: Iterable[str]) -> Foreign:
    """A `Foreign` test: every entry of the folder that is not in `names`."""
    allowed = set(names)
    return lambda folder: [entry for entry in os.listdir(folder) if entry not in allowed]


# ------------------------------------------------------------------ temporary files

_PENDING: set[str] = set()  # temporary paths to remove if the process is stopped


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived; a BaseException so that `except Exception` does not swallow it,
    while every `finally` on the way out still removes its temporary files."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into `Terminated` (SIGINT already raises KeyboardInterrupt), so that
    temporary files are removed on the way out. Call it once, from the main thread."""
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, _raise_terminated)


def remove_temporaries() -> None:
    """Remove every temporary file or folder still pending (called when the process is stopped)."""
    for name in list(_PENDING):
        _remove(name)


def _remove(name: str) -> None:
    with contextlib.suppress(OSError):
        if os.path.isdir(name) and not os.path.islink(name):
            shutil.rmtree(name)
        elif os.path.lexists(name):
            os.remove(name)
    _PENDING.discard(name)


def _fresh_name(parent: Path, stem: str, suffix: str = "") -> Path:
    for _ in range(100):
        name = parent / f".{stem}.{secrets.token_hex(4)}.tmp{suffix}"
        if not os.path.lexists(name):
            return name
    raise FileExistsError(f"no free temporary name in {parent}")


def _temporary(parent: Path, stem: str, suffix: str = "", folder: bool = False) -> Path:
    """A new hidden sibling, created with mode 0o666 / 0o777 so that the umask applies (tempfile's
    mkstemp / mkdtemp force 0600 / 0700, which left outputs unreadable to the user's group)."""
    for _ in range(100):
        name = parent / f".{stem}.{secrets.token_hex(4)}.tmp{suffix}"
        try:
            if folder:
                os.mkdir(name, 0o777)
            else:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        _PENDING.add(str(name))
        return name
    raise FileExistsError(f"no free temporary name in {parent}")


def _renamed(error: InputError, temporary: Path, final: Path) -> InputError:
    """Name the output, not the temporary file, in an error raised while writing it."""
    if error.file == str(temporary) or error.file.startswith(str(temporary) + os.sep):
        error.file = str(final) + error.file[len(str(temporary)):]
    return error


def _cannot_write(path: Path, exc: OSError) -> InputError:
    return InputError(str(path), f"cannot write ({exc.strerror or exc})",
                      "check the path, its permissions and the free disk space (nothing was written)")


def _target(path: Path) -> Path:
    """Write through a symlink to its target (the link stays); check the folders above."""
    path = Path(path)
    _check_parent(Output(path))
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary sibling file and rename it over `path`, so that a failure or an
    interruption never leaves half a file (and the old file stays as it was).

    `write` receives the temporary path. An OSError becomes an InputError naming `path`."""
    path = _target(Path(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _temporary(path.parent, path.name, path.suffix)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        write(temporary)
        os.replace(temporary, path)
    except InputError as error:
        raise _renamed(error, temporary, path) from None
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    finally:
        _remove(str(temporary))


def cache_write(path: Path, write: Callable[[Path], None]) -> None:
    """`atomic_write` for a cache file: never half a file, and a cache that cannot be written
    only costs time, so a failure is not an error."""
    try:
        atomic_write(path, write)
    except (InputError, OSError):
        pass


@contextlib.contextmanager
def staged_folder(path: Path, foreign: Foreign | None = None, *, option: str = "--output") -> Iterator[Path]:
    """Yield an empty temporary sibling folder to write into; when the block ends without an error,
    it replaces `path` whole (the old folder goes only after the new one is in place). On an
    error or interruption the temporary folder is removed and `path` is left as it was.

    An existing `path` must be a folder whose entries `foreign` accepts (see `Output.foreign`)."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # replace the folder the link points to; keep the link
    check_outputs([Output(path, option, folder=True, foreign=foreign)])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stage = _temporary(path.parent, path.name, folder=True)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        try:
            yield stage
        except InputError as error:
            raise _renamed(error, stage, path) from None
        if path.exists():
            if foreign is not None:
                _check_foreign(path, foreign, option)
            # Two renames: the old folder is set aside, the new one moved in, and only then the
            # old one removed. (An atomic exchange needs renameat2, which Python does not expose.)
            old = _fresh_name(path.parent, path.name, ".old")
            os.rename(path, old)
            try:
                os.rename(stage, path)
            except BaseException:
                os.rename(old, path)
                raise
            _PENDING.add(str(old))
            _remove(str(old))
        else:
            os.rename(stage, path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    finally:
        _remove(str(stage))


# ------------------------------------------------------------------ CSV cells

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number such as -1.5 or +3e-2 is read as a number by spreadsheets, never run as a
# formula, and escaping it would turn numeric columns into text.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


# Text that already starts with quotes before such a character gets one more quote, so that
# `unescape_cell` can always take exactly one off and every text reads back as it was.
_NEEDS_QUOTE = re.compile("'*[" + re.escape("".join(FORMULA_START)) + "]")


def spreadsheet_safe(value: Any) -> Any:
    """`value` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and _NEEDS_QUOTE.match(value) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """Undo `spreadsheet_safe` on a cell read back from a CSV file (so that our own CSV outputs
    round-trip: "'- Yes." is read as "- Yes.")."""
    if value.startswith("'") and _NEEDS_QUOTE.match(value[1:]) and not _NUMBER.fullmatch(value[1:]):
        return value[1:]
    return value


class _SafeWriter:
    def __init__(self, writer: Any):
        self._writer = writer

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([spreadsheet_safe(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_csv_writer(handle: Any, **options: Any) -> _SafeWriter:
    """`csv.writer` whose rows are passed through `spreadsheet_safe` (used by every CSV output)."""
    return _SafeWriter(csv.writer(handle, **options))


def safe_csv_text(rows: Iterable[Iterable[Any]], header: Iterable[Any] | None = None) -> str:
    """CSV text of `rows` (after `header`, when given) through `safe_csv_writer`: a piece of a file
    written unit by unit."""
    import io

    handle = io.StringIO(newline="")
    writer = safe_csv_writer(handle)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return handle.getvalue()


def spreadsheet_safe_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with its text cells passed through `spreadsheet_safe`."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype) in ("string", "str"):
            frame[column] = frame[column].map(spreadsheet_safe)
    return frame
