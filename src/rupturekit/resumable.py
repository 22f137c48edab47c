"""An output file written unit by unit, that an interrupted run can resume.

The pieces go to a hidden sibling, ``.NAME.partial``; a journal beside it, ``.NAME.partial.log``,
gets one line per finished unit (its index and the partial's length after it), appended only once
the unit's bytes are written. The output's own name appears only when every unit is done (an
atomic rename), so a reader never sees half a file. On resume, the partial is cut back to the last
journaled length (a unit written but not journaled is written again, never twice) and the
journaled units are skipped.

The journal's first line is the run's fingerprint (inputs as planned, model, settings): a partial
from another run is never continued.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import IO, Any

from rupturekit.errors import InputError
from rupturekit.safe_output import atomic_write

_VERSION = 1


def partial_paths(path: Path) -> tuple[Path, Path]:
    """(partial file, journal) of an output path."""
    return path.with_name(f".{path.name}.partial"), path.with_name(f".{path.name}.partial.log")


def _read_journal(journal: Path, size: int) -> tuple[dict[str, Any] | None, list[dict[str, int]]]:
    """(fingerprint, the entries of the units done), keeping only the entries whose bytes the
    partial (`size` bytes) really holds, in order: a torn last line, or a unit journaled but lost
    from the partial by a crash, ends the list."""
    header, entries = None, []
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for number, line in enumerate(journal.read_text(encoding="utf-8").split("\n")):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if number == 0:
                header = record
                continue
            if not isinstance(record, dict) or int(record.get("bytes", size + 1)) > size:
                break
            entries.append({key: int(value) for key, value in record.items()})
    return header, entries


class ResumableOutput:
    """Write `path` unit by unit; see the module docstring. Use as a context manager: the partial
    and its journal stay when the block is left by an exception (so that `--resume` can continue),
    and are removed by `discard()`."""

    def __init__(self, path: Path, fingerprint: dict[str, Any], resume: bool = False):
        self.path = Path(path)
        self.partial, self.journal = partial_paths(self.path)
        self.fingerprint = {"version": _VERSION, **fingerprint}
        self.done: set[int] = set()  # unit indexes journaled (a CSV header is the pseudo-unit -1)
        self.failures_before: int = 0  # inputs of those units that could not be read
        self.transcripts_before: int = 0  # transcripts those units wrote
        self.utterances_before: int = 0
        self.replaced_partial = False  # an earlier interrupted run's partial was started over
        self._data: IO[bytes] | None = None
        self._log: IO[str] | None = None
        self._open(resume)

    @property
    def units_done(self) -> int:
        """Units written so far (a resumed run's: the interrupted run's to begin with), the header not
        counted."""
        return sum(1 for unit in self.done if unit >= 0)

    def _open(self, resume: bool) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = self.partial.stat().st_size if resume and self.partial.is_file() else None
            header, entries = _read_journal(self.journal, size) if size is not None else (None, [])
            if header is not None:
                if header != self.fingerprint:
                    raise InputError(str(self.path), "--resume: the partial output was made by a run with other "
                                     "inputs, model or settings", "rerun that command, or leave out --resume to "
                                     "start over")
                self._continue(entries)
                return
            self.replaced_partial = self.partial.exists() or self.journal.exists()
            self._data = open(self.partial, "wb")  # noqa: SIM115 - closed in close()
            self._log = open(self.journal, "w", encoding="utf-8")  # noqa: SIM115
            self._log.write(json.dumps(self.fingerprint, sort_keys=True) + "\n")
            self._log.flush()
        except OSError as exc:
            self.close()
            raise InputError(str(self.path), f"cannot write ({exc.strerror or exc})",
                             "check the path, its permissions and the free disk space") from None

    def _continue(self, entries: list[dict[str, int]]) -> None:
        """Reopen an interrupted run's partial, cut back to its last journaled unit, and rewrite the
        journal with the entries kept (so that a torn line does not swallow the next one)."""
        lines = [json.dumps(self.fingerprint, sort_keys=True)] + [json.dumps(entry) for entry in entries]
        text = "\n".join(lines) + "\n"
        try:
            atomic_write(self.journal, lambda path: path.write_text(text, encoding="utf-8"))
        except InputError as error:  # named by the output, as every other failure to write it here
            raise InputError(str(self.path), error.message, "check the path, its permissions and the free disk "
                             "space") from None
        # The journal first: kept entries never name bytes past the partial's end, so a crash
        # between the two leaves a partial that the next --resume cuts back the same way.
        length = entries[-1]["bytes"] if entries else 0
        self._data = open(self.partial, "r+b")  # noqa: SIM115 - closed in close()
        self._data.truncate(length)
        self._data.seek(length)
        self._log = open(self.journal, "a", encoding="utf-8")  # noqa: SIM115
        self.done = {entry["unit"] for entry in entries}
        self.failures_before = sum(entry.get("failures", 0) for entry in entries)
        self.transcripts_before = sum(entry.get("transcripts", 0) for entry in entries)
        self.utterances_before = sum(entry.get("utterances", 0) for entry in entries)

    def write(self, unit: int, data: str, failures: int = 0, transcripts: int = 0, utterances: int = 0) -> None:
        """Append one unit's text; the journal records it (with how many transcripts it wrote and
        how many of its inputs could not be read, so that a resumed run still counts and reports
        them) only once its bytes are on disk."""
        assert self._data is not None and self._log is not None
        try:
            self._data.write(data.encode("utf-8"))
            self._data.flush()
            os.fsync(self._data.fileno())  # the journal never names bytes that a crash could lose
            entry = {"unit": unit, "bytes": self._data.tell(), "transcripts": transcripts, "utterances": utterances,
                     **({"failures": failures} if failures else {})}
            self._log.write(json.dumps(entry) + "\n")
            self._log.flush()
        except OSError as exc:
            raise InputError(str(self.path), f"cannot write ({exc.strerror or exc})",
                             "free some disk space, then rerun with --resume") from None
        self.done.add(unit)

    def close(self) -> None:
        for handle in (self._data, self._log):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        self._data = self._log = None

    def commit(self) -> None:
        """Every unit is written: the partial becomes the output, at once (and the journal goes)."""
        assert self._data is not None
        try:
            os.fsync(self._data.fileno())
            self.close()
            os.replace(self.partial, self.path)
        except OSError as exc:
            raise InputError(str(self.path), f"cannot write ({exc.strerror or exc})",
                             "check the path and its permissions, then rerun with --resume") from None
        with contextlib.suppress(OSError):
            os.remove(self.journal)

    def discard(self) -> None:
        """Remove the partial and its journal (a run that must write nothing)."""
        self.close()
        for name in (self.partial, self.journal):
            with contextlib.suppress(OSError):
                os.remove(name)

    def __enter__(self) -> ResumableOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
