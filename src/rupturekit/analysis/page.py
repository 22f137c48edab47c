"""Self-contained HTML pages for `rupturekit alliance` and `rupturekit meta` (Jinja2, inline CSS,
figures as data: URIs): a page is a title and a list of typed blocks (heading, note,
warning, sentence, figure, figures, table), rendered by `templates/analysis_page.html.j2`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rupturekit.analysis.table_files import cell
from rupturekit.templating import render as render_template

__all__ = ["Block", "Cell", "Figure", "Figures", "Heading", "Note", "Page", "Sentence", "TableBlock", "Warn",
           "render"]


class Block:
    """A piece of a page. The template shows each block by its class name, `kind`."""

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class _Text(Block):
    text: str


class Heading(_Text): ...  # a section heading (h2)


class Note(_Text): ...  # small grey print


class Warn(_Text): ...  # "warning: ..."; not named Warning, which would shadow the builtin


class Sentence(_Text): ...  # a finding in one sentence, set off from the notes


@dataclass(frozen=True)
class Figure(Block):
    uri: str  # a data: URI
    alt: str


@dataclass(frozen=True)
class Figures(Block):
    """Figures side by side."""

    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool  # right-aligned


@dataclass(frozen=True)
class TableBlock(Block):
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    @classmethod
    def of(cls, records: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> TableBlock:
        """Records as a table: the columns given, or every key in the order first seen."""
        columns = tuple(columns or dict.fromkeys(k for r in records for k in r))
        return cls(columns, tuple(tuple(_cell(record.get(c)) for c in columns) for record in records))


def _cell(value: Any) -> Cell:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, float):  # three significant digits on the page (the CSV files keep six)
        value = f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return Cell(str(cell(value)), numeric)


@dataclass
class Page:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, block: Block) -> Page:
        self.blocks.append(block)
        return self

    def table(self, records: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> Page:
        return self.add(TableBlock.of(records, columns))


def render(page: Page) -> str:
    """The page's HTML (ending without a newline, as it always has)."""
    return render_template("analysis_page.html.j2", page=page)
