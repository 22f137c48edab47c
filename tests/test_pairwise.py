"""Two-rater presence agreement (`rupturekit.agree.pairwise`): closed-form 2x2 statistics against
the general implementations, known answers, segment-level presence and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rupturekit.agree.pairwise import ANY, agreement_from_indicators, binary_statistics, pairwise_agreement
from rupturekit.measures import cohen_kappa, gwet_ac1, pabak
from rupturekit.records import Code, Transcript, Utterance


def test_binary_statistics_known_answer():
    # 2x2: both 10, A only 5, B only 5, neither 80 -> po .90, pe(kappa) .75*.85... by hand below
    stats = binary_statistics(10, 5, 5, 80)
    pa = pb = 0.15
    pe = pa * pb + (1 - pa) * (1 - pb)
    assert stats["kappa"] == pytest.approx((0.9 - pe) / (1 - pe))
    assert stats["pabak"] == pytest.approx(0.8)
    pi = 0.15
    assert stats["ac1"] == pytest.approx((0.9 - 2 * pi * (1 - pi)) / (1 - 2 * pi * (1 - pi)))
    assert math.isnan(float(binary_statistics(0, 0, 0, 10)["kappa"]))  # no positives: kappa undefined


def test_point_estimates_match_the_general_statistics():
    rng = np.random.default_rng(1)
    x = rng.random((300, 3)) < 0.15
    y = np.where(rng.random((300, 3)) < 0.85, x, ~x)
    groups = np.asarray([f"t{i // 12}" for i in range(300)], dtype=object)
    results = agreement_from_indicators(groups, x, y, ["a", "b", "c"], n_bootstrap=200, seed=3)
    for j, r in enumerate(results):
        a, b = x[:, j].astype(int), y[:, j].astype(int)
        assert r.kappa == pytest.approx(cohen_kappa(a, b))
        assert r.pabak == pytest.approx(pabak(a, b, n_categories=2))
        assert r.ac1 == pytest.approx(float(gwet_ac1(pd.DataFrame({"a": a, "b": b}), categories=[0, 1])))
        assert r.kappa_ci[0] <= r.kappa <= r.kappa_ci[1]
        assert (r.a_positive, r.b_positive, r.both) == (int(a.sum()), int(b.sum()), int((a & b).sum()))
    again = agreement_from_indicators(groups, x, y, ["a", "b", "c"], n_bootstrap=200, seed=3)
    assert [r.kappa_ci for r in again] == [r.kappa_ci for r in results]  # seeded


def _transcript(codes_a, codes_b, segments):
    utterances = []
    for i, (a, b, seg) in enumerate(zip(codes_a, codes_b, segments, strict=True)):
        codes = [Code(rater="A", label=x) for x in a] + [Code(rater="B", label=x) for x in b]
        utterances.append(Utterance(transcript_id="t", utterance_id=i, speaker="C", role="client", text="x",
                                    segment_id=seg, codes=codes))
    return Transcript(transcript_id="t", utterances=utterances)


def test_families_any_and_segments():
    t = _transcript([["withdrawal.denial"], ["none"], ["confrontation.defends_self"], ["none"]],
                    [["withdrawal.minimal_response"], ["none"], ["none"], ["confrontation.defends_self"]],
                    [0, 0, 1, 1])
    utt = {r.category: r for r in pairwise_agreement([t], "A", "B", [ANY, "withdrawal", "withdrawal.denial"],
                                                     "client", "utterance", n_bootstrap=0)}
    assert (utt[ANY].a_positive, utt[ANY].b_positive, utt[ANY].both) == (2, 2, 1)
    assert (utt["withdrawal"].both, utt["withdrawal.denial"].both) == (1, 0)
    seg = {r.category: r for r in pairwise_agreement([t], "A", "B", ["confrontation"], "client", "segment",
                                                     n_bootstrap=0)}
    # segment 1 holds A's defends_self (utterance 2) and B's (utterance 3): they agree at segment level
    assert (seg["confrontation"].n, seg["confrontation"].both) == (2, 1)
    assert seg["confrontation"].pabak == pytest.approx(1.0)
