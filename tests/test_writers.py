"""CSV, WebVTT and ELAN writers."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rupturekit.errors import InputError
from rupturekit.export import write_csv, write_eaf, write_vtt
from rupturekit.ingest import ReadOptions, Source
from rupturekit.ingest.elan import read_eaf
from rupturekit.ingest.subtitles import read_vtt
from rupturekit.ingest.whisper import read_whisper
from rupturekit.records import Code, Transcript, Utterance

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def transcript(*rows, transcript_id: str = "t") -> Transcript:
    """rows: (speaker, start, end, text[, codes])."""
    utterances = []
    for number, row in enumerate(rows):
        speaker, start, end, text, *rest = row
        utterances.append(Utterance(transcript_id=transcript_id, utterance_id=number,
                                    speaker=speaker, start=start, end=end, text=text,
                                    codes=rest[0] if rest else []))
    return Transcript(transcript_id=transcript_id, utterances=utterances)


def turns(t: Transcript) -> list[tuple]:
    return [(u.speaker, u.start, u.end, u.text) for u in t.utterances]


# --- CSV ----------------------------------------------------------------------------------


def test_write_csv_rows(tmp_path):
    first = transcript(
        ("Therapist", 1.2, 4.5, 'She said "no",\nand left.',
         [Code(rater="r1", label="rupture.withdrawal"), Code(rater="r2", label="x.y",
                                                             rating=2.5)]),
        ("Client", None, None, "Ünïcödé – okay."),
        transcript_id="s1",
    )
    first.utterances[0].segment_id = 3
    first.utterances[0].meta = {"source": {"file": "a.vtt", "cue": 1}}
    second = transcript(("SPEAKER_00", 0.0, 2.0, "Hi."), transcript_id="s2")
    path = tmp_path / "out.csv"
    write_csv([first, second], path)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["transcript_id", "utterance_id", "speaker", "role", "start", "end",
                             "segment_id", "text", "codes", "meta"]
    assert rows[0] == {
        "transcript_id": "s1", "utterance_id": "0", "speaker": "Therapist", "role": "unknown",
        "start": "1.2", "end": "4.5", "segment_id": "3", "text": 'She said "no",\nand left.',
        "codes": "r1:rupture.withdrawal; r2:x.y=2.5",
        "meta": '{"source":{"file":"a.vtt","cue":1}}',
    }
    assert rows[1] == {
        "transcript_id": "s1", "utterance_id": "1", "speaker": "Client", "role": "unknown",
        "start": "", "end": "", "segment_id": "", "text": "Ünïcödé – okay.", "codes": "",
        "meta": "{}",
    }
    assert (rows[2]["transcript_id"], rows[2]["start"], rows[2]["end"]) == ("s2", "0.0", "2.0")
    assert len(rows) == 3


def test_write_csv_of_a_read_example(tmp_path):
    source = Source(EXAMPLES / "session_whisperx.json")
    read = read_whisper(source, ReadOptions())
    path = tmp_path / "whisper.csv"
    write_csv(read, path)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["text"] for row in rows] == [u.text for u in read[0].utterances]
    assert [float(row["end"]) for row in rows] == [u.end for u in read[0].utterances]
    assert json.loads(rows[1]["meta"])["source"]["segments"] == [1, 2]


# --- WebVTT -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "reader"), [
    ("session_captions.vtt", read_vtt),
    ("session_whisperx.json", read_whisper),
    ("session_elan.eaf", read_eaf),
])
def test_write_vtt_reads_back_the_same_turns(tmp_path, name, reader):
    original = reader(Source(EXAMPLES / name), ReadOptions())[0]
    path = tmp_path / "out.vtt"
    write_vtt(original, path)
    back = read_vtt(Source(path), ReadOptions())[0]
    assert turns(back) == turns(original)


def test_write_vtt_escapes_markup_and_keeps_lines(tmp_path):
    path = tmp_path / "out.vtt"
    write_vtt(transcript(("Dr. <Reyes>", 0.0, 1.5, "a < b & c --> d\n\nsecond line"),
                         ("Client", 1.5, 2.0, "Client: not a label here")), path)
    assert path.read_text(encoding="utf-8") == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Dr. &lt;Reyes&gt;>a &lt; b &amp; c --&gt; d\n"
        "second line\n\n00:00:01.500 --> 00:00:02.000\n<v Client>Client: not a label here\n")
    back = read_vtt(Source(path), ReadOptions())[0]
    assert turns(back) == [("Dr. <Reyes>", 0.0, 1.5, "a < b & c --> d\nsecond line"),
                           ("Client", 1.5, 2.0, "Client: not a label here")]


def test_write_vtt_fills_missing_ends(tmp_path):
    path = tmp_path / "out.vtt"
    write_vtt(transcript(("A", 1.0, None, "one two"), ("B", 3.0, None, "one two three four five")),
              path)
    back = read_vtt(Source(path), ReadOptions())[0]
    # The first ends where the next starts; the last lasts 5 words / 2.5 words/s.
    assert [(u.start, u.end) for u in back.utterances] == [(1.0, 3.0), (3.0, 5.0)]


def test_write_vtt_needs_times(tmp_path):
    path = tmp_path / "out.vtt"
    with pytest.raises(InputError) as caught:
        write_vtt(transcript(("A", 0.0, 1.0, "Hi."), ("B", None, None, "Hello."),
                             transcript_id="s9"), path)
    assert str(caught.value) == (f"{path}: WebVTT needs times; transcript 's9' has utterances "
                                 "without timestamps; write .jsonl, .csv or .eaf instead")
    assert not path.exists()


# --- ELAN ---------------------------------------------------------------------------------


def test_write_eaf_is_elan_xml(tmp_path):
    path = tmp_path / "out.eaf"
    write_eaf(transcript(("Therapist", 0.5, 2.25, "How are you?"),
                         ("Client", 2.5, 4.0, "Okay.", [Code(rater="r1", label="a.b")])), path)
    root = ET.parse(path).getroot()
    assert root.tag == "ANNOTATION_DOCUMENT"
    assert (root.get("VERSION"), root.get("FORMAT")) == ("3.0", "3.0")
    assert [child.tag for child in root][:3] == ["HEADER", "TIME_ORDER", "TIER"]
    assert root.find("HEADER").get("TIME_UNITS") == "milliseconds"
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    assert list(slots.values()) == sorted(slots.values())
    assert list(slots) == [f"ts{i}" for i in range(1, len(slots) + 1)]
    tiers = {t.get("TIER_ID"): t for t in root.iter("TIER")}
    assert list(tiers) == ["Therapist", "Client", "codes@r1"]
    assert tiers["Client"].get("PARTICIPANT") == "Client"
    annotations = list(root.iter("ALIGNABLE_ANNOTATION"))
    ids = [a.get("ANNOTATION_ID") for a in annotations]
    assert len(set(ids)) == len(ids)
    assert all(a.get("TIME_SLOT_REF1") in slots and a.get("TIME_SLOT_REF2") in slots
               for a in annotations)
    (code,) = tiers["codes@r1"].iter("ALIGNABLE_ANNOTATION")
    assert (slots[code.get("TIME_SLOT_REF1")], slots[code.get("TIME_SLOT_REF2")]) == (2500, 4000)
    properties = {p.get("NAME"): p.text for p in root.iter("PROPERTY")}
    assert properties == {"lastUsedAnnotationId": str(max(int(i[1:]) for i in ids))}


def test_write_eaf_invents_times_only_when_there_are_none(tmp_path):
    path = tmp_path / "out.eaf"
    write_eaf(transcript(("A", None, None, "one two three four five six"),
                         ("B", None, None, "yes")), path)
    root = ET.parse(path).getroot()
    assert sorted(int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")) == [
        0, 2400, 2400, 3400]  # 6 words at 2.5 words/s, then at least 1 s
    with pytest.raises(InputError) as caught:
        write_eaf(transcript(("A", 0.0, 1.0, "Hi."), ("B", None, None, "Hello."),
                             transcript_id="s9"), tmp_path / "mixed.eaf")
    assert str(caught.value) == (
        f"{tmp_path / 'mixed.eaf'}: transcript 's9' has start times on some utterances but not "
        "on others; add the missing start times, or write .jsonl or .csv instead")


def test_write_eaf_fills_ends_and_widens_empty_spans(tmp_path):
    path = tmp_path / "out.eaf"
    write_eaf(transcript(("A", 1.0, None, "one"), ("B", 2.0, 2.0, "two"),
                         ("A", 3.0, None, "three four five six seven")), path)
    back = read_eaf(Source(path), ReadOptions())[0]
    assert [(u.start, u.end) for u in back.utterances] == [(1.0, 2.0), (2.0, 2.001), (3.0, 5.0)]


def test_write_eaf_overwrites_without_backup(tmp_path):
    path = tmp_path / "out.eaf"
    path.write_text("old", encoding="utf-8")
    write_eaf(transcript(("A", 0.0, 1.0, "Hi.")), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.eaf"]
