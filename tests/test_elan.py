"""ELAN .eaf reader, and the ELAN writer read back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from rupturekit.errors import InputError
from rupturekit.export.elan import write_eaf
from rupturekit.ingest import ReadOptions, Source, read_source
from rupturekit.ingest.elan import read_eaf
from rupturekit.records import Code, Transcript, Utterance

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "session_elan.eaf"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "elan"


def read(path: Path) -> tuple[Transcript, Source]:
    source = Source(path)
    transcripts = read_eaf(source, ReadOptions())
    assert len(transcripts) == 1
    return transcripts[0], source


def essentials(transcript: Transcript) -> list[tuple]:
    return [(u.speaker, u.start, u.end, u.text, [(c.rater, c.label) for c in u.codes])
            for u in transcript.utterances]


def test_example_utterances():
    transcript, source = read(EXAMPLE)
    assert transcript.transcript_id == "session_elan"
    assert [(u.speaker, u.start, u.end) for u in transcript.utterances] == [
        ("Therapist", 0.8, 5.2),
        ("Client", 5.9, 8.1),
        ("Therapist", 8.6, 13.4),
        ("Client", 14.0, 22.7),
        ("Therapist", 23.3, 30.1),
        ("Client", 30.8, 33.0),
        ("Therapist", 33.6, 41.2),
        ("Client", 42.0, 44.5),
        ("Therapist", 45.1, 50.0),
        ("Client", 50.9, 58.3),
    ]
    u = transcript.utterances
    assert u[3].text == ("Honestly? I don't see how writing things down is supposed to fix "
                         "anything.\nWe've been doing this for two months and I feel exactly "
                         "the same.")
    assert u[5].text == "[sighs] Yeah. A bit."
    assert u[5].meta == {"source": {"file": str(EXAMPLE), "annotation": "a7", "tier": "Client"},
                         "stage_directions": ["sighs"]}
    assert u[3].codes == [
        Code(rater="rater1", label="confrontation.complaint_progress"),
        Code(rater="rater2", label="confrontation.complaint_activities"),
        Code(rater="rater2", label="confrontation.complaint_progress"),
    ]
    assert [len(x.codes) for x in u] == [0, 2, 1, 3, 2, 0, 2, 0, 0, 0]
    assert all(x.role == "unknown" for x in u)
    assert source.log.warnings == []


def test_example_keeps_every_character():
    root = ET.parse(EXAMPLE).getroot()
    expected = Counter()
    for tier in root.iter("TIER"):
        if tier.get("TIER_ID").startswith("codes@") or tier.get("PARENT_REF"):
            continue
        for value in tier.iter("ANNOTATION_VALUE"):
            expected.update(c for c in value.text or "" if not c.isspace())
    transcript, _ = read(EXAMPLE)
    assert Counter(c for u in transcript.utterances for c in u.text if not c.isspace()) == expected


def test_example_round_trip(tmp_path):
    original, _ = read(EXAMPLE)
    path = tmp_path / "copy.eaf"
    write_eaf(original, path)
    copy, _ = read(path)
    assert essentials(copy) == essentials(original)


def test_codes_without_times_round_trip(tmp_path):
    texts = ["How was the week?", "Fine.", "Just fine?", "[sighs] Not really, no."]
    utterances = [
        Utterance(transcript_id="s1", utterance_id=i, speaker=("T", "C")[i % 2], text=text)
        for i, text in enumerate(texts)
    ]
    utterances[1].codes = [Code(rater="ann", label="withdrawal.minimal_response"),
                           Code(rater="bo", label="withdrawal.minimal_response")]
    utterances[2].codes = [Code(rater="ann", label="resolution.invite_immediacy"),
                           Code(rater="ann", label="resolution.explore")]
    path = tmp_path / "s1.eaf"
    write_eaf(Transcript(transcript_id="s1", utterances=utterances), path)
    assert 'PROPERTY NAME="rupturekit:synthetic_times">true<' in path.read_text(encoding="utf-8")
    back, source = read(path)
    assert essentials(back) == [
        ("T", None, None, "How was the week?", []),
        ("C", None, None, "Fine.", [("ann", "withdrawal.minimal_response"),
                                    ("bo", "withdrawal.minimal_response")]),
        ("T", None, None, "Just fine?", [("ann", "resolution.invite_immediacy"),
                                         ("ann", "resolution.explore")]),
        ("C", None, None, "[sighs] Not really, no.", []),
    ]
    assert source.log.warnings == []


def test_participant_dependent_tiers_and_code_tiers():
    transcript, source = read(FIXTURES / "layered.eaf")
    path = str(FIXTURES / "layered.eaf")
    assert essentials(transcript) == [
        ("Dr. Reyes", 1.0, 4.0, "So what brings you in today?", []),
        # codes@maria's 3.0-8.0 s overlaps this utterance most.
        ("C1", 4.5, 9.0, "I keep waking up at four in the morning\nand I can't get back to sleep.",
         [("maria", "withdrawal.denial"), ("maria", "withdrawal.minimal_response")]),
        # codes@li refers to this annotation (a symbolic child of tier T1).
        ("Dr. Reyes", 9.5, 12.0, "Mm. And when did you start noticing that?",
         [("li", "resolution.explore")]),
    ]
    assert transcript.utterances[1].meta["source"] == {"file": path, "annotation": "a2",
                                                       "tier": "C1"}
    assert [str(w) for w in source.log.warnings] == [
        f"{path}:tier 'T1-translation': dependent tier 'T1-translation' was not read "
        "(1 annotation); only speaker tiers and code tiers named 'codes@<rater>' are read",
        f"{path}:tier 'codes@maria', annotation a7: code 'confrontation.complaint' (20-21 s) "
        "overlaps no utterance; it was not attached",
    ]


def test_eaf_with_no_tiers():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "no_tiers.eaf")
    assert str(caught.value) == (f"{FIXTURES / 'no_tiers.eaf'}: no tiers in this ELAN file; add "
                                 "one tier per speaker in ELAN, with one annotation per utterance")


def test_eaf_with_empty_tiers():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "empty_tiers.eaf")
    assert str(caught.value) == (
        f"{FIXTURES / 'empty_tiers.eaf'}: no annotated speaker tiers; add one tier per speaker "
        "in ELAN, with one annotation per utterance")


def test_eaf_that_is_not_well_formed_xml():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "not_xml.eaf")
    assert str(caught.value) == (
        f"{FIXTURES / 'not_xml.eaf'}:line 6: not a valid ELAN file (not well-formed XML: "
        "mismatched tag); open the file in ELAN and save it again, or check that it is an .eaf")


def test_eaf_that_is_plain_text(tmp_path):
    path = tmp_path / "notes.eaf"
    path.write_text("Therapist: hello\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"notes.eaf:line 1: not a valid ELAN file"):
        read_source(Source(path))


def test_eaf_that_is_other_xml(tmp_path):
    path = tmp_path / "page.eaf"
    path.write_text("<html><body>hello</body></html>\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"not a valid ELAN file \(missing 'VERSION'"):
        read(path)


def test_empty_eaf(tmp_path):
    path = tmp_path / "empty.eaf"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        read(path)


def test_code_on_overlapping_speech_goes_to_the_closer_span(tmp_path):
    # A backchannel inside a long turn: a code spanning exactly the backchannel
    # overlaps both utterances equally, and belongs to the backchannel.
    utterances = [
        Utterance(transcript_id="o", utterance_id=0, speaker="C", start=0.0, end=10.0,
                  text="It was a long story and I kept going on about it."),
        Utterance(transcript_id="o", utterance_id=1, speaker="T", start=2.0, end=5.0,
                  text="Mm-hm.", codes=[Code(rater="r", label="resolution.attend")]),
    ]
    path = tmp_path / "o.eaf"
    write_eaf(Transcript(transcript_id="o", utterances=utterances), path)
    back, _ = read(path)
    assert [(u.speaker, [c.label for c in u.codes]) for u in back.utterances] == [
        ("C", []), ("T", ["resolution.attend"])]
