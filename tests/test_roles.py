"""The roles stage: aliases, overrides, precedence, unknown speakers, inference for generic labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupturekit.errors import ProblemLog
from rupturekit.ingest.options import ReadOptions
from rupturekit.ingest.roles import (
    DEFAULT_ALIASES,
    alias_role,
    assign_roles,
    is_generic_label,
    parse_role_overrides,
)
from rupturekit.ingest.text import read_text
from rupturekit.records import Transcript, Utterance
from rupturekit.source import Source

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def transcript(turns: list[tuple[str, str]] | list[tuple[str, str, str]],
               transcript_id: str = "s1") -> Transcript:
    utterances = []
    for i, turn in enumerate(turns):
        speaker, text = turn[0], turn[1]
        role = turn[2] if len(turn) > 2 else "unknown"
        utterances.append(Utterance(transcript_id=transcript_id, utterance_id=i,
                                    speaker=speaker, role=role, text=text))
    return Transcript(transcript_id=transcript_id, utterances=utterances)


def roles_of(t: Transcript) -> dict[str, str]:
    return {u.speaker: u.role for u in t.utterances}


@pytest.mark.parametrize("label, role", [
    ("T", "therapist"), ("t", "therapist"), ("Th", "therapist"), ("Th.", "therapist"),
    ("Ther", "therapist"), ("Therapist", "therapist"), ("THERAPIST", "therapist"),
    ("Counselor", "therapist"), ("Counsellor", "therapist"), ("Clinician", "therapist"),
    ("Psychologist", "therapist"), ("Interviewer", "therapist"), ("Doctor", "therapist"),
    ("Dr", "therapist"), ("Dr.", "therapist"), ("Practitioner", "therapist"),
    ("Analyst", "therapist"), ("Dr. Smith", "therapist"), ("Dr Smith", "therapist"),
    ("dr. anna smith", "therapist"), ("Therapist ", "therapist"),
    ("C", "client"), ("P", "client"), ("Pt", "client"), ("Pt.", "client"), ("Cl", "client"),
    ("Client", "client"), ("Patient", "client"), ("Interviewee", "client"),
    ("Client (Anna)", "client"), ("Therapist 2", "therapist"), ("Client_1", "client"),
])
def test_default_aliases(label, role):
    assert alias_role(label) == role


@pytest.mark.parametrize("label", ["Mother", "Anna", "SPEAKER_00", "P1", "Drew", "Tom", "Cat"])
def test_labels_without_an_alias(label):
    assert alias_role(label) is None


def test_alias_table_uses_normalised_keys():
    assert DEFAULT_ALIASES["therapist"] == "therapist"
    assert DEFAULT_ALIASES["pt"] == "client"
    assert all(key == key.casefold().strip().rstrip(".") for key in DEFAULT_ALIASES)


@pytest.mark.parametrize("label, generic", [
    ("SPEAKER_00", True), ("SPEAKER_12", True), ("speaker 1", True), ("Speaker A", True),
    ("spk0", True), ("spkr_2", True), ("S1", True), ("Person 2", True), ("UNKNOWN", True),
    ("Participant 3", True), ("T", False), ("Anna", False), ("Mother", False),
    ("Client", False), ("Speakers corner", False),
])
def test_generic_labels(label, generic):
    assert is_generic_label(label) is generic


def test_parse_role_overrides():
    assert parse_role_overrides("Dr. Smith=therapist,Anna=client") == {
        "Dr. Smith": "therapist", "Anna": "client"}
    assert parse_role_overrides(" Mother = other , X=Unknown, ") == {
        "Mother": "other", "X": "unknown"}
    assert parse_role_overrides("") == {}


@pytest.mark.parametrize("spec, fragment", [
    ("Anna", "'Anna'"),
    ("Anna=client=x", "'Anna=client=x'"),
    ("=client", "label is empty"),
    ("Anna=patient", "'patient' is not one of therapist, client, other, unknown"),
    ("Anna=client,Anna=therapist", "'Anna' is already set to 'client'"),
])
def test_parse_role_overrides_errors(spec, fragment):
    with pytest.raises(ValueError) as info:
        parse_role_overrides(spec)
    assert fragment in str(info.value)


def test_aliases_are_applied_without_warnings():
    log = ProblemLog()
    result = assign_roles(transcript([("T", "Hi."), ("Client", "Hello."), ("Dr. Smith", "Hm.")]),
                          {}, log, "f.txt")
    assert roles_of(result) == {"T": "therapist", "Client": "client", "Dr. Smith": "therapist"}
    assert log.warnings == []


def test_precedence_override_then_source_then_alias():
    log = ProblemLog()
    t = transcript([
        ("T", "Hi."),                       # alias -> therapist, but overridden below
        ("Client", "Hello.", "therapist"),  # the source says therapist: beats the alias
        ("Anna", "Hi.", "client"),          # source role, overridden below
        ("C", "Hello."),                    # alias only
    ])
    result = assign_roles(t, {"t": "client", "Anna": "other"}, log, "f.txt")
    assert [u.role for u in result.utterances] == ["client", "therapist", "other", "client"]
    assert log.warnings == []


def test_override_exact_label_beats_case_insensitive_match():
    log = ProblemLog()
    t = transcript([("anna", "Hi."), ("Anna", "Hello.")])
    result = assign_roles(t, {"Anna": "client", "ANNA": "other"}, log, "f.txt")
    assert [u.role for u in result.utterances] == ["other", "client"]


def test_roles_are_set_in_place():
    t = transcript([("T", "Hi."), ("C", "Hello.")])
    assert assign_roles(t, {}, ProblemLog(), "f.txt") is t
    assert [u.role for u in t.utterances] == ["therapist", "client"]


def test_unknown_speaker_warns_once_per_file():
    log = ProblemLog()
    turns = [("T", "Hi."), ("Mother", "He never listens."), ("Mother", "Never.")]
    for tid in ("a", "b"):
        result = assign_roles(transcript(turns, tid), {}, log, "f.txt")
        assert [u.role for u in result.utterances] == ["therapist", "unknown", "unknown"]
    assert len(log.warnings) == 1
    assert "'Mother'" in log.warnings[0].message
    assert "--roles" in log.warnings[0].message
    assign_roles(transcript(turns), {}, log, "g.txt")
    assert len(log.warnings) == 2  # another file warns again


def test_override_for_absent_speaker_is_ignored_silently():
    log = ProblemLog()
    result = assign_roles(transcript([("T", "Hi."), ("C", "Hello.")]),
                          {"Dr. Who": "therapist"}, log, "f.txt")
    assert roles_of(result) == {"T": "therapist", "C": "client"}
    assert log.warnings == []


THERAPIST_IS_SPEAKER_01 = [
    ("SPEAKER_00", "Hi. Sorry, I'm a bit late, the traffic was awful."),
    ("SPEAKER_01", "That's okay. How have you been since last week?"),
    ("SPEAKER_00", "Not great. I had another fight with my partner and I couldn't sleep."),
    ("SPEAKER_01", "It sounds like that fight is still with you. What happened?"),
    ("SPEAKER_00", "I came home late and my partner was upset, and I just shut down. "
                   "I always do that. I hate that I do that."),
    ("SPEAKER_01", "So you shut down when you feel blamed. Is that right?"),
    ("SPEAKER_00", "Yeah. Pretty much. My mum used to do the same thing to me."),
    ("SPEAKER_01", "What do you notice in yourself when you start to shut down?"),
    ("SPEAKER_00", "My chest gets tight and I go quiet. I want to disappear."),
]


def test_inference_picks_the_therapist_and_records_it():
    log = ProblemLog()
    result = assign_roles(transcript(THERAPIST_IS_SPEAKER_01), {}, log, "f.txt")
    assert roles_of(result) == {"SPEAKER_00": "client", "SPEAKER_01": "therapist"}
    inference = result.utterances[1].meta["role_inference"]
    assert inference["method"] == "cues"
    assert inference["role"] == "therapist"
    assert 0.75 <= inference["confidence"] <= 1.0
    cues = inference["cues"]
    assert cues["question_rate"] == 1.0
    assert cues["opens"] is False
    assert cues["you_rate"] > result.utterances[0].meta["role_inference"]["cues"]["you_rate"]
    client = result.utterances[0].meta["role_inference"]
    assert client["role"] == "client"
    assert client["cues"]["opens"] is True
    assert client["confidence"] == inference["confidence"]
    assert all("role_inference" in u.meta for u in result.utterances)
    assert len(log.warnings) == 1
    message = log.warnings[0].message
    assert "inferred SPEAKER_01 = therapist (confidence " in message
    assert "--roles" in message
    assert log.warnings[0].location == "transcript s1"


def test_inference_warns_once_per_transcript():
    log = ProblemLog()
    for tid in ("a", "b"):
        assign_roles(transcript(THERAPIST_IS_SPEAKER_01, tid), {}, log, "f.txt")
    assert [w.location for w in log.warnings] == ["transcript a", "transcript b"]


def test_inference_on_the_example_file():
    source = Source(EXAMPLES / "session_speakers.txt")
    [t] = read_text(source, ReadOptions())
    result = assign_roles(t, {}, source.log, source.name)
    assert roles_of(result) == {"SPEAKER_00": "client", "SPEAKER_01": "therapist"}
    confidence = result.utterances[0].meta["role_inference"]["confidence"]
    assert 0.5 <= confidence <= 1.0
    assert len(source.log.warnings) == 1


def test_override_of_a_generic_speaker_wins_over_inference():
    log = ProblemLog()
    result = assign_roles(transcript(THERAPIST_IS_SPEAKER_01),
                          {"speaker_00": "therapist", "SPEAKER_01": "client"}, log, "f.txt")
    assert roles_of(result) == {"SPEAKER_00": "therapist", "SPEAKER_01": "client"}
    assert all("role_inference" not in u.meta for u in result.utterances)
    assert log.warnings == []


def test_third_generic_speaker_is_unknown_with_a_warning():
    log = ProblemLog()
    turns = [*THERAPIST_IS_SPEAKER_01, ("SPEAKER_02", "Sorry, wrong room.")]
    result = assign_roles(transcript(turns), {}, log, "f.txt")
    assert roles_of(result) == {"SPEAKER_00": "client", "SPEAKER_01": "therapist",
                                "SPEAKER_02": "unknown"}
    assert result.utterances[-1].meta["role_inference"]["role"] == "unknown"
    assert len(log.warnings) == 2
    assert "'SPEAKER_02'" in log.warnings[1].message


def test_single_generic_speaker_is_not_inferred():
    log = ProblemLog()
    result = assign_roles(transcript([("Therapist", "How are you?"),
                                      ("SPEAKER_00", "Fine, I guess.")]), {}, log, "f.txt")
    assert roles_of(result) == {"Therapist": "therapist", "SPEAKER_00": "unknown"}
    assert all("role_inference" not in u.meta for u in result.utterances)
    assert len(log.warnings) == 1
    assert "'SPEAKER_00'" in log.warnings[0].message
    assert "not inferred" in log.warnings[0].message


def test_placeholder_label_is_not_a_candidate():
    log = ProblemLog()
    turns = [*THERAPIST_IS_SPEAKER_01, ("UNKNOWN", "What do you think about that? You?")]
    result = assign_roles(transcript(turns), {}, log, "f.txt")
    assert roles_of(result)["UNKNOWN"] == "unknown"
    assert roles_of(result)["SPEAKER_01"] == "therapist"
    assert "role_inference" not in result.utterances[-1].meta


def test_weak_cues_give_low_confidence():
    log = ProblemLog()
    result = assign_roles(transcript([("SPEAKER_00", "Hello there."),
                                      ("SPEAKER_01", "Hello there.")]), {}, log, "f.txt")
    confidences = {u.meta["role_inference"]["confidence"] for u in result.utterances}
    # Only "who opens" tells them apart: 0.55 vs 0.45, so confidence 0.5 + 0.5 * 0.1.
    assert confidences == {0.55}
    assert roles_of(result) == {"SPEAKER_00": "therapist", "SPEAKER_01": "client"}
