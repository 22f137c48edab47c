"""Execute the notebooks in notebooks/ top to bottom and save them with their outputs.

    python scripts/run_notebooks.py [notebooks/02_from_tags_to_findings.ipynb ...]

Each runs in notebooks/ (its relative paths are from there), with nbclient and the python3
kernel of the current environment. The test suite runs the same code (tests/test_notebooks.py)
without saving. Outputs must never hold AnnoMI utterance text; the test checks that too.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TIMEOUT = 900  # seconds per cell


def execute(path: Path):
    import os

    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # The kernel runs in notebooks/ and must import this checkout's rupturekit: its src/ goes first
    # on the kernel's PYTHONPATH, and relative entries (PYTHONPATH=src) are made absolute.
    before = os.environ.get("PYTHONPATH")
    entries = [str(Path(p).resolve()) for p in (before or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *entries])
    try:
        NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
    return notebook


def main(argv: list[str]) -> int:
    import nbformat

    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        notebook = execute(path)
        nbformat.write(notebook, path)
        print(f"executed and saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
