"""Hierarchical decisions at real base rates (`rupturekit.tagger.decisions`): known-answer cuts,
operating points, the any -> family -> subtype rule, uncertain subtypes, and the JSON round trip;
and a frozen-encoder model trained with cross-fitted decisions, tagged through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rupturekit.tagger.decisions import HierarchicalDecision, OperatingPoint, best_cut

LABELS = ("withdrawal.denial", "withdrawal.minimal_response", "confrontation.defends_self")


def test_best_cut_known_answers():
    # scores 0.9 0.8 | 0.3 0.2 with the first two positive: F1 = 1 at the cut between 0.8 and 0.3
    assert best_cut(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 0])) == pytest.approx(0.55)
    # no positives: 0.5
    assert best_cut(np.array([0.9, 0.1]), np.array([0, 0])) == 0.5
    # scores 0.9(+) 0.7(-) 0.6(+) 0.1(-): F1 at >=0.9: 2/3; at >=0.6: 0.8; F0.5 prefers the strict cut
    score, truth = np.array([0.9, 0.7, 0.6, 0.1]), np.array([1, 0, 1, 0])
    assert best_cut(score, truth, 1.0) == pytest.approx(0.35)
    assert best_cut(score, truth, 0.5) == pytest.approx(0.8)
    # F2 (recall) never takes a stricter cut than F1
    assert best_cut(score, truth, 2.0) <= best_cut(score, truth, 1.0)


def test_operating_point_measures_flags_and_coded_rates():
    point = OperatingPoint.measure("balanced", 1.0, 0.5, np.array([0.9, 0.6, 0.4, 0.1]),
                                   np.array([True, False, True, False]))
    assert (point.precision, point.recall, point.f1) == (0.5, 0.5, 0.5)
    assert (point.flags_per_100, point.coded_per_100) == (50.0, 50.0)


def _decision(min_positives: int = 2) -> HierarchicalDecision:
    # out-of-fold probabilities of 6 client turns; denial has 1 positive, minimal_response 2, defends_self 2
    probs = np.array([[0.9, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.9], [0.1, 0.1, 0.85],
                      [0.1, 0.1, 0.2]])
    truth = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]])
    return HierarchicalDecision.fit("client_markers", LABELS, probs, truth, min_positives=min_positives)


def test_hierarchy_family_then_subtype_with_uncertain_subtypes():
    decision = _decision()
    assert decision.positives == [1, 2, 2]
    assert decision.reliable == [False, True, True]
    balanced = decision.points["balanced"]
    assert balanced.threshold == pytest.approx(0.45)  # between 0.7 (last positive) and 0.2
    assert (balanced.precision, balanced.recall, balanced.flags_per_100) == (1.0, 1.0, 83.33)
    tags, uncertain = decision.decide(np.array([[0.95, 0.6, 0.1],   # withdrawal: denial best, but uncertain
                                                [0.3, 0.6, 0.2],    # minimal_response, reliable
                                                [0.1, 0.2, 0.3],    # nothing reaches the cut
                                                [0.5, 0.1, 0.7]]))  # both families
    assert tags == [["withdrawal"], ["withdrawal.minimal_response"], [],
                    ["withdrawal", "confrontation.defends_self"]]
    assert uncertain == [{"withdrawal": "withdrawal.denial"}, {}, {}, {"withdrawal": "withdrawal.denial"}]
    # read at subtype level, a family tag counts for its guessed subtype
    assert decision.indicators(np.array([[0.95, 0.6, 0.1]])).tolist() == [[1, 0, 0]]


def test_operating_points_order_and_override():
    decision = _decision()
    cuts = {name: decision.points[name].threshold for name in ("precision", "balanced", "recall")}
    assert cuts["precision"] >= cuts["balanced"] >= cuts["recall"]
    decision.override = 0.99
    assert decision.decide(np.array([[0.95, 0.6, 0.1]]))[0] == [[]]
    decision.use("recall")
    assert decision.override is None and decision.threshold == cuts["recall"]
    with pytest.raises(ValueError):
        decision.use("nonsense")


def test_decision_json_round_trip_and_validation():
    decision = _decision(min_positives=20)
    again = HierarchicalDecision.from_json(json.loads(json.dumps(decision.to_json())))
    assert again.to_json() == decision.to_json()
    assert again.reliable == [False, False, False]  # 20 positives needed: every subtype uncertain
    broken = decision.to_json()
    broken["points"]["balanced"]["threshold"] = 1.5
    with pytest.raises(ValueError):
        HierarchicalDecision.from_json(broken)
    del broken["points"]["balanced"]
    with pytest.raises(ValueError):
        HierarchicalDecision.from_json(broken)


def test_context_calibration_reads_the_session_around_a_turn():
    """Markers cluster in sessions: fitted on sessions where they do, the same turn score counts
    for more in a session of high scores than alone in a session of low ones."""
    from rupturekit.tagger.decisions import ContextCalibration

    rng = np.random.default_rng(0)
    scores, sessions, truth = [], [], []
    for s in range(60):
        strained = s % 3 == 0
        for _ in range(20):
            marker = rng.random() < (0.4 if strained else 0.03)
            # the turn score is noisy; the session's level carries information
            scores.append(float(np.clip(rng.normal(0.55 if marker else 0.35, 0.15) + (0.1 if strained else 0), 0.01,
                                        0.99)))
            sessions.append(f"s{s}")
            truth.append(marker)
    scores, truth = np.array(scores), np.array(truth)
    calibration = ContextCalibration.fit(scores, sessions, truth)
    assert calibration.coef[0] > 0 and calibration.coef[1] > 0  # the turn and the session mean both count
    lone = calibration.apply(np.array([0.1, 0.6, 0.1, 0.1]), ["a"] * 4)[1]
    crowded = calibration.apply(np.array([0.6, 0.6, 0.6, 0.6]), ["b"] * 4)[1]
    assert crowded > lone
    decision = HierarchicalDecision.fit("client_markers", LABELS[:1], scores[:, None], truth[:, None],
                                        min_positives=1, sessions=sessions)
    assert decision.context is not None
    again = HierarchicalDecision.from_json(json.loads(json.dumps(decision.to_json())))
    probe = np.array([[0.1], [0.62], [0.1], [0.1]])
    assert again.decide(probe, ["a"] * 4) == decision.decide(probe, ["a"] * 4)
    with pytest.raises(ValueError, match="session"):
        decision.decide(probe)
