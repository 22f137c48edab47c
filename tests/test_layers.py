"""No stage imports a later one (ARCHITECTURE.md): every import inside the package goes down this order."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rupturekit"

# Each top-level module or package of rupturekit, by its place: it may import only places with a lower
# number. The package root (`rupturekit.__version__`, the public API) is left out.
ORDER: dict[str, int] = {
    # the shared bottom layer
    "errors": 0, "formats": 0, "measures": 0, "templating": 0,
    "bounded": 1, "source": 1, "safe_output": 1,
    "records": 2, "codebook": 2, "resumable": 2,  # resumable writes its journal with safe_output
    "codes": 3,
    # the pipeline
    "ingest": 4, "export": 4,
    "segment": 5,
    "reading": 6,  # ingest and segment run as one
    "features": 7, "gold": 7, "review": 7, "streaming": 7,
    "weak": 8,
    "tagger": 9,
    "agree": 10,
    "report": 11,
    "analysis": 12,
    "cli": 13,
}


def _place(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "rupturekit":  # `from rupturekit import streaming`
            found |= {alias.name if alias.name in ORDER else "__init__" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rupturekit"):
            found.add(_place(node.module))
        elif isinstance(node, ast.Import):
            found |= {_place(alias.name) for alias in node.names if alias.name.startswith("rupturekit")}
    return found


def test_every_place_of_the_package_has_a_rank():
    places = {path.relative_to(SRC).parts[0].removesuffix(".py") for path in SRC.glob("*")
              if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists())}
    assert places - {"__init__"} == set(ORDER)


def test_no_stage_imports_a_later_one():
    backwards = []
    for path in sorted(SRC.rglob("*.py")):
        place = path.relative_to(SRC).parts[0].removesuffix(".py")
        if place == "__init__":
            continue
        for target in _imports(path) - {place, "__init__"}:
            if ORDER[target] >= ORDER[place]:
                backwards.append(f"{path.relative_to(SRC)} imports rupturekit.{target}")
    assert backwards == []
