"""Codebooks as data: dimensions, labels (``family.subtype``), the role each applies to.

Built-in codebooks live in ``configs/codebooks/*.yaml``; a user adds one by putting a YAML
file in a folder and naming the folder (``--codebook-dir`` or the RUPTUREKIT_CODEBOOKS
variable, a path list) or by naming the file itself.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rupturekit.bounded import load_yaml, read_text_file
from rupturekit.errors import InputError, first_problem

_LABEL_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
ENV_CODEBOOKS = "RUPTUREKIT_CODEBOOKS"


def role_applies(scope: str, role: str) -> bool:
    """Whether what is meant for `scope` (a speaker role, or "any") applies to a turn of `role`:
    the one role rule of codebook dimensions and the taggers' tasks."""
    return scope == "any" or scope == role


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    definition: str
    examples: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _dotted_name(cls, name: str) -> str:
        if not _LABEL_NAME.match(name):
            raise ValueError(f"label name '{name}' must be lower-case words joined by dots, like family.subtype")
        return name

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]


class Dimension(BaseModel):
    """A set of labels coded together, for one speaker role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    role: Literal["therapist", "client", "any"]
    multi_label: bool = False
    families: dict[str, str] = Field(default_factory=dict)
    labels: list[Label] = Field(min_length=1)

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    def applies_to(self, role: str) -> bool:
        return role_applies(self.role, role)


class Rating(BaseModel):
    """An ordinal rating scale, e.g. 3RS marker significance per segment (1-5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    unit: Literal["utterance", "segment", "session"]
    scale: tuple[int, int]
    anchors: dict[int, str] = Field(default_factory=dict)

    @field_validator("scale")
    @classmethod
    def _ordered(cls, scale: tuple[int, int]) -> tuple[int, int]:
        if scale[0] >= scale[1]:
            raise ValueError(f"a rating scale is low, high with low < high, not {scale[0]}, {scale[1]}")
        return scale


class Crosswalk(BaseModel):
    """Declared family-level correspondence to another codebook; None: no counterpart."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str
    families: dict[str, str | None]


class Codebook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    version: str = ""
    reference: str = ""
    unit: Literal["utterance", "segment", "session"] = "utterance"
    segment: str | None = None
    none_label: str = "none"
    dimensions: list[Dimension] = Field(min_length=1)
    ratings: list[Rating] = Field(default_factory=list)
    crosswalks: list[Crosswalk] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Codebook:
        seen: dict[str, str] = {}
        for dimension in self.dimensions:
            if dimension.name in seen:
                raise ValueError(f"dimension '{dimension.name}' is defined twice")
            seen[dimension.name] = "dimension"
        labels: dict[str, str] = {}
        for dimension in self.dimensions:
            for label in dimension.labels:
                if label.name in labels:
                    raise ValueError(f"label '{label.name}' is used twice (in dimensions "
                                     f"'{labels[label.name]}' and '{dimension.name}')")
                if label.name == self.none_label:
                    raise ValueError(f"label '{label.name}' is reserved for 'no label applies'")
                labels[label.name] = dimension.name
        for crosswalk in self.crosswalks:
            unknown = set(crosswalk.families) - self.families
            if unknown:
                raise ValueError(f"crosswalk to '{crosswalk.to}' names unknown families: {sorted(unknown)}")
        return self

    @cached_property
    def _dimension_of(self) -> dict[str, Dimension]:
        return {label.name: dimension for dimension in self.dimensions for label in dimension.labels}

    @property
    def labels(self) -> list[str]:
        return list(self._dimension_of)

    @property
    def families(self) -> set[str]:
        return {name.split(".", 1)[0] for name in self._dimension_of} | {
            family for d in self.dimensions for family in d.families}

    def dimension(self, name: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.name == name:
                return dimension
        raise KeyError(name)

    def dimension_of(self, label: str) -> Dimension | None:
        """The dimension a label belongs to; None for the none label or an unknown label."""
        return self._dimension_of.get(label)

    def dimensions_for(self, role: str) -> list[Dimension]:
        return [d for d in self.dimensions if d.applies_to(role)]

    def is_valid(self, label: str) -> bool:
        return label == self.none_label or label in self._dimension_of

    def suggest(self, label: str, n: int = 3) -> list[str]:
        """The valid labels nearest to a misspelt one."""
        candidates = [*self._dimension_of, self.none_label]
        close = difflib.get_close_matches(label, candidates, n=n, cutoff=0.5)
        if not close and "." in label:  # "withdrawl.denial" -> labels of the nearest family
            family = label.split(".", 1)[0]
            families = difflib.get_close_matches(family, sorted(self.families), n=1, cutoff=0.5)
            close = [c for c in candidates if families and c.startswith(families[0] + ".")][:n]
        return close

    def crosswalk(self, to: str) -> dict[str, str | None]:
        for crosswalk in self.crosswalks:
            if crosswalk.to == to:
                return crosswalk.families
        raise KeyError(to)


def builtin_codebook_dir() -> Path:
    """configs/codebooks of the checkout, or its copy inside an installed wheel."""
    packaged = Path(__file__).resolve().parent / "configs" / "codebooks"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "configs" / "codebooks"


def codebook_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Folders searched for codebooks: the user's first, the built-in ones last."""
    folders = [Path(p) for p in extra]
    folders += [Path(p) for p in os.environ.get(ENV_CODEBOOKS, "").split(os.pathsep) if p]
    folders.append(builtin_codebook_dir())
    return folders


def available_codebooks(extra: Iterable[str | Path] = ()) -> dict[str, Path]:
    """Codebook name (file stem) -> file; a user's file shadows a built-in one of the same name."""
    found: dict[str, Path] = {}
    for folder in codebook_dirs(extra):
        if folder.is_dir():
            for path in sorted(folder.glob("*.y*ml")):
                found.setdefault(path.stem, path)
    return found


def parse_codebook(text: str, file: str) -> Codebook:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InputError(file, f"not valid YAML ({problem})", "fix the codebook file",
                         location=f"line {mark.line + 1}" if mark else None) from None
    if not isinstance(data, dict):
        raise InputError(file, "a codebook must be a YAML mapping with 'name' and 'dimensions'",
                         "see configs/codebooks/3rs.yaml for the layout")
    try:
        return Codebook.model_validate(data)
    except ValidationError as exc:
        where, message = first_problem(exc)
        raise InputError(file, f"invalid codebook ({where + ': ' if where else ''}{message})",
                         "fix the codebook file; see configs/codebooks/3rs.yaml for the layout") from None


def load_codebook(name_or_path: str | Path, extra_dirs: Iterable[str | Path] = ()) -> Codebook:
    """Load a codebook by name (searching the codebook folders) or by file path."""
    path = Path(name_or_path)
    if path.suffix.lower() not in (".yaml", ".yml") or not path.exists():
        found = available_codebooks(extra_dirs)
        if str(name_or_path) not in found:
            close = difflib.get_close_matches(str(name_or_path), list(found), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"known codebooks: {', '.join(found)}."
            raise InputError(str(name_or_path), "no such codebook",
                             f"{hint} Add your own as NAME.yaml in a folder given with --codebook-dir")
        path = found[str(name_or_path)]
    text = read_text_file(path, "codebook", "see configs/codebooks/3rs.yaml for the layout")
    return parse_codebook(text, str(path))
