"""Whisper / WhisperX JSON reader."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rupturekit.errors import InputError
from rupturekit.ingest import ReadOptions, Source, read_source
from rupturekit.ingest.whisper import read_whisper
from rupturekit.records import Transcript

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "session_whisperx.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "whisper"


def read(path: Path, **options) -> tuple[Transcript, Source]:
    source = Source(path)
    transcripts = read_whisper(source, ReadOptions(**options))
    assert len(transcripts) == 1
    return transcripts[0], source


def turns(transcript: Transcript) -> list[tuple[str, float | None, float | None]]:
    return [(u.speaker, u.start, u.end) for u in transcript.utterances]


def write_json(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_whisperx_example_turns():
    transcript, source = read(EXAMPLE)
    assert transcript.transcript_id == "session_whisperx"
    assert turns(transcript) == [
        ("SPEAKER_00", 0.52, 4.1),
        ("SPEAKER_01", 4.8, 13.05),
        ("SPEAKER_00", 13.7, 17.92),
        ("SPEAKER_01", 18.5, 28.1),
        ("SPEAKER_00", 28.9, 35.4),
        ("SPEAKER_01", 36.1, 41.75),
        ("SPEAKER_00", 42.3, 52.9),
        ("SPEAKER_01", 53.5, 57.2),
        ("SPEAKER_00", 57.9, 62.4),
    ]
    assert [u.meta["source"]["segments"] for u in transcript.utterances] == [
        [0], [1, 2], [3], [4, 5], [6], [7], [8, 9], [10], [11]]
    assert source.log.warnings == []


def test_whisperx_example_texts_and_meta():
    transcript, _ = read(EXAMPLE)
    u = transcript.utterances
    assert u[1].text == ("Not great, honestly. I almost didn't come today. "
                         "I wasn't sure there was any point.")
    # Segment 4 has no "speaker"; most of its words are SPEAKER_01's.
    assert u[3].text == ("Last time it felt like you were taking my mom's side. Like I was the "
                         "problem. (laughs) Which, I mean, maybe I am.")
    assert u[3].meta == {"source": {"file": str(EXAMPLE), "segments": [4, 5]},
                         "stage_directions": ["laughs"], "language": "en"}
    assert u[6].text == ("You're right that I said that. I can see how it came across as "
                         "defending her instead of hearing you. I'm sorry.")
    assert all(utterance.role == "unknown" for utterance in u)


def test_whisperx_example_keeps_every_character():
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    expected = Counter(c for seg in data["segments"] for c in seg["text"] if not c.isspace())
    transcript, _ = read(EXAMPLE)
    assert Counter(c for u in transcript.utterances for c in u.text if not c.isspace()) == expected


def test_max_merge_gap_splits_turns():
    # Segments 8 and 9 are 0.8 s apart, 1/2 and 4/5 about 0.25 s.
    transcript, _ = read(EXAMPLE, max_merge_gap=0.5)
    assert len(transcript.utterances) == 10
    assert turns(transcript)[6:8] == [("SPEAKER_00", 42.3, 49.8), ("SPEAKER_00", 50.6, 52.9)]
    assert transcript.utterances[7].text == "I'm sorry."
    assert transcript.utterances[3].meta["source"]["segments"] == [4, 5]


def test_without_merging_one_utterance_per_segment():
    transcript, _ = read(EXAMPLE, merge_segments=False)
    assert [u.meta["source"]["segments"] for u in transcript.utterances] == [
        [i] for i in range(12)]
    assert transcript.utterances[4].speaker == "SPEAKER_01"


def test_plain_whisper_without_speakers():
    transcript, source = read(FIXTURES / "plain_whisper.json")
    # No diarization: every segment is its own UNKNOWN utterance; silence is skipped.
    assert turns(transcript) == [("UNKNOWN", 0.0, 1.8), ("UNKNOWN", 2.4, 3.0),
                                 ("UNKNOWN", 3.6, 4.9)]
    assert [u.text for u in transcript.utterances] == [
        "How was your week?", "Long.", "Tell me about it."]
    assert transcript.utterances[2].meta["source"]["segments"] == [3]
    assert [str(w) for w in source.log.warnings] == [
        f"{FIXTURES / 'plain_whisper.json'}:segment 0: 3 of 3 segments have no speaker (run "
        "diarization, e.g. WhisperX, to label speakers); they are read as speaker 'UNKNOWN'"]


def test_bare_list_of_segments():
    transcript, _ = read(FIXTURES / "bare_list.json")
    assert turns(transcript) == [("SPEAKER_00", 0.5, 2.0), ("SPEAKER_01", 2.6, 5.5)]
    assert transcript.utterances[1].text == "With my mom, I guess. She called again."
    assert "language" not in transcript.utterances[0].meta


def test_detected_through_the_registry():
    transcripts = read_source(Source(EXAMPLE))
    assert len(transcripts[0].utterances) == 9


def test_invalid_json():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "invalid.json")
    assert str(caught.value) == (
        f"{FIXTURES / 'invalid.json'}:line 4, column 3: not valid JSON (Expecting value); "
        "fix the JSON syntax, or export the transcript again")


def test_json_without_segments():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "no_segments.json")
    assert str(caught.value) == (
        f"{FIXTURES / 'no_segments.json'}: JSON without 'segments' (top-level keys: 'text', "
        "'language'); expected Whisper/WhisperX output; pass Whisper or WhisperX JSON output: "
        "an object with a 'segments' list (whisper --output_format json), or a list of segments")


@pytest.mark.parametrize(("data", "message"), [
    ({"segments": {"start": 0}}, "'segments' is a JSON object, expected a list of Whisper "
                                 "segments"),
    ("just text", "the JSON is a JSON string, expected a list of Whisper segments"),
    ({"segments": []}, "the transcript has no segments"),
])
def test_json_of_the_wrong_shape(tmp_path, data, message):
    with pytest.raises(InputError, match=message):
        read(write_json(tmp_path, data))


def test_end_before_start():
    with pytest.raises(InputError) as caught:
        read(FIXTURES / "backwards.json")
    assert str(caught.value) == (
        f"{FIXTURES / 'backwards.json'}:segment 1: the segment ends (2.6 s) before it starts "
        "(4 s); give each segment numeric 'start' and 'end' times in seconds, with end >= start")


@pytest.mark.parametrize(("segment", "message"), [
    ({"end": 2.0, "text": "Hi."}, "segment 1: the segment has no 'start' time"),
    ({"start": -1.0, "end": 2.0, "text": "Hi."},
     r"segment 1: 'start' must be a finite time >= 0 \(got -1.0\)"),
    ({"start": "0:01", "end": 2.0, "text": "Hi."},
     r"segment 1: 'start' is not a number \('0:01'\)"),
    ({"start": 1.0, "end": None, "text": "Hi."}, "segment 1: the segment has no 'end' time"),
    ({"start": 1.0, "end": 2.0}, "segment 1: the segment has no 'text' string"),
    ("Hi.", "segment 1: a segment must be a JSON object, not a JSON string"),
])
def test_malformed_segments_are_named(tmp_path, segment, message):
    good = {"start": 0.0, "end": 0.5, "text": "Okay.", "speaker": "SPEAKER_00"}
    path = write_json(tmp_path, {"segments": [good, segment]})
    with pytest.raises(InputError, match=message) as caught:
        read(path)
    assert "give each segment" in caught.value.hint or "JSON output" in caught.value.hint


def test_majority_word_speaker_tie_takes_the_first(tmp_path):
    words = [{"word": "Yes", "speaker": "SPEAKER_01"}, {"word": "no", "speaker": "SPEAKER_00"}]
    path = write_json(tmp_path, [{"start": 0, "end": 1, "text": "Yes no", "words": words}])
    transcript, source = read(path)
    assert turns(transcript) == [("SPEAKER_01", 0.0, 1.0)]
    assert source.log.warnings == []
