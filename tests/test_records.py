import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rupturekit.errors import InputError
from rupturekit.records import Code, Transcript, Utterance, dumps_jsonl, loads_jsonl


def make(tid="s1", uid=0, **kw):
    fields = dict(transcript_id=tid, utterance_id=uid, speaker="T", text="Hello.")
    fields.update(kw)
    return Utterance(**fields)


def test_canonical_line_has_fixed_key_order_and_unicode():
    u = make(text="Café — ok 🙂", start=1.5, codes=[Code(rater="2", label="client_talk_type.change")])
    assert u.to_json() == (
        '{"transcript_id": "s1", "utterance_id": 0, "speaker": "T", "role": "unknown", '
        '"start": 1.5, "end": null, "text": "Café — ok 🙂", "segment_id": null, "sentences": null, '
        '"meta": {}, "codes": [{"rater": "2", "label": "client_talk_type.change"}]}'
    )


def test_rating_is_written_only_when_present():
    assert Code(rater="a", label="x").to_record() == {"rater": "a", "label": "x"}
    assert Code(rater="a", label="x", rating=4).to_record() == {"rater": "a", "label": "x", "rating": 4.0}


def test_extra_fields_survive_a_round_trip_after_canonical_ones():
    line = json.dumps({"transcript_id": "s", "utterance_id": 3, "speaker": "C", "role": "client",
                       "start": None, "end": None, "text": "no", "segment_id": 0, "sentences": None,
                       "meta": {}, "codes": [], "lab_note": "x", "labels": ["withdrawal.minimal_response"]},
                      ensure_ascii=False) + "\n"
    [transcript] = loads_jsonl(line)
    # tags are typed fields, written last (as tagging appends them); a lab's own field stays an extra
    assert transcript.utterances[0].labels == ["withdrawal.minimal_response"]
    assert transcript.utterances[0].model_extra == {"lab_note": "x"}
    assert dumps_jsonl([transcript]) == line


def test_tag_fields_are_checked_when_read():
    base = {"transcript_id": "s", "utterance_id": 0, "speaker": "C", "text": "no"}
    with pytest.raises(InputError, match="score 1.5 of 'w' is outside 0 to 1"):
        loads_jsonl(json.dumps({**base, "labels": [], "scores": {"w": 1.5}}), file="t.jsonl")
    with pytest.raises(InputError, match="field 'labels'"):
        loads_jsonl(json.dumps({**base, "labels": "withdrawal"}), file="t.jsonl")
    [transcript] = loads_jsonl(json.dumps({**base, "evidence": {"w": [["word_count", 3]]}}))
    assert transcript.utterances[0].evidence == {"w": [("word_count", 3.0)]}


def test_loads_groups_by_transcript_and_sorts_by_utterance_id():
    lines = [make("a", 1).to_json(), make("b", 0).to_json(), make("a", 0).to_json()]
    transcripts = loads_jsonl("\n".join(lines))
    assert [t.transcript_id for t in transcripts] == ["a", "b"]
    assert [u.utterance_id for u in transcripts[0].utterances] == [0, 1]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "f.jsonl:line 2: not valid JSON"),
        ("[1, 2]", "f.jsonl:line 2: a JSONL line must be a JSON object"),
        ('{"transcript_id": "s", "utterance_id": -1, "speaker": "T", "text": "x"}',
         "f.jsonl:line 2: not a canonical utterance record (field 'utterance_id'"),
        ('{"transcript_id": "s", "utterance_id": 1, "speaker": "T", "text": "x", "start": 5, "end": 2}',
         "end (2.0) is before start (5.0)"),
        ('{"transcript_id": "s1", "utterance_id": 0, "speaker": "T", "text": "x"}',
         "f.jsonl:line 2: utterance 0 of transcript 's1' repeats line 1"),
    ],
)
def test_bad_records_name_the_line(line, expected):
    with pytest.raises(InputError) as caught:
        loads_jsonl(make().to_json() + "\n" + line + "\n", file="f.jsonl")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_transcript_duration_uses_first_start_and_last_end():
    t = Transcript(transcript_id="s", utterances=[make(uid=0, start=10.0, end=12.0),
                                                  make(uid=1, start=None), make(uid=2, start=20.0)])
    assert t.duration == 10.0
    assert Transcript(transcript_id="s", utterances=[make()]).duration is None


# Any text, including control characters, quotes and astral-plane characters.
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
times = st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def utterances(draw, transcript_id, utterance_id):
    start = draw(times)
    end = None if start is None else draw(st.none() | st.floats(min_value=start, max_value=start + 600))
    codes = draw(st.lists(st.builds(Code, rater=texts, label=texts,
                                    rating=st.none() | st.integers(1, 5).map(float),
                                    note=st.none() | texts), max_size=3))
    return Utterance(transcript_id=transcript_id, utterance_id=utterance_id, speaker=draw(texts),
                     role=draw(st.sampled_from(["therapist", "client", "other", "unknown"])),
                     start=start, end=end, text=draw(texts),
                     segment_id=draw(st.none() | st.integers(0, 100)),
                     sentences=draw(st.none() | st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)),
                                                         max_size=3)),
                     meta=draw(st.dictionaries(texts, json_values, max_size=3)), codes=codes)


@st.composite
def corpora(draw):
    ids = draw(st.lists(texts, min_size=1, max_size=3, unique=True))
    return [Transcript(transcript_id=tid,
                       utterances=[draw(utterances(tid, i)) for i in range(draw(st.integers(1, 4)))])
            for tid in ids]


@settings(max_examples=200, deadline=None)
@given(corpora())
def test_jsonl_write_read_write_is_byte_identical(corpus):
    first = dumps_jsonl(corpus)
    again = loads_jsonl(first)
    assert dumps_jsonl(again) == first
    assert [u.text for t in again for u in t.utterances] == [u.text for t in corpus for u in t.utterances]
