"""`FeatureExtractor`: transcripts in, a `FeatureTable` (one row per utterance) out."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rupturekit.features.context import Context
from rupturekit.features.definitions import FEATURES, FLAGS
from rupturekit.features.registry import REGISTRY, with_needs
from rupturekit.records import Transcript

if TYPE_CHECKING:
    import pandas

log = logging.getLogger(__name__)

# The features that read the static embeddings (`Context.embed_cos_prev_other`).
_EMBEDDING_USERS = frozenset({"embed_cos_prev", "topic_shift"})
# The features that read the speaker's median length (every turn of the speaker counted).
_MEDIAN_USERS = frozenset({"len_vs_own_median", "short_vs_own_median", "long_vs_own_median"})


@dataclass
class FeatureTable:
    """Feature values, one row per utterance in corpus order, one column per `FEATURES` entry."""

    keys: list[tuple[str, int]]  # (transcript_id, utterance_id) per row, in corpus order
    names: list[str]  # == [f.name for f in FEATURES]
    values: np.ndarray  # float32, (n_utterances, n_features), no NaN
    roles: list[str] = field(default_factory=list)  # role per row ("unknown" where not given)

    def __post_init__(self) -> None:
        if not self.roles:
            self.roles = ["unknown"] * len(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def column(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"no feature named {name!r}") from None

    def to_pandas(self) -> pandas.DataFrame:
        """Columns transcript_id, utterance_id, role, then the features."""
        import pandas as pd

        frame = pd.DataFrame(self.values, columns=self.names)
        frame.insert(0, "role", self.roles)
        frame.insert(0, "utterance_id", [k[1] for k in self.keys])
        frame.insert(0, "transcript_id", [k[0] for k in self.keys])
        return frame


class FeatureExtractor:
    """Compute every feature in `FEATURES` for every utterance of the transcripts.

    `batch_size` is spaCy's `nlp.pipe` batch size. With `embeddings=False`, or when the
    all-MiniLM-L6-v2 package is missing (a warning is logged), `embed_cos_prev` is 0 and
    `topic_shift` uses the lexical overlap only; `embeddings_used_` says which happened.
    """

    def __init__(self, batch_size: int = 256, embeddings: bool = True):
        self.batch_size = batch_size
        self.embeddings = embeddings
        self.embeddings_used_: bool | None = None  # set by each call

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in FEATURES]

    def __call__(self, transcripts: Iterable[Transcript], only: Collection[str] | None = None,
                 focus: np.ndarray | None = None) -> FeatureTable:
        """The feature table; with `only`, just those features (and the ones they need) are
        computed, and the other columns are 0; with `focus` (a boolean per row), only those rows'
        values are exact (see `Context`): what evidence for a few tagged turns needs."""
        utterances = [u for t in transcripts for u in t.utterances]
        keys = [(u.transcript_id, u.utterance_id) for u in utterances]
        roles = [u.role for u in utterances]
        values = np.zeros((len(utterances), len(REGISTRY)), dtype=np.float32)
        if not utterances:
            self.embeddings_used_ = False
            return FeatureTable(keys, self.names, values, roles)
        wanted = None if only is None else with_needs(set(only))
        embeddings = self.embeddings and (wanted is None or bool(wanted & _EMBEDDING_USERS))
        if not self.embeddings:
            log.info("embeddings off (embeddings=False): embed_cos_prev is 0")
        all_words = focus is None or wanted is None or bool(wanted & _MEDIAN_USERS)
        context = Context(utterances, batch_size=self.batch_size, embeddings=embeddings, focus=focus,
                          all_words=all_words)
        # Computed once up front, so later features (topic_shift) see whether it worked.
        _ = context.embed_cos_prev_other
        for column, (spec, function) in enumerate(REGISTRY):
            if wanted is not None and spec.name not in wanted:
                continue
            result = np.asarray(function(context), dtype=np.float64)
            if result.shape != (context.n,):
                raise ValueError(f"feature {spec.name} returned shape {result.shape}, expected ({context.n},)")
            result = np.nan_to_num(result, nan=0.0, posinf=0.0, neginf=0.0)
            context.columns[spec.name] = result
            values[:, column] = result
        self.embeddings_used_ = context.embeddings_used
        return FeatureTable(keys, self.names, values, roles)

    def evidence(self, table: FeatureTable, row: int, top: int = 5,
                 scale: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The row's non-zero features as (name, value), most telling first, at most `top`.

        Cue flags that fired come first, then the other cue features (those with 3RS
        markers), then generic dynamics; within each group, larger values first, measured
        relative to each column's largest absolute value over `scale` (default: the rows of the
        utterance's own transcript, so that the order does not depend on which other sessions
        were tagged alongside; a count at its session maximum and a flag at 1 weigh the same).
        """
        values = table.values[row].astype(np.float64)
        if scale is None:
            tid = table.keys[row][0]
            scale = np.abs(table.values[[i for i, key in enumerate(table.keys) if key[0] == tid]]).max(axis=0)
        scale = np.asarray(scale, dtype=np.float64)
        relative = np.divide(np.abs(values), scale, out=np.zeros_like(values), where=scale > 0)
        specs = {spec.name: spec for spec in FEATURES}

        def group(name: str) -> int:
            spec = specs.get(name)
            if spec is None or not spec.markers:
                return 2
            return 0 if name in FLAGS else 1

        order = sorted(np.flatnonzero(values != 0).tolist(),
                       key=lambda i: (group(table.names[i]), -round(float(relative[i]), 6), i))
        return [(table.names[i], float(values[i])) for i in order[:top]]


def transcript_maxima(table: FeatureTable, only: Iterable[int] | None = None) -> dict[str, np.ndarray]:
    """Each transcript's largest absolute value per column (the scale `evidence` reads), over the
    rows `only` when given."""
    rows: dict[str, list[int]] = {}
    for i in range(len(table.keys)) if only is None else only:
        rows.setdefault(table.keys[i][0], []).append(i)
    return {tid: np.abs(table.values[index]).max(axis=0) for tid, index in rows.items()}
