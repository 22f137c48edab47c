"""Acceptance: `rupturekit ingest` reads the shipped example of every format."""

import pytest
from conftest import EXAMPLES

from rupturekit.records import read_jsonl

# file -> (transcripts, utterances, {speaker: role}, first start, last end,
#          (utterance id, text start) of a multi-line or multi-piece turn)
EXPECTED = {
    "session_plain.txt": (1, 20, {"T": "therapist", "P": "client"}, 4.0, None,
                          (9, "(long pause) Honestly? This isn't helping.")),
    "session_speakers.txt": (1, 15, {"SPEAKER_01": "therapist", "SPEAKER_00": "client"}, 1.2, None,
                             (6, "Yeah. And when I try to say something, I just freeze.\nMy face goes hot")),
    "session_captions.vtt": (1, 11, {"Therapist": "therapist", "Client": "client"}, 1.2, 65.2,
                             (0, "Last week we talked about trying the thought record\nwhen things got tense at work.\n"
                                 "How did that go?")),
    "session_subtitles.srt": (1, 10, {"Therapist": "therapist", "Client": "client"}, 0.5, 47.8,
                              (0, "So when your manager sent that email,\nwhat went through your mind?")),
    "session_whisperx.json": (1, 9, {"SPEAKER_00": "therapist", "SPEAKER_01": "client"}, 0.52, 62.4,
                              (1, "Not great, honestly. I almost didn't come today.")),
    "session_elan.eaf": (1, 10, {"Therapist": "therapist", "Client": "client"}, 0.8, 58.3,
                         (3, "Honestly? I don't see how writing things down is supposed to fix anything.\n")),
    "coded_turns.csv": (2, 20, {"Therapist": "therapist", "Client": "client"}, 4.0, None,
                        (4, "Maybe. You keep asking about my family,\nand that's not why I came.")),
}


def test_every_format_has_an_example():
    suffixes = {path.suffix for path in EXAMPLES.iterdir()}
    assert {".txt", ".vtt", ".srt", ".json", ".eaf", ".csv"} <= suffixes
    assert sorted(p.name for p in EXAMPLES.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_ingests_with_counts_roles_times_and_multiline_turn(cli, tmp_path, name):
    n_transcripts, n_utterances, roles, first_start, last_end, (turn_id, turn_text) = EXPECTED[name]
    out = tmp_path / "out.jsonl"
    # --strict: nothing to warn about once generic speakers are named; the plain-text example's
    # header lines are kept as a preamble, and the WebVTT example's NOTE in meta.notes, with a warning.
    strict = [] if name in ("session_plain.txt", "session_captions.vtt") else ["--strict"]
    generic = ",".join(f"{speaker}={role}" for speaker, role in roles.items() if speaker.startswith("SPEAKER"))
    result = cli("ingest", EXAMPLES / name, "-o", out, *strict, *(["--roles", generic] if generic else []))
    assert result.exit_code == 0, result.stderr
    transcripts = read_jsonl(out)
    utterances = [u for t in transcripts for u in t.utterances]
    assert (len(transcripts), len(utterances)) == (n_transcripts, n_utterances)
    assert {u.speaker: u.role for u in utterances} == roles
    assert utterances[0].start == first_start
    assert transcripts[0].utterances[-1].end == last_end
    assert all(u.start is not None for u in utterances)
    turn = next(u for u in transcripts[0].utterances if u.utterance_id == turn_id)
    assert turn.text.startswith(turn_text)
    assert all(u.segment_id == 0 for u in utterances)  # every example is under five minutes


def test_readme_main_job_runs_on_the_examples_folder(cli, tmp_path):
    out = tmp_path / "examples.jsonl"
    result = cli("ingest", EXAMPLES, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "renamed" not in result.stderr
    assert len(read_jsonl(out)) == 8
    info = cli("info", out)
    assert info.exit_code == 0 and "8 transcripts, 95 utterances" in info.stdout
