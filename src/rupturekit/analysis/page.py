"""Self-contained HTML pages for `rupturekit alliance` and `rupturekit meta` (Jinja2, inline CSS,
figures as data: URIs): a page is a title and a list of blocks (heading, paragraph, note, table,
figure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, select_autoescape

from rupturekit.analysis.table_files import cell

__all__ = ["Page", "render"]

# the look every analysis page shares (the timeline page adds its own rules)
BASE_STYLE = """
body{font-family:system-ui,sans-serif;max-width:74rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.4}
h2{border-bottom:1px solid #ccc;padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.84rem}
th,td{border-bottom:1px solid #e3e3e3;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ base_style }}
.note{color:#666;font-size:.85rem}.warn{color:#8a3b12;font-size:.85rem}
.sentence{background:#eef4fb;border-left:4px solid #1f5fa8;padding:.4rem .7rem;margin:.5rem 0}
img{max-width:100%;height:auto;display:block;margin:.4rem 0 1rem}.figs{display:flex;flex-wrap:wrap;gap:.5rem}
.figs img{max-width:48%}
</style></head><body>
<h1>{{ title }}</h1>
<p class="note"><strong>Research tool, not a clinical instrument.</strong></p>
{% for b in blocks %}
{% if b.kind == "h2" %}<h2>{{ b.text }}</h2>
{% elif b.kind == "p" %}<p>{{ b.text }}</p>
{% elif b.kind == "note" %}<p class="note">{{ b.text }}</p>
{% elif b.kind == "warn" %}<p class="warn">warning: {{ b.text }}</p>
{% elif b.kind == "sentence" %}<p class="sentence">{{ b.text }}</p>
{% elif b.kind == "img" %}<img src="{{ b.uri }}" alt="{{ b.alt }}">
{% elif b.kind == "figs" %}<div class="figs">{% for f in b.figures %}<img src="{{ f.uri }}" alt="{{ f.alt }}">{% endfor %}</div>
{% elif b.kind == "table" %}<table><thead><tr>{% for h in b.columns %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for row in b.rows %}<tr>{% for c in row %}<td{% if c.n %} class="n"{% endif %}>{{ c.v }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% endif %}
{% endfor %}
</body></html>
"""  # noqa: E501 (the template's lines)


class Page:
    def __init__(self, title: str):
        self.title = title
        self.blocks: list[dict[str, Any]] = []

    def add(self, kind: str, text: str = "", **extra: Any) -> Page:
        self.blocks.append({"kind": kind, "text": text, **extra})
        return self

    def table(self, records: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> Page:
        columns = list(columns or dict.fromkeys(k for r in records for k in r))
        rows = []
        for record in records:
            row = []
            for column in columns:
                value = record.get(column)
                if isinstance(value, float):
                    value = f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
                row.append({"v": cell(value), "n": isinstance(record.get(column), (int, float))
                            and not isinstance(record.get(column), bool)})
            rows.append(row)
        return self.add("table", columns=columns, rows=rows)


def render(page: Page) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                      lstrip_blocks=True)
    return env.from_string(_TEMPLATE).render(title=page.title, blocks=page.blocks, base_style=BASE_STYLE)
