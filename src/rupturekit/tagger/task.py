"""The one task type of both taggers, their trainers and evaluation: a codebook dimension as a
prediction task (`Task`), and the same task as a transformer model carries it (`TaskSpec`: with
its codebook, loss weight and tuned thresholds). Model folders store both as JSON objects with the
field names used here (``name``, ``role``, ``multi_label``, ``labels``, ``level``; a `TaskSpec`
adds ``codebook``, ``aux``, ``weight`` and ``thresholds``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rupturekit.codebook import Codebook, role_applies
from rupturekit.errors import InputError

__all__ = ["Task", "TaskSpec", "check_codebook"]


@dataclass(frozen=True)
class Task:
    """One dimension as a prediction task; at level 'family', labels are the families."""

    name: str
    role: str
    multi_label: bool
    labels: tuple[str, ...]
    level: str = "label"

    def target(self, label: str) -> str:
        return label.split(".", 1)[0] if self.level == "family" else label

    def applies_to(self, role: str) -> bool:
        return role_applies(self.role, role)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "multi_label": self.multi_label, "labels": list(self.labels),
                "level": self.level}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(str(data["name"]), str(data["role"]), bool(data["multi_label"]),
                   tuple(str(x) for x in data["labels"]), str(data.get("level", "label")))


class TaskSpec(Task):
    """A task of a transformer model: a dimension of the main codebook, or an auxiliary one.

    The `Task` (frozen) with what the model adds: the `codebook` it comes from, whether it is `aux`,
    its `weight` in the loss, and its tuned per-label `thresholds` (multi-label; None: 0.5), which
    `set_threshold` and training change. A plain subclass rather than a dataclass, because those
    attributes change while the task's own fields stay frozen (a frozen dataclass lets a subclass
    add attributes of its own), and its arguments come codebook first, as model code builds it."""

    codebook: str
    aux: bool
    weight: float
    thresholds: list[float] | None

    def __init__(self, codebook: str, name: str, role: str, multi_label: bool, labels: tuple[str, ...],
                 level: str = "label", aux: bool = False, weight: float = 1.0,
                 thresholds: list[float] | None = None):
        super().__init__(name, role, multi_label, labels, level)
        self.codebook = codebook
        self.aux = aux
        self.weight = weight
        self.thresholds = thresholds

    # as a mutable record: equal when every attribute is, and not hashable
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TaskSpec({', '.join(f'{key}={value!r}' for key, value in vars(self).items())})"

    @property
    def key(self) -> str:
        """Module-safe name of the task's head (codebook and dimension)."""
        return re.sub(r"[^0-9A-Za-z_]", "_", f"{self.codebook}__{self.name}")

    def task(self) -> Task:
        """The plain `Task` (what examples and scores are keyed by)."""
        return Task(self.name, self.role, self.multi_label, self.labels, self.level)

    @classmethod
    def of(cls, task: Task, codebook: str, aux: bool = False, weight: float = 1.0) -> TaskSpec:
        return cls(codebook, task.name, task.role, task.multi_label, tuple(task.labels), task.level, aux, weight)

    def to_json(self) -> dict[str, Any]:
        return {"codebook": self.codebook, **super().to_json(), "aux": self.aux, "weight": self.weight,
                "thresholds": (None if self.thresholds is None else
                               {label: round(float(t), 6) for label, t in zip(self.labels, self.thresholds,
                                                                               strict=True)})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskSpec:
        task = Task.from_json(data)
        thresholds = data.get("thresholds")
        return cls(str(data["codebook"]), task.name, task.role, task.multi_label, task.labels, task.level,
                   bool(data.get("aux", False)), float(data.get("weight", 1.0)),
                   None if thresholds is None else [float(thresholds[label]) for label in task.labels])


def check_codebook(where: str, own: str, tasks: Iterable[Task], codebook: str | Path | Codebook | None) -> None:
    """The check of both taggers on load: a model of codebook `own` is asked for `codebook` (a name,
    a codebook file, or a Codebook, whose copy must then still hold every label of `tasks`)."""
    if codebook is None:
        return
    expected = codebook.name if isinstance(codebook, Codebook) else codebook
    if str(expected).lower().endswith((".yaml", ".yml")) and Path(expected).exists():
        from rupturekit.codebook import load_codebook

        expected = load_codebook(expected).name
    if expected != own:
        raise InputError(where, f"the model tags codebook '{own}', not '{expected}'",
                         f"use a model trained on '{expected}', or pass --codebook {own}")
    if isinstance(codebook, Codebook):
        missing = [label for task in tasks if task.level == "label" for label in task.labels
                   if codebook.dimension_of(label) is None]
        if missing:
            raise InputError(where, f"the model's labels {', '.join(missing[:3])} are not in codebook "
                             f"'{codebook.name}' as given", "retrain the model on this codebook version")
