"""The AnnoMI preset: a hand-written fixture, error cases, and the shared data set."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from rupturekit.errors import InputError
from rupturekit.ingest import ReadOptions, Source, detect_format
from rupturekit.ingest.table import read_annomi

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tables" / "annomi_full_small.csv"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "annomi"

SIMPLE_HEADER = ("transcript_id,mi_quality,video_title,video_url,topic,utterance_id,interlocutor,"
                 "timestamp,utterance_text,main_therapist_behaviour,client_talk_type\n")


def _read(path: Path):
    source = Source(path)
    return read_annomi(source, ReadOptions()), [str(p) for p in source.log.warnings]


def _labels(utterance, rater):
    return [c.label for c in utterance.codes if c.rater == rater]


def test_fixture_is_detected_as_annomi():
    assert detect_format(Source(FIXTURE)) == "annomi"


def test_full_fixture_collapses_raters():
    transcripts, warnings = _read(FIXTURE)
    assert warnings == [f"{FIXTURE}:line 15: column 'timestamp': irregular time '00:09:025' "
                        "read as 00:09:25 (565 s)"]
    assert [t.transcript_id for t in transcripts] == ["7", "12"]
    dan, other = transcripts
    assert [u.utterance_id for u in dan.utterances] == [0, 1, 2]
    question, answer, reflection = dan.utterances
    assert (question.speaker, question.role, question.start, question.end) == (
        "therapist", "therapist", 5.0, None)
    assert answer.text == "My doctor says I have to quit.\nI'm not sure I want to."
    assert answer.role == "client"
    assert question.meta == {
        "mi_quality": "high",
        "topic": "smoking cessation",
        "video_title": 'Smoking cessation: "Dan"',
        "video_url": "https://example.org/v/7",
        "timestamp": "00:00:05",
        "source": {"file": str(FIXTURE), "line": 2},
    }
    assert answer.meta["source"]["line"] == 3  # the first line of a two-line row
    assert [(c.rater, c.label) for c in question.codes] == [
        ("0", "therapist_behaviour.question"), ("0", "question_subtype.open"),
        ("4", "therapist_behaviour.question"), ("4", "question_subtype.closed"),
        ("9", "therapist_behaviour.question"), ("9", "question_subtype.open"),
    ]
    assert [(c.rater, c.label) for c in answer.codes] == [
        ("0", "client_talk_type.sustain"), ("4", "client_talk_type.neutral"),
        ("9", "client_talk_type.sustain")]
    assert _labels(reflection, "0") == ["therapist_behaviour.reflection",
                                        "reflection_subtype.complex"]
    assert _labels(reflection, "4") == ["therapist_behaviour.reflection",
                                        "reflection_subtype.simple"]
    assert _labels(reflection, "9") == ["therapist_behaviour.therapist_input",
                                        "therapist_input_subtype.advice"]

    # Transcript 12 is listed out of order: sorted by its ids, one rater.
    assert [(u.utterance_id, u.role) for u in other.utterances] == [
        (0, "therapist"), (1, "client"), (2, "therapist")]
    assert [(c.rater, c.label) for u in other.utterances for c in u.codes] == [
        ("5", "therapist_behaviour.therapist_input"), ("5", "therapist_input_subtype.advice"),
        ("5", "client_talk_type.change"),
        ("5", "therapist_behaviour.question"), ("5", "question_subtype.closed"),
    ]
    assert other.utterances[2].start == 565.0
    assert other.utterances[2].meta["timestamp"] == "00:09:025"
    assert other.utterances[0].meta["mi_quality"] == "low"


def _full_rows(tmp_path: Path, rows: str) -> Path:
    header = FIXTURE.read_text(encoding="utf-8").split("\n", 1)[0]
    path = tmp_path / "AnnoMI-full.csv"
    path.write_text(header + "\n" + rows, encoding="utf-8")
    return path


def test_rows_of_one_utterance_must_agree(tmp_path):
    path = _full_rows(tmp_path, (
        "high,3,t,u,x,0,therapist,00:00:01,How are you?,1,False,n/a,False,n/a,True,open,"
        "question,n/a\n"
        "high,3,t,u,x,1,client,00:00:03,Fine.,1,n/a,n/a,n/a,n/a,n/a,n/a,n/a,neutral\n"
        "high,3,t,u,x,0,therapist,00:00:01,How are you doing?,2,False,n/a,False,n/a,True,open,"
        "question,n/a\n"
    ))
    with pytest.raises(InputError) as info:
        _read(path)
    message = str(info.value)
    assert message.startswith(f"{path}:line 4: utterance 0 of transcript '3' has utterance_text "
                              "'How are you doing?' but line 2 has 'How are you?'")


def test_same_rater_twice_is_an_error(tmp_path):
    path = _full_rows(tmp_path, (
        "high,3,t,u,x,0,client,00:00:01,Hm.,1,n/a,n/a,n/a,n/a,n/a,n/a,n/a,neutral\n"
        "high,3,t,u,x,0,client,00:00:01,Hm.,1,n/a,n/a,n/a,n/a,n/a,n/a,n/a,change\n"
    ))
    with pytest.raises(InputError, match=r"line 3: annotator 1 codes utterance 0 of transcript "
                                         r"'3' again \(first at line 2\)"):
        _read(path)


def test_exists_contradicting_subtype_warns(tmp_path):
    path = _full_rows(tmp_path, (
        "high,3,t,u,x,0,therapist,00:00:01,So you want to quit.,1,False,n/a,True,n/a,False,n/a,"
        "reflection,n/a\n"
    ))
    transcripts, warnings = _read(path)
    assert _labels(transcripts[0].utterances[0], "1") == ["therapist_behaviour.reflection"]
    assert warnings == [f"{path}:line 2: reflection_exists is 'True' but reflection_subtype "
                        "is 'n/a'"]


def test_simple_file_uses_consensus_rater(tmp_path):
    path = tmp_path / "AnnoMI-simple.csv"
    path.write_text(SIMPLE_HEADER
                    + "5,high,t,u,x,0,therapist,00:00:02,Tell me more.,question,n/a\n"
                    + "5,high,t,u,x,1,client,00:00:04,I want to stop.,n/a,change\n",
                    encoding="utf-8")
    transcripts, warnings = _read(path)
    assert warnings == []
    assert [[(c.rater, c.label) for c in u.codes] for u in transcripts[0].utterances] == [
        [("annomi", "therapist_behaviour.question")], [("annomi", "client_talk_type.change")]]


def test_not_annomi(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("speaker,text\nT,Hi.\n", encoding="utf-8")
    with pytest.raises(InputError, match="not an AnnoMI table .*--format table"):
        _read(path)


def _shared(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared AnnoMI data not found at {SHARED}")
    return path


def test_shared_full_file():
    path = _shared("AnnoMI-full.csv")
    started = time.perf_counter()
    transcripts, warnings = _read(path)
    elapsed = time.perf_counter() - started
    print(f"read AnnoMI-full.csv in {elapsed:.3f} s")  # reported with -s; not asserted
    utterances = [u for t in transcripts for u in t.utterances]
    assert len(transcripts) == 116
    assert len(utterances) == 8297
    multi = [u for u in utterances if u.transcript_id in ("7", "55", "66")]
    assert len(multi) == 162
    for utterance in utterances:
        raters = {c.rater for c in utterance.codes}
        assert len(raters) == (10 if utterance.transcript_id in ("7", "55", "66") else 1)
        if utterance.role == "therapist":
            behaviours = Counter(c.rater for c in utterance.codes
                                 if c.label.startswith("therapist_behaviour."))
            assert behaviours == Counter(dict.fromkeys(raters, 1))
    assert {c.rater for u in multi for c in u.codes} == {str(n) for n in range(10)}
    assert len(warnings) == 1 and "irregular time '00:09:025'" in warnings[0]


def test_shared_simple_file():
    path = _shared("AnnoMI-simple.csv")
    transcripts, _ = _read(path)
    utterances = [u for t in transcripts for u in t.utterances]
    assert len(transcripts) == 116
    assert len(utterances) == 8297
    assert {c.rater for u in utterances for c in u.codes} == {"annomi"}
    assert all(u.role in ("therapist", "client") for u in utterances)
