"""CSV / TSV / JSONL tables: column guessing and mapping, ids, times, errors, meta."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from rupturekit.errors import InputError
from rupturekit.ingest import ReadOptions, Source, TableColumns, read_source
from rupturekit.ingest.table import read_table

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "coded_turns.csv"


def _source(tmp_path: Path, name: str, content: str) -> Source:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return Source(path)


def _read(tmp_path: Path, name: str, content: str, **columns: str):
    source = _source(tmp_path, name, content)
    transcripts = read_table(source, ReadOptions(columns=TableColumns(**columns)))
    return transcripts, [str(problem) for problem in source.log.warnings]


def _error(tmp_path: Path, name: str, content: str, **columns: str) -> str:
    with pytest.raises(InputError) as info:
        _read(tmp_path, name, content, **columns)
    return str(info.value)


def test_guessed_columns(tmp_path):
    transcripts, warnings = _read(tmp_path, "turns.csv", (
        "Session,Turn,Speaker,Start Time,End_Time,Utterance\n"
        "a,0,T,00:00:01,00:00:03,Hello there.\n"
        "a,1,C,00:00:04,5.5,Hi.\n"
        "b,0,T,1:02,1:05,Welcome back.\n"
    ))
    assert warnings == []
    assert [t.transcript_id for t in transcripts] == ["a", "b"]
    first, second = transcripts[0].utterances
    assert (first.utterance_id, first.speaker, first.role, first.text) == (0, "T", "unknown",
                                                                           "Hello there.")
    assert (first.start, first.end) == (1.0, 3.0)
    assert (second.start, second.end) == (4.0, 5.5)
    assert (transcripts[1].utterances[0].start, transcripts[1].utterances[0].end) == (62.0, 65.0)
    # Mapped columns are not repeated in meta.
    assert first.meta == {"source": {"file": str(tmp_path / "turns.csv"), "line": 2}}


def test_explicit_mapping_wins_over_guesses(tmp_path):
    content = (
        "text,said,who,spoken_by,visit\n"
        "note one,I feel better.,C,client,v1\n"
        "note two,Good to hear.,T,therapist,v1\n"
    )
    transcripts, _ = _read(tmp_path, "mapped.csv", content, text="said", speaker="spoken_by",
                           transcript="visit")
    (transcript,) = transcripts
    assert transcript.transcript_id == "v1"
    assert [(u.speaker, u.text) for u in transcript.utterances] == [
        ("client", "I feel better."), ("therapist", "Good to hear.")]
    # The unmapped columns, including the guessable "text" and "who", stay in meta.
    assert transcript.utterances[0].meta["text"] == "note one"
    assert transcript.utterances[0].meta["who"] == "C"


def test_explicit_mapping_is_case_insensitive_and_empty_switches_off(tmp_path):
    content = "Speaker,Text,Start\nT,Hi.,not a time\n"
    transcripts, _ = _read(tmp_path, "t.csv", content, text="TEXT", start="")
    utterance = transcripts[0].utterances[0]
    assert (utterance.text, utterance.start) == ("Hi.", None)
    assert utterance.meta["Start"] == "not a time"


def test_no_transcript_column_uses_file_stem(tmp_path):
    transcripts, _ = _read(tmp_path, "client_17.csv", "speaker,text\nT,One.\nC,Two.\n")
    assert [t.transcript_id for t in transcripts] == ["client_17"]
    assert [u.utterance_id for u in transcripts[0].utterances] == [0, 1]


def test_tsv(tmp_path):
    transcripts, _ = _read(tmp_path, "s.tsv", (
        "speaker\ttext\tstart\n"
        "T\tWell, where were we?\t00:00:02\n"
        "C\t\"Quoted\", she said.\t00:00:05\n"
    ))
    assert [u.text for u in transcripts[0].utterances] == ["Well, where were we?",
                                                           "Quoted, she said."]


def test_sniffed_semicolon(tmp_path):
    transcripts, _ = _read(tmp_path, "export.txt", "speaker;text;mood\nT;Hello;calm\nC;Hi;tense\n")
    assert [(u.speaker, u.text, u.meta["mood"]) for u in transcripts[0].utterances] == [
        ("T", "Hello", "calm"), ("C", "Hi", "tense")]


def test_jsonl_table_keeps_json_types(tmp_path):
    lines = [
        {"session": 4, "turn": 2, "who": "C", "content": "Later.", "start": 12.5,
         "ratings": {"withdrawal": 3}},
        {"session": 4, "turn": 1, "who": "T", "content": "First.", "start": "00:00:03",
         "flag": True},
    ]
    transcripts, warnings = _read(tmp_path, "t.jsonl",
                                  "".join(json.dumps(line) + "\n" for line in lines))
    assert warnings == []
    (transcript,) = transcripts
    assert transcript.transcript_id == "4"
    first, second = transcript.utterances
    assert (first.utterance_id, first.text, first.start) == (1, "First.", 3.0)
    assert (second.utterance_id, second.text, second.start) == (2, "Later.", 12.5)
    assert first.meta == {"flag": True, "source": {"file": str(tmp_path / "t.jsonl"), "line": 2}}
    assert second.meta["ratings"] == {"withdrawal": 3}


def test_jsonl_table_is_detected(tmp_path):
    source = _source(tmp_path, "t.jsonl", '{"speaker": "T", "text": "Hi."}\n'
                                          '{"speaker": "C", "text": "Hello."}\n')
    transcripts = read_source(source)
    assert [u.text for u in transcripts[0].utterances] == ["Hi.", "Hello."]


def test_missing_text_column(tmp_path):
    message = _error(tmp_path, "notext.csv", "speaker,said\nT,Hi.\n")
    assert message.startswith(f"{tmp_path / 'notext.csv'}:line 1: no text column (looked for text,")
    assert "name it with --text-col; the header has: speaker, said" in message


def test_missing_speaker_column(tmp_path):
    message = _error(tmp_path, "nospeaker.csv", "text,person\nHi.,T\n")
    assert ":line 1: no speaker column" in message
    assert "--speaker-col; the header has: text, person" in message


def test_user_named_column_missing(tmp_path):
    message = _error(tmp_path, "t.csv", "speaker,text\nT,Hi.\n", order="turn_no")
    assert message == (f"{tmp_path / 't.csv'}:line 1: no column 'turn_no' (given with "
                       "--order-col); use one of the header's columns: speaker, text")


def test_bad_time_names_line(tmp_path):
    message = _error(tmp_path, "t.csv", "speaker,text,start\nT,Hi.,00:00:01\nC,Hello.,00:75:00\n")
    assert message.startswith(f"{tmp_path / 't.csv'}:line 3: column 'start': '00:75:00' has 75")
    assert "--start-col ''" in message


def test_bad_time_in_quoted_multiline_row(tmp_path):
    # The error names the first line of a row whose text spans lines.
    message = _error(tmp_path, "t.csv", 'speaker,text,start\nT,"One\ntwo",1\nC,Hi.,soon\n')
    assert ":line 4: column 'start': 'soon' is not a time" in message


def test_irregular_time_warns(tmp_path):
    transcripts, warnings = _read(tmp_path, "t.csv", "speaker,text,timestamp\nT,Hi.,00:09:025\n")
    assert transcripts[0].utterances[0].start == 565.0
    assert warnings == [f"{tmp_path / 't.csv'}:line 2: column 'timestamp': irregular time "
                        "'00:09:025' read as 00:09:25 (565 s)"]


def test_end_before_start_is_an_error(tmp_path):
    message = _error(tmp_path, "t.csv", "speaker,text,start,end\nT,Hi.,10,4\n")
    # the validator's own words, without pydantic's "Value error, " before them
    assert message.endswith(":line 2: not a valid utterance (row: end (4.0) is before start (10.0)); fix the row")


def test_duplicate_ids(tmp_path):
    message = _error(tmp_path, "dup.csv", (
        "session,turn,speaker,text\n"
        "a,1,T,One.\n"
        "a,2,C,Two.\n"
        "b,1,T,Other session.\n"
        "a,1,C,Again.\n"
    ))
    assert message.startswith(f"{tmp_path / 'dup.csv'}:line 5: utterance 1 of transcript 'a' "
                              "repeats line 2")


def test_empty_text_kept_with_warning(tmp_path):
    transcripts, warnings = _read(tmp_path, "t.csv", 'speaker,text\nT,Hi.\nC,""\nT,   \nC,Yes.\n')
    assert [u.text for u in transcripts[0].utterances] == ["Hi.", "", "", "Yes."]
    assert warnings == [f"{tmp_path / 't.csv'}:line 3: 2 rows have empty text in column 'text' "
                        "(lines 3, 4); kept with text ''"]


def test_short_row_warns(tmp_path):
    transcripts, warnings = _read(tmp_path, "t.csv", "speaker,text,notes\nT,Hi.\n")
    assert transcripts[0].utterances[0].meta["notes"] == ""
    assert warnings and ":line 2: 1 row has fewer cells than the header" in warnings[0]


def test_long_row_is_an_error(tmp_path):
    message = _error(tmp_path, "t.csv", "speaker,text\nT,Hi, there\n")
    assert ":line 2: the row has 3 cells but the header has 2" in message


def test_extra_columns_in_meta(tmp_path):
    transcripts, _ = _read(tmp_path, "t.csv", (
        "session,speaker,text,rupture,rater_note,source\n"
        "s1,C,Whatever.,withdrawal,,tape 3\n"
    ))
    assert transcripts[0].utterances[0].meta == {
        "rupture": "withdrawal",
        "rater_note": "",
        "source_column": "tape 3",
        "source": {"file": str(tmp_path / "t.csv"), "line": 2},
    }


def test_ids_kept_as_in_source(tmp_path):
    transcripts, _ = _read(tmp_path, "t.csv", (
        "transcript_id,utterance_id,speaker,text\n"
        "007,12,T,Twelve.\n"
        "007,3,C,Three.\n"
        "10,40,C,Forty.\n"
    ))
    assert [t.transcript_id for t in transcripts] == ["007", "10"]
    # Sorted by the source's ids, which are kept (not renumbered).
    assert [(u.utterance_id, u.text) for u in transcripts[0].utterances] == [(3, "Three."),
                                                                            (12, "Twelve.")]
    assert [u.meta["source"]["line"] for u in transcripts[0].utterances] == [3, 2]


def test_non_integer_order_falls_back_to_row_order(tmp_path):
    transcripts, warnings = _read(tmp_path, "t.csv", "turn,speaker,text\n1a,T,One.\n1b,C,Two.\n")
    assert [(u.utterance_id, u.meta["turn"]) for u in transcripts[0].utterances] == [(0, "1a"),
                                                                                    (1, "1b")]
    assert len(warnings) == 1 and ":line 2: column 'turn' has \"1a\"" in warnings[0]


def test_example_text_reaches_utterances():
    with EXAMPLE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    source = Source(EXAMPLE)
    transcripts = read_source(source)
    assert source.log.warnings == []
    assert [(t.transcript_id, len(t.utterances)) for t in transcripts] == [("S01", 10), ("S02", 10)]
    expected = Counter(ch for row in rows for ch in row["utterance"] if not ch.isspace())
    got = Counter(ch for t in transcripts for u in t.utterances for ch in u.text
                  if not ch.isspace())
    assert got == expected
    second = transcripts[0].utterances[1]
    assert (second.utterance_id, second.speaker, second.start) == (2, "Client", 11.0)
    assert second.meta["notes"] == "withdrawal onset"
