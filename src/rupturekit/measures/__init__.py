"""Measures that every later stage shares: agreement coefficients and per-label scores
(`rupturekit.measures.agreement`) and transcript-level bootstrap intervals
(`rupturekit.measures.bootstrap`).

They sit below `tagger` and `agree`, so that the tagger's evaluation and the agreement report use
one set of definitions without the tagger importing a later stage. Pure functions, no I/O.
"""

from __future__ import annotations

from rupturekit.measures.agreement import (
    ChanceCorrected,
    cohen_kappa,
    confusion_table,
    fleiss_kappa,
    fleiss_table,
    gwet_ac1,
    gwet_ac2,
    icc,
    krippendorff_alpha,
    label_report,
    multilabel_confusion_table,
    pabak,
    percent_agreement,
    score_report,
    weight_matrix,
    weighted_kappa,
)
from rupturekit.measures.bootstrap import BootstrapCI, bootstrap_ci

__all__ = [
    "BootstrapCI",
    "ChanceCorrected",
    "bootstrap_ci",
    "cohen_kappa",
    "confusion_table",
    "fleiss_kappa",
    "fleiss_table",
    "gwet_ac1",
    "gwet_ac2",
    "icc",
    "krippendorff_alpha",
    "label_report",
    "multilabel_confusion_table",
    "pabak",
    "percent_agreement",
    "score_report",
    "weight_matrix",
    "weighted_kappa",
]
