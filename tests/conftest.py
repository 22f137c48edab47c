from pathlib import Path

import pytest
from typer.testing import CliRunner

from rupturekit.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ANNOMI = ROOT.parent / "shared" / "data" / "annomi"


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def cli():
    """Run the CLI in process; an exception escaping a command fails the test."""
    runner = CliRunner()

    def run(*args: str) -> CliResult:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def annomi_dir() -> Path:
    if not (ANNOMI / "AnnoMI-full.csv").exists():
        pytest.skip(f"shared AnnoMI data not found at {ANNOMI}; run scripts/download_annomi.py")
    return ANNOMI
