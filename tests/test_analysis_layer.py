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
        if relative.parts[0] in ("analysis", "cli"):
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


def test_analysis_pages_render_in_headless_chromium(cli, tmp_path):
    """The episode timeline and the alliance and meta reports, screenshotted by
    scripts/screenshot_report.py (skipped, saying so, where Chromium is not installed)."""
    import importlib.util

    root = SRC.parents[1]
    spec = importlib.util.spec_from_file_location("screenshot_report", root / "scripts" / "screenshot_report.py")
    shot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot)
    if shot.find_chromium() is None:
        pytest.skip("Chromium not installed (apt-get install chromium); the pages are not rendered")
    from rupturekit.records import Transcript, Utterance, dumps_jsonl

    utterances = [Utterance(transcript_id="s", utterance_id=i, speaker="TC"[i % 2], role=("therapist", "client")[i % 2],
                            text="-", labels=["withdrawal.minimal_response"] if i in (1, 3) else [])
                  for i in range(10)]
    corpus = tmp_path / "tags.jsonl"
    corpus.write_text(dumps_jsonl([Transcript(transcript_id="s", utterances=utterances)]), encoding="utf-8")
    assert cli("episodes", corpus, "-o", tmp_path / "e.jsonl", "--html", tmp_path / "timeline.html").exit_code == 0
    fixtures = root / "tests" / "fixtures"
    assert cli("alliance", fixtures / "alliance" / "wai_trajectories.csv", "-o", tmp_path / "al",
               "--bootstrap", "100").exit_code == 0
    assert cli("meta", fixtures / "meta" / "safran2011_table1.csv", "-o", tmp_path / "meta").exit_code == 0
    for page in (tmp_path / "timeline.html", tmp_path / "al" / "report.html", tmp_path / "meta" / "report.html"):
        png = tmp_path / f"{page.parent.name}-{page.stem}.png"
        assert shot.main([str(page), "-o", str(png), "--height", "900"]) == 0
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
