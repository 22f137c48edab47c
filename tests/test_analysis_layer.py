"""The analysis stage's place in the pipeline, and its commands' help."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rupturekit"


def test_no_earlier_stage_imports_the_analysis_layer():
    offenders = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        if relative.parts[0] == "analysis" or relative.name == "cli.py":
            continue
        if re.search(r"^\s*(from|import)\s+rupturekit\.analysis", path.read_text(encoding="utf-8"), re.MULTILINE):
            offenders.append(str(relative))
    assert offenders == []


@pytest.mark.parametrize("command", ["episodes", "sessions", "alliance", "meta"])
def test_analysis_commands_have_help(command):
    done = subprocess.run([sys.executable, "-m", "rupturekit.cli", command, "--help"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout and "--output" in done.stdout
