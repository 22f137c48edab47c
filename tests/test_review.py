"""Review round trip: export for review, a scripted edit as a coder would make, import."""

import pympi
import pytest

from rupturekit.records import Code, Transcript, Utterance, read_jsonl, write_jsonl

TEXTS = [
    ("T", "therapist", "How did the homework go?"),
    ("C", "client", "Fine."),
    ("T", "therapist", "Just fine? It sounded hard last week."),
    ("C", "client", "Honestly, these exercises are pointless."),
    ("T", "therapist", "I may have pushed them too soon. What's it like telling me that?"),
    ("C", "client", "Weird, but okay."),
]
MODEL = {1: ["withdrawal.minimal_response"], 3: ["confrontation.complaint_activities"],
         4: ["resolution.acknowledges_contribution"]}


def corpus(timed: bool):
    utterances = []
    for i, (speaker, role, text) in enumerate(TEXTS):
        codes = [Code(rater="model", label=label) for label in MODEL.get(i, [])]
        if i == 1:
            codes.append(Code(rater="ana", label="withdrawal.denial"))
        utterances.append(Utterance(transcript_id="s 1", utterance_id=10 + i, speaker=speaker, role=role, text=text,
                                    start=2.0 * i if timed else None, end=2.0 * i + 1.5 if timed else None,
                                    codes=codes))
    return [Transcript(transcript_id="s 1", utterances=utterances)]


def review_edit(path):
    """What a reviewer does in ELAN: correct, delete and add labels on the review tier."""
    eaf = pympi.Elan.Eaf(str(path))
    annotations = sorted(eaf.get_annotation_data_for_tier("codes@review"))
    assert [value for *_, value in annotations] == [
        "", "withdrawal.minimal_response", "", "confrontation.complaint_activities",
        "resolution.acknowledges_contribution", ""]
    edits = {1: "withdrawal.minimal_response; withdrawal.deferential_appeasing", 3: "confrontation.complaint_progress",
             4: "", 5: "none"}
    for position, value in edits.items():
        start, end, _ = annotations[position]
        eaf.remove_annotation("codes@review", (start + end) // 2)
        eaf.add_annotation("codes@review", start, end, value)
    eaf.to_file(str(path))


@pytest.mark.parametrize("timed", [True, False])
def test_elan_round_trip_loses_and_shifts_nothing(cli, tmp_path, timed):
    source = tmp_path / "corpus.jsonl"
    write_jsonl(corpus(timed), source)
    folder = tmp_path / "review"
    result = cli("export", source, "--to", "elan", "-o", folder, "--prefill", "model")
    assert result.exit_code == 0, result.stderr
    [eaf] = sorted(folder.glob("*.eaf"))
    assert eaf.name == "s_1.eaf"
    tiers = pympi.Elan.Eaf(str(eaf)).get_tier_names()
    assert {"T", "C", "codes@model", "codes@ana", "codes@review"} <= set(tiers)
    review_edit(eaf)
    out = tmp_path / "reviewed.jsonl"
    result = cli("codes", "import", eaf, "--into", source, "-o", out, "--rater", "reviewer1")
    assert result.exit_code == 0, result.stderr
    [transcript] = read_jsonl(out)
    reviewed = {u.utterance_id: [c.label for c in u.codes if c.rater == "reviewer1"] for u in transcript.utterances}
    assert reviewed == {10: [], 11: ["withdrawal.minimal_response", "withdrawal.deferential_appeasing"], 12: [],
                        13: ["confrontation.complaint_progress"], 14: [], 15: ["none"]}
    # Everything else is exactly as it was.
    before = read_jsonl(source)[0]
    for old, new in zip(before.utterances, transcript.utterances, strict=True):
        assert (new.utterance_id, new.text, new.start, new.end) == (old.utterance_id, old.text, old.start, old.end)
        assert [c for c in new.codes if c.rater != "reviewer1"] == old.codes


def test_elan_import_refuses_an_edited_transcript(cli, tmp_path):
    source = tmp_path / "corpus.jsonl"
    write_jsonl(corpus(True), source)
    folder = tmp_path / "review"
    assert cli("export", source, "--to", "elan", "-o", folder).exit_code == 0
    eaf_path = folder / "s_1.eaf"
    eaf = pympi.Elan.Eaf(str(eaf_path))
    start, end, _ = sorted(eaf.get_annotation_data_for_tier("C"))[0]
    eaf.remove_annotation("C", (start + end) // 2)
    eaf.add_annotation("C", start, end, "Fine, I guess.")
    eaf.to_file(str(eaf_path))
    out = tmp_path / "reviewed.jsonl"
    result = cli("codes", "import", eaf_path, "--into", source, "-o", out)
    assert result.exit_code == 2 and not out.exists()
    assert result.error_lines[0] == (
        f"error: {eaf_path}:utterance 1: utterance 1 reads 'Fine, I guess.', but s 1#11 is 'Fine.'; do not edit or "
        "move speaker annotations while reviewing")


def test_labelstudio_round_trip_through_the_cli(cli, tmp_path):
    import json

    from test_labelstudio import as_labelstudio_export

    source = tmp_path / "corpus.jsonl"
    write_jsonl(corpus(False), source)
    tasks_path = tmp_path / "ls" / "tasks.json"
    result = cli("export", source, "--to", "labelstudio", "-o", tasks_path, "--prefill", "model")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "ls" / "tasks.config.xml").read_text(encoding="utf-8").startswith("<View>")
    export = as_labelstudio_export(json.loads(tasks_path.read_text(encoding="utf-8")))
    results = export[0]["annotations"][0]["result"]
    [edited] = [r for r in results if r["value"]["start"] == "3"]
    edited["value"]["paragraphlabels"] = ["confrontation.complaint_progress"]
    reviewed = tmp_path / "export.json"
    reviewed.write_text(json.dumps(export), encoding="utf-8")
    out = tmp_path / "reviewed.jsonl"
    result = cli("codes", "import", reviewed, "--into", source, "-o", out, "--rater", "reviewer2")
    assert result.exit_code == 0, result.stderr
    [transcript] = read_jsonl(out)
    got = {u.utterance_id: [c.label for c in u.codes if c.rater == "reviewer2"] for u in transcript.utterances}
    assert got == {10: ["none"], 11: ["withdrawal.minimal_response"], 12: ["none"],
                   13: ["confrontation.complaint_progress"], 14: ["resolution.acknowledges_contribution"],
                   15: ["none"]}


def test_shipped_labelstudio_configs_are_generated_from_the_codebooks():
    from pathlib import Path

    from rupturekit.codebook import load_codebook
    from rupturekit.export.labelstudio import labeling_config

    folder = Path(__file__).resolve().parents[1] / "configs" / "labelstudio"
    for name in ("3rs", "cis", "annomi"):
        assert (folder / f"{name}.xml").read_text(encoding="utf-8") == labeling_config(load_codebook(name)), (
            f"regenerate with: rupturekit codebook labelstudio {name} -o configs/labelstudio/{name}.xml")
