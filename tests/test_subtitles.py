"""WebVTT and SubRip readers."""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

import pytest

from rupturekit.errors import InputError
from rupturekit.ingest import ReadOptions, Source, read_source
from rupturekit.ingest.common import stage_directions
from rupturekit.ingest.subtitles import read_srt, read_vtt, split_label
from rupturekit.records import Transcript

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "subtitles"


def read(path: Path, reader, **options) -> tuple[Transcript, Source]:
    source = Source(path)
    transcripts = reader(source, ReadOptions(**options))
    assert len(transcripts) == 1
    return transcripts[0], source


def turns(transcript: Transcript) -> list[tuple[str, float | None, float | None]]:
    return [(u.speaker, u.start, u.end) for u in transcript.utterances]


def nonspace(texts) -> Counter:
    return Counter(c for text in texts for c in text if not c.isspace())


# --- WebVTT -------------------------------------------------------------------------------


def test_vtt_example_turns():
    transcript, source = read(EXAMPLES / "session_captions.vtt", read_vtt)
    assert transcript.transcript_id == "session_captions"
    assert [u.utterance_id for u in transcript.utterances] == list(range(11))
    assert turns(transcript) == [
        ("Therapist", 1.2, 7.9),
        ("Client", 8.4, 12.65),
        ("Therapist", 13.0, 17.25),
        ("Client", 18.0, 26.1),
        ("Therapist", 27.0, 33.48),
        ("Client", 34.0, 39.3),
        ("Therapist", 39.8, 45.95),
        ("Client", 46.2, 49.0),
        ("Therapist", 46.2, 54.7),
        ("Client", 55.3, 60.9),
        ("Therapist", 61.5, 65.2),
    ]
    assert all(u.role == "unknown" for u in transcript.utterances)
    # the NOTE block is kept (meta.notes, see below), with one warning
    assert [(w.message, w.location) for w in source.log.warnings] == [
        ("1 NOTE block(s) kept in meta.notes of the utterance that follows each", "line 5")]


def test_vtt_example_texts_and_meta():
    transcript, _ = read(EXAMPLES / "session_captions.vtt", read_vtt)
    u = transcript.utterances
    # Two cues of one voice are one turn, joined with a line break.
    assert u[0].text == ("Last week we talked about trying the thought record\n"
                         "when things got tense at work.\nHow did that go?")
    assert u[0].meta == {"source": {"file": str(EXAMPLES / "session_captions.vtt"), "cue": 1,
                                    "cues": [1, 2]},
                         "notes": ["Session 7, minutes 12-13 (fictional example).\n"
                                   "Speakers are marked with voice spans."]}
    # Tags are stripped, entities unescaped, stage directions kept and listed.
    assert u[4].text.endswith("one more thing you're being judged on.")
    assert u[9].text.startswith("Maybe if we talked through one situation here first & went")
    assert u[3].meta["stage_directions"] == ["sighs"]
    assert u[1].meta["stage_directions"] == ["pause"]
    # Cue 10 holds two voices: the client's line, then the therapist's, which
    # continues into cue 11.
    assert u[7].text == "[laughs] Well, I'm saying it now."
    assert u[7].meta["source"] == {"file": str(EXAMPLES / "session_captions.vtt"), "cue": 10}
    assert u[8].text == ("You are.\nWhat would make this feel more like something we do "
                         "together,\nrather than something I hand you?")
    assert u[8].meta["source"]["cues"] == [10, 11]


def test_vtt_example_keeps_every_character():
    raw = (EXAMPLES / "session_captions.vtt").read_text(encoding="utf-8")
    expected = Counter()
    for block in re.split(r"\n\s*\n", raw.strip())[1:]:  # the first block is the header
        lines = block.split("\n")
        if lines[0].startswith("NOTE"):
            continue
        timing = next(i for i, line in enumerate(lines) if "-->" in line)
        for line in lines[timing + 1:]:
            text = html.unescape(re.sub(r"<[^>]*>", "", line))
            expected += nonspace([re.sub(r"^\s*(?:-\s*)?\w+:\s", "", text)])
    transcript, _ = read(EXAMPLES / "session_captions.vtt", read_vtt)
    assert nonspace(u.text for u in transcript.utterances) == expected


def test_vtt_max_merge_gap_splits_turns():
    # Cues 1 and 2 are 0.5 s apart; cues 5 and 6 touch.
    transcript, _ = read(EXAMPLES / "session_captions.vtt", read_vtt, max_merge_gap=0.2)
    assert len(transcript.utterances) == 12
    assert turns(transcript)[:2] == [("Therapist", 1.2, 5.8), ("Therapist", 6.3, 7.9)]
    assert transcript.utterances[1].text == "How did that go?"
    assert transcript.utterances[4].meta["source"]["cues"] == [5, 6]


def test_vtt_without_merging_gives_one_utterance_per_voice_and_cue():
    transcript, _ = read(EXAMPLES / "session_captions.vtt", read_vtt, merge_segments=False)
    assert len(transcript.utterances) == 14
    assert [u.meta["source"]["cue"] for u in transcript.utterances][9:12] == [10, 10, 11]


def test_vtt_name_labels_and_unlabelled_first_cue():
    transcript, source = read(FIXTURES / "labels.vtt", read_vtt)
    assert turns(transcript) == [
        ("UNKNOWN", 1.0, 3.0),
        ("Therapist", 3.5, 6.0),
        ("Client", 3.5, 8.0),
    ]
    assert [u.text for u in transcript.utterances] == [
        "Hello. I'm not sure where to start.",
        "Take your time.",
        "Okay.\nIt's been a hard week.",
    ]
    assert [str(w) for w in source.log.warnings] == [
        f"{FIXTURES / 'labels.vtt'}:cue 1: 1 cue(s) before the first speaker label are read "
        "as speaker 'UNKNOWN'"
    ]


def test_vtt_without_any_labels_keeps_cues_apart_and_warns():
    transcript, source = read(FIXTURES / "no_labels.vtt", read_vtt)
    assert turns(transcript) == [("UNKNOWN", 1.0, 2.0), ("UNKNOWN", 2.5, 4.0),
                                 ("UNKNOWN", 4.5, 5.0)]
    messages = [str(w) for w in source.log.warnings]
    # Text outside cues is reported, never dropped silently.
    assert messages == [
        f"{FIXTURES / 'no_labels.vtt'}:line 9: text outside any cue was not read: "
        "'stray words between cues'",
        f"{FIXTURES / 'no_labels.vtt'}:cue 1: no speaker labels (<v Name> voices or 'Name:' "
        "prefixes); each cue is read as one utterance of speaker 'UNKNOWN'",
    ]


def test_vtt_malformed_timestamp_names_the_cue():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "bad_timestamp.vtt", read_vtt)
    assert str(caught.value) == (
        f"{FIXTURES / 'bad_timestamp.vtt'}:cue 2 (line 8): cannot read the cue timing "
        "'00:00:03.000 --> 00:00:0x.000'; write cue times as hh:mm:ss.mmm --> hh:mm:ss.mmm "
        "(for example 00:01:02.500 --> 00:01:05.000)"
    )


def test_vtt_comma_timestamp_is_an_error(tmp_path):
    path = tmp_path / "comma.vtt"
    path.write_text("WEBVTT\n\n00:00:01,000 --> 00:00:02,000\n<v A>Hi.\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"cue 1 \(line 3\): cannot read the cue timing"):
        read(path, read_vtt)


def test_vtt_end_before_start(tmp_path):
    path = tmp_path / "backwards.vtt"
    path.write_text("WEBVTT\n\n00:00:05.000 --> 00:00:04.000\n<v A>Hi.\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read(path, read_vtt)
    assert str(caught.value) == (f"{path}:cue 1 (line 3): the cue ends (4 s) before it starts "
                                 "(5 s); fix the cue timing so that the end is after the start")


def test_vtt_without_header(tmp_path):
    path = tmp_path / "headless.vtt"
    path.write_text("00:00:01.000 --> 00:00:02.000\n<v A>Hi.\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read(path, read_vtt)
    assert str(caught.value) == (
        f"{path}:line 1: not a WebVTT file (the first line must start with 'WEBVTT'); add the "
        "line 'WEBVTT' at the top, or pass --format to name the format")


def test_vtt_voice_classes_and_unclosed_voices(tmp_path):
    path = tmp_path / "voices.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v.loud Dr. Reyes>Hi <c.yellow>there</c>.\n"
        "<v Client>Hello.\n", encoding="utf-8")
    transcript, _ = read(path, read_vtt)
    assert [(u.speaker, u.text) for u in transcript.utterances] == [
        ("Dr. Reyes", "Hi there."), ("Client", "Hello.")]


def test_vtt_detected_through_the_registry():
    transcripts = read_source(Source(EXAMPLES / "session_captions.vtt"))
    assert len(transcripts[0].utterances) == 11


# --- SubRip -------------------------------------------------------------------------------


def test_srt_example_turns():
    transcript, source = read(EXAMPLES / "session_subtitles.srt", read_srt)
    assert turns(transcript) == [
        ("Therapist", 0.5, 4.2),
        ("Client", 4.9, 12.3),
        ("Therapist", 12.8, 15.1),
        ("Client", 15.6, 21.4),
        ("Therapist", 22.0, 28.35),
        ("Client", 28.9, 31.0),
        ("Therapist", 28.9, 35.6),
        ("Client", 36.2, 41.9),
        ("Therapist", 42.3, 45.0),
        ("Client", 45.4, 47.8),
    ]
    u = transcript.utterances
    assert u[1].text == ("That I'd messed up again. That everyone\ncould see I don't know what "
                         "I'm doing.\nAnd honestly, this feels the same. [pause]")
    assert u[1].meta == {"source": {"file": str(EXAMPLES / "session_subtitles.srt"), "cue": 2,
                                    "cues": [2, 3]},
                         "stage_directions": ["pause"]}
    assert u[4].text == ("Thank you for telling me. I don't want this\nto feel like a test. "
                         "There's no right answer here.")
    # "- Client: ... / - Therapist: ..." in one cue: two turns.
    assert (u[5].text, u[6].text) == (
        "Okay.", "Can we slow down?\nMaybe you tell me what it was like, and I'll just "
        "listen for a bit.")
    assert u[7].meta["stage_directions"] == ["sighs"]
    assert source.log.warnings == []


def test_srt_example_keeps_every_character():
    raw = (EXAMPLES / "session_subtitles.srt").read_text(encoding="utf-8")
    expected = Counter()
    for block in re.split(r"\n\s*\n", raw.strip()):
        for line in block.split("\n")[2:]:  # cue number and timing line first
            text = re.sub(r"<[^>]*>", "", line)
            expected += nonspace([re.sub(r"^(?:- )?(?:Therapist|Client): ", "", text)])
    transcript, _ = read(EXAMPLES / "session_subtitles.srt", read_srt)
    assert nonspace(u.text for u in transcript.utterances) == expected


def test_srt_without_merging():
    transcript, _ = read(EXAMPLES / "session_subtitles.srt", read_srt, merge_segments=False)
    assert len(transcript.utterances) == 12
    assert transcript.utterances[2].text == "And honestly, this feels the same. [pause]"
    assert transcript.utterances[2].speaker == "Client"


def test_srt_label_styles():
    transcript, source = read(FIXTURES / "labels.srt", read_srt)
    assert [(u.speaker, u.text) for u in transcript.utterances] == [
        ("THERAPIST", "Where would you like to begin?"),
        ("Client", "I don't know.\n[Laughs] Maybe with my sister."),
        ("Dr. Reyes", "Your sister?"),
        ("Client 2", "Yes."),
        ("SPEAKER_01", "She called again."),
    ]
    assert transcript.utterances[1].meta["stage_directions"] == ["Laughs"]
    assert source.log.warnings == []


def test_srt_malformed_timestamp_names_the_cue():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "bad_timestamp.srt", read_srt)
    assert str(caught.value) == (
        f"{FIXTURES / 'bad_timestamp.srt'}:cue 3 (line 10): cannot read the cue timing "
        "'00:00:05,000 --> 00:00:0x,000'; write cue times as hh:mm:ss,mmm --> hh:mm:ss,mmm "
        "(for example 00:01:02,500 --> 00:01:05,000)"
    )


def test_srt_malformed_first_cue(tmp_path):
    path = tmp_path / "first.srt"
    path.write_text("1\n00:00:0x,000 --> 00:00:02,000\nA: Hi.\n\n2\n00:00:03,000 --> "
                    "00:00:04,000\nB: Hello.\n", encoding="utf-8")
    with pytest.raises(InputError, match=r":cue 1 \(line 2\): cannot read the cue timing"):
        read(path, read_srt)


def test_srt_that_is_not_subtitles(tmp_path):
    path = tmp_path / "notes.srt"
    path.write_text("Therapist: hello\nClient: hi\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read(path, read_srt)
    assert str(caught.value) == (
        f"{path}:cue 1 (line 1): expected a cue number and a timing line, found "
        "'Therapist: hello'; separate cues by a blank line; each cue is a number, a timing "
        "line and its text")


def test_srt_end_before_start():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "backwards.srt", read_srt)
    assert str(caught.value) == (
        f"{FIXTURES / 'backwards.srt'}:cue 2: the cue ends (4 s) before it starts (5 s); "
        "fix the cue timing so that the end is after the start")


# --- helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("Therapist: How are you?", ("Therapist", "How are you?")),
    ("- Dr. Reyes: Hm.", ("Dr. Reyes", "Hm.")),
    ("[CLIENT] Fine.", ("CLIENT", "Fine.")),
    ("SPEAKER_00:", ("SPEAKER_00", "")),
    ("[laughs] Fine.", (None, "[laughs] Fine.")),
    ("[Long pause] Fine.", (None, "[Long pause] Fine.")),
    ("so what I mean is: nothing", (None, "so what I mean is: nothing")),
    ("At 10:30 we met.", (None, "At 10:30 we met.")),
])
def test_split_label(line, expected):
    assert split_label(line) == expected


def test_stage_directions():
    assert stage_directions("[laughs] Okay (long pause) fine [ ]") == ["laughs", "long pause"]
