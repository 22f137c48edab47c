"""The feature registry: each feature is a function over a `Context`, declared with `@feature`.

The declaration is the single source of `FEATURES`: a function is registered with its
`FeatureSpec` at import, in definition order, and that order is the column order of a
`FeatureTable`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rupturekit.features.context import Context

FAMILIES = ("withdrawal", "confrontation", "resolution", "dynamics")
CLIENT: tuple[str, ...] = ("client",)
THERAPIST: tuple[str, ...] = ("therapist",)
BOTH: tuple[str, ...] = ("client", "therapist")


@dataclass(frozen=True)
class FeatureSpec:
    name: str  # snake_case, unique
    family: str  # "withdrawal" | "confrontation" | "resolution" | "dynamics"
    markers: tuple[str, ...]  # 3RS label names it derives from (empty for generic dynamics)
    roles: tuple[str, ...]  # roles it is meaningful for
    description: str  # one line, what it measures
    needs: tuple[str, ...] = ()  # features it reads (`Context.columns`), all registered before it
    flag: bool = False  # a 0/1 cue flag (a labeling function for the weak labeler, first in evidence)


FeatureFunction = Callable[["Context"], np.ndarray]
REGISTRY: list[tuple[FeatureSpec, FeatureFunction]] = []


def feature(name: str, family: str, markers: tuple[str, ...] | str = (), roles: tuple[str, ...] = CLIENT,
            description: str = "", needs: tuple[str, ...] = (), flag: bool = False
            ) -> Callable[[FeatureFunction], FeatureFunction]:
    """Register the decorated function as the feature `name`.

    `needs`: the features whose values it reads from `Context.columns`; they must be registered
    before it, and a subset of features (`with_needs`) computes them too. `flag`: the feature is 0
    or 1 (a cue that fired or not); flags become labeling functions and lead a tag's evidence.
    `markers` are 3RS label names (``family.subtype``); a bare subtype such as ``"denial"``
    is completed with the feature's family. `description` defaults to the docstring's first line.
    """
    if family not in FAMILIES:
        raise ValueError(f"feature {name}: family must be one of {FAMILIES}")
    marker_tuple = (markers,) if isinstance(markers, str) else tuple(markers)
    marker_tuple = tuple(m if "." in m else f"{family}.{m}" for m in marker_tuple)

    def register(function: FeatureFunction) -> FeatureFunction:
        if any(spec.name == name for spec, _ in REGISTRY):
            raise ValueError(f"feature {name} is registered twice")
        text = description or (function.__doc__ or "").strip().splitlines()[0]
        registered = {spec.name for spec, _ in REGISTRY}
        missing = [n for n in needs if n not in registered]
        if missing:
            raise ValueError(f"feature {name} needs {missing}, which are not registered before it")
        REGISTRY.append((FeatureSpec(name, family, marker_tuple, tuple(roles), text, tuple(needs), flag), function))
        return function

    return register


def with_needs(names: set[str] | frozenset[str]) -> set[str]:
    """`names` and every feature they need, directly or not."""
    specs = {spec.name: spec for spec, _ in REGISTRY}
    out: set[str] = set()
    todo = [n for n in names if n in specs]
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo.extend(specs[name].needs)
    return out
