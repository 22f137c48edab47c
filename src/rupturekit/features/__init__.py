"""Per-utterance features for 3RS rupture markers and resolution strategies.

    from rupturekit.features import FEATURES, FeatureExtractor
    table = FeatureExtractor()(transcripts)      # FeatureTable: keys, names, values (float32)
    frame = table.to_pandas()                    # transcript_id, utterance_id, role, features...

Each feature is declared once, with its `FeatureSpec` (family, the 3RS markers it derives
from, the roles it is meant for), in `definitions.py`; `FEATURES` is built from those
declarations. Every feature is computed for every utterance whatever its role (see
`definitions` for the conventions); lexicons are data in `lexicons.py`.
"""

from __future__ import annotations

from rupturekit.features.definitions import FEATURES
from rupturekit.features.extract import FeatureExtractor, FeatureTable
from rupturekit.features.registry import FeatureSpec

__all__ = ["FEATURES", "FeatureExtractor", "FeatureSpec", "FeatureTable"]
