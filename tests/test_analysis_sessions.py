"""3RS-style segment and session tables with estimated ratings (rupturekit.analysis.ratings),
`rupturekit sessions`, and its estimates.jsonl read by `rupturekit agree --unit segment:5m`."""

import json

from rupturekit.analysis.events import Source
from rupturekit.analysis.ratings import ESTIMATE_RATER, RatingMapping, analyse_sessions
from rupturekit.codebook import load_codebook
from rupturekit.records import TAG_FIELDS, Code, Transcript, Utterance, dumps_jsonl, read_jsonl

BOOK = load_codebook("3rs")
W, C = "withdrawal.minimal_response", "confrontation.rejects_intervention"
INV = "resolution.invites_exploration"
TAGS = Source("tags", "tags")


def session(tid, markers, moves=(), ratings=None, rater="h1", n=20, step=30.0):
    """n turns, 30 s apart (10 per 5-minute segment), T on even and C on odd turns. `markers` /
    `moves`: {turn: label}, as tags and as codes of `rater`; `ratings`: {turn: rating} on the codes."""
    markers, moves = dict(markers), dict(moves)
    utterances = []
    for i in range(n):
        role = "therapist" if i % 2 == 0 else "client"
        label = markers.get(i) or moves.get(i)
        codes = []
        if ratings is not None:
            codes = [Code(rater=rater, label=label or "none", rating=(ratings or {}).get(i))]
        utterances.append(Utterance(transcript_id=tid, utterance_id=i, speaker=role[0].upper(), role=role,
                                    text=f"turn {i}", start=i * step, codes=codes, labels=[label] if label else []))
    return Transcript(transcript_id=tid, utterances=utterances)


def test_segment_and_session_tables_by_the_rule():
    t = session("a", {1: W, 3: W, 5: W, 7: C}, {2: INV})
    result = analyse_sessions([t], BOOK, TAGS)
    first, second = result.segments
    assert (first["segment_id"], first["segment_start"], first["segment_end"], first["n_turns"]) == (0, 0, 300, 10)
    assert (first["withdrawal"], first["confrontation"], first[W], first[C]) == (3, 1, 3, 1)
    assert (first["resolution_moves"], first["expressive"], first["immediate"], first[INV]) == (1, 1, 0, 1)
    # the rule: 3 marker turns -> 4, 1 -> 2, none -> 1
    assert (first["withdrawal_significance_est"], first["confrontation_significance_est"]) == (4, 2)
    assert (second["withdrawal_significance_est"], second["confrontation_significance_est"]) == (1, 1)
    assert first["estimate_method"] == "rule" and result.mapping.method == "rule"
    (row,) = result.sessions
    assert (row["marker_turns"], row["markers_per_100_client_turns"], row["rupture_segments"]) == (4, 40.0, 1)
    assert (row["withdrawal_turns"], row["confrontation_turns"], row["n_segments"]) == (3, 1, 2)
    # one episode, markers 1-7, closed at the 2nd collaborative client turn (11), after a move: resolved
    assert (row["episodes"], row["episodes_resolved"], row["resolution_est"]) == (1, 1, 5.0)
    assert (row["withdrawal_significance_est"], row["confrontation_significance_est"],
            row["rupture_significance_est"]) == (4, 2, 4)


def test_rule_mapping_values():
    rule = RatingMapping()
    assert [rule.estimate("withdrawal", n) for n in range(8)] == [1, 2, 3, 4, 4, 5, 5, 5]
    stretched = RatingMapping(scale=(0, 8))  # another codebook's scale: the rule stretched onto it
    assert [stretched.estimate("withdrawal", n) for n in (0, 1, 5)] == [0, 2, 8]


def calibration_corpus():
    """Six sessions, one withdrawal marker turn in each of their two segments; h1 rates them 5,
    except in session f, rated 1."""
    return [session(tid, {1: W, 11: W}, ratings={1: 1 if tid == "f" else 5, 11: 1 if tid == "f" else 5})
            for tid in "abcdef"]


def test_calibration_on_human_ratings_is_cross_fitted():
    result = analyse_sessions(calibration_corpus(), BOOK, TAGS)
    assert result.mapping.method == "calibrated" and result.cross_fitted and result.human_raters == ["h1"]
    assert result.mapping.n_segments == {"withdrawal": 12}
    # all twelve segments: (10 x 5 + 2 x 1) / 12 = 4.33 -> 4 at one marker turn (the rule would say 2)
    assert result.mapping.estimate("withdrawal", 1) == 4
    assert result.mapping.estimate("confrontation", 1) == 2  # no human data for it: the rule
    by_session = {r["transcript_id"]: r for r in result.segments if r["segment_id"] == 0}
    # session f's own segments are rated by a fit without f (all 5s), so not 4
    assert by_session["f"]["withdrawal_significance_est"] == 5
    assert by_session["f"]["withdrawal_significance_human"] == 1.0
    assert by_session["a"]["withdrawal_significance_human"] == 5.0
    assert {r["estimate_method"] for r in result.segments} == {"calibrated,rule"}
    assert analyse_sessions(calibration_corpus(), BOOK, TAGS, calibrate=False).mapping.method == "rule"


def test_cli_sessions_mapping_roundtrip(cli, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(dumps_jsonl(calibration_corpus()), encoding="utf-8")
    done = cli("sessions", corpus, "-o", tmp_path / "fit")
    assert done.exit_code == 0, done.stderr
    assert "ratings are estimates (calibrated (cross-fitted by transcript); human ratings by h1)" in done.stderr
    mapping = json.loads((tmp_path / "fit" / "mapping.json").read_text())
    assert mapping["method"] == "calibrated" and mapping["curves"]["withdrawal"]["ratings"] == [4.333333333333333]
    assert sorted(p.name for p in (tmp_path / "fit").iterdir()) == sorted(
        ["segments.csv", "sessions.csv", "episodes.jsonl", "estimates.jsonl", "mapping.json"])
    done = cli("sessions", corpus, "-o", tmp_path / "apply", "--mapping", tmp_path / "fit" / "mapping.json")
    assert done.exit_code == 0, done.stderr
    header, *rows = (tmp_path / "apply" / "segments.csv").read_text().splitlines()
    column = header.split(",").index("withdrawal_significance_est")
    assert {row.split(",")[column] for row in rows} == {"4"}  # the saved mapping, applied as it is
    bad = tmp_path / "bad.json"
    bad.write_text('{"method": "calibrated", "curves": {"withdrawal": {"counts": [2, 1], "ratings": [1, 2]}}}')
    done = cli("sessions", corpus, "-o", tmp_path / "x", "--mapping", bad)
    assert done.exit_code == 2 and len(done.error_lines) == 1 and "not a valid rating mapping" in done.stderr


def test_estimates_feed_agree_ratings(cli, tmp_path):
    """Human ratings equal to the rule's values: `agree --unit segment:5m` on the estimates gives
    weighted kappa 1 and an ICC (the estimate rater's ratings are compared with h1's)."""
    sessions = [session("a", {1: W, 3: W, 5: W, 13: C}, {2: INV}, ratings={1: 4, 3: 4, 5: 4, 13: 2}),
                session("b", {11: W}, ratings={11: 2}),
                session("c", {1: C, 3: C}, ratings={1: 3, 3: 3})]
    corpus = tmp_path / "coded.jsonl"
    corpus.write_text(dumps_jsonl(sessions), encoding="utf-8")
    done = cli("sessions", corpus, "-o", tmp_path / "out", "--no-calibrate")
    assert done.exit_code == 0, done.stderr
    estimates = read_jsonl(tmp_path / "out" / "estimates.jsonl")
    first = estimates[0].utterances[1]
    assert [(c.rater, c.label, c.rating) for c in first.codes] == [(ESTIMATE_RATER, W, 4)]
    # no tag fields: agree reads the file as one rater's codes
    assert not first.model_dump(include=set(TAG_FIELDS), exclude_none=True)
    done = cli("agree", "-r", corpus, "-p", tmp_path / "out" / "estimates.jsonl", "--unit", "segment:5m",
               "-o", tmp_path / "agree", "--bootstrap", "0", "--no-figures", "--dimension", "client_markers")
    assert done.exit_code == 0, done.stderr
    metrics = json.loads((tmp_path / "agree" / "metrics.json").read_text())
    ratings = metrics["dimensions"]["client_markers"]["levels"]["family"]["ratings"]
    assert ratings["weighted_kappa"]["h1"] == 1.0
    assert ratings["icc_all"]["forms"]["ICC2"]["icc"] > 0.99


def test_sessions_cli_bad_input(cli, tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(dumps_jsonl([session("a", {1: W})]), encoding="utf-8")
    done = cli("sessions", corpus, "-o", tmp_path / "o", "--segment", "5q")
    assert done.exit_code == 2 and "--segment" in done.stderr
    done = cli("sessions", corpus, "-o", tmp_path / "o", "--codes", "nobody")
    assert done.exit_code == 2 and len(done.error_lines) == 1 and "no codes by rater 'nobody'" in done.stderr
