"""The project's promises: README commands, CI script, console script."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_one_line_main_job_and_test_commands():
    main_job, tests = readme_commands()[:2]
    assert "rupturekit ingest examples/" in main_job
    assert tests.endswith("python -m pytest -q")
    assert "torch==2.13.0" in main_job and "torch==2.13.0" in tests


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    tests = readme_commands()[1]
    assert f"\n{tests} || rc=$?\n" in ci
    assert 'if [ "$rc" -eq 5 ]' in ci


def test_every_command_has_help():
    for command in ([], ["ingest"], ["info"]):
        done = subprocess.run([sys.executable, "-m", "rupturekit.cli", *command, "--help"],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "Usage" in done.stdout
