"""`rupturekit train` and `rupturekit tag` end to end on a small corpus written for the test."""

import csv
import json
from html.parser import HTMLParser

import pytest

from rupturekit.records import TAG_FIELDS, Code, Transcript, Utterance, read_jsonl, write_jsonl

CLIENT_MINIMAL = ["Fine.", "Dunno.", "I guess.", "Whatever.", "Okay."]
CLIENT_PROGRESS = ["This isn't helping at all.", "We keep going in circles here.", "Nothing has changed in months.",
                   "I don't see the point of these sessions.", "This is a waste of my time."]
CLIENT_OTHER = ["I walked the dog and then cooked dinner with my sister.", "Work was busy but I handled it well.",
                "We visited my parents on Sunday afternoon.", "I started reading a novel about the sea.",
                "My son had a football match on Saturday."]
THERAPIST = ["What has the week been like for you?", "Tell me more about that.", "How did that feel?",
             "What would you like to focus on today?", "What happened next?"]


def corpus():
    transcripts = []
    for t in range(10):
        utterances = []
        for i in range(6):
            therapist = i % 2 == 0
            if therapist:
                text, labels = THERAPIST[(t + i) % 5], []
            else:
                kind = (t + i // 2) % 3
                pool = (CLIENT_MINIMAL, CLIENT_PROGRESS, CLIENT_OTHER)[kind]
                text = pool[(t + i) % 5]
                labels = (["withdrawal.minimal_response"], ["confrontation.complaint_progress"], [])[kind]
            codes = [Code(rater="team", label=label) for label in labels] or [Code(rater="team", label="none")]
            utterances.append(Utterance(transcript_id=f"t{t}", utterance_id=i, speaker="T" if therapist else "C",
                                        role="therapist" if therapist else "client", text=text, codes=codes))
        transcripts.append(Transcript(transcript_id=f"t{t}", utterances=utterances))
    return transcripts


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from typer.testing import CliRunner

    from rupturekit.cli import app

    folder = tmp_path_factory.mktemp("train")
    data = folder / "coded.jsonl"
    write_jsonl(corpus(), data)
    config = folder / "config.yaml"
    config.write_text(f"model: baseline\ncodebook: 3rs\ndimensions: [client_markers]\n"
                      f"data:\n  - path: {data}\nevaluation: {{folds: 2, bootstrap: 20}}\n"
                      f"baseline: {{min_df: 1, char_ngrams: [3, 4], calibration_folds: 2}}\n", encoding="utf-8")
    model = folder / "model"
    result = CliRunner().invoke(app, ["train", str(config), "-o", str(model), "--set", "baseline.C=2.0"])
    assert result.exit_code == 0, result.output
    return model


def test_train_writes_the_model_folder(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"model.json", "config.yaml", "MODEL_CARD.md", "cv_metrics.json"} <= names
    assert json.loads((trained / "model.json").read_text())["kind"] == "baseline"
    assert "C: 2.0" in (trained / "config.yaml").read_text()
    assert "not a clinical instrument" in (trained / "MODEL_CARD.md").read_text()


def test_tag_jsonl_csv_html_and_eaf(cli, tmp_path, trained):
    session = tmp_path / "s.txt"
    session.write_text("T: What has the week been like for you?\nC: This isn't helping at all.\n"
                       "T: Tell me more about that.\nC: Dunno.\n", encoding="utf-8")
    out = tmp_path / "tags.jsonl"
    result = cli("tag", session, "-o", out, "--model", trained)
    assert result.exit_code == 0, result.stderr
    [transcript] = read_jsonl(out)
    labels = [u.labels for u in transcript.utterances]
    assert labels == [[], ["confrontation.complaint_progress"], [], ["withdrawal.minimal_response"]]
    client = transcript.utterances[1].model_dump(include=set(TAG_FIELDS), exclude_none=True)
    assert set(client["scores"]) == {label for label in client["scores"] if label.split(".")[0] in
                                     ("withdrawal", "confrontation")}
    assert client["evidence"]["confrontation.complaint_progress"]
    rows = list(csv.DictReader((tmp_path / "t.csv").open() if cli("tag", session, "-o", tmp_path / "t.csv",
                                                                     "--model", trained).exit_code == 0 else []))
    assert [r["labels"] for r in rows] == ["", "confrontation.complaint_progress", "", "withdrawal.minimal_response"]
    assert cli("tag", session, "-o", tmp_path / "t.html", "--model", trained).exit_code == 0
    parser = HTMLParser()
    parser.feed((tmp_path / "t.html").read_text(encoding="utf-8"))
    assert "withdrawal.minimal_response" in (tmp_path / "t.html").read_text(encoding="utf-8")
    assert cli("tag", session, "-o", tmp_path / "t.eaf", "--model", trained).exit_code == 0
    assert "codes@model" in (tmp_path / "t.eaf").read_text(encoding="utf-8")
    everything = cli("tag", session, "-o", tmp_path / "all.jsonl", "--model", trained, "--threshold", "0.0")
    assert everything.exit_code == 0
    [all_tags] = read_jsonl(tmp_path / "all.jsonl")
    # Threshold 0: every label that has a classifier (the two seen in training) is predicted on client turns.
    assert [sorted(u.labels) for u in all_tags.utterances[1::2]] == [
        ["confrontation.complaint_progress", "withdrawal.minimal_response"]] * 2


def test_tag_is_deterministic(cli, tmp_path, trained):
    session = tmp_path / "s.txt"
    session.write_text("T: How are you?\nC: I guess.\n", encoding="utf-8")
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    assert cli("tag", session, "-o", first, "--model", trained).exit_code == 0
    assert cli("tag", session, "-o", second, "--model", trained).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_bad_models_and_configs_are_one_line(cli, tmp_path, trained):
    session = tmp_path / "s.txt"
    session.write_text("T: Hi.\nC: Hi.\n", encoding="utf-8")
    missing = cli("tag", session, "--model", tmp_path / "nope")
    assert missing.exit_code == 2 and "no such model folder" in missing.error_lines[0]
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text("{not json", encoding="utf-8")
    broken = cli("tag", session, "--model", tmp_path / "broken")
    assert broken.exit_code == 2 and "model.json is corrupt" in broken.error_lines[0]
    config = tmp_path / "c.yaml"
    config.write_text("model: baseline\ndata: [{gold: 3rs-constructed}]\nbaseline: {C: -1}\n", encoding="utf-8")
    bad = cli("train", config, "-o", tmp_path / "m")
    assert bad.exit_code == 2 and "'baseline.C'" in bad.error_lines[0]
    bad_set = cli("train", config, "-o", tmp_path / "m", "--set", "nonsense")
    assert bad_set.exit_code == 2 and "--set 'nonsense' is not key=value" in bad_set.error_lines[0]


def test_python_api_tags_a_path_and_records(tmp_path, trained):
    import rupturekit

    session = tmp_path / "s.txt"
    session.write_text("T: What has the week been like for you?\nC: Dunno.\n", encoding="utf-8")
    [by_path] = rupturekit.tag(session, model=trained)
    [by_record] = rupturekit.tag(rupturekit.read(session)[0], model=trained)
    assert by_path.utterances[1].labels == ["withdrawal.minimal_response"]
    assert by_record.model_dump() == by_path.model_dump()


def test_onnx_runtime_tags_like_torch_and_is_refused_for_a_baseline(cli, tmp_path, trained, monkeypatch):
    pytest.importorskip("onnxruntime", reason="the ONNX runtime is optional: pip install 'rupturekit[onnx]'")
    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "cache"))  # the exported encoder goes here
    pytest.importorskip("peft", reason="the default model needs peft")
    session = tmp_path / "s.txt"
    session.write_text("T: How was the exercise?\nC: Honestly, this isn't helping.\nT: Thank you for telling me.\n",
                       encoding="utf-8")
    torch_out, onnx_out = tmp_path / "torch.jsonl", tmp_path / "onnx.jsonl"
    assert cli("tag", session, "-o", torch_out).exit_code == 0
    result = cli("tag", session, "-o", onnx_out, "--runtime", "onnx")
    assert result.exit_code == 0, result.stderr
    runs = (read_jsonl(torch_out)[0], read_jsonl(onnx_out)[0])
    labels = [[u.labels for u in t.utterances] for t in runs]
    assert labels[0] == labels[1]
    assert list((tmp_path / "cache" / "onnx").rglob("*.onnx"))
    refused = cli("tag", session, "--model", trained, "--runtime", "onnx")
    assert refused.exit_code == 2 and "a baseline model has no ONNX runtime" in refused.error_lines[0]


def test_tagging_a_batch_of_transcripts_equals_tagging_each_alone(cli, tmp_path, trained):
    first = tmp_path / "a.txt"
    second = tmp_path / "b.txt"
    first.write_text("T: What happened next?\nC: Dunno.\n", encoding="utf-8")
    second.write_text("T: How was the week?\nC: This is a waste of my time.\n", encoding="utf-8")
    together = tmp_path / "both.jsonl"
    assert cli("tag", first, second, "-o", together, "--model", trained).exit_code == 0
    alone = []
    for path in (first, second):
        out = tmp_path / f"{path.stem}.jsonl"
        assert cli("tag", path, "-o", out, "--model", trained).exit_code == 0
        alone.append(out.read_text(encoding="utf-8"))
    assert together.read_text(encoding="utf-8") == "".join(alone)


def test_operating_points_of_the_default_model(cli, tmp_path, trained):
    """--operating-point picks a stored point: stricter points flag no more turns; an unknown name,
    or a model that stores none, is one line and exit 2."""
    from rupturekit.tagger.api import default_model_dir

    manifest = json.loads((default_model_dir() / "model.json").read_text(encoding="utf-8"))
    points = manifest["decisions"]["3rs__client_markers"]["points"]
    assert points["precision"]["threshold"] >= points["balanced"]["threshold"] >= points["recall"]["threshold"]
    session = tmp_path / "s.txt"
    session.write_text("T: You really have to stop drinking, it is ruining your liver.\nC: Okay. Whatever you say.\n"
                       "T: Why don't you just quit?\nC: You don't get it, nobody listens to me here.\n"
                       "T: What would you like to talk about?\nC: My sister is visiting next week, I'm happy.\n",
                       encoding="utf-8")
    flagged = {}
    for point in ("precision", "balanced", "recall"):
        out = tmp_path / f"{point}.jsonl"
        result = cli("tag", session, "-o", out, "--operating-point", point)
        assert result.exit_code == 0, result.stderr
        [tagged] = read_jsonl(out)
        flagged[point] = {u.utterance_id for u in tagged.utterances if u.role == "client" and u.labels}
    assert flagged["precision"] <= flagged["balanced"] <= flagged["recall"]
    bad = cli("tag", session, "--operating-point", "sensitive")
    assert bad.exit_code == 2 and "is not one of precision, balanced, recall" in bad.error_lines[0]
    none = cli("tag", session, "--model", trained, "--operating-point", "balanced")
    assert none.exit_code == 2 and "this model has no operating points" in none.error_lines[0]
