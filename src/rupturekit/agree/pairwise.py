"""Two coders (or a model and a coder) on presence/absence codes: Cohen's kappa, Gwet's AC1 and
PABAK per label and per family, at the utterance or the 3RS segment level, with 95% CIs from a
bootstrap that resamples whole transcripts.

Every statistic here is a function of one 2x2 table (both code it / only A / only B / neither),
so each transcript is reduced to its four counts and a bootstrap resample is a sum of counts:
thousands of resamples over dozens of labels take a fraction of a second. `rupturekit.measures.agreement`
has the general (multi-category, missing data) versions; the test suite checks that both agree on
the point estimates. Own code for that reason: speed of the bootstrap, not new statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rupturekit.records import Transcript

__all__ = ["ANY", "PairAgreement", "agreement_from_indicators", "binary_statistics", "pairwise_agreement",
           "presence"]

ANY = "any"  # the category "any label of the role at all" (any client marker, any resolution strategy)


def binary_statistics(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
    """kappa, AC1, PABAK and percent agreement from 2x2 counts (a: both, b: A only, c: B only,
    d: neither); arrays broadcast. Undefined values are NaN."""
    a, b, c, d = (np.asarray(x, dtype=np.float64) for x in (a, b, c, d))
    n = a + b + c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        po = (a + d) / n
        pa, pb = (a + b) / n, (a + c) / n
        pe_kappa = pa * pb + (1 - pa) * (1 - pb)
        kappa = (po - pe_kappa) / (1 - pe_kappa)
        pi = (pa + pb) / 2
        pe_ac1 = 2 * pi * (1 - pi)
        ac1 = (po - pe_ac1) / (1 - pe_ac1)
        pabak = 2 * po - 1
    kappa = np.where(np.isclose(pe_kappa, 1.0), np.nan, kappa)
    return {"kappa": kappa, "ac1": ac1, "pabak": pabak, "agreement": po}


@dataclass
class PairAgreement:
    """One category (label or family) at one unit, rater A against rater B."""

    category: str
    unit: str
    n: int  # units compared
    a_positive: int
    b_positive: int
    both: int
    kappa: float
    ac1: float
    pabak: float
    kappa_ci: tuple[float, float]
    ac1_ci: tuple[float, float]
    pabak_ci: tuple[float, float]


def presence(transcripts: Sequence[Transcript], rater: str, categories: Sequence[str], role: str,
             unit: str = "utterance") -> tuple[list[tuple[str, object]], np.ndarray]:
    """(units, indicators): one row per unit, its (transcript id, utterance or segment id) and a
    0/1 column per category.

    A category is a label (``withdrawal.denial``), a family (``withdrawal``: any of its labels) or
    `ANY` (any label at all).
    `unit` "utterance": every utterance of `role`; "segment": every coding segment (`segment_id`)
    that holds an utterance of `role`, positive when any of them carries the category. Utterances
    the rater did not code are left out (at segment level, a segment counts when the rater coded
    any of its utterances)."""
    units: list[tuple[str, object]] = []
    rows: list[np.ndarray] = []
    for transcript in transcripts:
        per_unit: dict[object, np.ndarray] = {}
        for utterance in transcript.utterances:
            if utterance.role != role:
                continue
            labels = [code.label for code in utterance.codes if code.rater == rater]
            if not labels:
                continue
            marked = [label for label in labels if label != "none"]
            row = np.asarray([bool(marked) if cat == ANY else
                              any(label == cat or label.split(".", 1)[0] == cat for label in marked)
                              for cat in categories], dtype=bool)
            key = utterance.utterance_id if unit == "utterance" else utterance.segment_id
            per_unit[key] = per_unit[key] | row if key in per_unit else row
        for key, row in per_unit.items():
            units.append((transcript.transcript_id, key))
            rows.append(row)
    matrix = np.vstack(rows) if rows else np.zeros((0, len(categories)), dtype=bool)
    return units, matrix


def pairwise_agreement(transcripts: Sequence[Transcript], rater_a: str, rater_b: str, categories: Sequence[str],
                       role: str, unit: str = "utterance", n_bootstrap: int = 1000,
                       seed: int = 0) -> list[PairAgreement]:
    """Agreement of `rater_a` and `rater_b` per category on the units both coded (see `presence`)."""
    units_a, x = presence(transcripts, rater_a, categories, role, unit)
    units_b, y = presence(transcripts, rater_b, categories, role, unit)
    if units_a != units_b:  # the same units in the same order, not merely as many
        raise ValueError(f"raters {rater_a} and {rater_b} coded different units; compare complete passes")
    groups = np.asarray([u[0] for u in units_a], dtype=object)
    return agreement_from_indicators(groups, x, y, categories, unit, n_bootstrap, seed)


def agreement_from_indicators(groups: np.ndarray, x: np.ndarray, y: np.ndarray, categories: Sequence[str],
                              unit: str = "utterance", n_bootstrap: int = 1000, seed: int = 0) -> list[PairAgreement]:
    """Per category (column): kappa, AC1 and PABAK of two 0/1 matrices over the same units, with
    transcript-bootstrap 95% CIs (`groups`: the transcript of each row)."""
    x, y = np.asarray(x, dtype=bool), np.asarray(y, dtype=bool)
    names = sorted(set(np.asarray(groups, dtype=object).tolist()))
    index = {name: i for i, name in enumerate(names)}
    which = np.asarray([index[g] for g in groups], dtype=np.int64)
    # per transcript x category: the four cells
    cells = np.zeros((4, len(names), len(categories)))
    for k, mask in enumerate((x & y, x & ~y, ~x & y, ~x & ~y)):
        np.add.at(cells[k], which, mask.astype(np.float64))
    total = cells.sum(axis=1)  # (4, categories)
    point = binary_statistics(*total)
    intervals: dict[str, np.ndarray] = {}
    if n_bootstrap and names:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(names), size=(n_bootstrap, len(names)))
        counts = np.zeros((n_bootstrap, len(names)))
        np.add.at(counts, (np.repeat(np.arange(n_bootstrap), len(names)), draws.ravel()), 1.0)
        resampled = np.einsum("rt,ktc->krc", counts, cells)  # (4, resamples, categories)
        stats = binary_statistics(*resampled)
        with np.errstate(all="ignore"):
            for name in ("kappa", "ac1", "pabak"):
                values = stats[name]
                intervals[name] = np.array([
                    np.nanpercentile(values[:, j], [2.5, 97.5]) if np.isfinite(values[:, j]).any()
                    else [math.nan, math.nan] for j in range(values.shape[1])]).T  # NaN resamples skipped
    def ci(name: str, j: int) -> tuple[float, float]:
        if name not in intervals:
            return (math.nan, math.nan)
        low, high = intervals[name][:, j]
        return (float(low), float(high))

    out = []
    for j, category in enumerate(categories):
        out.append(PairAgreement(
            category, unit, int(total[:, j].sum()), int(x[:, j].sum()), int(y[:, j].sum()), int(total[0, j]),
            float(point["kappa"][j]), float(point["ac1"][j]), float(point["pabak"][j]),
            ci("kappa", j), ci("ac1", j), ci("pabak", j)))
    return out
