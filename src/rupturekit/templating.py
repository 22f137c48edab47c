"""Jinja2 templates shipped in `rupturekit/templates/`: HTML pages and model cards.

One environment for the package: templates are files beside the code, `StrictUndefined` turns a
misspelt name into an error instead of an empty string, and autoescaping is on for HTML only
(a Markdown card keeps its characters).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@cache
def environment() -> Environment:
    return Environment(loader=PackageLoader("rupturekit", "templates"), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html", "html.j2"]), keep_trailing_newline=True,
                       trim_blocks=True, lstrip_blocks=True)


def render(name: str, **context: Any) -> str:
    """The template `name` (a file in `rupturekit/templates/`) filled with `context`."""
    return environment().get_template(name).render(**context)
