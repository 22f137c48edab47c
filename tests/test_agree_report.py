"""`rupturekit.agree.run.run_agreement`: alignment, units, levels, crosswalks and the written report.

Small hand-made corpora; every expected number is worked out by hand in the comments. The last
test reproduces the published human Fleiss' kappa of AnnoMI's ten-annotator transcripts.
"""

from __future__ import annotations

import importlib.util
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rupturekit.agree.metrics import _bootstrap_many, _Vector
from rupturekit.agree.raters import apa
from rupturekit.agree.run import SUMMARY_COLUMNS, run_agreement
from rupturekit.codebook import load_codebook
from rupturekit.errors import InputError
from rupturekit.measures import bootstrap_ci, cohen_kappa, label_report

ROOT = Path(__file__).resolve().parents[1]
ANNOMI = ROOT.parent / "shared" / "data" / "annomi"


@pytest.fixture(scope="module")
def rrs():
    return load_codebook("3rs")


# --------------------------------------------------------------------------- fixtures
def _record(tid: str, uid: int, codes: dict[str, list[str] | str] | None = None, labels: list[str] | None = None,
            scores: dict[str, float] | None = None, ratings: dict[str, dict[str, float]] | None = None,
            text: str | None = None) -> dict:
    """One canonical line; even utterance ids are the therapist's, odd ones the client's."""
    role = "therapist" if uid % 2 == 0 else "client"
    out = {"transcript_id": tid, "utterance_id": uid, "speaker": "T" if role == "therapist" else "C", "role": role,
           "text": text or f"Utterance {uid} of {tid}.", "codes": []}
    for rater, items in (codes or {}).items():
        for label in [items] if isinstance(items, str) else items:
            code = {"rater": rater, "label": label}
            rating = (ratings or {}).get(rater, {}).get(label)
            if rating is not None:
                code["rating"] = rating
            out["codes"].append(code)
    if labels is not None:
        out.update(labels=labels, scores=scores or {}, evidence={})
    return out


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# Corpus A: two transcripts, one reference rater "h"; client markers on odd, resolution moves on even ids.
REFERENCE_A = {
    ("t1", 0): "none", ("t1", 1): "withdrawal.denial", ("t1", 2): "resolution.invites_exploration",
    ("t1", 3): "none", ("t1", 4): "none", ("t1", 5): "confrontation.complaint_therapist",
    ("t2", 0): "none", ("t2", 1): "withdrawal.denial", ("t2", 2): "resolution.redirects", ("t2", 3): "none",
}
MODEL_A = {("t1", 1): ["withdrawal.denial"], ("t1", 2): ["resolution.invites_exploration"],
           ("t1", 3): ["withdrawal.denial"], ("t1", 4): ["resolution.redirects"], ("t2", 2): ["resolution.redirects"]}
# Scores for one label only (the others have none): checks that AUCs are computed per label.
DENIAL_SCORES = {("t1", 1): 0.9, ("t1", 3): 0.6, ("t1", 5): 0.1, ("t2", 1): 0.4, ("t2", 3): 0.2}
TEXTS = {("t1", 3): "Fine. <b>Really</b> fine & see https://example.org/x"}


def reference_a(tmp_path: Path, extra: dict[tuple[str, int], dict[str, str]] | None = None,
                keys=None, name: str = "reference.jsonl") -> Path:
    records = []
    for key in keys or REFERENCE_A:
        codes = {"h": REFERENCE_A[key], **(extra or {}).get(key, {})}
        records.append(_record(*key, codes=codes, text=TEXTS.get(key)))
    return _write(tmp_path / name, records)


def tag_records(keys=None) -> list[dict]:
    records = []
    for key in keys or REFERENCE_A:
        score = {"withdrawal.denial": DENIAL_SCORES[key]} if key in DENIAL_SCORES else {}
        records.append(_record(*key, labels=MODEL_A.get(key, []), scores=score, text=TEXTS.get(key)))
    return records


def tags_a(tmp_path: Path, keys=None, name: str = "tags.jsonl") -> Path:
    return _write(tmp_path / name, tag_records(keys))


def level(result, dimension: str, lvl: str) -> dict:
    return result.metrics["dimensions"][dimension]["levels"][lvl]


def by_label(block: dict) -> dict[str, dict]:
    return {e["label"]: e for e in block["labels"]}


# --------------------------------------------------------------------------- utterance level
def test_utterance_level_numbers_by_hand(tmp_path, rrs):
    result = run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", n_bootstrap=0, figures=False)
    markers = level(result, "client_markers", "subtype")
    assert markers["n_compared"] == 5 and markers["n_transcripts"] == 2
    labels = by_label(markers)
    # withdrawal.denial over t1#1 t1#3 t1#5 t2#1 t2#3: truth 1 0 0 1 0, predicted 1 1 0 0 0
    # -> tp 1, fp 1, fn 1, tn 2: P = R = F1 = .5; kappa: po .6, pe .4*.4 + .6*.6 = .52 -> .08/.48
    denial = labels["withdrawal.denial"]
    assert (denial["support"], denial["predicted"]) == (2, 2)
    assert denial["precision"] == pytest.approx(0.5) and denial["recall"] == pytest.approx(0.5)
    assert denial["f1"] == pytest.approx(0.5)
    assert denial["kappa"] == pytest.approx(0.08 / 0.48)
    # ROC-AUC: positives score .9 and .4, negatives .6 .1 .2: 5 of 6 pairs ordered correctly
    assert denial["roc_auc"] == pytest.approx(5 / 6)
    # complaint_therapist: one positive, never predicted -> P 0 (zero division), R 0, F1 0, kappa 0
    ct = labels["confrontation.complaint_therapist"]
    assert (ct["support"], ct["precision"], ct["recall"], ct["f1"]) == (1, 0.0, 0.0, 0.0)
    assert ct["kappa"] == pytest.approx(0.0)
    # a label nobody used: recall, precision and F1 undefined
    assert labels["withdrawal.denial"]["roc_auc"] is not None
    assert labels["withdrawal.minimal_response"]["recall"] is None  # NaN -> null in metrics
    # micro: TP 1, FP 1, FN 2 -> P .5, R 1/3, F1 2/5; macro over the 2 labels with support
    assert markers["micro"]["precision"] == pytest.approx(0.5)
    assert markers["micro"]["recall"] == pytest.approx(1 / 3)
    assert markers["micro"]["f1"] == pytest.approx(0.4)
    assert markers["macro"]["n_labels"] == 2
    assert markers["macro"]["f1"] == pytest.approx(0.25)
    # pooled kappa over 5 x 14 decisions: TP 1, FP 1, FN 2, TN 66 -> (4690 - 4562) / (4900 - 4562)
    assert markers["kappa"]["value"] == pytest.approx(128 / 338)
    # resolution: invites_exploration perfect; redirects truth 0 0 0 0 1, predicted 0 0 1 0 1
    res = by_label(level(result, "resolution", "subtype"))
    assert res["resolution.invites_exploration"]["f1"] == pytest.approx(1.0)
    assert res["resolution.redirects"]["precision"] == pytest.approx(0.5)
    assert res["resolution.redirects"]["f1"] == pytest.approx(2 / 3)
    assert res["resolution.redirects"]["kappa"] == pytest.approx(0.24 / 0.44)
    # one reference rater: no human range, no model-as-rater sentence
    assert result.sentences == []
    assert "model_as_rater" not in json.dumps(markers["raters"])


def test_family_level(tmp_path, rrs):
    result = run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", level="family",
                           n_bootstrap=0, figures=False)
    assert set(result.metrics["dimensions"]["client_markers"]["levels"]) == {"family"}
    fam = by_label(level(result, "client_markers", "family"))
    assert fam["withdrawal"]["f1"] == pytest.approx(0.5)  # the same decisions as withdrawal.denial
    assert fam["confrontation"]["support"] == 1 and fam["confrontation"]["f1"] == 0.0
    # resolution family: truth 0 1 0 0 1, predicted 0 1 1 0 1 -> P 2/3, R 1, F1 .8;
    # kappa: po .8, pe .6*.4 + .4*.6 = .48 -> .32/.52
    res = level(result, "resolution", "family")
    r = by_label(res)["resolution"]
    assert (r["precision"], r["recall"], r["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert r["kappa"] == pytest.approx(0.32 / 0.52)
    # family scores are the maximum of the member labels' scores: denial's AUC carries over
    assert by_label(level(result, "client_markers", "family"))["withdrawal"]["roc_auc"] == pytest.approx(5 / 6)
    kinds = {(row["dimension"], row["label"]) for row in result.summary_rows}
    assert ("resolution", "resolution") in kinds and ("client_markers", "micro avg") in kinds
    assert all(set(row) == set(SUMMARY_COLUMNS) for row in result.summary_rows)


def test_bootstrap_cis_over_transcripts(tmp_path, rrs):
    result = run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", level="subtype",
                           n_bootstrap=100, figures=False, seed=3)
    markers = level(result, "client_markers", "subtype")
    assert markers["bootstrap"]["groups"] == 2 and markers["bootstrap"]["by"] == "transcript"
    low, high = markers["micro"]["f1_ci"]
    assert 0.0 <= low <= high <= 1.0
    assert any("bootstrap CIs over transcripts are coarse" in note for note in result.notes)


def test_bootstrap_vector_matches_library_functions():
    """The one-pass bootstrap vector equals label_report / cohen_kappa on the full sample, and its
    memoised intervals equal bootstrap_ci run on the statistic directly."""
    rng = np.random.default_rng(7)
    cats = ["a", "b", "c"]
    yt = rng.choice(cats, 60)
    yp = np.where(rng.random(60) < 0.7, yt, rng.choice(cats, 60))
    truth = np.column_stack([yt == c for c in cats])
    guess = np.column_stack([yp == c for c in cats])
    vector = _Vector(truth, guess, cats, single=True)
    full = dict(zip(vector.names, vector(np.arange(60)), strict=True))
    report = label_report(list(yt), list(yp), labels=cats)
    for c in cats:
        assert full[f"{c}|f1"] == pytest.approx(report.loc[c, "f1"])
        assert full[f"{c}|precision"] == pytest.approx(report.loc[c, "precision"])
    assert full["micro|f1"] == pytest.approx(report.loc["micro avg", "f1"])
    assert full["macro|f1"] == pytest.approx(report.loc["macro avg", "f1"])
    assert full["kappa"] == pytest.approx(cohen_kappa(list(yt), list(yp)))
    groups = np.repeat(np.arange(6), 10).astype(str)
    many = _bootstrap_many(vector, groups, 50, 11)
    direct = bootstrap_ci(lambda idx: cohen_kappa(list(yt[idx]), list(yp[idx])), groups, n_resamples=50, seed=11)
    assert (many["kappa"].low, many["kappa"].high) == pytest.approx((direct.low, direct.high))


# --------------------------------------------------------------------------- input errors
def test_different_utterances_raise_unless_allow_partial(tmp_path, rrs):
    t1_only = [k for k in REFERENCE_A if k[0] == "t1"]
    tags = tags_a(tmp_path, keys=t1_only)
    with pytest.raises(InputError) as error:
        run_agreement(reference_a(tmp_path), tags, rrs, tmp_path / "out", n_bootstrap=0, figures=False)
    message = str(error.value)
    assert "cover different utterances" in message
    assert "6 shared; 4 coded in the reference but not predicted (e.g. t2#0, t2#1, t2#2)" in message
    assert "0 predicted but not in the reference" in message and "allow-partial" in message
    assert "\n" not in message

    result = run_agreement(reference_a(tmp_path), tags, rrs, tmp_path / "out", allow_partial=True, n_bootstrap=0,
                           figures=False)
    overlap = result.metrics["overlap"]
    assert (overlap["shared"], overlap["reference_only"], overlap["predicted_only"]) == (6, 4, 0)
    assert overlap["reference_only_transcripts"] == ["t2"] and overlap["partial"] is True
    assert level(result, "client_markers", "subtype")["n_compared"] == 3
    assert any(note.startswith("partial comparison") for note in result.notes)

    more = _write(tmp_path / "more.jsonl", [*tag_records(), _record("t9", 1, labels=["withdrawal.denial"])])
    with pytest.raises(InputError, match=r"1 predicted but not in the reference \(e\.g\. t9#1\)"):
        run_agreement(reference_a(tmp_path), more, rrs, tmp_path / "out", n_bootstrap=0, figures=False)


def test_unknown_labels_name_the_nearest(tmp_path, rrs):
    bad_ref = reference_a(tmp_path, extra={("t1", 1): {"h2": "withdrawl.denial"}})
    with pytest.raises(InputError, match=r"unknown label 'withdrawl\.denial'.*did you mean withdrawal\.denial"):
        run_agreement(bad_ref, tags_a(tmp_path), rrs, tmp_path / "out", n_bootstrap=0, figures=False)
    records = tag_records()
    records[2]["labels"] = ["resolution.redirect"]
    bad_tags = _write(tmp_path / "bad_tags.jsonl", records)
    with pytest.raises(InputError, match=r"unknown label 'resolution\.redirect'.*resolution\.redirects"):
        run_agreement(reference_a(tmp_path), bad_tags, rrs, tmp_path / "out", n_bootstrap=0, figures=False)


def test_rater_without_codes(tmp_path, rrs):
    ref = reference_a(tmp_path, extra={("t1", 1): {"h2": "withdrawal.denial"}})
    with pytest.raises(InputError, match=r"no codes by rater 'nobody'; raters present: h, h2"):
        run_agreement(ref, tags_a(tmp_path), rrs, tmp_path / "out", reference_raters=["nobody"], n_bootstrap=0,
                      figures=False)
    with pytest.raises(InputError, match=r"no codes by rater 'x'; raters present: h, h2"):
        run_agreement(ref, ref, rrs, tmp_path / "out", predicted_rater="x", n_bootstrap=0, figures=False)


# --------------------------------------------------------------------------- units
def test_segment_unit_presence_in_any_utterance(tmp_path, rrs):
    result = run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", unit="segment:4u",
                           level="subtype", n_bootstrap=0, figures=False)
    markers = level(result, "client_markers", "subtype")
    assert markers["unit"] == "segment" and markers["n_compared"] == 3
    # segments of 4 utterances: t1/0 = t1#0-3, t1/1 = t1#4-5, t2/0 = t2#0-3.
    # denial: reference {t1/0, t2/0}; model t1#1 and t1#3 -> t1/0 only (its false alarm on t1#3 falls
    # in a segment where the label is present anyway): P 1, R .5, F1 2/3
    denial = by_label(markers)["withdrawal.denial"]
    assert (denial["support"], denial["predicted"]) == (2, 1)
    assert (denial["precision"], denial["recall"], denial["f1"]) == pytest.approx((1.0, 0.5, 2 / 3))
    # per-segment counts: the model tags denial twice in t1/0, the reference once
    counts = {s["subject"]: s for s in markers["counts"]["withdrawal.denial"]["subjects"]}
    assert counts["t1/0"]["predicted"] == 2 and counts["t1/0"]["reference"] == {"h": 1}
    assert counts["t1/1"]["predicted"] == 0 and counts["t2/0"]["reference"] == {"h": 1}
    res = by_label(level(result, "resolution", "subtype"))
    assert res["resolution.redirects"]["support"] == 1 and res["resolution.redirects"]["predicted"] == 2
    assert "counts" in (tmp_path / "out" / "report.html").read_text()


def test_segment_significance_ratings(tmp_path, rrs):
    ratings = {("t1", 1): 4, ("t1", 5): 2, ("t2", 1): 5}
    records = []
    for key, label in REFERENCE_A.items():
        rating = {"h": {label: ratings[key]}, "p": {label: ratings[key]}} if key in ratings else None
        records.append(_record(*key, codes={"h": label, "p": label}, ratings=rating))
    ref = _write(tmp_path / "rated.jsonl", records)
    result = run_agreement(ref, ref, rrs, tmp_path / "out", unit="segment:4u", level="subtype",
                           predicted_rater="p", n_bootstrap=0, figures=False)
    ratings_block = level(result, "client_markers", "subtype")["ratings"]
    # cells: (t1/0, denial) 4, (t1/1, complaint_therapist) 2, (t2/0, denial) 5; rater p agrees with h
    assert ratings_block["n_cells"] == 3 and ratings_block["scale"] == [1, 2, 3, 4, 5]
    assert ratings_block["weighted_kappa"]["h"] == pytest.approx(1.0)


def test_session_unit_counts_icc_and_correlations(tmp_path, rrs):
    # Four sessions of five client turns; denial tallies: reference 1 2 3 0, model 2 2 4 1.
    ref_tally, model_tally = [1, 2, 3, 0], [2, 2, 4, 1]
    ref_records, tag_records = [], []
    for t, (x, y) in enumerate(zip(ref_tally, model_tally, strict=True)):
        for i in range(5):
            uid = 2 * i + 1  # client turns only
            ref_records.append(_record(f"s{t}", uid, codes={"h": "withdrawal.denial" if i < x else "none"}))
            tag_records.append(_record(f"s{t}", uid, labels=["withdrawal.denial"] if i < y else []))
    ref = _write(tmp_path / "ref.jsonl", ref_records)
    tags = _write(tmp_path / "tags.jsonl", tag_records)
    result = run_agreement(ref, tags, rrs, tmp_path / "out", unit="session", n_bootstrap=0, figures=False)
    assert "resolution" in result.metrics["skipped_dimensions"]  # no therapist turns coded
    counts = level(result, "client_markers", "subtype")["counts"]["withdrawal.denial"]
    assert counts["n_subjects"] == 4
    assert counts["totals"] == {"h": 6.0, "predicted": 9.0}
    # Pearson: dx = -.5 .5 1.5 -1.5, dy = -.25 -.25 1.75 -1.25 -> 4.5 / sqrt(5 * 4.75)
    assert counts["pearson"] == pytest.approx(4.5 / math.sqrt(5 * 4.75))
    # Two-way ANOVA of the 4 x 2 matrix: MSR 3.125, MSC 1.125, MSE .125
    # ICC(3,1) = 3 / 3.25; ICC(2,1) = 3 / (3.25 + 2 * 1 / 4)
    forms = counts["predicted_vs_reference"]["forms"]
    assert forms["ICC3"]["icc"] == pytest.approx(3 / 3.25)
    assert forms["ICC2"]["icc"] == pytest.approx(0.8)
    assert forms["ICC2"]["shrout_fleiss"] == "ICC(2,1)"
    assert level(result, "client_markers", "family")["counts"]["withdrawal"]["totals"]["predicted"] == 9.0
    rows = [r for r in result.summary_rows if r["kind"] == "count" and r["label"] == "withdrawal.denial"]
    assert rows[0]["icc"] == pytest.approx(0.8) and rows[0]["n"] == 4
    assert "| withdrawal.denial | 4 | 0.80" in (tmp_path / "out" / "summary.md").read_text()


def test_exhaustive_coding_counts_unmarked_utterances(tmp_path, rrs):
    # Positive marks only (as ELAN code tiers give): t1#3 carries no code at all.
    ref = _write(tmp_path / "marks.jsonl", [
        _record("t1", 1, codes={"h": "withdrawal.denial"}), _record("t1", 3),
        _record("t1", 5, codes={"h": "confrontation.complaint_therapist"})])
    tags = _write(tmp_path / "tags.jsonl", [
        _record("t1", 1, labels=["withdrawal.denial"]), _record("t1", 3, labels=["withdrawal.denial"]),
        _record("t1", 5, labels=[])])
    by_default = run_agreement(ref, tags, rrs, tmp_path / "a", level="subtype", n_bootstrap=0, figures=False)
    denial = by_label(level(by_default, "client_markers", "subtype"))["withdrawal.denial"]
    assert level(by_default, "client_markers", "subtype")["n_compared"] == 2  # t1#3 is not coded
    assert denial["precision"] == 1.0
    assert any("rater h: 1" in note and "exhaustive" in note for note in by_default.notes)
    exhaustive = run_agreement(ref, tags, rrs, tmp_path / "b", level="subtype", n_bootstrap=0, figures=False,
                               exhaustive=True)
    assert level(exhaustive, "client_markers", "subtype")["n_compared"] == 3
    assert by_label(level(exhaustive, "client_markers", "subtype"))["withdrawal.denial"]["precision"] == 0.5
    assert not any("exhaustive" in note for note in exhaustive.notes)


# --------------------------------------------------------------------------- crosswalk
def test_cis_reference_crosswalked_to_3rs_families(tmp_path, rrs):
    cis = load_codebook("cis")
    ref = _write(tmp_path / "cis.jsonl", [
        _record("t1", 0, codes={"c": "none"}),
        _record("t1", 1, codes={"c": "indirect.avoidance"}),
        _record("t1", 2, codes={"c": "positive.explores_relationship"}),
        _record("t1", 3, codes={"c": "collaborative.elaborates"}),  # no 3RS counterpart: coded, no marker
        _record("t1", 4, codes={"c": "negative.hostile_critical"}),  # no 3RS counterpart
        _record("t1", 5, codes={"c": "direct.disagreement_task_goal"}),
    ])
    tags = _write(tmp_path / "tags.jsonl", [
        _record("t1", 0, labels=[]),
        _record("t1", 1, labels=["withdrawal.minimal_response"]),
        _record("t1", 2, labels=["resolution.invites_exploration"]),
        _record("t1", 3, labels=[]),
        _record("t1", 4, labels=["resolution.redirects"]),
        _record("t1", 5, labels=["confrontation.rejects_intervention"]),
    ])
    with pytest.raises(InputError, match="a crosswalk compares families only"):
        run_agreement(ref, tags, rrs, tmp_path / "out", crosswalk_from=cis, level="subtype", n_bootstrap=0,
                      figures=False)
    result = run_agreement(ref, tags, rrs, tmp_path / "out", crosswalk_from=cis, n_bootstrap=0, figures=False)
    dims = result.metrics["dimensions"]
    assert set(dims["client_markers"]["levels"]) == {"family"}
    assert "compared at family level only" in dims["client_markers"]["skipped_levels"]["subtype"]
    fam = by_label(dims["client_markers"]["levels"]["family"])
    # direct -> confrontation, indirect -> withdrawal; collaborative counts as coded, no marker
    assert fam["confrontation"]["support"] == 1 and fam["confrontation"]["f1"] == pytest.approx(1.0)
    assert fam["withdrawal"]["support"] == 1 and fam["withdrawal"]["f1"] == pytest.approx(1.0)
    assert dims["client_markers"]["levels"]["family"]["n_compared"] == 3
    # positive -> resolution; negative -> nothing, so the model's move on t1#4 is a false alarm
    res = by_label(dims["resolution"]["levels"]["family"])["resolution"]
    assert (res["support"], res["predicted"], res["precision"], res["recall"]) == (1, 2, 0.5, 1.0)
    assert result.metrics["inputs"]["crosswalk_from"]["families"]["direct"] == "confrontation"


# --------------------------------------------------------------------------- single-label, raters
def test_single_label_model_against_one_rater(tmp_path):
    annomi = load_codebook("annomi")
    ref_labels = ["reflection", "question", "question", "other", "reflection", "question"]
    model_labels = ["reflection", "question", "reflection", "other", "question", "question"]
    refs, tags = [], []
    for i, (a, b) in enumerate(zip(ref_labels, model_labels, strict=True)):
        tid, uid = f"m{i // 3}", 2 * (i % 3)
        refs.append(_record(tid, uid, codes={"r": f"therapist_behaviour.{a}"}))
        tags.append(_record(tid, uid, labels=[f"therapist_behaviour.{b}"]))
    result = run_agreement(_write(tmp_path / "ref.jsonl", refs), _write(tmp_path / "tags.jsonl", tags), annomi,
                           tmp_path / "out", n_bootstrap=0, figures=False)
    block = level(result, "therapist_behaviour", "subtype")
    # po 4/6; marginals reflection 2/2, question 3/3, other 1/1 -> pe 14/36; kappa 10/22
    assert block["kappa"]["value"] == pytest.approx(10 / 22)
    assert block["micro"]["f1"] == pytest.approx(4 / 6)  # accuracy
    labels = by_label(block)
    assert labels["therapist_behaviour.question"]["f1"] == pytest.approx(2 / 3)
    assert labels["therapist_behaviour.therapist_input"]["f1"] is None  # no support, never predicted
    assert block["macro"]["f1"] == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
    assert block["confusion"]["matrix"][0] == [1, 1, 0, 0]  # reflection -> reflection, question
    assert "reflection_subtype" in result.metrics["skipped_dimensions"]


def test_one_rater_against_the_rest_fleiss(tmp_path):
    # Three raters on four therapist turns (q = question, r = reflection, o = other):
    # s1 q q q, s2 r r q, s3 o o o, s4 q r r.
    # All three: P-bar 2/3, p = 5/12 4/12 3/12 -> pe 50/144 -> kappa 46/94.
    # Without rater a (a = q r o q): b, c = qq rq oo rr -> P-bar 3/4, pe 22/64 -> kappa 13/21.
    annomi = load_codebook("annomi")
    name = {"q": "question", "r": "reflection", "o": "other"}
    rows = ["qqq", "rrq", "ooo", "qrr"]
    records = [_record("m", 2 * i, codes={rater: f"therapist_behaviour.{name[v]}" for rater, v in zip("abc", row,
                                                                                                       strict=True)})
               for i, row in enumerate(rows)]
    path = _write(tmp_path / "three.jsonl", records)
    result = run_agreement(path, path, annomi, tmp_path / "out", predicted_rater="a", n_bootstrap=0, figures=False)
    assert result.metrics["reference_raters"] == ["b", "c"]
    assert result.metrics["predicted"] == {"kind": "rater", "name": "rater a", "rater": "a", "has_scores": False}
    raters = level(result, "therapist_behaviour", "subtype")["raters"]
    assert raters["fleiss_all"] == pytest.approx(46 / 94)
    assert raters["fleiss_reference"] == pytest.approx(13 / 21)
    assert raters["model_as_rater"]["sentence"].startswith("κ = ")
    assert result.sentences[0].startswith("therapist_behaviour: rater a: κ = ")


def test_apa_numbers():
    assert apa(0.7412) == ".74" and apa(-0.05) == "−.05" and apa(1.0) == "1.00" and apa(float("nan")) == "n/a"


# --------------------------------------------------------------------------- the written report
class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.section: str | None = None
        self.images: dict[str | None, list[str]] = {}
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.table_rows: dict[str, int] = {}
        self._table: str | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("section", "header"):
            self.section = a.get("id")
        for attr in ("src", "href"):
            if a.get(attr):
                self.urls.append(a[attr])
        if tag == "img":
            self.images.setdefault(self.section, []).append(a.get("src", ""))
        if tag == "table":
            self._table = a.get("id")
        if tag == "tbody":
            self._in_body = True
        if tag == "tr" and self._in_body and self._table:
            self.table_rows[self._table] = self.table_rows.get(self._table, 0) + 1

    def handle_endtag(self, tag):
        if tag in ("section", "header"):
            self.section = None
        if tag == "tbody":
            self._in_body = False
        if tag == "table":
            self._table = None


def _three_raters(tmp_path: Path) -> Path:
    # h2 copies h; h3 also sees denial on t1#3 (outvoted 1 of 3), so the consensus is h's codes.
    extra = {key: {"h2": label, "h3": label} for key, label in REFERENCE_A.items()}
    extra[("t1", 3)] = {"h2": "none", "h3": "withdrawal.denial"}
    return reference_a(tmp_path, extra=extra, name="three.jsonl")


def test_html_report_has_every_part_and_nothing_external(tmp_path, rrs):
    result = run_agreement(_three_raters(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", n_bootstrap=50)
    assert result.paths["html"] == tmp_path / "out" / "report.html"
    text = result.paths["html"].read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    page.close()
    for section in ("header", "summary", "f1", "coefficients", "confusion", "raters", "timeline", "disagreements",
                    "method", "disagreements-table"):
        assert section in page.ids, section
    for section in ("f1", "confusion", "raters", "timeline"):
        images = page.images.get(section, [])
        assert images and all(src.startswith("data:image/png;base64,") for src in images), section
    assert not [u for u in page.urls if u.startswith(("http://", "https://", "//"))]
    assert {"script", "link", "iframe"}.isdisjoint(page.tags)
    assert "Research tool, not a clinical instrument." in text
    # disagreements at the subtype level: client t1#3 (false alarm), t1#5 and t2#1 (misses);
    # resolution t1#4 (false alarm)
    assert page.table_rows["disagreements-table"] == 4
    assert result.metrics["disagreements"]["total"] == 4
    # the utterance text is escaped, its URL stays text
    assert "Fine. &lt;b&gt;Really&lt;/b&gt; fine &amp; see https://example.org/x" in text
    # three raters: the human range and the model's place in it
    assert any("withdrawal.denial: model: κ = " in s and "human" in s for s in result.sentences)
    csv_lines = result.paths["disagreements"].read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == 5


def test_disagreements_are_capped(tmp_path, rrs):
    result = run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", n_bootstrap=0, figures=False,
                           max_disagreements=2)
    page = _Page()
    page.feed(result.paths["html"].read_text(encoding="utf-8"))
    assert page.table_rows["disagreements-table"] == 2
    assert "2 more left out" in result.paths["html"].read_text(encoding="utf-8")
    assert result.metrics["disagreements"] == {**result.metrics["disagreements"], "total": 4, "shown": 2}


def test_metrics_json_round_trips_and_summary_md(tmp_path, rrs):
    result = run_agreement(_three_raters(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", n_bootstrap=20)

    def no_constants(name):
        raise AssertionError(f"{name} in metrics.json")

    loaded = json.loads(result.paths["metrics"].read_text(encoding="utf-8"), parse_constant=no_constants)
    assert loaded == result.metrics
    assert json.loads(json.dumps(loaded)) == loaded
    assert loaded["inputs"]["codebook"]["name"] == "3rs" and loaded["predicted"]["kind"] == "model"
    summary = result.paths["summary"].read_text(encoding="utf-8")
    assert "| label | support | P | R | F1 [95% CI] | κ |" in summary
    assert "| withdrawal.denial | 2 | 0.50 | 0.50 | 0.50" in summary
    assert "Research tool, not a clinical instrument." in summary
    assert "κ = " in summary and "human" in summary


def test_bad_unit_and_level(tmp_path, rrs):
    with pytest.raises(InputError, match="unit 'minutes' not understood"):
        run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", unit="minutes")
    with pytest.raises(InputError, match="level 'label' not understood"):
        run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", level="label")
    with pytest.raises(InputError, match="no dimension 'markers'.*the codebook has: client_markers, resolution"):
        run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", dimensions=["markers"])
    with pytest.raises(InputError, match="no transcript 't7' in this file; transcripts present: t1, t2"):
        run_agreement(reference_a(tmp_path), tags_a(tmp_path), rrs, tmp_path / "out", transcripts=["t7"])


# --------------------------------------------------------------------------- screenshot script
def test_screenshot_script_skips_without_chromium(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = tmp_path / "r.html"
    page.write_text("<!doctype html><p>hi</p>")
    monkeypatch.setattr(module, "find_chromium", lambda: None)
    assert module.main([str(page), "-o", str(tmp_path / "r.png")]) == module.EXIT_SKIPPED == 3
    assert capsys.readouterr().out.strip() == "skipped: Chromium not installed"


# --------------------------------------------------------------------------- acceptance: AnnoMI
def test_annomi_one_rater_against_the_rest_reproduces_published_fleiss(tmp_path):
    full = ANNOMI / "AnnoMI-full.csv"
    if not full.exists():
        pytest.skip(f"shared AnnoMI data not found at {ANNOMI} (run scripts/download_annomi.py)")
    annomi = load_codebook("annomi")
    result = run_agreement(full, full, annomi, tmp_path / "out", predicted_rater="0",
                           transcripts=["7", "55", "66"], n_bootstrap=0, figures=False)
    assert result.metrics["reference_raters"] == [str(i) for i in range(1, 10)]
    therapist = level(result, "therapist_behaviour", "subtype")
    client = level(result, "client_talk_type", "subtype")
    assert therapist["n_subjects"] == 82 and client["n_subjects"] == 80
    # Published: Fleiss' kappa 0.728 (therapist behaviour) and 0.479 (client talk type), all 10 annotators
    assert round(therapist["raters"]["fleiss_all"], 3) == 0.728
    assert round(client["raters"]["fleiss_all"], 3) == 0.479
    sentence = therapist["raters"]["model_as_rater"]["sentence"]
    assert sentence.startswith("κ = ") and "human range" in sentence and "of 9 raters" in sentence
    assert isinstance(pd.DataFrame(result.summary_rows), pd.DataFrame)
