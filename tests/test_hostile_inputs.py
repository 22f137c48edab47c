"""Hostile inputs and careless commands (issue 11): no command loses data.

Part A, outputs and raters: an output is never an input (symlinks and hard links included) and
never lies under a file; multi-file outputs are swapped in whole; temporary files go on SIGTERM;
files get the user's umask; CSV cells a spreadsheet would run are escaped; machine raters
(model:NAME, weak:NAME) never touch a human rater's codes. Every refusal is exit 2 and one line,
and where data could be lost the input's bytes are checked unchanged.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rupturekit.codebook import available_codebooks
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

    monkeypatch.setattr("rupturekit.tagger.train.train_baseline", no_training)
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

    monkeypatch.setattr("rupturekit.agree.report._write_disagreements_csv", stop)
    with pytest.raises(KeyboardInterrupt):
        from rupturekit.agree.report import run_agreement
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

    monkeypatch.setattr("rupturekit.tagger.train.train_baseline", half_a_model)
    result = cli("train", "config.yaml", "-o", "model")
    assert result.exit_code == 130
    assert snapshot(model) == old  # no new cv_metrics.json beside the old model
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []


def test_train_refuses_a_folder_that_is_not_a_model(cli, work, monkeypatch):
    monkeypatch.setattr("rupturekit.tagger.train.train_baseline", lambda *a, **k: pytest.fail("trained"))
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

    monkeypatch.setattr("rupturekit.tagger.train.train_baseline", new_model)
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


@pytest.mark.parametrize("target", ["out.csv", "folder"])
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
    from rupturekit.agree.report import run_agreement
    from rupturekit.codebook import load_codebook
    from rupturekit.tagger.output import write_tags_csv

    transcripts = read_jsonl(formula_corpus(work))
    write_tags_csv(transcripts, work / "tags.csv")
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
