"""The CLI end to end: every bad input is one line and exit status 2."""

import json
import subprocess
import sys

import pytest

from rupturekit.codebook import load_codebook
from rupturekit.records import read_jsonl

GOOD_TEXT = "T: How have you been since last week?\nC: Not great, honestly.\n"


def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


BAD_INPUTS = [
    ("empty.txt", b"", "empty.txt: the file is empty; check the path, or re-export the transcript"),
    ("binary.txt", b"T: hi\n\x00\x01\x02\x03", "binary.txt:line 2: binary or non-text file (NUL byte found)"),
    ("report.txt", b"%PDF-1.4\n%...", "report.txt: this is a PDF document, not a text transcript"),
    ("bytes.txt", b"T: hello\nC: \x81\x8d\x90\x9d", "bytes.txt:line 2: undecodable bytes"),
    ("time.txt", "[00:00:05] T: Hello.\n[00:61:10] C: Hi.\n", "time.txt:line 2:"),
    ("nolabels.txt", "Hello there.\nHow are you?\nFine.\n", "nolabels.txt"),
    ("table.csv", "speaker,words\nT,hello\n", "table.csv:line 1: no text column"),
    ("notiers.eaf",
     '<?xml version="1.0" encoding="UTF-8"?>\n<ANNOTATION_DOCUMENT AUTHOR="" DATE="2024-01-01T00:00:00+00:00" '
     'FORMAT="3.0" VERSION="3.0"><HEADER MEDIA_FILE="" TIME_UNITS="milliseconds"/><TIME_ORDER/>'
     '</ANNOTATION_DOCUMENT>\n', "notiers.eaf"),
]


@pytest.mark.parametrize(("name", "content", "expected"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, name, content, expected):
    path = write(tmp_path / name, content)
    result = cli("ingest", path, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2
    first = result.error_lines[0]
    assert first.startswith(f"error: {path.parent}/{expected}") or first.startswith(f"error: {tmp_path}/{expected}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_input_messages_say_what_to_do(cli, tmp_path):
    hints = {
        "time.txt": "00:61:10",
        "nolabels.txt": "no speaker labels",
        "table.csv": "--text-col",
        "notiers.eaf": "tier",
    }
    for name, content, _ in BAD_INPUTS:
        if name in hints:
            path = write(tmp_path / name, content)
            result = cli("ingest", path, "-o", tmp_path / "o.jsonl")
            assert hints[name] in result.error_lines[0], result.stderr


def test_real_entry_point_prints_no_traceback(tmp_path):
    path = write(tmp_path / "empty.txt", b"")
    done = subprocess.run([sys.executable, "-m", "rupturekit.cli", "ingest", str(path), "-o",
                           str(tmp_path / "o.jsonl")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {path}: the file is empty; check the path, or re-export the transcript"


def test_batch_keeps_good_files_and_reports_the_bad_one(cli, tmp_path):
    good = write(tmp_path / "good.txt", GOOD_TEXT)
    bad = write(tmp_path / "bad.txt", b"")
    out = tmp_path / "out.jsonl"
    result = cli("ingest", good, bad, "-o", out)
    assert result.exit_code == 2
    assert result.error_lines[0].startswith(f"error: {bad}: the file is empty")
    [transcript] = read_jsonl(out)
    assert transcript.transcript_id == "good"
    assert [u.text for u in transcript.utterances] == ["How have you been since last week?", "Not great, honestly."]


def test_strict_makes_any_problem_fatal_before_writing(cli, tmp_path):
    good = write(tmp_path / "good.txt", GOOD_TEXT)
    odd = write(tmp_path / "odd.txt", "T: Hi.\nMother: She never listens.\n")
    out = tmp_path / "out.jsonl"
    result = cli("ingest", good, odd, "-o", out, "--strict")
    assert result.exit_code == 2
    assert "--strict" in result.error_lines[-1]
    assert "Mother" in result.stderr
    assert not out.exists()
    relaxed = cli("ingest", good, odd, "-o", out)
    assert relaxed.exit_code == 0
    roles = {u.speaker: u.role for t in read_jsonl(out) for u in t.utterances}
    assert roles == {"T": "therapist", "C": "client", "Mother": "unknown"}


def test_missing_input_and_bad_options_are_one_line(cli, tmp_path):
    good = write(tmp_path / "good.txt", GOOD_TEXT)
    cases = [
        (["ingest", tmp_path / "nope.txt", "-o", tmp_path / "o.jsonl"], "nope.txt: no such file or folder"),
        (["ingest", good, "-o", tmp_path / "o.jsonl", "--roles", "Anna"], "--roles"),
        (["ingest", good, "-o", tmp_path / "o.jsonl", "--segment", "5x"], "--segment: segment size '5x'"),
        (["ingest", good, "-o", tmp_path / "o.jsonl", "--format", "docx"], "--format: unknown format 'docx'"),
        (["ingest", good, good, "-o", tmp_path / "o.jsonl", "--to", "pdf"], "unknown output format 'pdf'"),
    ]
    for args, expected in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert len(result.error_lines) >= 1 and expected in result.error_lines[0], result.stderr


def test_eaf_output_of_several_transcripts_needs_a_folder(cli, tmp_path):
    a = write(tmp_path / "a.txt", GOOD_TEXT)
    b = write(tmp_path / "b.txt", GOOD_TEXT)
    result = cli("ingest", a, b, "-o", tmp_path / "both.eaf")
    assert result.exit_code == 2
    assert "eaf holds one transcript, and there are 2; give a folder" in result.error_lines[0]
    folder = tmp_path / "elan"
    assert cli("ingest", a, b, "-o", folder, "--to", "eaf").exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["a.eaf", "b.eaf"]


def test_same_file_name_in_two_folders_is_renamed_with_a_warning(cli, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    write(tmp_path / "x" / "s1.txt", GOOD_TEXT)
    write(tmp_path / "y" / "s1.txt", GOOD_TEXT)
    out = tmp_path / "o.jsonl"
    result = cli("ingest", tmp_path / "x", tmp_path / "y", "-o", out)
    assert result.exit_code == 0
    assert [t.transcript_id for t in read_jsonl(out)] == ["s1", "y_s1"]
    assert "renamed to 'y_s1'" in result.stderr


def test_config_file_and_command_line_override(cli, tmp_path):
    source = write(tmp_path / "s.txt", "Doc: Hello.\nAnna: Hi.\nDoc: How are you?\nAnna: Okay.\n")
    config = write(tmp_path / "c.yaml", "roles: {Doc: therapist, Anna: client}\nsegment: 2u\n")
    out = tmp_path / "o.jsonl"
    assert cli("ingest", source, "-c", config, "-o", out).exit_code == 0
    [t] = read_jsonl(out)
    assert [(u.role, u.segment_id) for u in t.utterances] == [
        ("therapist", 0), ("client", 0), ("therapist", 1), ("client", 1)]
    assert cli("ingest", source, "-c", config, "--segment", "1u", "--roles", "Anna=other", "-o", out).exit_code == 0
    [t] = read_jsonl(out)
    assert [(u.role, u.segment_id) for u in t.utterances] == [
        ("therapist", 0), ("other", 1), ("therapist", 2), ("other", 3)]
    bad = write(tmp_path / "bad.yaml", "segment: 5m\nspeed: fast\n")
    result = cli("ingest", source, "-c", bad, "-o", out)
    assert result.exit_code == 2 and "bad.yaml: 'speed': Extra inputs are not permitted" in result.error_lines[0]


def test_jsonl_reingest_keeps_records_and_segments(cli, tmp_path):
    source = write(tmp_path / "s.txt", GOOD_TEXT)
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    assert cli("ingest", source, "-o", first, "--segment", "1u").exit_code == 0
    assert cli("ingest", first, "-o", second).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_info_counts_roles_words_segments_and_coded_share(cli, tmp_path):
    source = write(tmp_path / "s.txt", "[00:00:01] T: One two three?\n[00:06:00] C: Four five.\n[00:07:00] T: Six.\n")
    result = cli("info", source, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["transcripts"] == 1 and data["utterances"] == 3 and data["words"] == 6
    assert data["by_role"]["therapist"] == {"utterances": 2, "words": 4, "coded": 0}
    assert data["segments"] == 2 and data["duration_seconds"] == 419.0 and data["coded_share"] == 0.0
    text = cli("info", source, "--by-transcript")
    assert text.exit_code == 0 and "therapist" in text.stdout and "6m 59s" in text.stdout


def test_annomi_full_ingests_to_8297_utterances_with_10_raters_on_three_transcripts(cli, tmp_path, annomi_dir):
    out = tmp_path / "annomi.jsonl"
    result = cli("ingest", annomi_dir / "AnnoMI-full.csv", "-o", out)
    assert result.exit_code == 0, result.stderr
    transcripts = read_jsonl(out)
    utterances = [u for t in transcripts for u in t.utterances]
    assert (len(transcripts), len(utterances)) == (116, 8297)
    raters = {(u.transcript_id, u.utterance_id): {c.rater for c in u.codes} for u in utterances}
    multi = {key for key, r in raters.items() if len(r) == 10}
    assert len(multi) == 162 and {tid for tid, _ in multi} == {"7", "55", "66"}
    assert all(len(r) == 1 for key, r in raters.items() if key not in multi)
    assert {u.role for u in utterances} == {"therapist", "client"}
    info = cli("info", out, "--json")
    assert json.loads(info.stdout)["coded_share"] == 1.0


def test_features_list_is_generated_from_the_registry(cli):
    from rupturekit.features import FEATURES

    result = cli("features", "--list")
    assert result.exit_code == 0
    for spec in FEATURES:
        assert spec.name in result.stdout


def test_features_write_one_row_per_utterance(cli, tmp_path):
    import pandas as pd

    source = write(tmp_path / "s.txt", "T: What brings you here today?\nC: Dunno.\nT: Take your time.\n")
    out = tmp_path / "f.csv"
    result = cli("features", source, "-o", out, "--no-embeddings")
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(out)
    assert list(frame["utterance_id"]) == [0, 1, 2] and list(frame["role"]) == ["therapist", "client", "therapist"]
    assert frame.loc[1, "short_after_open_question"] == 1.0 and frame.loc[0, "short_after_open_question"] == 0.0
    bad = cli("features", source, "-o", tmp_path / "f.xlsx")
    assert bad.exit_code == 2 and "write the features as .parquet or .csv" in bad.error_lines[0]


def test_weak_label_writes_probabilities_codes_and_the_lf_table(cli, tmp_path):
    source = write(tmp_path / "s.txt", "T: How was the exercise this week?\nC: Honestly, this isn't helping. "
                                       "We keep going in circles.\nT: That makes sense. Thank you for telling me.\n")
    out, table = tmp_path / "weak.jsonl", tmp_path / "lfs.md"
    result = cli("weak-label", source, "-o", out, "--report", table)
    assert result.exit_code == 0, result.stderr
    [transcript] = read_jsonl(out)
    client = transcript.utterances[1]
    assert client.weak["confrontation.complaint_progress"] >= 0.5
    assert "confrontation.complaint_progress" in [c.label for c in client.codes if c.rater == "weak:generative"]
    assert set(transcript.utterances[0].weak) == {
        label for label in load_codebook("3rs").labels if label.startswith("resolution.")}
    assert "progress_complaint" in table.read_text(encoding="utf-8")
    bad = cli("weak-label", source, "-o", out, "--codebook", "cis")
    assert bad.exit_code == 2 and bad.error_lines[0].startswith("error: --codebook cis:")


def test_agree_reproduces_annomi_fleiss_kappa_one_rater_against_the_rest(cli, tmp_path, annomi_dir):
    full = annomi_dir / "AnnoMI-full.csv"
    result = cli("agree", "-r", full, "-p", full, "--predicted-rater", "0", "--codebook", "annomi",
                 "--transcript", "7", "--transcript", "55", "--transcript", "66", "--dimension", "therapist_behaviour",
                 "--dimension", "client_talk_type", "-o", tmp_path / "agree", "--bootstrap", "50", "--no-figures")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "therapist_behaviour (subtype): human Fleiss' κ: reference raters 0.727, all raters 0.728" in text
    assert "client_talk_type (subtype): human Fleiss' κ: reference raters 0.469, all raters 0.479" in text
    assert "rater 0: κ = .82, inside the human range .62–.91, above 3 of 9 raters" in text
    assert {p.name for p in (tmp_path / "agree").iterdir()} >= {"report.html", "metrics.json", "summary.md"}


def test_agree_bad_input_is_one_line(cli, tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"transcript_id": "s", "utterance_id": 0, "speaker": "C", "role": "client", "text": "no", '
                      '"codes": [{"rater": "a", "label": "withdrawal.denail"}]}\n', encoding="utf-8")
    result = cli("agree", "-r", corpus, "-p", corpus, "--predicted-rater", "a", "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert len(result.error_lines) == 1 and "withdrawal.denail" in result.error_lines[0]


# ------------------------------------------------------------------ rich markup in what is printed


@pytest.mark.parametrize(("raised", "status", "line"), [
    ("input", 2, "error: dir/a[/b].txt:line 3: a [laughs] turn; fix it"),
    ("internal", 1, "internal error: RuntimeError: dir/a[/b].txt [laughs] (rerun with RUPTUREKIT_DEBUG=1 for the "
                    "traceback, and report it)"),
])
def test_an_error_past_a_command_is_one_line_even_with_brackets(monkeypatch, capsys, raised, status, line):
    """A path such as a[/b].txt, or a quoted [laughs], is printed as it is: not read as rich markup
    (a closing tag with nothing open raised MarkupError inside the handler, a traceback)."""
    import rupturekit.cli as cli_module
    from rupturekit.errors import InputError

    def app():
        if raised == "input":
            raise InputError("dir/a[/b].txt", "a [laughs] turn", "fix it", location="line 3")
        raise RuntimeError("dir/a[/b].txt [laughs]")

    monkeypatch.setattr(cli_module, "app", app)
    monkeypatch.setattr("rupturekit.safe_output.install_signal_handlers", lambda: None)  # not in pytest's process
    monkeypatch.delenv("RUPTUREKIT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stop:
        cli_module.main()
    assert stop.value.code == status
    assert capsys.readouterr().err.splitlines() == [line]


def test_a_bracketed_file_name_is_printed_as_it_is(cli, tmp_path):
    folder = tmp_path / "a["
    folder.mkdir()
    source = write(folder / "b].txt", GOOD_TEXT)
    out = folder / "out].jsonl"
    result = cli("ingest", source, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"wrote 2 utterances in 1 transcripts from 1 file to {out}"
    missing = cli("ingest", folder / "gone [laughs].txt", "-o", tmp_path / "o.jsonl")
    assert missing.stderr.splitlines() == [f"error: {folder / 'gone [laughs].txt'}: no files match this pattern; "
                                           "check the pattern"]
    assert missing.exit_code == 2


def test_problems_error_prints_brackets_as_they_are(capsys):
    from rupturekit.cli._util import Problems

    Problems().error("dir/a[/b].txt: [laughs]")
    assert capsys.readouterr().err == "error: dir/a[/b].txt: [laughs]\n"


# ------------------------------------------------------------------ tag --engine ray: --all-warnings


@pytest.mark.parametrize("every", [False, True])
def test_tag_on_ray_prints_every_warning_with_all_warnings(cli, tmp_path, monkeypatch, every):
    from rupturekit.errors import Problem
    from rupturekit.tagger import ray_engine

    output = tmp_path / "shards"
    monkeypatch.setattr(ray_engine, "cli_options", lambda *args: None)
    monkeypatch.setattr(ray_engine, "tag_with_ray", lambda *args: ray_engine.RayTagResult(
        output, written=True, warnings=[Problem("s.txt", f"warning {n}") for n in range(35)]))
    monkeypatch.setattr(ray_engine, "summary", lambda result: "tagged on Ray")
    result = cli("tag", tmp_path / "s.txt", "-o", output, "--engine", "ray", *(["--all-warnings"] if every else []))
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == "tagged on Ray"
    if every:
        assert lines[:-1] == [f"warning: s.txt: warning {n}" for n in range(35)]
    else:
        assert lines[:-1] == [f"warning: s.txt: warning {n}" for n in range(30)] + [
            "warning: … 5 more warnings (rerun with --all-warnings to see them)"]
