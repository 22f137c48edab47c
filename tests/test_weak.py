"""rupturekit.weak: labeling functions in context, label models on known answers, report metrics
on a hand-made gold, and weak_label's output."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rupturekit.codebook import load_codebook
from rupturekit.features import FEATURES, FeatureExtractor, FeatureTable
from rupturekit.features.definitions import FLAGS
from rupturekit.records import Code, Transcript, Utterance, dumps_jsonl
from rupturekit.weak import (
    LABELING_FUNCTIONS,
    RATER,
    DawidSkene,
    LabelingFunction,
    WeakLabels,
    WeightedMajority,
    apply_lfs,
    evaluate_gold,
    fit_labels,
    weak_label,
    weak_rater,
)
from rupturekit.weak.evaluation import averages, label_scores, lf_gold, lf_stats
from rupturekit.weak.functions import COUNTER_CUES, NOT_VOTES, prev_other
from rupturekit.weak.label_model import check_votes, make_model

T, C = "therapist", "client"
CODEBOOK = load_codebook("3rs")
X, Y, Z = "withdrawal.denial", "withdrawal.minimal_response", "resolution.redirects"


def transcript(*turns: tuple[str, str], tid: str = "t1") -> Transcript:
    return Transcript(transcript_id=tid, utterances=[
        Utterance(transcript_id=tid, utterance_id=i, speaker=role.upper(), role=role, text=text)
        for i, (role, text) in enumerate(turns)])


@pytest.fixture(scope="module")
def extract():
    return FeatureExtractor(embeddings=False)


@pytest.fixture(scope="module")
def votes_last(extract):
    """The non-zero votes on the last turn of a conversation, as {lf name: vote}."""

    def run(*turns: tuple[str, str]) -> dict[str, int]:
        table = extract([transcript(*turns)])
        votes = apply_lfs(table)
        return {lf.name: int(votes[-1, j]) for j, lf in enumerate(LABELING_FUNCTIONS) if votes[-1, j]}

    return run


# ------------------------------------------------------------------------------ the LF registry

def test_registry_covers_every_label_with_the_right_role():
    names = [lf.name for lf in LABELING_FUNCTIONS]
    assert len(names) == len(set(names))
    by_label = {label: [lf for lf in LABELING_FUNCTIONS if lf.label == label] for label in CODEBOOK.labels}
    assert all(by_label.values()), [label for label, lfs in by_label.items() if not lfs]
    for lf in LABELING_FUNCTIONS:
        assert isinstance(lf, LabelingFunction)
        assert CODEBOOK.dimension_of(lf.label).applies_to(lf.role), lf.name
        assert lf.description and lf.kind in ("generated", "compound") and lf.polarity in (1, -1)
        assert set(lf.features) <= {spec.name for spec in FEATURES}, lf.name
    generated = {lf.name for lf in LABELING_FUNCTIONS if lf.kind == "generated"}
    # every cue flag with markers is a vote, unless it is listed (with a reason) as not one
    flags = {spec.name for spec in FEATURES if spec.name in FLAGS and spec.markers}
    assert flags == generated | set(NOT_VOTES)
    assert set(NOT_VOTES).isdisjoint(generated) and set(COUNTER_CUES) <= generated
    assert {"minimal_after_open_no_question", "rejects_but_you_negative", "long_engaged_answer"} <= set(names)


# ------------------------------------------------------------------------------ LFs in context

def test_minimal_response_votes(votes_last):
    assert votes_last((T, "How did that make you feel?"), (C, "Dunno.")) == {
        "dont_know": 1, "minimal_after_open_no_question": 1, "short_turn_no_story": -1}
    # a short answer to a closed question is expected: a counter-cue
    assert votes_last((T, "Did you take the pills this morning?"), (C, "Yeah.")) == {
        "short_after_closed_question": -1, "short_turn_no_story": -1}
    # a long engaged answer votes against minimal_response
    assert votes_last((T, "How was the week?"), (
        C, "It was busy, we had the kids at home all week and my mother came to stay, which was a lot, honestly.")
    ) == {"long_engaged_answer": -1}
    # asking back is not shutting down
    assert "minimal_after_open_no_question" not in votes_last((T, "How did that feel?"), (C, "Why?"))


def test_client_marker_votes(votes_last):
    assert votes_last((T, "You seem upset about what your sister said."), (C, "I'm fine, really. It doesn't bother me.")
                      ) == {"denial": 1, "denial_after_feeling_named": 1, "short_turn_no_story": -1}
    assert votes_last((T, "What would you like to work on?"), (C, "Just tell me what to do. That's your job.")) == {
        "pressure": 1, "imperative_demand": 1, "short_turn_no_story": -1}
    # "okay" right after the therapist pushed: deferential (the annomi-3rs convention)
    assert votes_last((T, "You need to stop drinking. Just stop, it's that simple."), (C, "Okay.")) == {
        "agree_after_suggestion": 1, "agrees_under_pressure": 1, "short_turn_no_story": -1}
    rejection = votes_last((T, "I think you might be angry with your father."), (C, "No, that's not it at all."))
    assert rejection["rejection_phrase"] == 1 and rejection["opens_no_after_intervention"] == 1


def test_resolution_votes_depend_on_context(votes_last):
    rationale = "The reason we track your moods is so we can see what sets them off."
    # routine rationale, nothing strained before it: the veto votes against
    assert votes_last((C, "Hi."), (T, rationale)) == {"rationale": 1, "rationale_without_strain": -1}
    # after a complaint about the task, only the vote for remains
    assert votes_last((C, "This exercise is pointless."), (T, rationale)) == {"rationale": 1}


def test_lfs_vote_only_on_their_role(extract):
    # a denial said by the therapist is no client marker; a rationale said by a client is no strategy
    table = extract([transcript((C, "Hello."), (T, "I'm fine, really. It doesn't bother me."),
                                (C, "The reason we track your moods is so we can see what sets them off."))])
    votes = apply_lfs(table)
    names = [lf.name for lf in LABELING_FUNCTIONS]
    assert votes[1, names.index("denial")] == 0 and votes[2, names.index("rationale")] == 0
    for j, lf in enumerate(LABELING_FUNCTIONS):
        other = np.array([role != lf.role for role in table.roles])
        assert not votes[other, j].any(), lf.name


def test_prev_other_reads_the_other_role_within_a_transcript():
    table = FeatureTable(keys=[("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)], names=[],
                         values=np.zeros((5, 0), np.float32), roles=[T, C, C, C, T])
    assert prev_other(table, np.array([10, 20, 30, 40, 50]), missing=-1).tolist() == [-1, 10, 10, -1, 40]


# ------------------------------------------------------------------------------ label models

def test_weighted_majority_known_answer():
    votes = np.array([[1, 1, -1], [1, -1, -1], [0, 0, 0], [1, 0, -1]])
    uniform = WeightedMajority().fit(votes)
    np.testing.assert_allclose(uniform.predict_proba(votes)[:, 1], [2 / 3, 1 / 3, 0.0, 0.5])
    assert uniform.predict(votes).tolist() == [1, 0, 0, 1]  # a tie (0.5) counts as positive
    weighted = WeightedMajority(weights=[2, 1, 1]).fit(votes)
    np.testing.assert_allclose(weighted.predict_proba(votes), [[0.25, 0.75], [0.5, 0.5], [1, 0], [1 / 3, 2 / 3]])
    from_acc = WeightedMajority.from_accuracies([0.9, 0.5, 0.75]).fit(votes)
    np.testing.assert_allclose(from_acc.weights_, [math.log(9), 0.0, math.log(3)])
    # the second LF (accuracy 0.5) no longer counts; log 9 = 2 log 3 against log 3
    np.testing.assert_allclose(from_acc.predict_proba(votes)[:, 1], [2 / 3, 2 / 3, 0.0, 2 / 3])
    assert WeightedMajority(abstain_proba=0.2).fit(votes).predict_proba(votes)[2, 1] == pytest.approx(0.2)
    with pytest.raises(ValueError):
        WeightedMajority(weights=[1, 1]).fit(votes)
    with pytest.raises(ValueError):
        check_votes([[2, 0]])


def synthetic(seed: int = 7, n: int = 4000, pi: float = 0.3):
    """Votes from LFs that are independent given y, each right with its accuracy when it votes."""
    accuracy = np.array([0.95, 0.9, 0.62, 0.6, 0.58])
    propensity = np.array([0.6, 0.5, 0.9, 0.9, 0.9])
    rng = np.random.default_rng(seed)
    y = rng.random(n) < pi
    votes = np.zeros((n, accuracy.size), dtype=int)
    for j in range(accuracy.size):
        fires = rng.random(n) < propensity[j]
        right = rng.random(n) < accuracy[j]
        truth = np.where(y, 1, -1)
        votes[:, j] = np.where(fires, np.where(right, truth, -truth), 0)
    return votes, y, accuracy, propensity, pi


def test_em_recovers_known_accuracies_and_beats_majority_vote():
    votes, y, accuracy, propensity, pi = synthetic()
    model = DawidSkene(candidates_only=False).fit(votes)
    assert model.converged_
    np.testing.assert_allclose(model.accuracy_, accuracy, atol=0.03)
    np.testing.assert_allclose(model.propensity_, propensity, atol=0.03)
    assert model.class_prior_ == pytest.approx(pi, abs=0.05)  # pi is the least sharply identified parameter
    assert model.predict_proba(votes).shape == (len(y), 2)
    em = (model.predict(votes) == y).mean()
    majority = (WeightedMajority().fit(votes).predict(votes) == y).mean()
    assert em > majority + 0.1  # the two good LFs outvote the three weak ones once weighted
    assert em > 0.88
    # weighting the majority vote by the estimated accuracies gets most of the way there
    weighted = (WeightedMajority.from_accuracies(model.accuracy_).fit(votes).predict(votes) == y).mean()
    assert weighted > majority + 0.05
    # the default (fitted on candidate rows) also finds the two good LFs, and beats majority
    default = DawidSkene().fit(votes)
    assert set(np.argsort(default.accuracy_)[-2:].tolist()) == {0, 1}
    assert default.accuracy_[:2].min() > default.accuracy_[2:].max() + 0.2
    assert (default.predict(votes) == y).mean() > majority + 0.1


def test_em_is_deterministic_and_seeded():
    votes, *_ = synthetic(seed=3, n=1500)
    a, b = DawidSkene().fit(votes), DawidSkene().fit(votes)
    np.testing.assert_array_equal(a.cond_probs_, b.cond_probs_)
    np.testing.assert_array_equal(a.predict_proba(votes), b.predict_proba(votes))
    c, d = DawidSkene(n_init=4, random_state=5).fit(votes), DawidSkene(n_init=4, random_state=5).fit(votes)
    np.testing.assert_array_equal(c.cond_probs_, d.cond_probs_)
    assert c.log_posterior_ >= DawidSkene(n_init=1).fit(votes).log_posterior_ - 1e-6


def test_em_does_not_collapse_on_sparse_alternative_cues():
    # Three LFs that never fire together, each on 2% of rows (alternative wordings of one marker):
    # no agreement to learn from, so the model must stay near its prior and label them like the majority.
    n = 3000
    votes = np.zeros((n, 3), dtype=int)
    for j in range(3):
        votes[j * 60:(j + 1) * 60, j] = 1
    model = DawidSkene().fit(votes)
    p = model.predict_proba(votes)[:, 1]
    assert (p[:180] >= 0.5).all() and (p[180:] == 0).all()
    assert 0.5 < model.class_prior_ < 0.95 and model.n_fit_rows_ == 180
    classic = DawidSkene(candidates_only=False).fit(votes)
    assert classic.class_prior_ > 0  # the pi prior keeps it off zero, though the classic model doubts the cues


def test_em_keeps_lfs_better_than_random():
    rng = np.random.default_rng(11)
    votes = rng.choice([-1, 0, 0, 0, 1], size=(800, 4))
    votes[:, 3] = -votes[:, 0]  # an LF that contradicts another: EM may not flip either one
    for candidates_only in (True, False):
        theta = DawidSkene(candidates_only=candidates_only).fit(votes).cond_probs_
        assert (theta[:, 1, 2] >= theta[:, 0, 2] - 1e-9).all() and (theta[:, 0, 0] >= theta[:, 1, 0] - 1e-9).all()


def test_em_with_no_vote_for_keeps_the_prior():
    model = DawidSkene().fit(np.array([[0, -1], [0, 0], [-1, 0]]))
    assert model.n_fit_rows_ == 0
    assert model.predict_proba([[0, -1], [0, 0]])[:, 1].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError):
        DawidSkene().fit(np.zeros((0, 2)))
    with pytest.raises(ValueError):
        make_model("snorkel")


def test_fit_labels_is_per_label_and_masks_rows():
    votes = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    rows = {X: np.array([True, True, False, False]), Z: np.array([False, False, True, True])}
    probabilities, models = fit_labels(votes, [X, Z], rows, "majority")
    assert probabilities[X].tolist()[:2] == [1.0, 1.0] and np.isnan(probabilities[X][2:]).all()
    assert probabilities[Z].tolist()[2:] == [1.0, 1.0] and np.isnan(probabilities[Z][:2]).all()
    assert set(models) == {X, Z} and models[X].n_lfs_ == 1


# ------------------------------------------------------------------------------ report metrics

def _constant(values: list[int]):
    return lambda table: np.array(values)


def tiny_labels() -> tuple[WeakLabels, list[set[str] | None]]:
    """7 rows (row 5 a therapist row, row 6 a client row nobody coded); X and Y share a dimension."""
    roles = [C, C, C, C, C, T, C]
    table = FeatureTable(keys=[("t", i) for i in range(7)], names=[], values=np.zeros((7, 0), np.float32),
                         roles=roles)
    lfs = [
        LabelingFunction("A", X, C, "for X", _constant([1, 1, 1, 0, 0, 1, 1])),  # row 5 is masked (therapist)
        LabelingFunction("B", X, C, "both ways", _constant([1, 0, -1, 0, 0, 0, 0])),
        LabelingFunction("Cy", Y, C, "for Y", _constant([1, 0, 0, 1, 0, 0, 0])),
        LabelingFunction("D", Z, T, "for Z", _constant([0, 0, 0, 0, 0, 1, 0])),
    ]
    votes = apply_lfs(table, lfs)
    client = np.array([r == C for r in roles])
    rows = {X: client, Y: client, Z: ~client}
    nan = math.nan
    probabilities = {X: np.array([0.9, 0.6, 0.4, 0.1, 0.2, nan, 0.7]),
                     Y: np.array([0.2, 0.1, 0.1, 0.8, 0.1, nan, 0.1]),
                     Z: np.array([nan, nan, nan, nan, nan, 0.3, nan])}
    labels = WeakLabels(table, lfs, votes, [X, Y, Z], {X: "client_markers", Y: "client_markers", Z: "resolution"},
                        rows, probabilities, {}, "hand")
    gold = [{X}, set(), {X}, {Y}, {X}, {Z}, None]
    return labels, gold


def test_lf_stats_by_hand():
    labels, _ = tiny_labels()
    stats = {s.name: s for s in lf_stats(labels)}
    # A votes on client rows 0, 1, 2, 6 of 6; B also votes on 0 and 2; B votes against on 2; Cy (label Y) on 0
    a = stats["A"]
    assert (a.rows, a.votes) == (6, 4)
    assert (a.coverage, a.overlap, a.conflict, a.rival) == pytest.approx((4 / 6, 2 / 6, 1 / 6, 1 / 6))
    b = stats["B"]
    assert (b.coverage, b.overlap, b.conflict, b.rival) == pytest.approx((2 / 6, 2 / 6, 1 / 6, 1 / 6))
    cy = stats["Cy"]
    assert (cy.coverage, cy.overlap, cy.conflict, cy.rival) == pytest.approx((2 / 6, 0.0, 0.0, 1 / 6))
    d = stats["D"]
    assert (d.rows, d.coverage, d.overlap, d.rival) == (1, 1.0, 0.0, 0.0)
    assert math.isnan(a.estimated_accuracy)  # no generative model here


def test_lf_gold_by_hand():
    labels, gold = tiny_labels()
    rows = {g.name: g for g in lf_gold(labels.lfs, labels.votes, labels.table.roles, gold)}
    # coded client rows 0-4; gold X on rows 0, 2, 4; row 6 is uncoded and left out
    a = rows["A"]
    assert (a.votes_for, a.votes_against, a.support) == (3, 0, 3)
    assert (a.precision, a.recall, a.accuracy) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    b = rows["B"]  # right for on row 0; wrong against on row 2 (gold has X)
    assert (b.votes_for, b.votes_against) == (1, 1)
    assert (b.precision, b.recall, b.accuracy) == pytest.approx((1.0, 1 / 3, 0.5))
    cy = rows["Cy"]
    assert (cy.precision, cy.recall, cy.accuracy) == pytest.approx((0.5, 1.0, 0.5))
    assert (rows["D"].precision, rows["D"].recall) == (1.0, 1.0)


def test_label_scores_and_averages_by_hand():
    labels, gold = tiny_labels()
    scores = {s.label: s for s in label_scores(labels.labels, labels.probabilities, labels.rows, gold)}
    x = scores[X]  # predicted rows 0, 1 (row 6 uncoded); gold rows 0, 2, 4
    assert (x.support, x.predicted, x.true_positives) == (3, 2, 1)
    assert (x.precision, x.recall, x.f1) == pytest.approx((0.5, 1 / 3, 0.4))
    assert (scores[Y].precision, scores[Y].recall, scores[Y].f1) == (1.0, 1.0, 1.0)
    z = scores[Z]
    assert math.isnan(z.precision) and (z.recall, z.f1) == (0.0, 0.0)
    avg = averages(list(scores.values()))
    assert avg["micro_precision"] == pytest.approx(2 / 3)
    assert (avg["micro_recall"], avg["micro_f1"]) == pytest.approx((0.4, 0.5))
    assert (avg["macro_f1"], avg["macro_precision"]) == pytest.approx(((0.4 + 1.0 + 0.0) / 3, 0.5))


# ------------------------------------------------------------------------------ weak_label

SESSION = [
    (T, "What would you like to work on today?"),
    (C, "Just tell me what to do. That's your job."),
    (T, "You seem upset about what your sister said."),
    (C, "I'm fine, really. It doesn't bother me."),
    (T, "How did that make you feel?"),
    (C, "Dunno."),
    ("other", "Sorry to interrupt, your next appointment is at four."),
]


def corpus() -> list[Transcript]:
    first = transcript(*SESSION, tid="s1")
    first.utterances[1].codes.append(Code(rater="team", label="confrontation.controls_pressures"))
    second = transcript((C, "Hello."), (T, "Hi, come in and take a seat."), tid="s2")
    return [first, second]


def test_weak_label_fields_codes_and_roles(extract):
    transcripts = corpus()
    before = dumps_jsonl(transcripts)
    labelled, report = weak_label(transcripts, CODEBOOK, extractor=extract)
    assert dumps_jsonl(transcripts) == before  # the input is not changed
    client_labels = set(CODEBOOK.dimension("client_markers").label_names)
    therapist_labels = set(CODEBOOK.dimension("resolution").label_names)
    for u in (u for t in labelled for u in t.utterances):
        weak = u.weak
        ours = [c for c in u.codes if c.rater == RATER]
        if u.role == "other":
            assert weak is None and not ours
            continue
        assert set(weak) == (client_labels if u.role == C else therapist_labels)
        assert all(0.0 <= p <= 1.0 for p in weak.values())
        passed = sorted(label for label, p in weak.items() if p >= 0.5)
        assert sorted(c.label for c in ours) == (passed or ["none"])
    utterances = labelled[0].utterances
    pressure = [c for c in utterances[1].codes if c.rater == RATER]
    assert [c.label for c in pressure] == ["confrontation.controls_pressures"]
    assert pressure[0].note.startswith("p=") and "pressure" in pressure[0].note
    assert [c.rater for c in utterances[1].codes][0] == "team"  # other raters' codes are kept
    assert "withdrawal.denial" in {c.label for c in utterances[3].codes if c.rater == RATER}
    assert "withdrawal.minimal_response" in {c.label for c in utterances[5].codes if c.rater == RATER}
    assert [c.label for c in labelled[1].utterances[1].codes] == ["none"]
    # the report counts what was labelled
    assert report.utterances == 9 and report.rows_by_role == {C: 4, T: 4, "other": 1}
    assert report.label_counts["confrontation.controls_pressures"] == 1
    assert report.none_count == sum(1 for t in labelled for u in t.utterances
                                    if [c.label for c in u.codes if c.rater == RATER] == ["none"])
    assert report.seconds is not None and report.seconds > 0
    markdown = report.to_markdown()
    assert "| `pressure` | controls_pressures |" in markdown and "generative label model" in markdown


def test_weak_label_is_deterministic_and_idempotent(extract):
    first, _ = weak_label(corpus(), "3rs", extractor=extract)
    second, _ = weak_label(corpus(), "3rs", extractor=extract)
    assert dumps_jsonl(first) == dumps_jsonl(second)
    again, _ = weak_label(first, "3rs", extractor=extract)  # earlier weak codes are replaced, not doubled
    assert dumps_jsonl(again) == dumps_jsonl(first)


def test_weak_label_majority_model_and_checks(extract):
    labelled, report = weak_label(corpus(), "3rs", model="majority", extractor=extract)
    assert report.model == "majority"
    codes = {c.label for c in labelled[0].utterances[1].codes if c.rater == weak_rater("majority")}
    assert codes == {"confrontation.controls_pressures"} and weak_rater("majority") == "weak:majority"
    assert all(math.isnan(s.estimated_accuracy) for s in report.lfs)
    with pytest.raises(ValueError, match="unknown label model"):
        weak_label(corpus(), "3rs", model="snorkel", extractor=extract)
    with pytest.raises(ValueError, match="no labeling function"):
        weak_label(corpus(), "cis", extractor=extract)
    empty, report = weak_label([], "3rs", extractor=extract)
    assert empty == [] and report.utterances == 0 and report.none_count == 0
    with pytest.raises(ValueError, match="unknown label model"):
        weak_label([], "3rs", model="snorkel", extractor=extract)
    with pytest.raises(TypeError):
        weak_label([], "3rs", prior_acuracy=0.8, extractor=extract)  # a misspelt model parameter
    # without roles there is nothing to label: the utterances come back as they were
    unknown = transcript(("unknown", "Just tell me what to do."), ("unknown", "Fine."))
    copied, report = weak_label([unknown], "3rs", extractor=extract)
    assert dumps_jsonl(copied) == dumps_jsonl([unknown]) and report.rows_by_role == {"unknown": 2}


def test_evaluate_gold_on_a_coded_corpus(extract):
    coded = corpus()
    for t in coded:
        for u in t.utterances:
            if u.role != "other" and not u.codes:
                u.codes.append(Code(rater="team", label="none"))
    coded[0].utterances[3].codes[:] = [Code(rater="team", label="withdrawal.denial")]
    labelled, report = weak_label(coded, "3rs", extractor=extract)
    evaluation = evaluate_gold(coded, CODEBOOK, "tiny", extractor=extract, weak_transcripts=labelled)
    assert evaluation.coded_rows == 8
    assert set(evaluation.scores) == {"generative", "majority", "generative, fitted on the labelled corpus"}
    for model in evaluation.scores:
        scores = {s.label: s for s in evaluation.scores[model]}
        assert (scores["withdrawal.denial"].support, scores["withdrawal.denial"].true_positives) == (1, 1)
        assert scores["confrontation.controls_pressures"].recall == 1.0
    denial = next(g for g in evaluation.lfs if g.name == "denial")
    assert (denial.votes_for, denial.precision, denial.recall) == (1, 1.0, 1.0)
    report.gold.append(evaluation)
    markdown = report.to_markdown()
    assert "#### Against gold: tiny (8 utterances coded by `team`)" in markdown
    assert "| **micro** (all labels pooled) |" in markdown
