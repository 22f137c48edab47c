"""Both gold corpora load, and their datasheets' tables match the data (recomputed here)."""

import re

import pytest

from rupturekit.codebook import load_codebook
from rupturekit.gold import gold_dir, label_counts, load_gold


def datasheet_counts(name):
    text = (gold_dir() / name / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- counts:start -->")[1].split("<!-- counts:end -->")[0]
    return {label: int(n) for label, n in re.findall(r"^\| `([\w.]+)` \| (\d+) \|$", block, re.MULTILINE)}


def check_rater(transcripts, rater):
    """Every utterance coded by `rater`, `none` alone, labels on the right role."""
    codebook = load_codebook("3rs")
    for transcript in transcripts:
        for utterance in transcript.utterances:
            labels = [c.label for c in utterance.codes if c.rater == rater]
            assert labels, f"{utterance.transcript_id}#{utterance.utterance_id} is not coded by {rater}"
            assert "none" not in labels or labels == ["none"]
            for label in labels:
                dimension = codebook.dimension_of(label)
                assert dimension is None or dimension.applies_to(utterance.role)


def check_corpus(transcripts, name):
    codebook = load_codebook("3rs")
    counts = label_counts(transcripts)
    sheet = datasheet_counts(name)
    assert set(sheet) == {*codebook.labels, "none"}
    assert {label: counts.get(label, 0) for label in sheet} == sheet
    assert set(counts) <= set(sheet)
    check_rater(transcripts, "team")
    return counts


def test_constructed_corpus_covers_every_label_at_least_8_times():
    transcripts = load_gold("3rs-constructed")
    counts = check_corpus(transcripts, "3rs-constructed")
    assert len(transcripts) >= 30 and sum(len(t.utterances) for t in transcripts) >= 600
    assert min(counts[label] for label in load_codebook("3rs").labels) >= 8
    hard = [u for t in transcripts for u in t.utterances if "hard_negative" in u.meta]
    assert len(hard) >= 100 and all([c.label for c in u.codes] == ["none"] for u in hard)
    texts = [u.text for t in transcripts for u in t.utterances]
    assert len(set(texts)) == len(texts)


def test_annomi_3rs_double_coded_real_sessions(annomi_dir):
    transcripts = load_gold("annomi-3rs", annomi_dir)
    assert len(transcripts) == 116 and sum(len(t.utterances) for t in transcripts) == 8297
    for rater in ("pass-a", "pass-b", "adjudicated"):
        check_rater(transcripts, rater)
    quality = [t.utterances[0].meta["mi_quality"] for t in transcripts]
    assert (quality.count("high"), quality.count("low")) == (98, 18)
    # the team's earlier single-rater codes stay, on the same 23 transcripts
    team = {t.transcript_id for t in transcripts if any(c.rater == "team" for u in t.utterances for c in u.codes)}
    assert team == {"3", "19", "24", "26", "40", "9", "10", "15", "17", "32", "53", "57", "72", "74", "90", "92", "102",
                    "106", "115", "118", "123", "126", "131"}
    check_rater([t for t in transcripts if t.transcript_id in team], "team")
    # Ids join back to AnnoMI: utterance ids are AnnoMI's own, 0..n-1 in each transcript.
    assert all([u.utterance_id for u in t.utterances] == list(range(len(t.utterances))) for t in transcripts)
    # where the passes agree, adjudicated is their code; where they differ, a note says why
    for t in transcripts:
        for u in t.utterances:
            by = {r: sorted(c.label for c in u.codes if c.rater == r) for r in ("pass-a", "pass-b", "adjudicated")}
            if by["pass-a"] == by["pass-b"]:
                assert by["adjudicated"] == by["pass-a"]


def test_annomi_3rs_datasheet_tables_match_the_codes(annomi_dir):
    """The datasheet's tables (label counts per rater, prevalence by AnnoMI quality, pass-a against
    pass-b agreement with bootstrap CIs) recomputed from the codes."""
    from rupturekit.report.gold_datasheet import datasheet_tables

    text = (gold_dir() / "annomi-3rs" / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- tables:start -->\n")[1].split("<!-- tables:end -->")[0]
    assert datasheet_tables(load_gold("annomi-3rs", annomi_dir)) == block


def test_annomi_3rs_stores_no_annomi_text():
    codes = (gold_dir() / "annomi-3rs" / "codes.csv").read_text(encoding="utf-8")
    lines = codes.splitlines()
    assert lines[0] == "transcript_id,utterance_id,rater,label,note"
    assert len(lines) == 25723
    assert {line.split(",")[2] for line in lines[1:]} == {"team", "pass-a", "pass-b", "adjudicated"}


def test_unknown_gold_corpus_is_one_line():
    from rupturekit.errors import InputError

    with pytest.raises(InputError, match="no such gold corpus; use one of 3rs-constructed, annomi-3rs"):
        load_gold("nope")


def test_merge_script_rebuilds_the_codes_and_refuses_incomplete_passes(annomi_dir, tmp_path):
    """scripts/build_annomi_3rs.py, fed the passes and adjudication held in codes.csv, writes the
    same bytes; a pass missing an utterance, or an adjudication without a note, is refused."""
    import importlib.util
    import json
    import shutil
    from collections import defaultdict

    spec = importlib.util.spec_from_file_location("build_annomi_3rs", gold_dir().parents[1] / "scripts" /
                                                  "build_annomi_3rs.py")
    build_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_script)
    transcripts = load_gold("annomi-3rs", annomi_dir)
    folders = {name: tmp_path / name for name in ("pass-a", "pass-b", "adjudicated")}
    for folder in folders.values():
        folder.mkdir()
    adjudicated = defaultdict(list)
    for t in transcripts:
        for rater in ("pass-a", "pass-b"):
            lines = [json.dumps({"transcript_id": t.transcript_id, "utterance_id": u.utterance_id, "role": u.role,
                                 "labels": [c.label for c in u.codes if c.rater == rater and c.label != "none"]})
                     for u in t.utterances]
            (folders[rater] / f"{t.transcript_id}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for u in t.utterances:
            codes = {r: sorted(c.label for c in u.codes if c.rater == r) for r in ("pass-a", "pass-b")}
            if codes["pass-a"] != codes["pass-b"]:
                final = [c for c in u.codes if c.rater == "adjudicated"]
                adjudicated[t.transcript_id].append(json.dumps({
                    "transcript_id": t.transcript_id, "utterance_id": u.utterance_id,
                    "labels": [c.label for c in final if c.label != "none"], "note": final[0].note or ""}))
    for tid, lines in adjudicated.items():
        (folders["adjudicated"] / f"{tid}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    codes_csv = gold_dir() / "annomi-3rs" / "codes.csv"
    text, summary = build_script.build(folders["pass-a"], folders["pass-b"], folders["adjudicated"], codes_csv,
                                       annomi_dir)
    assert text == codes_csv.read_text(encoding="utf-8")
    assert summary["disputed"] == sum(len(v) for v in adjudicated.values()) > 0
    broken = tmp_path / "broken"
    shutil.copytree(folders["pass-b"], broken)
    first = sorted(broken.glob("*.jsonl"))[0]
    first.write_text("\n".join(first.read_text(encoding="utf-8").splitlines()[1:]) + "\n", encoding="utf-8")
    with pytest.raises(build_script.Problem, match="utterances coded"):
        build_script.build(folders["pass-a"], broken, folders["adjudicated"], codes_csv, annomi_dir)
