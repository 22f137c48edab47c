"""Agreement statistics: machine tags against human observer codes, and humans against each other.

Pure functions on numpy / pandas inputs. See `rupturekit.agree.stats` for the coefficients,
`rupturekit.agree.bootstrap` for transcript-level confidence intervals and
`rupturekit.agree.raters` for treating the model as one more rater.
"""

from __future__ import annotations

from rupturekit.agree.bootstrap import BootstrapCI, bootstrap_ci
from rupturekit.agree.raters import (
    MajorityComparison,
    ModelAsRater,
    ModelPosition,
    majority_vote,
    model_as_rater,
)
from rupturekit.agree.stats import (
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

__all__ = [
    "BootstrapCI",
    "ChanceCorrected",
    "MajorityComparison",
    "ModelAsRater",
    "ModelPosition",
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
    "majority_vote",
    "model_as_rater",
    "multilabel_confusion_table",
    "pabak",
    "percent_agreement",
    "score_report",
    "weight_matrix",
    "weighted_kappa",
]
