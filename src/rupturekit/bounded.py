"""Bounded parsing: JSON and YAML that cannot blow the stack, and config files that must be text.

Python's ``json`` and PyYAML recurse once per nesting level, so a file such as
``'[' * 100000`` raises RecursionError instead of a parse error. `loads_json` and `load_yaml`
turn that into the parser's own error type (`json.JSONDecodeError`, `yaml.YAMLError`), so
every caller's existing handler reports it as one line naming the file. They also refuse a
document nested deeper than `MAX_DEPTH` levels even when the parser managed it, because
later stages (pydantic, ``json.dumps`` when writing) recurse over the same structure from a
deeper stack. Nothing we read legitimately nests beyond a handful of levels.

YAML anchors make a small file stand for a huge tree (a "billion laughs" file); PyYAML
shares the aliased objects, but validating them would visit every copy, so `load_yaml` also
caps the number of values it will hand on (`MAX_YAML_VALUES`).

Hand-written rather than a library: the standard parsers already do the parsing; all we add
is an iterative depth walk (a recursive one would fail on the very input it checks).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml

from rupturekit.errors import InputError

MAX_DEPTH = 100  # nesting levels of a JSON or YAML document
MAX_YAML_VALUES = 1_000_000  # values in a YAML document, counting every use of an alias
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


class _TooBig(ValueError):
    pass


def _check_shape(data: Any, max_values: int | None = None) -> None:
    """Raise _TooBig when `data` nests deeper than MAX_DEPTH (or holds more than `max_values`
    values); iterative, so that it works on exactly the inputs a recursive walk could not."""
    if not isinstance(data, (dict, list)):
        return
    stack: list[tuple[Any, int]] = [(data, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _TooBig(TOO_DEEP)
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            seen += 1
            if max_values is not None and seen > max_values:
                raise _TooBig(f"more than {max_values:,} values (YAML aliases count each time they are used)")
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))


def loads_json(text: str) -> Any:
    """`json.loads` that raises `json.JSONDecodeError` (never RecursionError) for deep nesting."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, text, 0) from None
    try:
        _check_shape(data)
    except _TooBig as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None
    return data


class TooDeepYAML(yaml.YAMLError):
    """A YAML document nested too deeply (or too big once its aliases are followed)."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


def load_yaml(text: str) -> Any:
    """`yaml.safe_load` that raises `yaml.YAMLError` (never RecursionError) for deep nesting."""
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise TooDeepYAML(TOO_DEEP) from None
    try:
        _check_shape(data, MAX_YAML_VALUES)
    except _TooBig as exc:
        raise TooDeepYAML(str(exc)) from None
    return data


def read_text_file(path: str | Path, what: str, hint: str) -> str:
    """The text of a config-like file (YAML config or codebook): UTF-8, with or without a BOM.

    Anything else is an `InputError` naming the file: a folder, an unreadable or binary file,
    UTF-16 (which a YAML parser would misread after a wrong decode), other encodings. `what`
    names the file in messages ("config", "codebook"); `hint` says where to look for a valid one.
    """
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise InputError(file, f"is a folder, not a {what} file", f"give the {what} file itself") from None
    except OSError as exc:
        raise InputError(file, f"cannot read the {what} ({exc.strerror})", "check the path") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(file, f"the {what} is UTF-16 text", f"re-save it as UTF-8; {hint}")
    if b"\x00" in data:
        raise InputError(file, f"the {what} is a binary file, not YAML text", hint)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(file, f"the {what} is not UTF-8 text (byte {exc.start})", f"re-save it as UTF-8; {hint}",
                         location=f"line {line}") from None
    return text.removeprefix("\ufeff")


def allow_csv_fields(text: str) -> None:
    """Let the csv module read a cell as long as `text` (its default limit, 128 KiB, refuses a
    single long utterance). The text is in memory already, so this bounds nothing that matters."""
    if csv.field_size_limit() <= len(text):
        csv.field_size_limit(len(text) + 1)
