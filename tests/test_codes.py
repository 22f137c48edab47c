import numpy as np
import pytest

from rupturekit.codebook import load_codebook
from rupturekit.codes import (
    CodeRow,
    attach_codes,
    check_rows,
    consensus_labels,
    consensus_rows,
    read_long_codes,
    rows_from_transcripts,
)
from rupturekit.errors import InputError
from rupturekit.records import Code, Transcript, Utterance, read_jsonl, write_jsonl

BOOK = load_codebook("3rs")


def corpus():
    roles = ["therapist", "client", "therapist", "client"]
    return [Transcript(transcript_id="s1", utterances=[
        Utterance(transcript_id="s1", utterance_id=i, speaker=role[0].upper(), role=role, text=f"turn {i}")
        for i, role in enumerate(roles)])]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_long_format_csv_and_jsonl(tmp_path):
    csv_path = write(tmp_path / "c.csv", "transcript_id,utterance_id,rater,label,rating,note\n"
                                         "s1,1,ana,withdrawal.denial,4,\"says, 'fine'\"\ns1,3,ana,none,,\n")
    rows = read_long_codes(csv_path)
    assert rows == [
        CodeRow("s1", 1, "ana", "withdrawal.denial", 4.0, "says, 'fine'", f"{csv_path}:line 2"),
        CodeRow("s1", 3, "ana", "none", None, None, f"{csv_path}:line 3"),
    ]
    jsonl = write(tmp_path / "c.jsonl", '{"transcript_id": "s1", "utterance_id": 1, "rater": "bo", '
                                        '"label": "withdrawal.denial"}\n')
    assert read_long_codes(jsonl)[0].rater == "bo"


@pytest.mark.parametrize(("text", "expected"), [
    ("transcript_id,utterance_id,label\ns1,1,x\n", "c.csv:line 1: the header lacks rater"),
    ("transcript_id,utterance_id,rater,label\ns1,1,ana,none\ns1,one,ana,none\n",
     "c.csv:line 3: utterance_id 'one' is not a whole number"),
    ("transcript_id,utterance_id,rater,label\ns1,1,,none\n", "c.csv:line 2: empty or missing rater"),
    ("transcript_id,utterance_id,rater,label,rating\ns1,1,a,none,high\n", "c.csv:line 2: rating 'high' is not"),
])
def test_bad_long_format_names_the_line(tmp_path, text, expected):
    with pytest.raises(InputError) as caught:
        read_long_codes(write(tmp_path / "c.csv", text))
    assert str(caught.value).startswith(f"{tmp_path}/{expected}")


def rows(*specs):
    return [CodeRow("s1", uid, rater, label, where=f"f:line {n}") for n, (uid, rater, label) in enumerate(specs, 2)]


def roles():
    return {(u.transcript_id, u.utterance_id): u.role for t in corpus() for u in t.utterances}


def test_unknown_label_names_the_nearest_valid_labels():
    with pytest.raises(InputError) as caught:
        check_rows(rows((1, "ana", "withdrawl.denial"), (3, "ana", "withdrawl.denial")), BOOK, roles(), "f")
    assert str(caught.value) == ("f: unknown label 'withdrawl.denial' in codebook '3rs' (2 rows, first at f:line 2); "
                                 "did you mean withdrawal.denial or withdrawal.deferential_appeasing?")


def test_single_label_dimension_coded_twice_is_reported():
    annomi = load_codebook("annomi")
    twice = [CodeRow("s1", 0, "3", "therapist_behaviour.question", where="f:line 2"),
             CodeRow("s1", 0, "3", "therapist_behaviour.reflection", where="f:line 5")]
    with pytest.raises(InputError) as caught:
        check_rows(twice, annomi, roles(), "f")
    assert str(caught.value) == (
        "f: rater '3' codes it twice in single-label dimension 'therapist_behaviour' ('therapist_behaviour.question' "
        "and 'therapist_behaviour.reflection') on s1#0 (at f:line 2 and f:line 5); keep one code per rater and "
        "utterance in a single-label dimension")
    # In a multi-label dimension two labels are fine, the same label twice is not.
    check_rows(rows((1, "ana", "withdrawal.denial"), (1, "ana", "withdrawal.minimal_response")), BOOK, roles(), "f")
    with pytest.raises(InputError, match="rater 'ana' gives label 'withdrawal.denial' twice on s1#1"):
        check_rows(rows((1, "ana", "withdrawal.denial"), (1, "ana", "withdrawal.denial")), BOOK, roles(), "f")


def test_label_for_the_wrong_role_is_reported():
    with pytest.raises(InputError, match="'resolution.redirects' is for therapist utterances, but s1#1 is a client"):
        check_rows(rows((1, "ana", "resolution.redirects")), BOOK, roles(), "f")


def test_codes_for_missing_utterances_report_counts_and_examples():
    bad = rows((1, "ana", "none"), (7, "ana", "none"), (9, "ana", "none")) + [CodeRow("zz", 0, "ana", "none")]
    with pytest.raises(InputError) as caught:
        attach_codes(corpus(), bad, "f")
    assert str(caught.value) == (
        "f: 3 of 4 code rows match no utterance: 1 unknown transcripts ('zz'); 2 rows for utterances that do not "
        "exist (s1#7 at f:line 3, s1#9 at f:line 4); check the ids against the corpus (rupturekit info), or ingest "
        "those transcripts first")


def test_attach_keeps_every_rater_and_never_changes_the_input():
    original = corpus()
    first = attach_codes(original, rows((1, "ana", "withdrawal.denial"), (3, "ana", "none")), "f")
    both = attach_codes(first, rows((1, "bo", "withdrawal.minimal_response")), "g")
    assert [(c.rater, c.label) for c in both[0].utterances[1].codes] == [
        ("ana", "withdrawal.denial"), ("bo", "withdrawal.minimal_response")]
    assert all(not u.codes for u in original[0].utterances)
    with pytest.raises(InputError, match="already has codes by rater 'ana' on transcript 's1'; import as another"):
        attach_codes(both, rows((3, "ana", "withdrawal.denial")), "h")
    replaced = attach_codes(both, rows((3, "ana", "withdrawal.denial")), "h", replace=True)
    assert [(c.rater, c.label) for c in replaced[0].utterances[1].codes] == [("bo", "withdrawal.minimal_response")]
    assert [(c.rater, c.label) for c in replaced[0].utterances[3].codes] == [("ana", "withdrawal.denial")]


def test_consensus_known_answers():
    utterance = Utterance(transcript_id="s", utterance_id=0, speaker="C", role="client", text="x", codes=[
        Code(rater="r1", label="withdrawal.denial"), Code(rater="r1", label="withdrawal.minimal_response"),
        Code(rater="r2", label="withdrawal.denial"),
        Code(rater="r3", label="none"),
        Code(rater="r4", label="withdrawal.denial"), Code(rater="r4", label="confrontation.defends_self"),
    ])
    dimension = BOOK.dimension("client_markers")
    # 4 raters coded it; majority needs 3.
    assert consensus_labels(utterance, BOOK, dimension, "majority") == ["withdrawal.denial"]
    assert consensus_labels(utterance, BOOK, dimension, "any") == [
        "confrontation.defends_self", "withdrawal.denial", "withdrawal.minimal_response"]
    assert consensus_labels(utterance, BOOK, dimension, "unanimous") == []
    assert consensus_labels(utterance, BOOK, dimension, "unanimous", raters=["r1", "r2"]) == ["withdrawal.denial"]
    assert consensus_labels(utterance, BOOK, BOOK.dimension("resolution"), "any") is None
    transcript = Transcript(transcript_id="s", utterances=[utterance])
    assert [(r.rater, r.label) for r in consensus_rows([transcript], BOOK, "unanimous")] == [("unanimous", "none")]
    assert utterance.codes[0].rater == "r1"  # raw codes untouched


def test_annomi_full_has_10_raters_on_three_transcripts_and_one_elsewhere(annomi_dir):
    from rupturekit.reading import read_transcripts

    transcripts = read_transcripts(annomi_dir / "AnnoMI-full.csv")
    raters: dict[str, set[str]] = {}
    for row in rows_from_transcripts(transcripts):
        raters.setdefault(row.transcript_id, set()).add(row.rater)
    assert {tid for tid, r in raters.items() if len(r) == 10} == {"7", "55", "66"}
    assert raters["7"] == {str(i) for i in range(10)}
    assert all(len(r) == 1 for tid, r in raters.items() if tid not in ("7", "55", "66"))
    assert len(raters) == 116


def test_cli_codes_import_and_consensus(cli, tmp_path):
    source = tmp_path / "corpus.jsonl"
    write_jsonl(corpus(), source)
    codes = write(tmp_path / "codes.csv", "transcript_id,utterance_id,rater,label\n"
                                          "s1,1,ana,withdrawal.denial\ns1,1,bo,withdrawal.denial\n"
                                          "s1,1,cy,none\ns1,3,ana,none\n")
    out = tmp_path / "coded.jsonl"
    result = cli("codes", "import", codes, "--into", source, "-o", out)
    assert result.exit_code == 0, result.stderr
    coded = read_jsonl(out)
    assert [(c.rater, c.label) for c in coded[0].utterances[1].codes] == [
        ("ana", "withdrawal.denial"), ("bo", "withdrawal.denial"), ("cy", "none")]
    majority = tmp_path / "majority.csv"
    assert cli("codes", "consensus", out, "-o", majority).exit_code == 0
    assert majority.read_text().splitlines() == [
        "transcript_id,utterance_id,rater,label,rating,note",
        "s1,1,majority,withdrawal.denial,,", "s1,3,majority,none,,"]
    # A bad row: nothing is written.
    bad = write(tmp_path / "bad.csv", "transcript_id,utterance_id,rater,label\ns1,1,dee,withdrawal.denail\n")
    again = tmp_path / "again.jsonl"
    result = cli("codes", "import", bad, "--into", out, "-o", again)
    assert result.exit_code == 2 and not again.exists()
    assert "unknown label 'withdrawal.denail'" in result.error_lines[0] and "withdrawal.denial" in result.error_lines[0]
    missing_rater = cli("codes", "consensus", out, "-o", majority, "--raters", "ana,zed")
    assert missing_rater.exit_code == 2 and "rater 'zed' has no codes" in missing_rater.error_lines[0]


# ------------------------------------------------------------------ soft targets (label shares)


def _utterance(role, *codes):
    return Utterance(transcript_id="s", utterance_id=0, speaker=role[0].upper(), role=role, text="x",
                     codes=[Code(rater=rater, label=label) for rater, label in codes])


def test_label_shares_known_answers():
    from rupturekit.codes import label_shares

    annomi = load_codebook("annomi")
    behaviour = annomi.dimension("therapist_behaviour")
    # 10 annotators of one utterance (single-label): 7 reflection, 3 question
    ten = _utterance("therapist", *[(str(i), "therapist_behaviour.reflection") for i in range(7)],
                     *[(str(i), "therapist_behaviour.question") for i in range(7, 10)])
    assert label_shares(ten, annomi, behaviour) == pytest.approx(
        {"therapist_behaviour.question": 0.3, "therapist_behaviour.reflection": 0.7})
    # two coding passes (multi-label): one says withdrawal.denial, the other none
    markers = BOOK.dimension("client_markers")
    two = _utterance("client", ("pass1", "withdrawal.denial"), ("pass2", "none"))
    assert label_shares(two, BOOK, markers) == {"withdrawal.denial": 0.5}
    # machine raters do not count unless named; `raters` restricts to those raters
    machines = _utterance("client", ("pass1", "withdrawal.denial"), ("pass2", "none"),
                          ("model:x", "withdrawal.denial"), ("weak:lf", "withdrawal.denial"),
                          ("weak:lf", "confrontation.defends_self"))
    assert label_shares(machines, BOOK, markers) == {"withdrawal.denial": 0.5}
    assert label_shares(machines, BOOK, markers, raters=["pass2"]) == {}
    assert label_shares(machines, BOOK, markers, raters=["pass1"]) == {"withdrawal.denial": 1.0}
    assert label_shares(machines, BOOK, markers, raters=["pass2", "weak:lf"]) == {
        "confrontation.defends_self": 0.5, "withdrawal.denial": 0.5}
    # by family: a rater who gave two labels of one family counts once
    family = _utterance("client", ("a", "withdrawal.denial"), ("a", "withdrawal.minimal_response"), ("b", "none"))
    assert label_shares(family, BOOK, markers, key=lambda label: label.split(".")[0]) == {"withdrawal": 0.5}
    # nobody coded it in this dimension: None; every rater coded none: {}
    assert label_shares(two, BOOK, BOOK.dimension("resolution")) is None
    assert label_shares(_utterance("client", ("a", "none"), ("b", "none")), BOOK, markers) == {}
    # soft gives shares, not labels: no consensus view of codes
    with pytest.raises(ValueError, match="soft"):
        consensus_labels(two, BOOK, markers, "soft")
    with pytest.raises(ValueError, match="soft"):
        consensus_rows([Transcript(transcript_id="s", utterances=[two])], BOOK, "soft")


def test_task_examples_with_soft_targets():
    from rupturekit.tagger.dataset import Examples, hard_targets, task_examples, tasks_for

    client = [
        [("a", "withdrawal.denial"), ("b", "none")],  # 0.5
        [("a", "withdrawal.denial"), ("b", "withdrawal.denial"), ("c", "confrontation.defends_self")],  # 2/3, 1/3
        [("a", "none"), ("b", "none")],  # every rater: none -> all 0
        [],  # nobody coded it: no example
        [("a", "withdrawal.denial"), ("a", "withdrawal.minimal_response"), ("b", "none")],
    ]
    utterances = [Utterance(transcript_id="s", utterance_id=i, speaker="C", role="client", text=f"t{i}",
                            codes=[Code(rater=r, label=label) for r, label in codes])
                  for i, codes in enumerate(client)]
    transcripts = [Transcript(transcript_id="s", utterances=utterances)]
    task = tasks_for(BOOK, ["client_markers"])[0]
    soft = task_examples(transcripts, BOOK, task, "soft")
    j = {label: i for i, label in enumerate(task.labels)}
    assert soft.keys == [("s", 0), ("s", 1), ("s", 2), ("s", 4)]
    assert soft.targets[0, j["withdrawal.denial"]] == 0.5 and soft.targets[0].sum() == 0.5
    assert soft.targets[1, j["withdrawal.denial"]] == pytest.approx(2 / 3)
    assert soft.targets[1, j["confrontation.defends_self"]] == pytest.approx(1 / 3)
    assert not soft.targets[2].any()
    assert soft.soft and soft.targets.dtype == np.float32
    hard = soft.hard()
    assert hard.keys == soft.keys and not hard.soft
    assert [sorted(task.labels[k] for k in np.flatnonzero(row)) for row in hard.targets] == [
        ["withdrawal.denial"], ["withdrawal.denial"], [], ["withdrawal.denial", "withdrawal.minimal_response"]]
    # family level: a rater counts once per family
    family = tasks_for(BOOK, ["client_markers"], level="family")[0]
    by_family = task_examples(transcripts, BOOK, family, "soft")
    assert by_family.targets[3].tolist() == [0.5, 0.0]
    # one rater: soft is majority, row for row
    one = [t.model_copy(update={"utterances": [u.model_copy(update={"codes": [c for c in u.codes if c.rater == "a"]})
                                               for u in t.utterances]}) for t in transcripts]
    majority = task_examples(one, BOOK, task, "majority")
    alone = task_examples(one, BOOK, task, "soft")
    assert alone.keys == majority.keys and np.array_equal(alone.targets, majority.targets)
    assert task_examples(transcripts, BOOK, task, "soft", raters=["a"]).keys == majority.keys

    # single-label: a distribution over the labels given (none coders have no class); no label: skipped
    annomi = load_codebook("annomi")
    behaviour = tasks_for(annomi, ["therapist_behaviour"])[0]
    therapist = [
        [(str(i), "therapist_behaviour.reflection") for i in range(7)]
        + [(str(i), "therapist_behaviour.question") for i in range(7, 10)],
        [("a", "therapist_behaviour.question"), ("b", "therapist_behaviour.reflection"),
         ("c", "therapist_behaviour.other")],  # 1/3 each: its hard label is the first in codebook order
        [("a", "therapist_behaviour.question"), ("b", "none")],  # renormalised: question 1.0
        [("a", "none"), ("b", "none")],  # no label: skipped, as majority skips it
    ]
    utterances = [Utterance(transcript_id="s", utterance_id=i, speaker="T", role="therapist", text=f"t{i}",
                            codes=[Code(rater=r, label=label) for r, label in codes])
                  for i, codes in enumerate(therapist)]
    single = task_examples([Transcript(transcript_id="s", utterances=utterances)], annomi, behaviour, "soft")
    k = {label: i for i, label in enumerate(behaviour.labels)}
    assert single.keys == [("s", 0), ("s", 1), ("s", 2)]
    assert single.targets[0, k["therapist_behaviour.reflection"]] == pytest.approx(0.7)
    assert single.targets[0, k["therapist_behaviour.question"]] == pytest.approx(0.3)
    assert single.targets[1].tolist() == pytest.approx([1 / 3, 1 / 3, 0, 1 / 3])
    assert single.targets[2, k["therapist_behaviour.question"]] == 1.0
    assert np.allclose(single.targets.sum(axis=1), 1.0)
    assert [behaviour.labels[c] for c in single.hard().classes] == [
        "therapist_behaviour.reflection", "therapist_behaviour.reflection", "therapist_behaviour.question"]
    assert isinstance(single.hard(), Examples) and single.hard().targets.sum(axis=1).tolist() == [1, 1, 1]
    # hard_targets: ties to the first label, empty rows stay empty, 0/1 unchanged
    assert hard_targets(np.array([[0.5, 0.5], [0.0, 0.0], [0.0, 1.0]]), multi_label=False).tolist() == [
        [1, 0], [0, 0], [0, 1]]
    assert hard_targets(np.array([[0.5, 0.49, 1.0, 0.0]]), multi_label=True).tolist() == [[1, 0, 1, 0]]


def test_config_accepts_soft_consensus():
    from typing import get_args

    from rupturekit.codes import Consensus
    from rupturekit.tagger.config import DataSource, TrainConfig

    config = TrainConfig.model_validate({"data": [{"path": "x.jsonl", "consensus": "soft"}]})
    assert config.data[0].consensus == "soft"
    assert set(get_args(DataSource.model_fields["consensus"].annotation)) == set(get_args(Consensus))
    with pytest.raises(ValueError):
        TrainConfig.model_validate({"data": [{"path": "x.jsonl", "consensus": "mean"}]})


def test_cli_consensus_views_refuse_soft(cli, tmp_path):
    source = tmp_path / "corpus.jsonl"
    coded = corpus()
    coded[0].utterances[1].codes = [Code(rater="ana", label="withdrawal.denial")]
    write_jsonl(coded, source)
    result = cli("codes", "consensus", source, "-o", tmp_path / "soft.csv", "--how", "soft")
    assert result.exit_code == 2 and not (tmp_path / "soft.csv").exists()
    assert len(result.error_lines) == 1 and "'soft'" in result.error_lines[0] and "training target" in \
        result.error_lines[0]
    from rupturekit.analysis.events import choose_source

    with pytest.raises(InputError, match="--codes soft: soft .* is a training target"):
        choose_source(coded, BOOK, "soft", "corpus.jsonl")


def test_codes_import_checks_format_before_reading_anything(cli, tmp_path):
    # neither the codes nor the corpus exist: the bad --format is said first, before any is read
    result = cli("codes", "import", tmp_path / "codes.csv", "--into", tmp_path / "missing.jsonl",
                 "-o", tmp_path / "out.jsonl", "--format", "nope")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: --format: unknown code format 'nope'; use one of long, eaf, "
                                          "labelstudio, ingest"]
