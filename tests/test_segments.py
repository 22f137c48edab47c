import pytest

from rupturekit.errors import ProblemLog
from rupturekit.records import Transcript, Utterance
from rupturekit.segment import SegmentSpec, SentenceSplitter, assign_segments


def transcript(starts=None, words=None):
    n = len(starts or words)
    return Transcript(transcript_id="s", utterances=[
        Utterance(transcript_id="s", utterance_id=i, speaker="T",
                  start=None if starts is None else starts[i],
                  text=" ".join(["w"] * (words[i] if words else 3)))
        for i in range(n)])


@pytest.mark.parametrize(("text", "size", "unit", "shown"), [
    ("5m", 300, "seconds", "5m"), ("300s", 300, "seconds", "5m"), ("90s", 90, "seconds", "90s"),
    ("1h", 3600, "seconds", "60m"), ("40u", 40, "utterances", "40u"), ("600w", 600, "words", "600w"),
    (" 2 min ", 120, "seconds", "2m"),
])
def test_spec_parse(text, size, unit, shown):
    spec = SegmentSpec.parse(text)
    assert (spec.size, spec.unit, str(spec)) == (size, unit, shown)


@pytest.mark.parametrize("text", ["", "5", "5x", "-5m", "0u", "2.5u"])
def test_spec_parse_rejects(text):
    with pytest.raises(ValueError):
        SegmentSpec.parse(text)


def run(t, spec, fallback="750w", overwrite=True):
    log = ProblemLog()
    assign_segments(t, SegmentSpec.parse(spec), SegmentSpec.parse(fallback), log, "f", overwrite=overwrite)
    return [u.segment_id for u in t.utterances], [str(w) for w in log.warnings]


def test_time_windows_count_from_recording_time_zero_and_fill_untimed():
    t = transcript(starts=[None, 10.0, 299.9, None, 300.0, 901.0])
    assert run(t, "5m") == ([0, 0, 0, 0, 1, 3], [])


def test_utterance_windows():
    assert run(transcript(words=[1] * 5), "2u")[0] == [0, 0, 1, 1, 2]


def test_word_windows_put_an_utterance_where_it_starts():
    assert run(transcript(words=[4, 4, 4, 10, 1]), "10w")[0] == [0, 0, 0, 1, 2]


def test_time_spec_without_times_falls_back_and_warns():
    ids, warnings = run(transcript(words=[400, 400, 400]), "5m", fallback="750w")
    assert ids == [0, 0, 1]
    assert warnings == ["f: transcript 's' has no timestamps; 5m segments approximated by 750w (said once per file)"]


def test_existing_ids_are_kept_without_overwrite():
    t = transcript(words=[1, 1])
    for u, sid in zip(t.utterances, [7, 8], strict=True):
        u.segment_id = sid
    assert run(t, "1u", overwrite=False)[0] == [7, 8]
    assert run(t, "1u", overwrite=True)[0] == [0, 1]


def test_sentence_spans_are_character_offsets():
    t = Transcript(transcript_id="s", utterances=[
        Utterance(transcript_id="s", utterance_id=0, speaker="C", text="I don't know. Maybe? Fine."),
        Utterance(transcript_id="s", utterance_id=1, speaker="T", text="")])
    SentenceSplitter()([t])
    first = t.utterances[0]
    assert [first.text[a:b] for a, b in first.sentences] == ["I don't know.", "Maybe?", "Fine."]
    assert t.utterances[1].sentences == []
