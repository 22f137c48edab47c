"""Measures that every later stage shares: agreement coefficients and per-label scores
(`rupturekit.measures.agreement`) and transcript-level bootstrap intervals
(`rupturekit.measures.bootstrap`).

They sit below `tagger` and `agree`, so that the tagger's evaluation and the agreement report use
one set of definitions without the tagger importing a later stage. Pure functions, no I/O.
"""

from __future__ import annotations

from rupturekit.measures import agreement, bootstrap
from rupturekit.measures.agreement import *  # noqa: F403 - the names of its __all__
from rupturekit.measures.bootstrap import *  # noqa: F403 - the names of its __all__

__all__ = [*agreement.__all__, *bootstrap.__all__]
