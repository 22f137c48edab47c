"""Dimensions the predicted side says nothing in are reported as "not predicted", not scored as misses.

A hand-made AnnoMI-coded corpus (three raters; made-up utterance text): the reference codes every
AnnoMI dimension that applies, the model predicts only therapist_behaviour and client_talk_type
(as a model trained on those two would). Expected numbers are worked out in the comments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rupturekit.agree.run import compute_agreement, run_agreement
from rupturekit.codebook import load_codebook
from rupturekit.errors import InputError

# Per therapist turn: the three raters' behaviour and subtype codes (a, b, c), and the model's behaviour.
THERAPIST = {
    ("t1", 0): (["question.open"] * 3, "question"),
    ("t1", 2): (["reflection.simple", "reflection.simple", "reflection.complex"], "reflection"),
    ("t1", 4): (["question.closed", "question.closed", "reflection.simple"], "reflection"),  # consensus: question
    ("t2", 0): (["reflection.complex"] * 3, "reflection"),
    ("t2", 2): (["other"] * 3, "other"),
    ("t2", 4): (["question.open", "question.closed", "question.open"], "question"),
}
CLIENT = {("t1", 1): "change", ("t1", 3): "neutral", ("t1", 5): "neutral", ("t2", 1): "sustain",
          ("t2", 3): "neutral", ("t2", 5): "change"}
TWO = {"therapist_behaviour", "client_talk_type"}


def _codes(key: tuple[str, int]) -> list[dict]:
    if key in CLIENT:
        return [{"rater": r, "label": f"client_talk_type.{CLIENT[key]}"} for r in "abc"]
    out = []
    for rater, code in zip("abc", THERAPIST[key][0], strict=True):
        behaviour, _, subtype = code.partition(".")
        out.append({"rater": rater, "label": f"therapist_behaviour.{behaviour}"})
        if subtype:
            out.append({"rater": rater, "label": f"{behaviour}_subtype.{subtype}"})
    return out


def _model(key: tuple[str, int]) -> tuple[list[str], dict[str, float]]:
    label = f"client_talk_type.{CLIENT[key]}" if key in CLIENT else f"therapist_behaviour.{THERAPIST[key][1]}"
    return [label], {label: 0.8}


def _line(key: tuple[str, int], **extra) -> str:
    role = "therapist" if key[1] % 2 == 0 else "client"
    return json.dumps({"transcript_id": key[0], "utterance_id": key[1], "speaker": role[0].upper(), "role": role,
                       "text": f"Turn {key[1]} of {key[0]}.", **extra}) + "\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    keys = sorted([*THERAPIST, *CLIENT])
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(_line(k, codes=_codes(k)) for k in keys), encoding="utf-8")
    tags = tmp_path / "tags.jsonl"
    tags.write_text("".join(_line(k, labels=_model(k)[0], scores=_model(k)[1], evidence={}) for k in keys),
                    encoding="utf-8")
    return reference, tags


def test_only_the_predicted_dimensions_are_compared(files, tmp_path):
    reference, tags = files
    result = run_agreement(reference, tags, load_codebook("annomi"), tmp_path / "out", n_bootstrap=0, figures=False)
    agreement = result.agreement
    assert set(agreement.dimensions) == TWO
    assert agreement.not_predicted is not None
    assert agreement.not_predicted.dimensions == ["reflection_subtype", "question_subtype"]
    assert "(model) gives no label or score in these dimensions" in agreement.not_predicted.note
    assert "therapist_input_subtype" in agreement.skipped_dimensions  # no reference codes at all
    # Only the two predicted dimensions in the summary and the model-as-rater sentences.
    assert {row.dimension for row in agreement.summary_rows} == TWO
    assert {s.dimension for s in agreement.sentences} == TWO
    assert all(s.startswith(("therapist_behaviour: model: κ = ", "client_talk_type: model: κ = "))
               for s in result.sentences)
    assert {d.dimension for d in result.all_disagreements} == {"therapist_behaviour"}

    # therapist_behaviour: consensus q r q r o q, model q r r r o q -> accuracy 5/6;
    # marginals q 3/2, r 2/3, o 1/1 -> pe 13/36, kappa (30 - 13) / (36 - 13) = 17/23
    behaviour = agreement.dimensions["therapist_behaviour"].levels["subtype"]
    assert behaviour.n_compared == 6
    assert behaviour.kappa.value == pytest.approx(17 / 23)
    assert behaviour.micro.f1 == pytest.approx(5 / 6)
    # the model as one more rater. Leave-one-out: a and b agree with the others' majority wherever there
    # is one (t1#4 is a tie without them): kappa 1; c said reflection on t1#4, as the model: 17/23.
    position = behaviour.raters.overall.model_as_rater.position
    assert position.model_kappa == pytest.approx(17 / 23) and position.n_raters == 3
    assert (position.human_min, position.human_max) == pytest.approx((17 / 23, 1.0))
    assert position.n_raters_below_model == 0
    talk = agreement.dimensions["client_talk_type"].levels["subtype"]
    assert talk.kappa.value == pytest.approx(1.0) and talk.macro.f1 == pytest.approx(1.0)

    metrics = json.loads(result.paths["metrics"].read_text(encoding="utf-8"))
    assert metrics == result.metrics
    assert set(metrics["dimensions"]) == TWO
    assert metrics["not_predicted"]["dimensions"] == ["reflection_subtype", "question_subtype"]
    assert list(metrics)[list(metrics).index("skipped_dimensions") + 1] == "not_predicted"
    summary = result.paths["summary"].read_text(encoding="utf-8")
    assert "Not predicted: reflection_subtype, question_subtype." in summary
    assert "## reflection_subtype" not in summary
    page = result.paths["html"].read_text(encoding="utf-8")
    assert "Not predicted: reflection_subtype, question_subtype." in page
    assert "reflection_subtype —" not in page  # no section title for it


def test_a_rater_with_none_codes_predicts_the_dimension(files, tmp_path):
    """A rater's ``none`` on an utterance of the dimension's role is a code in it: compared, not left out."""
    reference, _ = files
    lines = []
    for key in sorted([*THERAPIST, *CLIENT]):
        if key in CLIENT:
            codes = [{"rater": "p", "label": f"client_talk_type.{CLIENT[key]}"}]
        else:
            codes = [{"rater": "p", "label": f"therapist_behaviour.{THERAPIST[key][1]}"},
                     {"rater": "p", "label": "none"}]
        lines.append(_line(key, codes=codes))
    rater = tmp_path / "rater.jsonl"
    rater.write_text("".join(lines), encoding="utf-8")
    result = compute_agreement(reference, rater, load_codebook("annomi"), n_bootstrap=0)
    assert result.agreement.not_predicted is None
    assert set(result.agreement.dimensions) == TWO | {"reflection_subtype", "question_subtype"}
    # the raters coded a reflection type on t1#2, t2#0 and (c only) t1#4: consensus simple, complex,
    # simple; p says "none" on all three, so every one is missed
    reflections = result.agreement.dimensions["reflection_subtype"].levels["subtype"]
    assert reflections.n_compared == 3 and reflections.micro.support == 3 and reflections.micro.recall == 0.0
    assert reflections.confusion.matrix == [[0, 0, 2], [0, 0, 1], [0, 0, 0]]  # simple, complex, none -> none


def test_asking_only_for_a_dimension_the_model_does_not_predict(files, tmp_path):
    reference, tags = files
    with pytest.raises(InputError, match="model gives no label or score in reflection_subtype"):
        compute_agreement(reference, tags, load_codebook("annomi"), dimensions=["reflection_subtype"],
                          n_bootstrap=0)


def test_a_rater_without_codes_in_a_dimension_gives_no_code(files, tmp_path):
    """A rater side says "code" (not "label or score") both in the note and when nothing is left to compare."""
    reference, _ = files
    rater = tmp_path / "rater.jsonl"
    rater.write_text("".join(_line(k, codes=[{"rater": "p", "label": _model(k)[0][0]}])
                             for k in sorted([*THERAPIST, *CLIENT])), encoding="utf-8")
    result = compute_agreement(reference, rater, load_codebook("annomi"), n_bootstrap=0)
    assert result.agreement.not_predicted is not None
    assert result.agreement.not_predicted.dimensions == ["reflection_subtype", "question_subtype"]
    assert "(rater p) gives no code in these dimensions" in result.agreement.not_predicted.note
    with pytest.raises(InputError, match="rater p gives no code in reflection_subtype") as caught:
        compute_agreement(reference, rater, load_codebook("annomi"), dimensions=["reflection_subtype"],
                          n_bootstrap=0)
    assert "label or score" not in str(caught.value)


def test_cli_reports_only_the_predicted_dimensions(cli, files, tmp_path):
    reference, tags = files
    done = cli("agree", "-r", reference, "-p", tags, "--codebook", "annomi", "-o", tmp_path / "report",
               "--bootstrap", "0", "--no-figures")
    assert done.exit_code == 0, done.stderr
    assert "therapist_behaviour, subtype level" in done.stdout and "client_talk_type, subtype level" in done.stdout
    assert "reflection_subtype" not in done.stdout and "question_subtype" not in done.stdout
    assert "note: not predicted: reflection_subtype, question_subtype" in " ".join(done.stderr.split())
    bad = cli("agree", "-r", reference, "-p", tags, "--codebook", "annomi", "-o", tmp_path / "other",
              "--dimension", "question_subtype")
    assert bad.exit_code == 2 and len(bad.error_lines) == 1 and "question_subtype" in bad.error_lines[0]
