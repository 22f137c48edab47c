"""Problems with user input: one clear line each, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class InputError(Exception):
    """Bad input that stops reading one file.

    `str()` is a single line: ``FILE:LOCATION: what is wrong; what to do``.
    """

    def __init__(self, file: str, message: str, hint: str, location: str | None = None):
        super().__init__(message)
        self.file = file
        self.message = message
        self.hint = hint
        self.location = location

    def __str__(self) -> str:
        where = f"{self.file}:{self.location}" if self.location else self.file
        return " ".join(f"{where}: {self.message}; {self.hint}".split())


@dataclass
class Problem:
    file: str
    message: str
    location: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.location}" if self.location else self.file
        return " ".join(f"{where}: {self.message}".split())


@dataclass
class ProblemLog:
    """Warnings gathered while reading; `--strict` turns any of them into a failure."""

    warnings: list[Problem] = field(default_factory=list)
    _keys: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def sharing(cls, keys: set[tuple[str, str]]) -> ProblemLog:
        """An empty log whose `once` warnings are said once across every log sharing `keys` (a file
        read in several byte ranges, each into its own log)."""
        return cls(_keys=keys)

    def warn(self, file: str, message: str, location: str | None = None, once: str | None = None) -> None:
        """Record a warning; with `once`, only the first warning with that key per file counts."""
        if once is not None:
            key = (file, once)
            if key in self._keys:
                return
            self._keys.add(key)
        self.warnings.append(Problem(file, message, location))


def first_problem(error: Any) -> tuple[str, str]:
    """(where, what) of the first problem in a pydantic ValidationError: the field's dotted path
    ("" for the object itself) and the message, without the "Value error, " pydantic puts before a
    validator's own words (they are written to be read as they are)."""
    detail = error.errors()[0]
    return ".".join(str(part) for part in detail["loc"]), detail["msg"].removeprefix("Value error, ")
