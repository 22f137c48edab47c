"""Streaming `ingest` and `tag`: units of whole transcripts, bounded memory, atomic outputs, --resume."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rupturekit.cli._util import RESUME_NEEDS_A_FILE
from rupturekit.ingest.units import Part, Unit, plan_units, transcript_blocks
from rupturekit.reading import IngestConfig, IngestResult, IngestRun, read_unit
from rupturekit.records import Code, Transcript, Utterance, read_jsonl, write_jsonl
from rupturekit.resumable import ResumableOutput, partial_paths


def session(tid: str, n: int = 4, text: str = "I guess so.") -> Transcript:
    return Transcript(transcript_id=tid, utterances=[
        Utterance(transcript_id=tid, utterance_id=i, speaker="T" if i % 2 == 0 else "C",
                  role="therapist" if i % 2 == 0 else "client",
                  text="What has the week been like?" if i % 2 == 0 else text) for i in range(n)])


def corpus_file(folder: Path, n: int = 12) -> Path:
    path = folder / "corpus.jsonl"
    texts = ["Fine.", "This isn't helping at all.", "We went to the sea on Sunday."]
    write_jsonl([session(f"s{k:02d}", 4 + k % 3, texts[k % 3]) for k in range(n)], path)
    return path


# ------------------------------------------------------------------ planning


def test_a_large_canonical_file_is_cut_between_transcripts(tmp_path):
    path = corpus_file(tmp_path)
    blocks = transcript_blocks(path)
    assert len(blocks) == 12 and blocks[0][0] == 0 and blocks[-1][1] == path.stat().st_size
    units = plan_units([path], target_bytes=blocks[2][0])  # about 2 transcripts per unit
    assert len(units) == 6
    assert all(len(u.parts) == 1 for u in units)
    # the ranges tile the file, each starting on a transcript's first line
    starts = [u.parts[0].start for u in units]
    assert starts == [blocks[k][0] for k in range(0, 12, 2)]
    assert [u.parts[0].line for u in units] == [blocks[k][2] for k in range(0, 12, 2)]
    assert units[-1].parts[0].stop is None
    assert Unit.from_json(json.loads(json.dumps(units[3].to_json()))) == units[3]


def test_units_read_back_the_whole_corpus_once(tmp_path):
    path = corpus_file(tmp_path)
    whole = read_jsonl(path)
    config = IngestConfig()
    run = IngestRun(config)
    read = [t for unit in plan_units([path], target_bytes=300) for t in read_unit(unit, config, run).transcripts]
    assert [t.transcript_id for t in read] == [t.transcript_id for t in whole]
    assert [u.text for t in read for u in t.utterances] == [u.text for t in whole for u in t.utterances]


def test_interleaved_transcripts_are_not_cut(tmp_path):
    path = tmp_path / "mixed.jsonl"
    a, b = session("a"), session("b")
    lines = [u.to_json() for pair in zip(a.utterances, b.utterances, strict=True) for u in pair]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert transcript_blocks(path) is None
    [unit] = plan_units([path], target_bytes=100)
    assert unit.parts == (Part(str(path)),)
    assert [t.transcript_id for t in read_unit(unit, IngestConfig()).transcripts] == ["a", "b"]


def test_small_files_are_grouped_in_input_order(tmp_path):
    paths = []
    for k in range(5):
        paths.append(tmp_path / f"s{k}.txt")
        paths[-1].write_text("T: How are you?\nC: Fine.\n", encoding="utf-8")
    size = paths[0].stat().st_size
    units = plan_units(paths, target_bytes=2 * size)
    assert [[Path(p.path).name for p in u.parts] for u in units] == [["s0.txt", "s1.txt"], ["s2.txt", "s3.txt"],
                                                                     ["s4.txt"]]


def test_a_bad_line_in_a_range_is_named_by_its_line_in_the_file(tmp_path):
    path = corpus_file(tmp_path)
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[30] = lines[30].replace('"utterance_id": ', '"utterance_id": "x", "old": ')
    path.write_text("\n".join(lines), encoding="utf-8")
    units = plan_units([path], target_bytes=400)
    results = [read_unit(u, IngestConfig()) for u in units]
    [failure] = [f for r in results for f in r.failures]
    assert f"{path}:line 31:" in str(failure)


def test_ids_clashing_across_units_are_caught(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl([session("same")], first)
    write_jsonl([session("same")], second)
    config, run = IngestConfig(), IngestRun(IngestConfig())
    results = [read_unit(u, config, run) for u in plan_units([first, second], target_bytes=10)]
    assert not results[0].failures
    assert "transcript id 'same' is also in" in str(results[1].failures[0])


# ------------------------------------------------------------------ the resumable file


def test_resumable_output_cuts_back_to_the_journal_and_skips_done_units(tmp_path):
    out = tmp_path / "out.jsonl"
    with ResumableOutput(out, {"run": 1}) as sink:
        sink.write(0, "a\n")
        sink.write(1, "b\n")
    partial, journal = partial_paths(out)
    with open(partial, "ab") as handle:  # unit 2's bytes were written, its journal line was not
        handle.write(b"c-half")
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write('{"unit": 2, "by')  # a torn journal line
    assert not out.exists()
    with ResumableOutput(out, {"run": 1}, resume=True) as sink:
        assert sink.done == {0, 1} and sink.units_done == 2
        sink.write(2, "c\n")
        sink.commit()
    assert out.read_text() == "a\nb\nc\n"
    assert not partial.exists() and not journal.exists()


def test_units_done_leaves_out_the_csv_header(tmp_path):
    out = tmp_path / "out.csv"
    with ResumableOutput(out, {"run": 1}) as sink:
        sink.write(-1, "a,b\n")  # the header: the pseudo-unit -1
        sink.write(0, "1,2\n")
        sink.write(1, "3,4\n")
        assert sink.done == {-1, 0, 1} and sink.units_done == 2
    with ResumableOutput(out, {"run": 1}, resume=True) as sink:
        assert sink.units_done == 2


def test_resume_rewrites_the_journal_atomically(tmp_path):
    out = tmp_path / "out.jsonl"
    with ResumableOutput(out, {"run": 1}) as sink:
        sink.write(0, "a\n")
    partial, journal = partial_paths(out)
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write('{"unit": 1, "by')  # a torn line: the journal is rewritten without it
    with ResumableOutput(out, {"run": 1}, resume=True) as sink:
        assert sink.units_done == 1
    assert journal.read_text(encoding="utf-8").splitlines()[1:] == [
        '{"unit": 0, "bytes": 2, "transcripts": 0, "utterances": 0}']
    assert sorted(p.name for p in tmp_path.iterdir()) == [partial.name, journal.name]  # no scratch file left


def test_resume_keeps_only_the_units_whose_bytes_the_partial_holds(tmp_path):
    out = tmp_path / "out.jsonl"
    with ResumableOutput(out, {"run": 1}) as sink:
        for unit, text in enumerate(["a\n", "b\n", "c\n"]):
            sink.write(unit, text, transcripts=1, utterances=1)
    partial, journal = partial_paths(out)
    with open(partial, "r+b") as handle:  # a crash lost unit 2's bytes after its journal line
        handle.truncate(4)
    with ResumableOutput(out, {"run": 1}, resume=True) as sink:
        assert sink.done == {0, 1} and sink.transcripts_before == 2
        sink.write(2, "c\n")
        sink.commit()
    assert out.read_text() == "a\nb\nc\n"


def test_resume_refuses_a_partial_of_another_run(tmp_path):
    from rupturekit.errors import InputError

    out = tmp_path / "out.jsonl"
    with ResumableOutput(out, {"run": 1}) as sink:
        sink.write(0, "a\n")
    with pytest.raises(InputError, match="other inputs, model or settings"):
        ResumableOutput(out, {"run": 2}, resume=True)
    with ResumableOutput(out, {"run": 2}) as sink:  # without --resume: started over
        assert sink.replaced_partial and not sink.done
        sink.write(0, "z\n")
        sink.commit()
    assert out.read_text() == "z\n"


# ------------------------------------------------------------------ the commands


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small baseline model (fast to train and to load)."""
    from typer.testing import CliRunner

    from rupturekit.cli import app

    folder = tmp_path_factory.mktemp("model")
    transcripts = []
    for t in range(8):
        utterances = []
        for i in range(6):
            client = i % 2 == 1
            text = ["Fine.", "This isn't helping at all.", "We went to the sea on Sunday."][(t + i) % 3] if client \
                else "What has the week been like?"
            label = {0: "withdrawal.minimal_response", 1: "confrontation.complaint_progress"}.get((t + i) % 3) \
                if client else None
            utterances.append(Utterance(transcript_id=f"t{t}", utterance_id=i, speaker="C" if client else "T",
                                        role="client" if client else "therapist", text=text,
                                        codes=[Code(rater="team", label=label or "none")]))
        transcripts.append(Transcript(transcript_id=f"t{t}", utterances=utterances))
    data = folder / "coded.jsonl"
    write_jsonl(transcripts, data)
    config = folder / "config.yaml"
    config.write_text(f"model: baseline\ncodebook: 3rs\ndimensions: [client_markers]\ndata:\n  - path: {data}\n"
                      "evaluation: {folds: 2, bootstrap: 20}\nbaseline: {min_df: 1, calibration_folds: 2}\n",
                      encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(config), "-o", str(folder / "model")])
    assert result.exit_code == 0, result.output
    return folder / "model"


@pytest.fixture
def small_units(monkeypatch):
    """Units of about one transcript, so that a small corpus is many units."""
    monkeypatch.setattr("rupturekit.ingest.units.UNIT_BYTES", 400)


def test_tag_streams_units_and_matches_a_whole_run(cli, tmp_path, model, small_units, monkeypatch):
    corpus = corpus_file(tmp_path)
    whole = tmp_path / "whole.jsonl"
    monkeypatch.setattr("rupturekit.ingest.units.UNIT_BYTES", 1 << 30)
    assert cli("tag", corpus, "-o", whole, "--model", model).exit_code == 0
    monkeypatch.setattr("rupturekit.ingest.units.UNIT_BYTES", 400)
    streamed = tmp_path / "streamed.jsonl"
    result = cli("tag", corpus, "-o", streamed, "--model", model)
    assert result.exit_code == 0, result.stderr
    assert streamed.read_bytes() == whole.read_bytes()
    assert sum(1 for t in read_jsonl(streamed) for u in t.utterances if u.labels) > 0


def test_an_interrupted_tag_resumes_without_losing_or_repeating_a_transcript(cli, tmp_path, model, small_units,
                                                                             monkeypatch):
    corpus = corpus_file(tmp_path)
    straight = tmp_path / "straight.csv"
    assert cli("tag", corpus, "-o", straight, "--model", model).exit_code == 0
    out = tmp_path / "out.csv"
    out.write_text("an older output\n", encoding="utf-8")
    import rupturekit.tagger.api as api

    real, calls = api.tag_unit, []

    def stops_on_the_fourth_unit(tagger, transcripts):
        calls.append(transcripts[0].transcript_id)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(tagger, transcripts)

    monkeypatch.setattr(api, "tag_unit", stops_on_the_fourth_unit)
    stopped = cli("tag", corpus, "-o", out, "--model", model)  # click turns Ctrl-C into exit 1, "Aborted!"
    assert stopped.exit_code != 0
    # three units, the CSV header not counted (the journal holds it as unit -1)
    assert "3 of the units were written before the stop; rerun the same command with --resume to continue" \
        in stopped.stderr
    assert out.read_text(encoding="utf-8") == "an older output\n"  # untouched until the run is complete
    partial, journal = partial_paths(out)
    assert partial.is_file() and journal.is_file()
    monkeypatch.setattr(api, "tag_unit", real)
    result = cli("tag", corpus, "-o", out, "--model", model, "--resume")
    assert result.exit_code == 0, result.stderr
    assert "resuming: 3 units already written" in result.stderr
    assert out.read_bytes() == straight.read_bytes()
    assert not partial.exists() and not journal.exists()


def test_resume_with_other_settings_exits_2(cli, tmp_path, model, small_units):
    corpus = corpus_file(tmp_path)
    out = tmp_path / "out.jsonl"
    with ResumableOutput(out, {"another": "run"}) as sink:
        sink.write(0, "x\n")
    result = cli("tag", corpus, "-o", out, "--model", model, "--resume")
    assert result.exit_code == 2
    assert result.error_lines == [f"error: {out}: --resume: the partial output was made by a run with other "
                                  "inputs, model or settings; rerun that command, or leave out --resume to start over"]
    html = cli("tag", corpus, "-o", out, "--model", model, "--format", "html", "--resume")
    assert html.exit_code == 2
    assert html.error_lines == [f"error: {RESUME_NEEDS_A_FILE}"] and html.stderr.strip() == html.error_lines[0]


def test_ingest_streams_and_resumes(cli, tmp_path, small_units):
    corpus = corpus_file(tmp_path)
    out = tmp_path / "out.jsonl"
    result = cli("ingest", corpus, "-o", out, "--segment", "2u")
    assert result.exit_code == 0, result.stderr
    assert "wrote 60 utterances in 12 transcripts from 1 file" in result.stderr
    assert [u.segment_id for u in read_jsonl(out)[0].utterances] == [0, 0, 1, 1]
    again = tmp_path / "again.jsonl"
    assert cli("ingest", corpus, "-o", again, "--segment", "2u", "--resume").exit_code == 0  # nothing to resume
    assert again.read_bytes() == out.read_bytes()


def test_ingest_strict_writes_nothing(cli, tmp_path, small_units):
    (tmp_path / "in").mkdir()
    write_jsonl([session("a")], tmp_path / "in" / "a.jsonl")
    (tmp_path / "in" / "b.txt").write_text("Preamble\nT: Hi.\nC: Fine.\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = cli("ingest", tmp_path / "in", "-o", out, "--strict")
    assert result.exit_code == 2 and "--strict" in result.error_lines[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, no partial


SIGTERM_SCRIPT = """
import os, signal, sys
import rupturekit.ingest.units as units
units.UNIT_BYTES = 400
import rupturekit.export.tables as tables
from rupturekit import cli

real, calls = tables.csv_text, []

def stops(transcripts, header=True):
    calls.append(1)
    if len(calls) == 4 and sys.argv[-1] != "--resume":
        os.kill(os.getpid(), signal.SIGTERM)
    return real(transcripts, header)

tables.csv_text = stops
sys.argv = ["rupturekit", "ingest", *sys.argv[1:]]
cli.main()
"""


def test_sigterm_keeps_the_old_output_and_resume_finishes(tmp_path):
    corpus = corpus_file(tmp_path)
    out = tmp_path / "out.csv"
    out.write_text("old output\n", encoding="utf-8")
    import rupturekit

    source = str(Path(rupturekit.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SIGTERM_SCRIPT, str(corpus), "-o", str(out)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert "rerun the same command with --resume to continue" in done.stderr
    assert out.read_text(encoding="utf-8") == "old output\n"
    resumed = subprocess.run([sys.executable, "-c", SIGTERM_SCRIPT, str(corpus), "-o", str(out), "--resume"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight.csv"
    subprocess.run([sys.executable, "-m", "rupturekit.cli", "ingest", str(corpus), "-o", str(straight)],
                   check=True, capture_output=True, env=env)
    assert out.read_bytes() == straight.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl", "out.csv", "straight.csv"]


def test_ingest_result_has_no_transcripts_for_a_missing_file(tmp_path):
    result = IngestResult()
    IngestRun(IngestConfig()).read(Part(str(tmp_path / "missing.txt")), result)
    assert not result.transcripts and "cannot read the file" in str(result.failures[0])


def _stop_reading_at(monkeypatch, name: str):
    """Make reading stop (as Ctrl-C does) at the unit of the file `name`; returns the real reader."""
    import rupturekit.reading as reading

    real = reading.read_unit

    def stops(unit, config, run=None):
        if unit.parts[0].path.endswith(name):
            raise KeyboardInterrupt
        return real(unit, config, run)

    monkeypatch.setattr(reading, "read_unit", stops)
    return real


def test_a_resumed_run_still_reports_an_input_the_interrupted_run_could_not_read(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("rupturekit.ingest.units.UNIT_BYTES", 10)  # one file per unit
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl([session("a")], folder / "a.jsonl")
    (folder / "b.jsonl").write_text("not json\n", encoding="utf-8")
    write_jsonl([session("c")], folder / "c.jsonl")
    out = tmp_path / "out.jsonl"
    real = _stop_reading_at(monkeypatch, "c.jsonl")
    assert cli("ingest", folder, "-o", out).exit_code != 0
    monkeypatch.setattr("rupturekit.reading.read_unit", real)
    result = cli("ingest", folder, "-o", out, "--resume")
    assert result.exit_code == 2
    assert "1 input of those could not be read" in result.stderr
    assert [t.transcript_id for t in read_jsonl(out)] == ["a", "c"]


def test_a_resumed_ingest_counts_the_files_the_interrupted_run_read(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("rupturekit.ingest.units.UNIT_BYTES", 10)  # one file per unit
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        write_jsonl([session(name)], folder / f"{name}.jsonl")
    out = tmp_path / "out.csv"
    real = _stop_reading_at(monkeypatch, "c.jsonl")
    stopped = cli("ingest", folder, "-o", out)
    assert stopped.exit_code != 0 and "2 of the units were written before the stop" in stopped.stderr
    monkeypatch.setattr("rupturekit.reading.read_unit", real)
    result = cli("ingest", folder, "-o", out, "--resume")
    assert result.exit_code == 0, result.stderr
    assert "resuming: 2 units already written" in result.stderr
    assert "wrote 12 utterances in 3 transcripts from 3 files to" in result.stderr


def test_a_resumed_run_renames_clashing_ids_as_a_straight_run_does(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("rupturekit.ingest.units.UNIT_BYTES", 10)  # one file per unit
    for folder in ("a", "b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        (tmp_path / "in" / folder / "s1.txt").write_text("T: How are you?\nC: Fine.\n", encoding="utf-8")
    straight = tmp_path / "straight.jsonl"
    assert cli("ingest", tmp_path / "in", "-o", straight).exit_code == 0
    out = tmp_path / "out.jsonl"
    import rupturekit.reading as batch

    real, calls = batch.read_unit, []

    def stops_at_the_second(unit, config, run=None):
        calls.append(unit.index)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(unit, config, run)

    monkeypatch.setattr(batch, "read_unit", stops_at_the_second)
    assert cli("ingest", tmp_path / "in", "-o", out).exit_code != 0
    monkeypatch.setattr("rupturekit.reading.read_unit", real)
    result = cli("ingest", tmp_path / "in", "-o", out, "--resume")
    assert result.exit_code == 0, result.stderr
    assert [t.transcript_id for t in read_jsonl(out)] == ["s1", "b_s1"]
    assert out.read_bytes() == straight.read_bytes()


def test_a_once_per_file_warning_is_said_once_for_a_file_read_in_ranges(cli, tmp_path, small_units):
    corpus = corpus_file(tmp_path)  # no times: "segments approximated" is said once per file
    lines = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        line["segment_id"] = None
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert len(plan_units([corpus])) > 1
    result = cli("ingest", corpus, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("segments approximated") == 1
