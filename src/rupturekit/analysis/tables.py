"""Reading the small tables the analysis commands take (ratings, studies): CSV or TSV, UTF-8,
each problem named by its line, plus ``--columns role=COLUMN,...`` mappings."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from rupturekit.bounded import allow_csv_fields
from rupturekit.errors import InputError
from rupturekit.safe_output import unescape_cell
from rupturekit.source import Source

__all__ = ["Row", "TableFile", "parse_mapping", "read_table"]


@dataclass
class Row:
    line: int
    values: dict[str, str]


@dataclass
class TableFile:
    file: str
    header: list[str]
    rows: list[Row]

    def number(self, row: Row, column: str, what: str, *, required: bool = False, hint: str = "") -> float | None:
        """The cell as a finite number; None when empty (unless `required`)."""
        text = (row.values.get(column) or "").strip()
        if not text or text.upper() in ("NA", "NAN", "N/A"):
            if required:
                raise InputError(self.file, f"{what} ({column}) is empty",
                                 hint or f"give a number in column '{column}'", location=f"line {row.line}")
            return None
        try:
            value = float(text)
        except ValueError:
            raise InputError(self.file, f"{what} ({column}) '{text}' is not a number",
                             hint or f"give a number in column '{column}', or leave the cell empty if it is missing",
                             location=f"line {row.line}") from None
        if not math.isfinite(value):
            raise InputError(self.file, f"{what} ({column}) '{text}' is not a finite number",
                             f"give a finite number in column '{column}'", location=f"line {row.line}")
        return value


def read_table(path: str | Path) -> TableFile:
    """A CSV (or .tsv / .tab) file with a header row; line numbers count the header as line 1."""
    source = Source(Path(path))
    if Path(path).is_dir():
        raise InputError(str(path), "is a folder", "give a .csv file")
    if not Path(path).exists():
        raise InputError(str(path), "no such file", "check the path")
    text = source.text
    allow_csv_fields(text)
    delimiter = "\t" if source.path.suffix.lower() in (".tsv", ".tab") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [(name or "").strip() for name in reader.fieldnames or []]
    if not header or not any(header):
        raise InputError(source.name, "no header row", "the first line names the columns", location="line 1")
    duplicates = sorted({h for h in header if header.count(h) > 1 and h})
    if duplicates:
        raise InputError(source.name, f"column {', '.join(repr(d) for d in duplicates)} appears twice in the header",
                         "give each column its own name", location="line 1")
    reader.fieldnames = header
    rows = []
    line = 1
    for values in reader:
        start = line + 1
        line = reader.line_num
        if None in values:
            raise InputError(source.name, f"the row has more cells than the header ({len(header)} columns)",
                             "remove the extra cells, or quote cells that contain the delimiter",
                             location=f"line {start}")
        clean = {k: unescape_cell(v) if isinstance(v, str) else "" for k, v in values.items()}
        if not any((v or "").strip() for v in clean.values()):
            continue  # a blank line
        rows.append(Row(start, clean))
    return TableFile(source.name, header, rows)


def parse_mapping(text: str | None, roles: dict[str, str], option: str = "--columns") -> dict[str, str]:
    """``role=COLUMN,role=COLUMN`` -> {role: column}; roles must be known (`roles`: role -> help)."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        role, sep, column = part.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or not role or not column:
            raise InputError(option, f"'{part.strip()}' is not role=COLUMN", f"e.g. {next(iter(roles))}=my_column")
        if role not in roles:
            raise InputError(option, f"unknown role '{role}'", f"roles: {', '.join(roles)}")
        out[role] = column
    return out
