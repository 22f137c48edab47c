"""Writing analysis tables: JSONL (one record per line) and CSV (lists joined by ';', dicts as
``key=value`` pairs, cells a spreadsheet would run as formulas escaped)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rupturekit.safe_output import safe_csv_writer

__all__ = ["cell", "jsonable", "write_csv", "write_jsonl"]


def jsonable(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    if isinstance(value, dict):
        return ";".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ";".join(str(cell(v)) for v in value)
    return value


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> None:
    text = "".join(json.dumps(jsonable(r), ensure_ascii=False, allow_nan=False) + "\n" for r in records)
    Path(path).write_text(text, encoding="utf-8")


def write_csv(records: Sequence[dict[str, Any]], path: Path, columns: Sequence[str] | None = None) -> None:
    columns = list(columns or dict.fromkeys(k for r in records for k in r))
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = safe_csv_writer(handle)
        writer.writerow(columns)
        for record in records:
            writer.writerow([cell(jsonable(record.get(c))) for c in columns])
