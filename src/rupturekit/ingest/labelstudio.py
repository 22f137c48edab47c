"""Read codes back from a Label Studio JSON export of a project made by rupturekit.

The project uses `rupturekit.export.labelstudio.labeling_config` and tasks from
`labelstudio_tasks`: one task per transcript, ``data.dialogue`` its utterances in order,
and a ParagraphLabels region (result ``type`` ``paragraphlabels``, ``to_name``
``dialogue``) per coded turn whose ``value.start``/``value.end`` are paragraph indices into
``data.dialogue``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from rupturekit.bounded import loads_json
from rupturekit.codebook import Codebook, Dimension
from rupturekit.codes import CodeRow
from rupturekit.errors import InputError
from rupturekit.formats import DIALOGUE_NAME, RESULT_TYPE, utf16_length
from rupturekit.source import Source

_EXPORT_HINT = ("in Label Studio use Export > JSON (not JSON-MIN or CSV) on a project set up with "
                "`rupturekit export --to labelstudio`")
_DATA_HINT = "export the tasks again with `rupturekit export --to labelstudio`, import them, and export as JSON"
_SHOWN = 60
_JSON_KINDS = {dict: "object", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _index(value: Any) -> int | None:
    """A paragraph index or offset: an int, or a string of digits as Label Studio writes it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _rater(completed_by: Any) -> str | None:
    """"ls:<email or user id>" from an annotation's completed_by (a user id, or a user object)."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("id")
    if isinstance(completed_by, bool) or completed_by in (None, ""):
        return None
    if isinstance(completed_by, (int, str)):
        return f"ls:{completed_by}"
    return None


class _Task:
    """One task of the export, its dialogue checked."""

    def __init__(self, task: Any, number: int, file: str):
        self.file = file
        task_id = task.get("id") if isinstance(task, dict) else None
        self.name = f"task {task_id}" if isinstance(task_id, (int, str)) and task_id != "" else f"task #{number}"
        if not isinstance(task, dict):
            self.fail("is not a JSON object", _EXPORT_HINT)
        data = task.get("data")
        transcript_id = data.get("transcript_id") if isinstance(data, dict) else None
        dialogue = data.get(DIALOGUE_NAME) if isinstance(data, dict) else None
        if not isinstance(transcript_id, str) or not transcript_id or not isinstance(dialogue, list):
            self.fail(f"has no data.transcript_id and data.{DIALOGUE_NAME}, so it was not made by rupturekit",
                      _DATA_HINT)
        self.transcript_id: str = transcript_id
        self.name += f" (transcript '{transcript_id}')"
        self.utterance_ids: list[int] = []
        self.roles: list[str] = []
        self.texts: list[str] = []
        for position, item in enumerate(dialogue):
            utterance_id = _index(item.get("utterance_id")) if isinstance(item, dict) else None
            text = item.get("text") if isinstance(item, dict) else None
            if utterance_id is None or not isinstance(text, str):
                self.fail(f"data.{DIALOGUE_NAME}[{position}] lacks a whole-number utterance_id or a text",
                          _DATA_HINT)
            if utterance_id in self.utterance_ids:
                self.fail(f"utterance_id {utterance_id} appears twice in data.{DIALOGUE_NAME}", _DATA_HINT)
            role = item.get("role")
            self.utterance_ids.append(utterance_id)
            self.roles.append(role if isinstance(role, str) and role else "unknown")
            self.texts.append(text)
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            self.fail("has 'annotations' that is not a list", _EXPORT_HINT)
        self.annotations: list[Any] = annotations

    def fail(self, message: str, hint: str, annotation: str | None = None) -> NoReturn:
        where = self.name + (f", {annotation}" if annotation else "")
        raise InputError(self.file, f"{where}: {message}", hint)


def _covered(task: _Task, value: dict, item_name: str, annotation: str) -> list[int]:
    """Indices into the dialogue that a region covers, checked against offsets and text."""
    start, end = _index(value.get("start")), _index(value.get("end"))
    if start is None or end is None or end < start:
        task.fail(f"{item_name} has no valid paragraph indices (start {value.get('start')!r}, "
                  f"end {value.get('end')!r})", _EXPORT_HINT, annotation)
    count = len(task.texts)
    if end >= count:
        task.fail(f"{item_name} points at paragraph {end}, but the task's dialogue has {count} "
                  f"utterances (0-{count - 1})",
                  "the export does not match the tasks rupturekit wrote; export the project that these "
                  "tasks were imported into, without editing its data", annotation)
    covered = list(range(start, end + 1))
    start_offset, end_offset = value.get("startOffset"), value.get("endOffset")
    for name, offset, index in (("startOffset", start_offset, start), ("endOffset", end_offset, end)):
        if offset is None:
            continue
        checked = _index(offset)
        if checked is None or checked > utf16_length(task.texts[index]):
            task.fail(f"{item_name} has {name} {offset!r}, outside utterance {task.utterance_ids[index]} "
                      f"({utf16_length(task.texts[index])} characters)",
                      "the task's dialogue was changed after coding; " + _DATA_HINT, annotation)
    if len(covered) > 1:
        # A selection that ends at offset 0 of a turn (or starts at the end of one) touches
        # no character of it: that turn is not coded by the region.
        if _index(end_offset) == 0:
            covered.pop()
        if _index(start_offset) == utf16_length(task.texts[start]):
            covered.pop(0)
    text = value.get("text")
    if isinstance(text, str):
        if start == end:
            fits = _normalised(text) in _normalised(task.texts[start])
        else:
            fits = all(_normalised(task.texts[i]) in _normalised(text) for i in range(start + 1, end))
        if not fits:
            task.fail(f"{item_name} holds the text '{_short(text)}', which is not the text of utterance(s) "
                      f"{', '.join(str(task.utterance_ids[i]) for i in range(start, end + 1))}",
                      "the task's dialogue was changed or reordered after coding; " + _DATA_HINT, annotation)
    return covered


def _fits(dimension: Dimension, role: str) -> bool:
    return role == "unknown" or dimension.applies_to(role)


def _regions(task: _Task, annotation: dict, name: str, codebook: Codebook) -> dict[int, set[str]]:
    """Dialogue index -> labels that the annotation's regions put on it."""
    result = annotation.get("result")
    if not isinstance(result, list):
        task.fail("has no 'result' list", _EXPORT_HINT, name)
    labels_at: dict[int, set[str]] = {}
    for position, item in enumerate(result):
        item_name = f"result item {item.get('id', position)!r}" if isinstance(item, dict) else \
            f"result item {position}"
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            task.fail(f"{item_name} is not an object with a 'value'", _EXPORT_HINT, name)
        if item.get("type") != RESULT_TYPE:
            task.fail(f"{item_name} is of type {item.get('type')!r}; rupturekit reads only "
                      f"'{RESULT_TYPE}' regions",
                      "code with the ParagraphLabels of `rupturekit`'s labeling config, and remove other "
                      "controls from the project", name)
        if item.get("to_name") != DIALOGUE_NAME:
            task.fail(f"{item_name} labels {item.get('to_name')!r}, not '{DIALOGUE_NAME}'",
                      "use the labeling config that rupturekit wrote for the project", name)
        value = item["value"]
        labels = value.get(RESULT_TYPE)
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            task.fail(f"{item_name} has no list of labels in value.{RESULT_TYPE}", _EXPORT_HINT, name)
        for label in labels:
            if codebook.dimension_of(label) is None and label != codebook.none_label:
                near = codebook.suggest(label)
                task.fail(f"{item_name} has label '{label}', which is not in codebook '{codebook.name}'",
                          f"did you mean {' or '.join(near)}? Fix the label config or the codebook"
                          if near else f"use labels from `rupturekit codebook show {codebook.name}`", name)
        covered = _covered(task, value, item_name, name)
        for label in labels:
            dimension = codebook.dimension_of(label)
            if dimension is None:  # the none label on a region adds nothing
                continue
            fitting = [i for i in covered if _fits(dimension, task.roles[i])]
            if not fitting:
                i = covered[0]
                task.fail(f"{item_name} puts '{label}', a label for {dimension.role} turns, on utterance "
                          f"{task.utterance_ids[i]}, a {task.roles[i]} turn",
                          "move the label to the right turn in Label Studio, or fix the speaker's role in the "
                          "corpus and export the tasks again", name)
            for i in fitting:
                labels_at.setdefault(i, set()).add(label)
    return labels_at


def _annotations(task: _Task) -> Iterator[tuple[dict, str]]:
    for position, annotation in enumerate(task.annotations):
        annotation_id = annotation.get("id") if isinstance(annotation, dict) else None
        name = f"annotation {annotation_id}" if isinstance(annotation_id, (int, str)) else \
            f"annotation #{position + 1}"
        if not isinstance(annotation, dict):
            task.fail("is not a JSON object", _EXPORT_HINT, name)
        if annotation.get("was_cancelled"):
            continue
        yield annotation, name


def _load(path: str | Path) -> tuple[str, list]:
    source = Source(Path(path))
    file = source.name
    try:
        data = loads_json(source.text)
    except json.JSONDecodeError as exc:
        raise InputError(file, f"not valid JSON ({exc.msg}), so not a Label Studio export", _EXPORT_HINT,
                         location=f"line {exc.lineno}") from None
    if not isinstance(data, list):
        raise InputError(file, f"not a Label Studio JSON export (a JSON {_JSON_KINDS.get(type(data), 'value')}, "
                               "not a list of tasks)", _EXPORT_HINT)
    if not data:
        raise InputError(file, "the export holds no tasks", "export the project after coding it")
    if not any(isinstance(task, dict) and "annotations" in task for task in data):
        if all(isinstance(task, dict) and "data" in task for task in data):
            raise InputError(file, "these are tasks to import (no task has 'annotations'), not an export",
                             "import them into Label Studio, code them, then use Export > JSON")
        raise InputError(file, "not a Label Studio JSON export (no task has 'data' and 'annotations'; "
                               "JSON-MIN and CSV exports are not read)", _EXPORT_HINT)
    return file, data


def read_labelstudio_export(path: str | Path, codebook: Codebook, rater: str | None = None) -> list[CodeRow]:
    """Codes from a Label Studio JSON export (Export > JSON: a list of tasks with ``data`` and
    ``annotations``) of a project made with `labeling_config` and `labelstudio_tasks`.

    Every annotation not cancelled (skipped) gives codes; drafts and predictions are ignored.
    The rater is `rater` when given, else ``"ls:<email>"`` or ``"ls:<user id>"`` from the
    annotation's ``completed_by`` (a user id, or a user object in some exports). A region
    codes each turn (paragraph) it touches, so selecting a few words of a turn codes the
    whole turn; a region spanning several turns codes each of them whose speaker's role the
    label's dimension applies to (turns with role ``unknown`` included), and a selection
    ending at offset 0 of a turn does not touch it. The paragraph index is mapped to
    ``data.dialogue[i].utterance_id``; offsets and the saved region text, where present,
    must fit that utterance.

    An annotation is a complete coding of its task: every utterance of the task gets at
    least one row, and an utterance left without a label in some dimension that applies to
    its role (or one whose role no dimension applies to, and that has no label) gets one
    row with the codebook's none label: the coder saw it and found nothing to code.

    Rows come in task order, then utterance order, labels in codebook order. The JSON-MIN
    and CSV exports are not read (they drop the region structure this relies on).
    Raises InputError naming the task (id and transcript_id) and annotation for a file that
    is not such an export, a label not in the codebook (with the nearest valid labels),
    a region that points past the dialogue or whose text does not match, a label on a turn
    of the wrong role, two labels of a single-label dimension on one turn, or two
    annotations that would give the same rater's codes for one transcript twice.
    """
    file, data = _load(path)
    rows: list[CodeRow] = []
    coded: dict[tuple[str, str], str] = {}
    for number, raw in enumerate(data, start=1):
        task = _Task(raw, number, file)
        for annotation, name in _annotations(task):
            who = rater if rater is not None else _rater(annotation.get("completed_by"))
            if who is None:
                task.fail(f"has no usable completed_by ({annotation.get('completed_by')!r})",
                          "name the rater yourself (--rater)", name)
            where = f"{task.name}, {name}"
            key = (task.transcript_id, who)
            if key in coded:
                task.fail(f"gives rater '{who}' a second set of codes for transcript '{task.transcript_id}' "
                          f"(the first is {coded[key]})",
                          "remove one of the annotations in Label Studio, or read without --rater to keep "
                          "annotators apart", name)
            coded[key] = where
            labels_at = _regions(task, annotation, name, codebook)
            for index, utterance_id in enumerate(task.utterance_ids):
                labels = labels_at.get(index, set())
                ordered = [label for label in codebook.labels if label in labels]
                for dimension in codebook.dimensions:
                    chosen = [label for label in ordered if label in dimension.label_names]
                    if len(chosen) > 1 and not dimension.multi_label:
                        task.fail(f"utterance {utterance_id} has {len(chosen)} labels of single-label dimension "
                                  f"'{dimension.name}' ({', '.join(chosen)})",
                                  "keep one of them in Label Studio and export again", name)
                applicable = codebook.dimensions_for(task.roles[index])
                uncoded = any(not any(label in d.label_names for label in ordered) for d in applicable)
                if not ordered or uncoded:
                    ordered.append(codebook.none_label)
                rows.extend(CodeRow(task.transcript_id, utterance_id, who, label, where=f"{file}:{where}")
                            for label in ordered)
    return rows
