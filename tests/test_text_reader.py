"""The plain-text reader: labels, timestamps, continuation lines, preamble, stage directions."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rupturekit.errors import InputError
from rupturekit.ingest.options import ReadOptions
from rupturekit.ingest.roles import alias_role, is_generic_label
from rupturekit.ingest.text import read_text
from rupturekit.records import Utterance
from rupturekit.source import Source

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def read(tmp_path: Path, content: str | bytes, name: str = "session.txt"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    source = Source(path)
    transcripts = read_text(source, ReadOptions())
    assert len(transcripts) == 1
    return transcripts[0].utterances, source.log.warnings


def texts(utterances: list[Utterance]) -> list[tuple[str, str]]:
    return [(u.speaker, u.text) for u in utterances]


@pytest.mark.parametrize("label", [
    "T", "C", "P", "Th", "Therapist", "Client", "Patient", "Counselor", "Counsellor",
    "Dr. Smith", "Dr Smith", "SPEAKER_00", "Interviewer", "Anna", "MARIA", "Speaker 1",
    "Mary-Anne", "O'Brien", "Speaker A",
])
def test_label_styles(tmp_path, label):
    utterances, warnings = read(tmp_path, f"{label}: Hello there.\nOther: Hi.\n")
    assert texts(utterances) == [(label, "Hello there."), ("Other", "Hi.")]
    assert [u.role for u in utterances] == ["unknown", "unknown"]
    assert warnings == []


def test_transcript_and_utterance_ids_and_source(tmp_path):
    path = tmp_path / "s03.txt"
    path.write_text("T: one\n\nC: two\nmore\nT: three\n", encoding="utf-8")
    source = Source(path)
    [transcript] = read_text(source, ReadOptions())
    assert transcript.transcript_id == "s03"
    assert [u.utterance_id for u in transcript.utterances] == [0, 1, 2]
    assert [u.transcript_id for u in transcript.utterances] == ["s03"] * 3
    assert [u.meta["source"] for u in transcript.utterances] == [
        {"file": str(path), "line": 1}, {"file": str(path), "line": 3},
        {"file": str(path), "line": 5},
    ]
    assert all(u.end is None for u in transcript.utterances)


def test_label_whitespace_is_normalised(tmp_path):
    utterances, _ = read(tmp_path, "Dr.   Smith : Hello.\n  Client\t: Hi.\n")
    assert texts(utterances) == [("Dr. Smith", "Hello."), ("Client", "Hi.")]


def test_lowercase_full_aliases_are_labels_but_single_letters_are_not(tmp_path):
    utterances, _ = read(tmp_path, "therapist: Hello.\nclient: Hi.\nt: not a label\n")
    assert texts(utterances) == [("therapist", "Hello."), ("client", "Hi.\nt: not a label")]


@pytest.mark.parametrize("line, speaker, start", [
    ("T (00:01:23): Hello.", "T", 83.0),
    ("[00:01:23] T: Hello.", "T", 83.0),
    ("T: [00:01:23] Hello.", "T", 83.0),
    ("00:01:23 T: Hello.", "T", 83.0),
    ("(12:03) Client: Hello.", "Client", 723.0),
    ("Client: (12:03) Hello.", "Client", 723.0),
    ("[1:02:03.250] Dr. Smith: Hello.", "Dr. Smith", 3723.25),
    ("00:01:23.5 SPEAKER_00: Hello.", "SPEAKER_00", 83.5),
    ("T: 00:01:23.5 Hello.", "T", 83.5),
    ("Dr. Smith [00:00:07]: Hello.", "Dr. Smith", 7.0),
    ("[00:01:23,500] T: Hello.", "T", 83.5),
    ("[ 00:01:23 ]T: Hello.", "T", 83.0),
])
def test_timestamps_with_labels(tmp_path, line, speaker, start):
    utterances, warnings = read(tmp_path, line + "\n")
    assert texts(utterances) == [(speaker, "Hello.")]
    assert utterances[0].start == start
    assert utterances[0].end is None
    assert "timestamps" not in utterances[0].meta
    assert warnings == []


def test_inline_timestamps_move_to_meta(tmp_path):
    content = (
        "[00:00:05] T: Hello [00:00:07] there. And[00:00:09]then.\n"
        "[00:00:11] more here [00:00:12]\n"
    )
    utterances, _ = read(tmp_path, content)
    [u] = utterances
    assert u.start == 5.0
    assert u.text == "Hello there. And then.\nmore here"
    stamps = u.meta["timestamps"]
    assert stamps == [
        {"offset": 6, "time": 7.0},
        {"offset": 17, "time": 9.0},
        {"offset": 23, "time": 11.0},
        {"offset": 32, "time": 12.0},
    ]
    assert u.text[6:].startswith("there")
    assert u.text[17:].startswith("then")
    assert u.text[23:].startswith("more here")


def test_first_timestamp_of_an_unlabelled_first_line_sets_start(tmp_path):
    utterances, _ = read(tmp_path, "T:\n[00:00:03] Hello.\n[00:00:06] Again.\nC: Hi.\n")
    assert utterances[0].start == 3.0
    assert utterances[0].text == "Hello.\nAgain."
    assert utterances[0].meta["timestamps"] == [{"offset": 7, "time": 6.0}]
    assert utterances[1].start is None


def test_timestamp_only_lines(tmp_path):
    content = "[00:00:01]\nT: Hello.\n[00:00:04]\n\nC: [00:00:05] Hi.\n[00:00:09]\n"
    utterances, _ = read(tmp_path, content)
    assert texts(utterances) == [("T", "Hello."), ("C", "Hi.")]
    # A time on its own line starts the next turn unless that turn has its own time;
    # then it stays with the turn before, at its end.
    assert utterances[0].start == 1.0
    assert utterances[0].meta["timestamps"] == [{"offset": 6, "time": 4.0}]
    assert utterances[1].start == 5.0
    assert utterances[1].meta["timestamps"] == [{"offset": 3, "time": 9.0}]


def test_clock_times_in_speech_are_text(tmp_path):
    utterances, _ = read(tmp_path, "T: 10:30 suits me.\nC: Then 10:30 it is.\n")
    assert texts(utterances) == [("T", "10:30 suits me."), ("C", "Then 10:30 it is.")]
    assert all(u.start is None for u in utterances)


def test_irregular_timestamp_is_accepted_with_a_warning(tmp_path):
    utterances, warnings = read(tmp_path, "T: Hi.\n[00:09:025] C: Hello.\n")
    assert utterances[1].start == 565.0
    assert len(warnings) == 1
    assert warnings[0].location == "line 2"
    assert "00:09:025" in warnings[0].message


@pytest.mark.parametrize("content, line, token", [
    ("T: Hi.\n[00:61:10] C: Hello.\n", 2, "[00:61:10]"),
    ("T: Hi.\nC: [12:3x:00] Hello.\n", 2, "[12:3x:00]"),
    ("T: Hi.\nmore\n00:61:10 C: Hello.\n", 3, "00:61:10"),
    ("T (00:00:75): Hi.\n", 1, "(00:00:75)"),
    ("T: Hi there [00:99] and more.\n", 1, "[00:99]"),
    ("T: Hi.\n\n\n00:01:99.5 more text\n", 4, "00:01:99.5"),
])
def test_malformed_timestamp_is_an_error(tmp_path, content, line, token):
    with pytest.raises(InputError) as info:
        read(tmp_path, content)
    assert info.value.location == f"line {line}"
    assert f"'{token}'" in info.value.message
    assert info.value.hint == "fix the timestamp or remove it"
    assert str(info.value).startswith(f"{tmp_path / 'session.txt'}:line {line}: ")


def test_continuation_and_blank_lines(tmp_path):
    content = (
        "T: First line\n"
        "  second line  \n"
        "\n"
        "third line after a blank\n"
        "\n\n"
        "C: Reply.\n"
        "\n"
    )
    utterances, _ = read(tmp_path, content)
    assert texts(utterances) == [
        ("T", "First line\nsecond line\n\nthird line after a blank"),
        ("C", "Reply."),
    ]


def test_preamble_is_kept_with_a_warning(tmp_path):
    content = "Session 3 — 12 March\nClient ID: 4471\n\nT: Hello.\nC: Hi.\n"
    utterances, warnings = read(tmp_path, content)
    assert texts(utterances) == [("T", "Hello."), ("C", "Hi.")]
    assert utterances[0].meta["preamble"] == "Session 3 — 12 March\nClient ID: 4471"
    assert "preamble" not in utterances[1].meta
    assert len(warnings) == 1
    assert warnings[0].location == "lines 1-2"
    assert "Session 3" in warnings[0].message


def test_stage_directions_stay_in_text_and_are_flagged(tmp_path):
    content = (
        "T: [laughs] Okay. (pause) And [inaudible 00:12] then.\n"
        "C: (I really do not know what to say to that)\n"
        "T (leaning forward): Go on.\n"
    )
    utterances, _ = read(tmp_path, content)
    assert utterances[0].text == "[laughs] Okay. (pause) And [inaudible 00:12] then."
    assert utterances[0].meta["stage_directions"] == ["laughs", "pause", "inaudible 00:12"]
    assert "stage_directions" not in utterances[1].meta  # more than five words: speech
    assert texts(utterances)[2] == ("T", "(leaning forward) Go on.")
    assert utterances[2].meta["stage_directions"] == ["leaning forward"]


def test_capitalised_qualifier_is_part_of_the_label(tmp_path):
    utterances, _ = read(tmp_path, "Client (Anna): Hi.\n")
    assert texts(utterances) == [("Client (Anna)", "Hi.")]


def test_no_labels_is_an_error(tmp_path):
    with pytest.raises(InputError) as info:
        read(tmp_path, "Just some notes about the session.\nNothing labelled here.\n")
    assert info.value.message == "no speaker labels found"
    assert "'T:'" in info.value.hint and "--format table" in info.value.hint
    assert info.value.location in (None, "line 1")


def test_prose_with_colons_is_not_split(tmp_path):
    content = (
        "T: Here is the thing.\n"
        "I said: no.\n"
        "so: anyway\n"
        "So: what then?\n"
        "Well: maybe.\n"
        "My sister said to me: stop it\n"
        "the ratio was 3:1 and we met at 10:30\n"
        "see https://example.org for more\n"
        "C: Okay.\n"
    )
    utterances, _ = read(tmp_path, content)
    assert [u.speaker for u in utterances] == ["T", "C"]
    assert utterances[0].text.count("\n") == 7


def test_crlf_line_endings(tmp_path):
    utterances, warnings = read(tmp_path, b"[00:00:01] T: Hello\r\nthere\r\n\r\nC: Hi.\r\n")
    assert texts(utterances) == [("T", "Hello\nthere"), ("C", "Hi.")]
    assert utterances[1].meta["source"]["line"] == 4
    assert warnings == []


def test_example_session_plain():
    source = Source(EXAMPLES / "session_plain.txt")
    [transcript] = read_text(source, ReadOptions())
    utterances = transcript.utterances
    assert len(utterances) == 20
    assert [u.speaker for u in utterances] == ["T", "P"] * 10
    assert all(u.start is not None for u in utterances)
    assert [u.start for u in utterances] == sorted(u.start for u in utterances)
    assert utterances[0].meta["preamble"].startswith("Session 7")
    multi = utterances[9]
    assert multi.text.count("\n") == 3  # two continuation lines and a blank line
    assert multi.meta["timestamps"] == [
        {"offset": multi.text.index("I'm not sure"), "time": 66.0}
    ]
    assert multi.meta["stage_directions"] == ["long pause"]
    assert "this isn't helping" in multi.text.lower()
    assert [w.location for w in source.log.warnings] == ["lines 1-2"]


def test_example_session_speakers():
    source = Source(EXAMPLES / "session_speakers.txt")
    [transcript] = read_text(source, ReadOptions())
    utterances = transcript.utterances
    assert len(utterances) == 15
    assert [u.speaker for u in utterances] == ["SPEAKER_00", "SPEAKER_01"] * 7 + ["SPEAKER_00"]
    assert utterances[0].start == 1.2
    assert utterances[-1].start == 97.4
    assert source.log.warnings == []


def test_no_text_of_the_example_is_dropped():
    raw = (EXAMPLES / "session_plain.txt").read_text(encoding="utf-8")
    # Remove what the reader treats as markup, independently of its regexes.
    stripped = re.sub(r"^\[\d\d:\d\d:\d\d\] (?:[TP]: )?", "", raw, flags=re.MULTILINE)
    expected = Counter(ch for ch in stripped if not ch.isspace())
    source = Source(EXAMPLES / "session_plain.txt")
    [transcript] = read_text(source, ReadOptions())
    kept = "".join(u.text for u in transcript.utterances)
    kept += transcript.utterances[0].meta["preamble"]
    assert Counter(ch for ch in kept if not ch.isspace()) == expected


def test_ten_thousand_lines_parse_quickly(tmp_path):
    lines = []
    for i in range(10_000):
        if i % 3 == 2:
            lines.append("and then we talked: about the things [laughs] that matter (pause)")
        else:
            label = "T" if i % 2 else "Client"
            lines.append(f"[{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}] {label}: "
                         f"How are you doing today, really? [00:00:01] I mean it.")
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    began = time.perf_counter()
    [transcript] = read_text(Source(path), ReadOptions())
    elapsed = time.perf_counter() - began
    assert len(transcript.utterances) == 6667
    assert elapsed < 2.0  # typically ~0.2 s; generous for slow CI machines


# --- property: rendered turns come back exactly -----------------------------------------

VALID_LABELS = [
    "T", "C", "P", "Th", "Therapist", "Client", "Patient", "Counselor", "Counsellor",
    "Dr. Smith", "SPEAKER_00", "SPEAKER_01", "Interviewer", "Anna", "MARIA", "Speaker 1",
]


def _not_label_like(word: str) -> bool:
    bare = word.rstrip(".,!?;:")
    return alias_role(bare) is None and not is_generic_label(bare)


# Words start with a lower-case letter (so no line can start a label, and no word is a
# timestamp: no digits); colons and other punctuation may follow, as in "so: anyway".
WORD = st.from_regex(r"[a-z][a-z']{0,7}[.,!?;:]?", fullmatch=True).filter(_not_label_like)
EXTRA = st.sampled_from(["I", "OK?", "(pause)", "[laughs]", "-", "—", "I'm", "Anna's", "said:"])
LINE = st.lists(st.one_of(WORD, EXTRA), min_size=1, max_size=8).map(" ".join).filter(
    lambda line: line[0].islower() or line.startswith(("(", "[", "-", "—"))
)
TURN_TEXT = st.lists(st.tuples(LINE, st.booleans()), min_size=1, max_size=3).map(
    lambda parts: "\n".join(
        (line + "\n" if blank_after and i < len(parts) - 1 else line)
        for i, (line, blank_after) in enumerate(parts)
    )
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(VALID_LABELS), TURN_TEXT, st.booleans()),
                min_size=1, max_size=8))
def test_rendered_turns_round_trip(tmp_path_factory, turns):
    rendered = "".join(
        f"{label}: {text}\n" + ("\n" if blank else "") for label, text, blank in turns
    )
    utterances, warnings = read(tmp_path_factory.mktemp("prop"), rendered)
    assert texts(utterances) == [(label, text) for label, text, _ in turns]
    assert all("timestamps" not in u.meta for u in utterances)
    assert warnings == []
