"""Alliance ratings and the Stevens, Strauss and Stiles rupture-repair criteria
(rupturekit.analysis.alliance), and `rupturekit alliance` on hand-made WAI trajectories."""

import json
from pathlib import Path

import pytest

from rupturekit.analysis.alliance import (
    Assessment,
    CriteriaSettings,
    stevens,
    stiles,
    strauss,
    strauss_threshold,
)
from rupturekit.records import Transcript, Utterance, dumps_jsonl

FIXTURE = Path(__file__).parent / "fixtures" / "alliance" / "wai_trajectories.csv"


def traj(scores, patient="p"):
    return [Assessment(patient, i + 1, i + 2, alliance=s) for i, s in enumerate(scores)]


def brief(episodes):
    return [(e.rupture_session, e.repair_session, e.repaired, e.censored) for e in episodes]


# ------------------------------------------------------------------ Stevens et al. 2007
def test_stevens_drop_of_one_point_repaired_within_tolerance_and_window():
    assert brief(stevens("p", traj([5.0, 4.0, 4.5, 4.75]))) == [(2, 4, True, False)]  # 4.75 = 5 - .25 counts
    assert brief(stevens("p", traj([5.0, 4.01, 5.0]))) == []  # a drop of .99 is not a rupture
    assert brief(stevens("p", traj([5.0, 4.0, 4.7, 4.7, 4.7, 4.7, 4.7, 5.0]))) == [(2, None, False, False)]
    assert brief(stevens("p", traj([5.0, 4.0, 4.7, 4.7, 4.7, 4.7, 5.0]))) == [(2, 7, True, False)]  # 5 sessions on
    # unrepaired with fewer than 5 sessions left: censored
    assert brief(stevens("p", traj([5.0, 4.0, 4.2, 4.1]))) == [(2, None, False, True)]
    # a further drop inside a repaired episode belongs to it; a later one is a new rupture
    assert brief(stevens("p", traj([6.0, 5.0, 3.9, 6.0, 4.9, 5.9]))) == [(2, 4, True, False), (5, 6, True, False)]
    # a missed assessment: the pre-rupture level is the last score before, sessions count by number
    items = traj([5.0, None, 3.8, 4.9])
    assert brief(stevens("p", items)) == [(3, 4, True, False)]
    assert stevens("p", items)[0].pre_session == 1
    wider = CriteriaSettings(stevens_drop=2.0)
    assert stevens("p", traj([5.0, 4.0, 5.0]), wider) == []


# ------------------------------------------------------------------ Strauss et al. 2006
def test_strauss_threshold_is_the_mean_within_patient_sd_of_patients_with_three_assessments():
    by_patient = {"a": traj([1, 2, 3]), "b": traj([2, 2, 4, 4]), "c": traj([9, 1])}  # c has 2: left out
    # SDs (n - 1): a 1.0, b 1.1547; mean 1.07735
    assert strauss_threshold(by_patient) == pytest.approx((1.0 + (4 / 3) ** 0.5) / 2)


def test_strauss_rupture_and_resolution_are_fluctuations_at_least_the_threshold():
    assert brief(strauss("p", traj([5, 4.5, 5.0]), 0.5)) == [(2, 3, True, False)]
    assert brief(strauss("p", traj([5, 4.6, 5.0]), 0.5)) == []  # a drop of .4 only
    # a gradual return (two rises of .3) is not a resolution fluctuation
    assert brief(strauss("p", traj([5, 4.4, 4.7, 5.0]), 0.5)) == [(2, None, False, False)]
    # drops between the rupture and its resolution belong to that episode
    assert brief(strauss("p", traj([5, 4.4, 3.8, 4.5, 3.9, 4.4]), 0.5)) == [(2, 4, True, False), (5, 6, True, False)]


# ------------------------------------------------------------------ Stiles et al. 2004
def test_stiles_v_shaped_deflection_of_two_own_sds():
    # The SD is of the patient's other scores (the candidate low point left out). Flat at 5 with
    # one dip to 3: the others' SD is 0, so the dip is a V (threshold 0, drop 2 on both sides).
    (v,) = stiles("p", traj([5, 5, 5, 5, 3, 5, 5, 5]))
    assert (v.rupture_session, v.repair_session, v.threshold) == (5, 6, 0.0)
    assert stiles("p", traj([5, 5, 5, 5, 3, 3.2, 5, 5])) == []  # no V: the next session stays low
    assert stiles("p", traj([5, 5, 5, 3])) == []  # the last assessment cannot be a V's low point
    assert stiles("p", traj([5, 5, 5, 5])) == []  # no dip at all
    # four scores are the least that can show a V: the dip and three others for the SD
    (short,) = stiles("p", traj([5, 1, 5, 5]))
    assert short.rupture_session == 2
    assert stiles("p", traj([5, 1, 5])) == []  # three: skipped (and counted by apply_criteria)
    # a noisy course: for the dip to 2.5 the others' SD is .918, 2 SD = 1.84 < 2.5; the shallower
    # dips (2 and 1.5 deep) face 2 SD of 2.16 and 2.35; with k = 1 all three are Vs
    noisy = [5, 3, 5, 3.5, 5, 2.5, 5]
    (deep,) = stiles("p", traj(noisy))
    assert (deep.rupture_session, deep.threshold) == (6, pytest.approx(1.835, abs=1e-3))
    assert [e.rupture_session for e in stiles("p", traj(noisy), CriteriaSettings(stiles_k=1.0))] == [2, 4, 6]


# ------------------------------------------------------------------ the command on the fixture
def test_cli_on_hand_made_wai_trajectories(cli, tmp_path):
    done = cli("alliance", FIXTURE, "-o", tmp_path / "out", "--columns", "outcome=bdi", "--bootstrap", "500")
    assert done.exit_code == 0, done.stderr
    assert "strauss: 1 patient(s) with fewer than 3 alliance assessments skipped ('P4')" in done.stderr
    assert "stevens: 3 ruptures, 2 repaired" in done.stdout
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "trajectories").iterdir()) == [f"P{i}.png" for i in range(1, 6)]
    rows = (out / "episodes.csv").read_text().splitlines()
    assert rows[0].startswith("patient,criterion,rupture_session,pre_session,pre_score,rupture_score,drop,threshold")
    stevens_rows = [r.split(",")[:3] + r.split(",")[8:12] for r in rows[1:] if ",stevens," in r]
    assert stevens_rows == [["P1", "stevens", "3", "5", "5", "true", "false"],
                            ["P2", "stevens", "3", "", "", "false", "false"],
                            ["P5", "stevens", "5", "6", "5", "true", "false"]]
    summary = json.loads((out / "summary.json").read_text())
    # mean of the SDs of P1, P2, P3 and P5 (P4 has 2 assessments)
    assert summary["strauss_threshold"] == pytest.approx(0.521933, abs=1e-6)
    assert summary["skipped"]["strauss"] == ["P4"] and summary["skipped"]["stiles"] == ["P4"]
    (link,) = [c for c in summary["outcome_links"] if c["x"] == "stevens_rupture_repair"]
    # x = [1, 0, 0, 0, 1], outcome change = [-15, -3, -2, -1, -16]: r = -16.2 / sqrt(1.2 x 221.2)
    assert link["r"] == pytest.approx(-16.2 / (1.2 * 221.2) ** 0.5) and link["n"] == 5
    assert link["ci_bootstrap"][1] < 0 and link["n_bootstrap"] > 0
    patients = (out / "patients.csv").read_text().splitlines()
    assert patients[0].split(",")[:3] == ["patient", "site", "sessions"]
    p4 = next(p for p in patients if p.startswith("P4,"))
    assert p4.endswith(",,,,,,")  # Strauss and Stiles: skipped, not zero
    page = (out / "report.html").read_text()
    assert page.count("<img") == 5 and "Research tool, not a clinical instrument" in page


def write(tmp_path, text, name="r.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("patient,session,wai\na,1,5\na,2,5\na,4,5\n", "r.csv:line 4: patient 'a' has sessions 2 and 4 but no session 3; "
                                                  "add a row for session 3"),
    ("patient,session,wai\na,1,5\na,2,high\n", "r.csv:line 3: alliance (wai) 'high' is not a number"),
    ("patient,session,wai\na,1,5\nb,1,4\na,1,4\n", "r.csv:line 4: patient 'a' session 1 repeats line 2"),
    ("patient,session,wai\na,1.5,5\n", "r.csv:line 2: session number (session) '1.5' is not a whole number"),
    ("id_,visit_,wai\na,1,5\n", "r.csv:line 1: no patient column"),
    ("patient,session,score\na,1,5\na,2,5\n", "no alliance column for the rupture criteria"),
    ("patient,session,wai,psq_rupture\na,1,5,maybe\n", "rupture occurrence (psq_rupture) 'maybe' is not yes/no"),
])
def test_bad_ratings_are_one_line_naming_the_row(cli, tmp_path, text, expected):
    done = cli("alliance", write(tmp_path, text), "-o", tmp_path / "out")
    assert done.exit_code == 2, done.stdout
    assert len(done.error_lines) == 1 and expected in done.stderr.replace("\n", " ")
    assert not (tmp_path / "out").exists()


def test_column_mapping_errors(cli, tmp_path):
    path = write(tmp_path, "pid,visit,w\na,1,5\na,2,5\na,3,4\n")
    done = cli("alliance", path, "-o", tmp_path / "o", "--columns", "patient=pid,session=visit,alliance=w")
    assert done.exit_code == 0, done.stderr
    done = cli("alliance", path, "-o", tmp_path / "o2", "--columns", "patient=nope")
    assert done.exit_code == 2 and "--columns patient=nope: no such column" in done.stderr
    done = cli("alliance", path, "-o", tmp_path / "o3", "--columns", "colour=pid")
    assert done.exit_code == 2 and "unknown role 'colour'" in done.stderr
    done = cli("alliance", path, "-o", tmp_path / "o4", "--columns", "patient=pid,session=visit,alliance=w",
               "--criterion", "stevens,bogus")
    assert done.exit_code == 2 and "unknown criterion 'bogus'" in done.stderr


def tagged_session(tid, n_markers, n=12):
    utterances = []
    for i in range(n):
        role = "therapist" if i % 2 == 0 else "client"
        labels = ["withdrawal.minimal_response"] if role == "client" and i // 2 < n_markers else []
        utterances.append(Utterance(transcript_id=tid, utterance_id=i, speaker=role, role=role, text="-",
                                    labels=labels))
    return Transcript(transcript_id=tid, utterances=utterances)


def test_join_self_reports_with_tagged_markers(cli, tmp_path):
    markers = {"t1": 3, "t2": 0, "t3": 2, "t4": 0, "t5": 4, "t6": 1}
    corpus = write(tmp_path, dumps_jsonl([tagged_session(t, k) for t, k in markers.items()]), "tags.jsonl")
    ratings = write(tmp_path, "patient,session,psq_rupture,transcript\n"
                              "a,1,1,t1\na,2,0,t2\nb,1,1,t3\nb,2,0,t4\nc,1,1,t5\nc,2,0,t6\nc,3,1,t_missing\n")
    done = cli("alliance", ratings, "-o", tmp_path / "out", "--transcripts", corpus, "--criterion", "stevens",
               "--bootstrap", "200")
    # no alliance column: the criteria cannot run, and the message says so
    assert done.exit_code == 2 and "no alliance column" in done.stderr
    ratings = write(tmp_path, "patient,session,wai,psq_rupture,transcript\n"
                              "a,1,5,1,t1\na,2,5,0,t2\nb,1,5,1,t3\nb,2,5,0,t4\nc,1,5,1,t5\nc,2,5,0,t6\nc,3,5,1,"
                              "t_missing\n")
    done = cli("alliance", ratings, "-o", tmp_path / "out", "--transcripts", corpus, "--bootstrap", "200")
    assert done.exit_code == 0, done.stderr
    assert "1 session(s) name a transcript that is not in" in done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    (link,) = [c for c in summary["join_links"] if (c["x"], c["y"]) == ("marker_turns", "psq_occurrence")]
    # markers [3, 0, 2, 0, 4, 1] against reported ruptures [1, 0, 1, 0, 1, 0]: point-biserial
    # r = sum(dx dy) / sqrt(sum dx^2 sum dy^2) = 4 / sqrt(13.33 x 1.5) = 2 / sqrt(5)
    assert link["r"] == pytest.approx(2 / 5 ** 0.5) and link["n"] == 6 and link["n_groups"] == 3
    joined = (tmp_path / "out" / "sessions.csv").read_text().splitlines()
    assert len(joined) == 7 and joined[1].startswith("a,1,t1,5,1")
    no_column = write(tmp_path, "patient,session,wai\na,1,5\n", "n.csv")
    done = cli("alliance", no_column, "-o", tmp_path / "o2", "--transcripts", corpus)
    assert done.exit_code == 2 and "--transcripts needs a transcript column" in done.stderr


def test_short_or_unobserved_series_are_skipped_and_counted_not_scored_as_no_rupture():
    from rupturekit.analysis.alliance import Ratings, apply_criteria, patient_summaries

    rows = traj([5, 5, 5, 5, 3, 5, 5, 5], "long") + traj([5.0], "one") + traj([5, 1, 5], "three")
    ratings = Ratings("r.csv", {"alliance": "wai"}, rows)
    result = apply_criteria(ratings)
    assert result.skipped["stevens"] == ["one"]
    assert result.skipped["stiles"] == ["one", "three"]  # a V needs four scores
    assert any(w.startswith("stiles: 2 patient(s) with fewer than 4") for w in result.warnings)
    summary = {row["patient"]: row for row in patient_summaries(ratings, result, ("stevens", "strauss", "stiles"))}
    assert summary["one"]["stevens_rupture_repair"] is None and summary["three"]["stiles_rupture_repair"] is None
    assert summary["long"]["stiles_rupture_repair"] == 1


def test_stevens_censoring_looks_at_the_last_observed_score():
    # a 2-point drop at session 2, then sessions 3-8 recorded without an alliance score
    items = traj([5, 3]) + [Assessment("p", s, s + 1) for s in range(3, 9)]
    (episode,) = stevens("p", items)
    assert (episode.rupture_session, episode.repaired, episode.censored) == (2, False, True)
