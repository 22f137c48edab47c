"""Within-session rupture-repair episodes (rupturekit.analysis.episodes) and `rupturekit episodes`."""

import json

import pytest

from rupturekit.analysis.episodes import DEFAULT_RULE, EpisodeRule, find_episodes, parse_gap
from rupturekit.analysis.events import Source, choose_source, turns_of
from rupturekit.codebook import load_codebook
from rupturekit.errors import InputError
from rupturekit.records import Code, Transcript, Utterance, dumps_jsonl

BOOK = load_codebook("3rs")
W, C = "withdrawal.minimal_response", "confrontation.rejects_intervention"
INV, RAT = "resolution.invites_exploration", "resolution.illustrates_task_rationale"


def tagged(spec, tid="s1", step=10.0, times=True):
    """A tagged transcript from [(role letter, [labels]), ...]; T/C alternate as given."""
    utterances = []
    for i, (who, labels) in enumerate(spec):
        role = "therapist" if who == "T" else "client"
        u = Utterance(transcript_id=tid, utterance_id=i, speaker=who, role=role, text=f"turn {i}",
                      start=i * step if times else None, labels=list(labels))
        utterances.append(u)
    return Transcript(transcript_id=tid, utterances=utterances)


def episodes_of(transcript, rule=DEFAULT_RULE):
    return find_episodes(transcript.transcript_id, turns_of(transcript, BOOK, Source("tags", "tags")), rule)


# 0 T, 1 C marker, 2 T move, 3 C ok, 4 T, 5 C ok (return, N=2) ... 6 T, 7 C marker, 8 T, 9 C marker, 10 T,
# 11 C (end of session, one collaborative turn only)
SESSION = [("T", []), ("C", [W]), ("T", [INV]), ("C", []), ("T", []), ("C", []),
           ("T", []), ("C", [C]), ("T", []), ("C", [W]), ("T", []), ("C", [])]


def test_episode_opens_collects_moves_and_closes_on_return():
    first, second = episodes_of(tagged(SESSION))
    assert (first.start_index, first.end_index) == (1, 5)  # closes at the 2nd collaborative client turn
    assert first.strategies == [INV] and first.strategy_kinds == {"expressive": 1}
    assert first.turns_to_first_repair == 1 and first.first_repair_utterance_id == 2
    assert first.client_returned and first.ended_by == "return" and first.outcome == "resolved"
    assert (first.start_time, first.end_time) == (10.0, 50.0)
    # markers at 7 and 9: only one collaborative turn between them -> one episode, to the session's end
    assert (second.start_index, second.end_index) == (7, 11)
    assert second.marker_utterance_ids == [7, 9]
    assert second.families == ["confrontation", "withdrawal"] and second.marker_counts == {"confrontation": 1,
                                                                                            "withdrawal": 1}
    assert second.strategies == [] and second.turns_to_first_repair is None
    assert not second.client_returned and second.ended_by == "session_end" and second.outcome == "unresolved"
    assert [e.episode_id for e in (first, second)] == ["s1#e1", "s1#e2"]


def test_outcomes_partly_resolved_both_ways_and_without_required_repair():
    # returned without a move -> partly; moves but no return -> partly
    no_move = tagged([("C", [W]), ("T", []), ("C", []), ("T", []), ("C", [])])
    moves_no_return = tagged([("C", [W]), ("T", [RAT]), ("C", [W]), ("T", [INV]), ("C", [])])
    assert [e.outcome for e in episodes_of(no_move)] == ["partly_resolved"]
    assert [e.outcome for e in episodes_of(moves_no_return)] == ["partly_resolved"]
    lenient = EpisodeRule(require_repair=False)
    assert [e.outcome for e in episodes_of(no_move, lenient)] == ["resolved"]
    assert [e.strategy_kinds for e in episodes_of(moves_no_return)] == [{"expressive": 1, "immediate": 1}]


def test_gap_joins_markers_after_a_return_and_return_turns_sets_the_close():
    # markers at 1 and 7, two collaborative client turns (3, 5) between them
    spec = [("T", []), ("C", [W]), ("T", []), ("C", []), ("T", []), ("C", []), ("T", []), ("C", [W]),
            ("T", []), ("C", []), ("T", []), ("C", [])]
    assert [(e.start_index, e.end_index) for e in episodes_of(tagged(spec), EpisodeRule(gap=4))] == [(1, 5), (7, 11)]
    assert [(e.start_index, e.end_index) for e in episodes_of(tagged(spec), EpisodeRule(gap=6))] == [(1, 11)]
    # three collaborative turns needed: the first episode is still open at the second marker
    assert [(e.start_index, e.end_index) for e in episodes_of(tagged(spec), EpisodeRule(return_turns=3))] == [(1, 11)]
    # a gap in seconds (turns are 10 s apart): 60 s joins 1 and 7, 50 s does not
    assert len(episodes_of(tagged(spec), EpisodeRule(gap=60, gap_unit="seconds"))) == 1
    assert len(episodes_of(tagged(spec), EpisodeRule(gap=50, gap_unit="seconds"))) == 2
    # without times a seconds gap joins nothing; the return rule still applies
    assert len(episodes_of(tagged(spec, times=False), EpisodeRule(gap=600, gap_unit="seconds"))) == 2


def test_parse_gap():
    assert parse_gap("4u") == (4, "turns") and parse_gap("4") == (4, "turns")
    assert parse_gap("30s") == (30, "seconds") and parse_gap("1m") == (60, "seconds")
    for bad in ("4w", "x", "2.5u"):
        with pytest.raises(ValueError):
            parse_gap(bad)


def test_family_level_tags_keep_the_guess_and_markers_only_count_on_client_turns():
    transcript = tagged([("T", ["withdrawal.denial"]), ("C", ["withdrawal"]), ("T", []), ("C", []), ("T", []),
                         ("C", [])])
    transcript.utterances[1].uncertain = {"withdrawal": "withdrawal.denial"}
    (episode,) = episodes_of(transcript)  # the therapist's marker label opens nothing
    assert episode.start_index == 1
    assert episode.subtypes == ["withdrawal.denial"] and episode.uncertain_subtypes == ["withdrawal.denial"]
    turns = turns_of(transcript, BOOK, Source("tags", "tags"))
    assert turns[0].ignored == ["withdrawal.denial"]  # kept for the commands' note, not dropped silently


def test_a_family_level_resolution_tag_is_a_move_by_its_guessed_subtype():
    transcript = tagged([("T", []), ("C", [W]), ("T", ["resolution"]), ("C", []), ("T", []), ("C", [])])
    transcript.utterances[2].uncertain = {"resolution": INV}
    (episode,) = episodes_of(transcript)
    assert episode.strategies == [INV] and episode.turns_to_first_repair == 1


def coded(spec_by_rater, tid="k1"):
    """A coded transcript: {rater: [labels per utterance]} over alternating T/C turns."""
    n = len(next(iter(spec_by_rater.values())))
    utterances = []
    for i in range(n):
        role = "therapist" if i % 2 == 0 else "client"
        codes = [Code(rater=r, label=label) for r, rows in spec_by_rater.items() for label in (rows[i] or ["none"])]
        utterances.append(Utterance(transcript_id=tid, utterance_id=i, speaker=role[0].upper(), role=role,
                                    text=f"turn {i}", codes=codes))
    return Transcript(transcript_id=tid, utterances=utterances)


def test_codes_as_source_a_rater_and_the_majority():
    rows_a = [[], [W], [INV], [], [], [], [], []]
    rows_b = [[], [W], [], [], [], [C], [], []]
    rows_c = [[], [], [], [], [], [C], [], []]
    transcript = coded({"a": rows_a, "b": rows_b, "c": rows_c})
    with pytest.raises(InputError, match="codes by 3 raters"):
        choose_source([transcript], BOOK, None, "f")
    source = choose_source([transcript], BOOK, "a", "f")
    (ep,) = find_episodes("k1", turns_of(transcript, BOOK, source))
    assert (ep.start_index, ep.end_index, ep.outcome) == (1, 5, "resolved")
    majority = choose_source([transcript], BOOK, "majority", "f")
    turns = turns_of(transcript, BOOK, majority)
    assert [bool(t.markers) for t in turns] == [False, True, False, False, False, True, False, False]
    with pytest.raises(InputError, match="no codes by rater 'zed'"):
        choose_source([transcript], BOOK, "zed", "f")


def test_cli_writes_jsonl_csv_and_html_timeline(cli, tmp_path):
    corpus = tmp_path / "tags.jsonl"
    corpus.write_text(dumps_jsonl([tagged(SESSION), tagged(SESSION[:6], tid="s2")]), encoding="utf-8")
    done = cli("episodes", corpus, "-o", tmp_path / "ep.jsonl", "--html", tmp_path / "timeline.html")
    assert done.exit_code == 0, done.stderr
    assert "3 episodes in 2 transcripts (2 resolved, 0 partly resolved, 1 unresolved)" in done.stderr
    records = [json.loads(line) for line in (tmp_path / "ep.jsonl").read_text().splitlines()]
    assert [(r["episode_id"], r["outcome"], r["n_turns"]) for r in records] == [
        ("s1#e1", "resolved", 5), ("s1#e2", "unresolved", 5), ("s2#e1", "resolved", 5)]
    page = (tmp_path / "timeline.html").read_text()
    assert page.count("<svg") == 2 and "s1#e2" in page and "turn 3" not in page.split("<svg")[0]
    assert "rupturekit's operationalisation" in page.replace("\n", " ")
    assert "turn 0</text>" in page  # axis labels, no utterance text
    assert ">turn 1<" not in page
    done = cli("episodes", corpus, "-o", tmp_path / "ep.csv", "--gap", "20u")
    assert done.exit_code == 0
    lines = (tmp_path / "ep.csv").read_text().splitlines()
    assert lines[0].startswith("episode_id,transcript_id,episode,") and len(lines) == 3  # gap 20: one in s1


def test_cli_bad_input_is_one_line(cli, tmp_path):
    plain = tmp_path / "plain.jsonl"
    t = tagged(SESSION)
    for u in t.utterances:
        u.labels = None
    plain.write_text(dumps_jsonl([t]), encoding="utf-8")
    done = cli("episodes", plain, "-o", tmp_path / "ep.jsonl")
    assert done.exit_code == 2 and len(done.error_lines) == 1
    assert "neither tags nor codes" in done.stderr and "rupturekit tag" in done.stderr
    done = cli("episodes", plain, "-o", tmp_path / "ep.txt")
    assert done.exit_code == 2 and ".jsonl or .csv" in done.stderr
    done = cli("episodes", plain, "-o", tmp_path / "ep.jsonl", "--gap", "3w")
    assert done.exit_code == 2 and "--gap" in done.stderr
    done = cli("episodes", plain, "-o", plain)
    assert done.exit_code == 2 and "is the input" in done.stderr


def test_episodes_on_annomi_with_the_adjudicated_codes(annomi_dir, tmp_path, cli):
    from rupturekit.gold import load_gold

    corpus = load_gold("annomi-3rs")
    path = tmp_path / "coded.jsonl"
    path.write_text(dumps_jsonl(corpus), encoding="utf-8")
    done = cli("episodes", path, "--codes", "adjudicated", "-o", tmp_path / "ep.csv", "--html", tmp_path / "t.html")
    assert done.exit_code == 0, done.stderr
    rows = (tmp_path / "ep.csv").read_text().splitlines()[1:]
    assert len(rows) > 20  # the adjudicated codes hold dozens of client markers
    assert "116 transcripts" in done.stderr
