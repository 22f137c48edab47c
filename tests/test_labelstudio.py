"""Label Studio: labeling config from a codebook, tasks with pre-annotations, and reading an
export back (the round trip a reviewer makes in Label Studio)."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rupturekit.codebook import load_codebook, parse_codebook
from rupturekit.codes import attach_codes, check_rows
from rupturekit.errors import InputError
from rupturekit.export.labelstudio import (
    labeling_config,
    labelstudio_tasks,
    region_id,
    write_labelstudio_tasks,
)
from rupturekit.ingest.labelstudio import read_labelstudio_export
from rupturekit.records import Code, Transcript, Utterance

THREE_RS = load_codebook("3rs")

TINY = parse_codebook("""
name: tiny
title: Tiny test codebook
dimensions:
  - name: stance
    title: Stance of any speaker
    role: any
    multi_label: false
    families:
      stance: Where the speaker stands.
    labels:
      - name: stance.agree
        definition: Agrees with the other speaker.
      - name: stance.disagree
        definition: Disagrees with the other speaker.
  - name: moves
    title: Client moves
    role: client
    multi_label: true
    labels:
      - name: move.question
        definition: Asks a question.
      - name: move.joke
        definition: Makes a "joke" <of sorts> & laughs.
""", "tiny.yaml")


def utterance(tid: str, uid: int, speaker: str, role: str, text: str, *labels: str, rater: str = "model",
              start: float | None = None) -> Utterance:
    return Utterance(transcript_id=tid, utterance_id=uid, speaker=speaker, role=role, text=text,
                     start=start, end=None if start is None else start + 2.0,
                     codes=[Code(rater=rater, label=label) for label in labels])


def corpus() -> list[Transcript]:
    """Two sessions, every utterance coded by rater "model" (none where nothing applies)."""
    s1 = [
        utterance("s1", 0, "T", "therapist", "How have things been since last week?", "none", start=0.0),
        utterance("s1", 1, "C", "client", "Fine.", "withdrawal.minimal_response", start=3.0),
        utterance("s1", 2, "T", "therapist", "You sound a bit flat today.", "none", start=5.5),
        utterance("s1", 3, "C", "client", "You don't get it. This isn't helping.",
                  "confrontation.complaint_therapist", "confrontation.complaint_progress", start=8.0),
        utterance("s1", 4, "T", "therapist", "You're right, I may have pushed too hard. "
                  "What's it like talking about this with me?",
                  "resolution.invites_exploration", "resolution.acknowledges_contribution", start=12.0),
    ]
    s2 = [
        utterance("s2", 10, "Client", "client", "I'm not upset. Anyway, my sister's dog got out again \U0001f415.",
                  "withdrawal.denial", "withdrawal.avoidant_storytelling"),
        utterance("s2", 11, "Therapist", "therapist", "Let's come back to what happened on Tuesday.",
                  "resolution.redirects"),
        utterance("s2", 12, "Client", "client", "Okay.", "none"),
    ]
    return [Transcript(transcript_id="s1", utterances=s1), Transcript(transcript_id="s2", utterances=s2)]


def codes_of(transcripts: list[Transcript], rater: str) -> set[tuple[str, int, str]]:
    return {(u.transcript_id, u.utterance_id, c.label) for t in transcripts for u in t.utterances
            for c in u.codes if c.rater == rater}


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


# ------------------------------------------------------------------ labeling config


def test_config_for_3rs_is_valid_xml_with_every_label_once():
    root = ET.fromstring(labeling_config(THREE_RS))
    assert root.tag == "View"
    paragraphs = root.findall(".//Paragraphs")
    assert len(paragraphs) == 1
    assert paragraphs[0].attrib == {"name": "dialogue", "value": "$dialogue", "layout": "dialogue",
                                    "nameKey": "speaker", "textKey": "text", "saveTextResult": "yes"}
    controls = {c.get("name"): c for c in root.iter("ParagraphLabels")}
    assert list(controls) == ["client_markers", "resolution"]
    for dimension in THREE_RS.dimensions:
        control = controls[dimension.name]
        assert control.get("toName") == "dialogue"
        assert control.get("choice") == "multiple"  # both 3RS dimensions are multi-label
        labels = [label.get("value") for label in control.iter("Label")]
        assert labels == dimension.label_names  # each exactly once, in codebook order
        hints = {label.get("value"): label.get("hint") for label in control.iter("Label")}
        assert hints == {label.name: label.definition for label in dimension.labels}
    all_labels = [label.get("value") for label in root.iter("Label")]
    assert len(all_labels) == 24 and sorted(all_labels) == sorted(THREE_RS.labels)
    headers = [h.get("value") for h in root.iter("Header")]
    assert "$transcript_id" in headers
    assert "Client rupture markers (client turns; several labels allowed)" in headers
    assert "withdrawal: Moving away from the therapist, the work, or one's own experience." in headers
    assert "Therapist resolution strategies (therapist turns; several labels allowed)" in headers


def test_config_for_a_small_codebook_sets_single_and_multiple_choice():
    text = labeling_config(TINY)
    root = ET.fromstring(text)
    controls = {c.get("name"): c for c in root.iter("ParagraphLabels")}
    assert controls["stance"].get("choice") == "single"
    assert controls["moves"].get("choice") == "multiple"
    assert [label.get("value") for label in controls["stance"].iter("Label")] == ["stance.agree", "stance.disagree"]
    assert [label.get("value") for label in controls["moves"].iter("Label")] == ["move.question", "move.joke"]
    # definitions with quotes and markup characters survive XML escaping
    assert controls["moves"].findall("Label")[1].get("hint") == 'Makes a "joke" <of sorts> & laughs.'
    assert [h.get("value") for h in controls["stance"].iter("Header")] == ["stance: Where the speaker stands."]
    assert [h.get("value") for h in controls["moves"].iter("Header")] == ["move"]
    assert "Stance of any speaker (all turns; one label)" in [h.get("value") for h in root.iter("Header")]


# ------------------------------------------------------------------ tasks


def test_tasks_carry_the_dialogue_and_the_raters_codes_as_predictions(tmp_path):
    transcripts = corpus()
    s1 = transcripts[0].utterances
    # codes that must not become pre-annotations
    s1[1].codes.append(Code(rater="model", label="legacy.unknown_label"))
    s1[2].codes.append(Code(rater="model", label="withdrawal.denial"))  # client label on a therapist turn
    s1[1].codes.append(Code(rater="other", label="withdrawal.denial"))  # another rater

    tasks = labelstudio_tasks(transcripts, THREE_RS, prediction_rater="model")
    assert len(tasks) == 2
    assert tasks[0]["data"]["transcript_id"] == "s1"
    assert tasks[0]["data"]["dialogue"][1] == {"utterance_id": 1, "speaker": "C", "role": "client",
                                               "text": "Fine.", "start": 3.0, "end": 5.0}
    assert tasks[1]["data"]["dialogue"][0]["start"] is None
    assert [d["utterance_id"] for d in tasks[1]["data"]["dialogue"]] == [10, 11, 12]

    prediction = tasks[0]["predictions"]
    assert len(prediction) == 1 and prediction[0]["model_version"] == "model"
    result = prediction[0]["result"]
    # one region per coded utterance and dimension: s1#1, s1#3, s1#4
    assert [(r["value"]["start"], r["from_name"]) for r in result] == [
        ("1", "client_markers"), ("3", "client_markers"), ("4", "resolution")]
    assert result[0]["value"]["paragraphlabels"] == ["withdrawal.minimal_response"]
    assert result[1] == {
        "id": "74f05e7fe6",
        "from_name": "client_markers",
        "to_name": "dialogue",
        "type": "paragraphlabels",
        "value": {"start": "3", "end": "3", "startOffset": 0, "endOffset": 37,
                  "text": "You don't get it. This isn't helping.",
                  "paragraphlabels": ["confrontation.complaint_therapist", "confrontation.complaint_progress"]},
    }
    assert result[1]["id"] == region_id("s1", 3, THREE_RS.dimension("client_markers"))
    # offsets are UTF-16 code units, as in the browser: the dog emoji counts 2
    s2_first = tasks[1]["predictions"][0]["result"][0]["value"]
    assert s2_first["endOffset"] == len(transcripts[1].utterances[0].text) + 1
    # stable ids, unique within a task
    again = labelstudio_tasks(corpus(), THREE_RS, prediction_rater="model")
    assert [r["id"] for r in again[0]["predictions"][0]["result"]] == [r["id"] for r in result]
    assert len({r["id"] for t in tasks for r in t["predictions"][0]["result"]}) == 5

    assert "predictions" not in labelstudio_tasks(transcripts, THREE_RS)[0]
    path = write_labelstudio_tasks(transcripts, THREE_RS, tmp_path / "ls" / "tasks.json", prediction_rater="model")
    assert json.loads(path.read_text(encoding="utf-8")) == tasks
    assert "\U0001f415" in path.read_text(encoding="utf-8")  # not escaped


# ------------------------------------------------------------------ round trip


def as_labelstudio_export(tasks: list[dict]) -> list[dict]:
    """What Label Studio's Export > JSON gives after the reviewer (user 7) accepted each task's
    pre-annotation and submitted it; the caller then edits the results."""
    exported = []
    for number, task in enumerate(tasks, start=1):
        prediction = task["predictions"][0]
        results = []
        for item in copy.deepcopy(prediction["result"]):
            item["origin"] = "prediction"
            results.append(item)
        exported.append({
            "id": 100 + number,
            "annotations": [{
                "id": 500 + number, "completed_by": 7, "result": results, "was_cancelled": False,
                "ground_truth": False, "created_at": "2025-01-10T10:00:00.000000Z",
                "updated_at": "2025-01-10T10:05:00.000000Z", "draft_created_at": None, "lead_time": 120.5,
                "prediction": {}, "result_count": len(results), "unique_id": f"u-{number}",
                "import_id": None, "last_action": None, "bulk_created": False, "task": 100 + number,
                "project": 3, "updated_by": 7, "parent_prediction": 900 + number, "parent_annotation": None,
                "last_created_by": None,
            }],
            "file_upload": "tasks.json", "drafts": [],
            "predictions": [{"id": 900 + number, "model_version": prediction["model_version"],
                             "created_ago": "2 hours", "result": prediction["result"], "score": None,
                             "cluster": None, "neighbors": None, "mislabeling": 0.0,
                             "created_at": "2025-01-10T08:00:00.000000Z",
                             "updated_at": "2025-01-10T08:00:00.000000Z", "model": None, "model_run": None,
                             "task": 100 + number, "project": 3}],
            "data": task["data"], "meta": {}, "created_at": "2025-01-10T08:00:00.000000Z",
            "updated_at": "2025-01-10T10:05:00.000000Z", "inner_id": number, "total_annotations": 1,
            "cancelled_annotations": 0, "total_predictions": 1, "comment_count": 0,
            "unresolved_comment_count": 0, "last_comment_updated_at": None, "project": 3, "updated_by": 7,
            "comment_authors": [],
        })
    return exported


def result_on(export: list[dict], task: int, paragraph: int) -> dict:
    (item,) = [r for r in export[task]["annotations"][0]["result"] if r["value"]["start"] == str(paragraph)]
    return item


def test_round_trip_through_a_review_in_labelstudio(tmp_path):
    transcripts = corpus()
    tasks = json.loads(write_labelstudio_tasks(transcripts, THREE_RS, tmp_path / "tasks.json",
                                               prediction_rater="model").read_text(encoding="utf-8"))
    export = as_labelstudio_export(tasks)

    # 1. remove one label: s1#3 keeps complaint_therapist only
    edited = result_on(export, 0, 3)
    edited["value"]["paragraphlabels"].remove("confrontation.complaint_progress")
    edited["origin"] = "prediction-changed"
    # 2. change another: s2#11 redirects -> clarifies_misunderstanding
    edited = result_on(export, 1, 1)
    edited["value"]["paragraphlabels"] = ["resolution.clarifies_misunderstanding"]
    edited["origin"] = "prediction-changed"
    # 3. add one on a different utterance (s1#2, coded none by the model), by selecting a few words
    text = tasks[0]["data"]["dialogue"][2]["text"]
    begin = text.index("a bit flat")
    export[0]["annotations"][0]["result"].append({
        "value": {"start": "2", "end": "2", "startOffset": begin, "endOffset": begin + len("a bit flat"),
                  "text": "a bit flat", "paragraphlabels": ["resolution.discloses_experience"]},
        "id": "Xa7_kQ2mZp", "from_name": "resolution", "to_name": "dialogue", "type": "paragraphlabels",
        "origin": "manual",
    })
    # a second reviewer skipped s2: a cancelled annotation gives no codes
    export[1]["annotations"].append({"id": 777, "completed_by": 8, "result": [], "was_cancelled": True,
                                     "ground_truth": False, "task": 102, "project": 3})
    path = write_json(tmp_path / "project-3-at-2025-01-10-10-06-1a2b3c4d.json", export)

    rows = read_labelstudio_export(path, THREE_RS)
    assert {row.rater for row in rows} == {"ls:7"}
    got = {(row.transcript_id, row.utterance_id, row.label) for row in rows}
    expected = codes_of(transcripts, "model")
    expected -= {("s1", 3, "confrontation.complaint_progress"), ("s2", 11, "resolution.redirects"),
                 ("s1", 2, "none")}
    expected |= {("s2", 11, "resolution.clarifies_misunderstanding"), ("s1", 2, "resolution.discloses_experience")}
    assert got == expected
    # nothing lost or shifted: every utterance has a row, in order, and the untouched ones are unchanged
    keys = [(row.transcript_id, row.utterance_id) for row in rows]
    assert list(dict.fromkeys(keys)) == [("s1", 0), ("s1", 1), ("s1", 2), ("s1", 3), ("s1", 4),
                                         ("s2", 10), ("s2", 11), ("s2", 12)]
    touched = {("s1", 2), ("s1", 3), ("s2", 11)}
    for t in transcripts:
        for u in t.utterances:
            if (u.transcript_id, u.utterance_id) not in touched:
                assert [row.label for row in rows if row.key == (u.transcript_id, u.utterance_id)] == \
                    [c.label for c in u.codes]
    assert rows[0].where.endswith("task 101 (transcript 's1'), annotation 501")

    # the rows pass the checks of `rupturekit codes import` and attach to the corpus
    roles = {(u.transcript_id, u.utterance_id): u.role for t in transcripts for u in t.utterances}
    check_rows(rows, THREE_RS, roles, str(path))
    attached = attach_codes(transcripts, rows, str(path))
    assert codes_of(attached, "ls:7") == expected and codes_of(attached, "model") == codes_of(transcripts, "model")

    # naming the rater instead of taking completed_by
    assert {row.rater for row in read_labelstudio_export(path, THREE_RS, rater="reviewer")} == {"reviewer"}


def test_completed_by_as_user_object_and_regions_over_several_turns(tmp_path):
    tasks = labelstudio_tasks(corpus()[:1], THREE_RS)
    dialogue = tasks[0]["data"]["dialogue"]
    # one selection from the middle of s1#2 into s1#4 with a client label: only the client turn
    # s1#3 gets it; a second one ending at offset 0 of s1#2 does not touch s1#2
    regions = [
        {"value": {"start": "2", "end": "4", "startOffset": 4, "endOffset": 10,
                   "text": dialogue[2]["text"][4:] + dialogue[3]["text"] + dialogue[4]["text"][:10],
                   "paragraphlabels": ["confrontation.defends_self"]},
         "id": "a1", "from_name": "client_markers", "to_name": "dialogue", "type": "paragraphlabels"},
        {"value": {"start": 0, "end": 2, "startOffset": 3, "endOffset": 0,
                   "paragraphlabels": ["resolution.redirects"]},
         "id": "a2", "from_name": "resolution", "to_name": "dialogue", "type": "paragraphlabels"},
    ]
    export = [{"id": 1, "data": tasks[0]["data"], "annotations": [{
        "id": 9, "was_cancelled": False, "result": regions,
        "completed_by": {"id": 4, "email": "coder@example.org", "first_name": "", "last_name": ""}}]}]
    rows = read_labelstudio_export(write_json(tmp_path / "export.json", export), THREE_RS)
    assert [(row.utterance_id, row.rater, row.label) for row in rows] == [
        (0, "ls:coder@example.org", "resolution.redirects"),
        (1, "ls:coder@example.org", "none"),
        (2, "ls:coder@example.org", "none"),
        (3, "ls:coder@example.org", "confrontation.defends_self"),
        (4, "ls:coder@example.org", "none"),
    ]


def test_none_rows_for_dimensions_left_empty(tmp_path):
    transcript = Transcript(transcript_id="t", utterances=[
        utterance("t", 0, "A", "client", "Why?"),
        utterance("t", 1, "B", "therapist", "Because."),
        utterance("t", 2, "?", "unknown", "Hm."),
    ])
    tasks = labelstudio_tasks([transcript], TINY)
    export = [{"id": 5, "data": tasks[0]["data"], "annotations": [{"id": 1, "completed_by": 2, "result": [
        {"value": {"start": "0", "end": "0", "startOffset": 0, "endOffset": 4, "text": "Why?",
                   "paragraphlabels": ["move.question"]},
         "id": "q", "from_name": "moves", "to_name": "dialogue", "type": "paragraphlabels"},
        {"value": {"start": "1", "end": "1", "startOffset": 0, "endOffset": 8, "text": "Because.",
                   "paragraphlabels": ["stance.disagree"]},
         "id": "d", "from_name": "stance", "to_name": "dialogue", "type": "paragraphlabels"},
    ]}]}]
    rows = read_labelstudio_export(write_json(tmp_path / "e.json", export), TINY)
    # client turn: a move but no stance -> also none; therapist: stance is all that applies;
    # unknown role with nothing coded -> none
    assert [(row.utterance_id, row.label) for row in rows] == [
        (0, "move.question"), (0, "none"), (1, "stance.disagree"), (2, "none")]


# ------------------------------------------------------------------ bad input


def one_task_export(labels: list[str], start="1", end="1", **value) -> list[dict]:
    tasks = labelstudio_tasks(corpus()[:1], THREE_RS)
    region = {"start": start, "end": end, "startOffset": 0, "endOffset": 5, "text": "Fine.",
              "paragraphlabels": labels}
    region.update(value)
    return [{"id": 42, "data": tasks[0]["data"], "annotations": [{
        "id": 3, "completed_by": 1, "was_cancelled": False,
        "result": [{"value": region, "id": "r1", "from_name": "client_markers", "to_name": "dialogue",
                    "type": "paragraphlabels"}]}]}]


def read_error(tmp_path: Path, content, codebook=THREE_RS) -> str:
    path = tmp_path / "export.json"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        write_json(path, content)
    with pytest.raises(InputError) as info:
        read_labelstudio_export(path, codebook)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_not_json(tmp_path):
    message = read_error(tmp_path, '[{"id": 1, "data": {')
    assert "export.json:line 1: not valid JSON" in message
    assert "Export > JSON" in message


def test_json_that_is_not_an_export(tmp_path):
    assert "not a Label Studio JSON export (a JSON object, not a list of tasks)" in read_error(
        tmp_path, {"data": {"transcript_id": "s1"}})
    assert "these are tasks to import" in read_error(
        tmp_path, labelstudio_tasks(corpus(), THREE_RS, prediction_rater="model"))
    json_min = [{"id": 1, "dialogue": [], "transcript_id": "s1", "annotator": "a@b.c", "annotation_id": 2}]
    assert "JSON-MIN and CSV exports are not read" in read_error(tmp_path, json_min)
    assert "holds no tasks" in read_error(tmp_path, [])
    foreign = [{"id": 1, "data": {"text": "hello"}, "annotations": []}]
    assert "task 1: has no data.transcript_id and data.dialogue" in read_error(tmp_path, foreign)


def test_unknown_label_names_it_and_the_nearest_valid_label(tmp_path):
    message = read_error(tmp_path, one_task_export(["withdrawl.minimal_respons"]))
    assert ("task 42 (transcript 's1'), annotation 3: result item 'r1' has label 'withdrawl.minimal_respons', "
            "which is not in codebook '3rs'") in message
    assert "did you mean withdrawal.minimal_response" in message


def test_region_past_the_dialogue(tmp_path):
    message = read_error(tmp_path, one_task_export(["withdrawal.denial"], start="7", end="7"))
    assert "task 42 (transcript 's1'), annotation 3: result item 'r1' points at paragraph 7, " \
           "but the task's dialogue has 5 utterances (0-4)" in message


def test_region_whose_text_is_not_the_utterance(tmp_path):
    # paragraph 3 holds another text: the dialogue was reordered after coding
    message = read_error(tmp_path, one_task_export(["withdrawal.denial"], start="3", end="3"))
    assert "holds the text 'Fine.', which is not the text of utterance(s) 3" in message


def test_label_on_a_turn_of_the_wrong_role(tmp_path):
    message = read_error(tmp_path, one_task_export(["withdrawal.denial"], start="0", end="0", text="How"))
    assert "puts 'withdrawal.denial', a label for client turns, on utterance 0, a therapist turn" in message


def test_two_labels_in_a_single_label_dimension(tmp_path):
    transcript = Transcript(transcript_id="t", utterances=[utterance("t", 0, "A", "client", "Sure, no.")])
    data = labelstudio_tasks([transcript], TINY)[0]["data"]
    regions = [{"value": {"start": "0", "end": "0", "startOffset": a, "endOffset": b, "paragraphlabels": [label]},
                "id": label, "from_name": "stance", "to_name": "dialogue", "type": "paragraphlabels"}
               for a, b, label in ((0, 4, "stance.agree"), (6, 9, "stance.disagree"))]
    export = [{"id": 1, "data": data, "annotations": [{"id": 2, "completed_by": 1, "result": regions}]}]
    message = read_error(tmp_path, export, codebook=TINY)
    assert "utterance 0 has 2 labels of single-label dimension 'stance' (stance.agree, stance.disagree)" in message


def test_other_result_types_and_duplicate_raters_are_refused(tmp_path):
    export = one_task_export(["withdrawal.minimal_response"])
    export[0]["annotations"][0]["result"].append(
        {"value": {"text": ["a note"]}, "id": "n", "from_name": "note", "to_name": "dialogue", "type": "textarea"})
    assert "result item 'n' is of type 'textarea'" in read_error(tmp_path, export)

    export = one_task_export(["withdrawal.minimal_response"])
    export[0]["annotations"].append(copy.deepcopy(export[0]["annotations"][0]) | {"id": 4})
    assert "annotation 4: gives rater 'ls:1' a second set of codes for transcript 's1'" in read_error(
        tmp_path, export)
