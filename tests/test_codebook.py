import pytest

from rupturekit.codebook import available_codebooks, load_codebook, parse_codebook
from rupturekit.errors import InputError

THREE_RS = [
    "withdrawal.denial", "withdrawal.minimal_response", "withdrawal.abstract_communication",
    "withdrawal.avoidant_storytelling", "withdrawal.deferential_appeasing", "withdrawal.content_affect_split",
    "withdrawal.self_criticism_hopelessness",
    "confrontation.complaint_therapist", "confrontation.rejects_intervention", "confrontation.complaint_activities",
    "confrontation.complaint_parameters", "confrontation.complaint_progress", "confrontation.defends_self",
    "confrontation.controls_pressures",
    "resolution.clarifies_misunderstanding", "resolution.changes_task_goal", "resolution.illustrates_task_rationale",
    "resolution.invites_exploration", "resolution.acknowledges_contribution", "resolution.discloses_experience",
    "resolution.links_pattern_outside", "resolution.links_pattern_inside", "resolution.validates_defense",
    "resolution.redirects",
]

TINY = """
name: tiny
dimensions:
  - name: mood
    role: client
    labels:
      - {name: mood.up, definition: Upbeat.}
      - {name: mood.down, definition: Low.}
"""


def test_3rs_is_the_label_contract():
    codebook = load_codebook("3rs")
    assert codebook.labels == THREE_RS
    assert [(d.name, d.role, d.multi_label) for d in codebook.dimensions] == [
        ("client_markers", "client", True), ("resolution", "therapist", True)]
    assert {r.name: (r.unit, r.scale) for r in codebook.ratings} == {
        "marker_significance": ("segment", (1, 5)), "therapist_contribution": ("session", (1, 5)),
        "resolution_degree": ("session", (1, 5))}
    for dimension in codebook.dimensions:
        for label in dimension.labels:
            assert label.definition and 2 <= len(label.examples) <= 3


def test_cis_crosswalk_and_annomi_dimensions():
    cis = load_codebook("cis")
    assert cis.crosswalk("3rs") == {"direct": "confrontation", "indirect": "withdrawal", "positive": "resolution",
                                    "negative": None, "collaborative": None}
    assert {label.split(".")[0] for label in cis.labels} == {"direct", "indirect", "collaborative", "positive",
                                                             "negative"}
    annomi = load_codebook("annomi")
    assert annomi.dimension("therapist_behaviour").label_names == [
        "therapist_behaviour.reflection", "therapist_behaviour.question", "therapist_behaviour.therapist_input",
        "therapist_behaviour.other"]
    assert annomi.dimension("client_talk_type").label_names == [
        "client_talk_type.change", "client_talk_type.neutral", "client_talk_type.sustain"]
    assert not any(d.multi_label for d in annomi.dimensions)
    assert {d.name for d in annomi.dimensions} >= {"reflection_subtype", "question_subtype", "therapist_input_subtype"}


def test_lookup_and_suggestions():
    codebook = load_codebook("3rs")
    assert codebook.dimension_of("resolution.redirects").name == "resolution"
    assert codebook.dimension_of("none") is None and codebook.is_valid("none")
    assert codebook.suggest("withdrawl.denial")[0] == "withdrawal.denial"
    assert codebook.suggest("confrontation.complain_progress")[0] == "confrontation.complaint_progress"


def test_user_codebook_from_a_folder_and_the_environment(tmp_path, monkeypatch):
    (tmp_path / "tiny.yaml").write_text(TINY, encoding="utf-8")
    assert load_codebook("tiny", [tmp_path]).labels == ["mood.up", "mood.down"]
    monkeypatch.setenv("RUPTUREKIT_CODEBOOKS", str(tmp_path))
    assert "tiny" in available_codebooks() and "3rs" in available_codebooks()
    assert load_codebook(tmp_path / "tiny.yaml").name == "tiny"


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\ndimensions: [\n", "book.yaml:line 3: not valid YAML"),
    ("- just a list\n", "book.yaml: a codebook must be a YAML mapping"),
    (TINY.replace("mood.down", "mood.up"), "book.yaml: invalid codebook (label 'mood.up' is used twice (in dimensions "
                                           "'mood' and 'mood')); fix the codebook file"),
    (TINY.replace("role: client", "role: parent"), "book.yaml: invalid codebook (dimensions.0.role: Input should be"),
    (TINY.replace("mood.up", "Mood Up"), "label name 'Mood Up' must be lower-case words joined by dots"),
    (TINY.replace("mood.up", "none"), "label 'none' is reserved"),
])
def test_bad_codebooks_are_one_clear_line(text, expected):
    with pytest.raises(InputError) as caught:
        parse_codebook(text, "book.yaml")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_codebook_names_the_nearest(tmp_path):
    with pytest.raises(InputError, match=r"3r: no such codebook; did you mean 3rs\?"):
        load_codebook("3r")


def test_cli_show_lists_all_24_labels(cli):
    result = cli("codebook", "show", "3rs")
    assert result.exit_code == 0
    for label in THREE_RS:
        assert label in result.stdout.replace("\n", " ") or label in result.stdout
    listing = cli("codebook", "list")
    assert listing.exit_code == 0 and "cis" in listing.stdout and "annomi" in listing.stdout
    bad = cli("codebook", "show", "nope")
    assert bad.exit_code == 2 and bad.error_lines[0].startswith("error: nope: no such codebook")
