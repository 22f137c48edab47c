"""Human-human agreement on one comparison table, and the predicted side as one more rater.

Single-label dimensions are compared on the label; multi-label ones per label, on its presence
(1 / 0). Fleiss' kappa, Krippendorff's alpha and Gwet's AC1 among the reference raters (and,
when the predicted side is a rater, among all raters); with two or more reference raters the
predicted side's place among the humans (`rupturekit.agree.raters.model_as_rater`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from rupturekit.agree.align import PREDICTED
from rupturekit.agree.raters import model_as_rater, rater_sentence
from rupturekit.agree.results import (
    Coefficients,
    CoefficientSet,
    LeaveOneOut,
    ModelAsRaterSummary,
    PairKappa,
    RaterAgreement,
    RaterBlock,
    RaterKappa,
)
from rupturekit.agree.tables import Table, object_array
from rupturekit.measures.agreement import fleiss_kappa, fleiss_table, gwet_ac1, krippendorff_alpha

__all__ = ["coefficients", "rater_block"]


def coefficients(frame: pd.DataFrame, categories: Sequence[Any]) -> Coefficients:
    """Fleiss' kappa, Krippendorff's alpha (nominal) and Gwet's AC1 of a subjects x raters frame."""
    if frame.shape[1] < 2 or not len(frame):
        return Coefficients(raters=int(frame.shape[1]), subjects=int(len(frame)), fleiss_kappa=math.nan,
                            krippendorff_alpha=math.nan, gwet_ac1=math.nan)
    cats = list(categories)
    alpha = krippendorff_alpha(frame, level="nominal", value_domain=cats)
    ac1 = gwet_ac1(frame, categories=cats)
    return Coefficients(raters=int(frame.shape[1]), subjects=int(ac1.n_subjects),
                        fleiss_kappa=fleiss_kappa(fleiss_table(frame, categories=cats)), krippendorff_alpha=alpha,
                        gwet_ac1=float(ac1))


def _as_rater(human: pd.DataFrame, model: Any) -> ModelAsRaterSummary:
    result = model_as_rater(human, model)
    return ModelAsRaterSummary(
        rule=result.rule,
        pairwise=[PairKappa(**row) for row in _rows(result.pairwise)],
        leave_one_out=[LeaveOneOut(**row) for row in _rows(result.leave_one_out.reset_index())],
        model_vs_majority=result.model_vs_majority,
        model_vs_raters=[RaterKappa(**row) for row in _rows(result.model_vs_raters.reset_index())],
        position=result.position,
        sentence=rater_sentence(result.position))


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _agreement(reference: pd.DataFrame, predicted: Sequence[Any], categories: Sequence[Any], predicted_kind: str,
               as_rater: bool) -> RaterAgreement:
    """The coefficients of one frame; a predicted rater joins the reference for the "all" values."""
    own = coefficients(reference, categories)
    with_predicted = None
    if predicted_kind == "rater":
        column = pd.Series(list(predicted), index=reference.index, dtype=object, name=PREDICTED)
        with_predicted = coefficients(pd.concat([reference, column], axis=1), categories)
    return RaterAgreement(
        fleiss_all=with_predicted.fleiss_kappa if with_predicted is not None else None,
        fleiss_reference=own.fleiss_kappa,
        coefficients=CoefficientSet(reference=own, with_predicted=with_predicted),
        model_as_rater=_as_rater(reference, object_array(list(predicted))) if as_rater else None)


def _binary_frame(table: Table, category: str) -> pd.DataFrame:
    """Subjects x raters 0/1 presence of one category (None where not covered) in a multi-label table."""
    def conv(v: Any) -> Any:
        return None if v is None else int(category in v)
    return table.reference.map(conv) if len(table) else table.reference


def rater_block(table: Table, predicted_kind: str) -> RaterBlock:
    """Human-human agreement, and the predicted side as one more rater."""
    raters = list(table.reference.columns)
    block = RaterBlock(reference_raters=raters, n_reference_raters=len(raters))
    if not len(table):
        return block
    several = len(raters) >= 2
    if not table.multi_label:
        block.overall = _agreement(table.reference, table.predicted, list(table.categories), predicted_kind, several)
        return block
    block.per_label = {}
    for cat in table.categories:
        frame = _binary_frame(table, cat)
        used = bool((frame == 1).any().any())
        if not used and not any(v is not None and cat in v for v in table.predicted):
            continue
        pred = [None if v is None else int(cat in v) for v in table.predicted]
        block.per_label[cat] = _agreement(frame, pred, [0, 1], predicted_kind, several and used)
    return block
