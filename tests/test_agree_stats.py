"""Agreement statistics against published worked examples, plus behaviour tests.

Every known-answer test names its source and carries the data it uses. Values are compared to
3 decimals (``round(x, 3)``), or to the precision the source prints where that is coarser.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from rupturekit.agree import majority_vote, model_as_rater
from rupturekit.measures import (
    BootstrapCI,
    ChanceCorrected,
    bootstrap_ci,
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

nan = np.nan


def r3(x: float) -> float:
    return round(float(x), 3)


def expand_table(table: list[list[int]], labels: list) -> tuple[list, list]:
    """Two raters' label vectors from a contingency table (rows rater 1, columns rater 2)."""
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [labels[i]] * count
            b += [labels[j]] * count
    return a, b


def expand_distribution(counts: list[list[int]]) -> np.ndarray:
    """Raw subjects x raters ratings (categories 1..q) from a subjects x categories count table."""
    rows = []
    for row in counts:
        rows.append([k + 1 for k, c in enumerate(row) for _ in range(c)])
    return np.array(rows, dtype=float)


# --------------------------------------------------------------------------- #
# Fleiss' kappa
# --------------------------------------------------------------------------- #
# Fleiss (1971), as worked on Wikipedia, "Fleiss' kappa", section "Worked example":
# 10 subjects, 5 categories, 14 raters each; P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_worked_example():
    assert r3(fleiss_kappa(FLEISS_WIKIPEDIA)) == 0.210
    t = np.array(FLEISS_WIKIPEDIA, dtype=float)
    p_bar = np.mean(((t * t).sum(1) - 14) / (14 * 13))
    p_e = np.sum((t.sum(0) / t.sum()) ** 2)
    assert (r3(p_bar), r3(p_e)) == (0.378, 0.213)


# irrCAC R package (Gwet, K. L., 2019, v1.0, CRAN; README / vignette "overview"), dataset
# distrib.6raters: 15 psychiatric patients, 6 raters, 5 diagnoses (Depression, Personality
# Disorder, Schizophrenia, Neurosis, Other). fleiss.kappa.dist -> 0.4139265; gwet.ac1.dist ->
# AC1 = 0.4448007 (pa 0.5511111, pe 0.1914815); with quadratic weights (vignette "weighting")
# gwet.ac1.dist -> AC2 = 0.4837438 (pa 0.8544444, pe 0.7180556).
DISTRIB_6RATERS = [
    [0, 0, 0, 6, 0],
    [0, 3, 0, 0, 3],
    [0, 1, 4, 0, 1],
    [0, 0, 0, 0, 6],
    [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0],
    [0, 0, 4, 0, 2],
    [2, 0, 3, 1, 0],
    [2, 0, 0, 4, 0],
    [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0],
    [1, 1, 0, 4, 0],
    [0, 3, 3, 0, 0],
    [1, 0, 0, 5, 0],
    [0, 2, 0, 3, 1],
]


def test_fleiss_kappa_irrcac_distrib_6raters():
    assert r3(fleiss_kappa(DISTRIB_6RATERS)) == 0.414
    raw = expand_distribution(DISTRIB_6RATERS)
    table = fleiss_table(raw, categories=[1, 2, 3, 4, 5])
    assert table.to_numpy().tolist() == DISTRIB_6RATERS
    assert fleiss_kappa(table) == pytest.approx(0.4139265, abs=5e-7)


# irrCAC README, dataset cac.raw4raters: 12 subjects x 4 raters, categories 1-5, with missing
# ratings (the same data as Krippendorff's 2011 example below, transposed). Published:
# fleiss.kappa.raw -> 0.76117 (pa 0.8181818, pe 0.2387153); gwet.ac1.raw -> AC1 0.77544
# (pa 0.8181818, pe 0.1903212); vignette "weighting": gwet.ac1.raw(weights = "quadratic") ->
# AC2 0.914 (pa 0.9753788, pe 0.7137044).
CAC_RAW4RATERS = np.array(
    [
        [1, 1, nan, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [nan, 5, 5, 5],
        [nan, nan, 1, 1],
        [nan, nan, 3, nan],
    ]
)


def test_fleiss_table_with_missing_ratings_and_unequal_raters():
    table = fleiss_table(CAC_RAW4RATERS)
    assert list(table.columns) == [1, 2, 3, 4, 5]
    assert table.iloc[0].tolist() == [3, 0, 0, 0, 0]
    assert table.iloc[5].tolist() == [1, 1, 1, 1, 0]
    assert table.sum(axis=1).tolist() == [3, 4, 4, 4, 4, 4, 4, 4, 4, 3, 2, 1]
    # An unused category keeps its (zero) column; an unknown label is an error.
    wide = fleiss_table([["a", None], ["a", "b"]], categories=["a", "b", "c"])
    assert wide.to_numpy().tolist() == [[1, 0, 0], [1, 1, 0]]
    with pytest.raises(ValueError, match="not among categories"):
        fleiss_table([["a", "z"]], categories=["a", "b"])


def test_fleiss_kappa_unequal_raters_irrcac_raw4raters():
    # statsmodels needs a constant number of raters; the Gwet (2014) generalisation takes over.
    assert fleiss_kappa(fleiss_table(CAC_RAW4RATERS)) == pytest.approx(0.76117, abs=5e-6)


def test_fleiss_kappa_undefined_is_nan():
    assert math.isnan(fleiss_kappa([[1, 0], [0, 1]]))  # one rater per subject: no pairs
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))  # one category only: p_e = 1


# --------------------------------------------------------------------------- #
# Krippendorff's alpha
# --------------------------------------------------------------------------- #
# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
# Communication, University of Pennsylvania, section C (4 observers x 12 units, missing data):
# nominal alpha = 0.743, ordinal 0.815, interval 0.849, ratio 0.797. (The krippendorff package's
# documentation reproduces the same data and values; irrCAC's krippen.alpha.raw on this data
# gives 0.74342 unweighted and 0.84911 with quadratic weights.) Rows observers A-D, columns units.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_alpha_published_example(level, expected):
    units_by_observers = KRIPPENDORFF_2011.T  # our convention: subjects x raters
    assert r3(krippendorff_alpha(units_by_observers, level=level)) == expected


def test_krippendorff_alpha_string_labels_and_none():
    names = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    labelled = pd.DataFrame(KRIPPENDORFF_2011.T).map(lambda v: None if np.isnan(v) else names[int(v)])
    assert r3(krippendorff_alpha(labelled, level="nominal")) == 0.743
    order = ["very low", "low", "mid", "high", "very high"]
    assert r3(krippendorff_alpha(labelled, level="ordinal", value_domain=order)) == 0.815
    with pytest.raises(ValueError, match="value_domain"):
        krippendorff_alpha(labelled, level="ordinal")
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha(labelled, level="interval")


def test_krippendorff_alpha_no_variation_is_nan():
    assert math.isnan(krippendorff_alpha([[1, 1], [1, 1], [1, None]]))


# --------------------------------------------------------------------------- #
# Gwet's AC1 / AC2
# --------------------------------------------------------------------------- #
def test_gwet_ac1_multirater_missing_irrcac_raw4raters():
    ac1 = gwet_ac1(CAC_RAW4RATERS)
    assert isinstance(ac1, ChanceCorrected)
    assert ac1.value == pytest.approx(0.77544, abs=5e-6)
    assert ac1.pa == pytest.approx(0.8181818, abs=5e-8)
    assert ac1.pe == pytest.approx(0.1903212, abs=5e-8)
    assert r3(float(ac1)) == 0.775
    assert ac1.n_subjects == 11  # subject 12 has a single rating and does not enter p_a


def test_gwet_ac2_quadratic_irrcac_raw4raters():
    ac2 = gwet_ac2(CAC_RAW4RATERS, weights="quadratic")
    assert r3(ac2.value) == 0.914
    assert ac2.pa == pytest.approx(0.9753788, abs=5e-8)
    assert ac2.pe == pytest.approx(0.7137044, abs=5e-8)


def test_gwet_ac1_ac2_irrcac_distrib_6raters():
    raw = expand_distribution(DISTRIB_6RATERS)
    ac1 = gwet_ac1(raw, categories=[1, 2, 3, 4, 5])
    assert (ac1.value, ac1.pa, ac1.pe) == pytest.approx((0.4448007, 0.5511111, 0.1914815), abs=5e-7)
    ac2 = gwet_ac2(raw, weights="quadratic", categories=[1, 2, 3, 4, 5])
    assert (ac2.value, ac2.pa, ac2.pe) == pytest.approx((0.4837438, 0.8544444, 0.7180556), abs=5e-7)


# irrCAC README and vignette "weighting", dataset cont3x3abstractors: two abstractors classify
# 100 pregnant women (Ectopic, AIU, NIU). Rows abstractor 1, columns abstractor 2. Published:
# Cohen's kappa 0.7964094; Gwet's AC1 0.8493305; percent agreement 0.89; with quadratic weights
# Cohen's kappa 0.8921569 and Gwet's AC2 0.9402369.
CONT3X3_ABSTRACTORS = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]


def test_two_raters_irrcac_cont3x3abstractors():
    a, b = expand_table(CONT3X3_ABSTRACTORS, [1, 2, 3])
    pair = np.column_stack([a, b])
    assert gwet_ac1(pair).value == pytest.approx(0.8493305, abs=5e-7)
    assert gwet_ac2(pair, weights="quadratic").value == pytest.approx(0.9402369, abs=5e-7)
    assert cohen_kappa(a, b) == pytest.approx(0.7964094, abs=5e-7)
    assert weighted_kappa(a, b, weights="quadratic") == pytest.approx(0.8921569, abs=5e-7)
    assert percent_agreement(a, b) == pytest.approx(0.89)


def test_weight_matrices_match_irrcac_vignette():
    # irrCAC vignette "weighting": linear.weights(1:3), ordinal.weights(1:3), quadratic.weights(1:3).
    np.testing.assert_allclose(weight_matrix([1, 2, 3], "linear"), [[1, 0.5, 0], [0.5, 1, 0.5], [0, 0.5, 1]])
    np.testing.assert_allclose(weight_matrix([1, 2, 3], "ordinal"), [[1, 2 / 3, 0], [2 / 3, 1, 2 / 3], [0, 2 / 3, 1]])
    np.testing.assert_allclose(weight_matrix([1, 2, 3], "quadratic"), [[1, 0.75, 0], [0.75, 1, 0.75], [0, 0.75, 1]])
    np.testing.assert_allclose(weight_matrix(["lo", "mid", "hi"], "identity"), np.eye(3))


def test_gwet_ac2_ordinal_default_and_custom_weights():
    a, b = expand_table(CONT3X3_ABSTRACTORS, [1, 2, 3])
    pair = np.column_stack([a, b])
    # With 3 categories the ordinal weights equal the custom matrix written out here.
    custom = np.array([[1, 2 / 3, 0], [2 / 3, 1, 2 / 3], [0, 2 / 3, 1]])
    assert gwet_ac2(pair).value == pytest.approx(gwet_ac2(pair, weights=custom).value)
    with pytest.raises(ValueError, match="3 x 3"):
        gwet_ac2(pair, weights=np.eye(2))


def test_gwet_string_labels_with_none():
    ratings = [["R", "R", None], ["N", "N", "N"], ["R", "N", None], [None, None, "N"]]
    ac1 = gwet_ac1(ratings)
    # Hand computation (Gwet 2014): subjects 1-3 have >= 2 ratings; pairwise agreement 1, 1, 0.
    # p_a = 2/3; pi_N = mean(0, 1, 1/2, 1) = 5/8, pi_R = 3/8; p_e = 2 * (5/8)(3/8) / (2 - 1) = 15/32.
    assert ac1.pa == pytest.approx(2 / 3)
    assert ac1.pe == pytest.approx(15 / 32)
    assert ac1.value == pytest.approx((2 / 3 - 15 / 32) / (1 - 15 / 32))
    assert ac1.categories == ("N", "R")


# --------------------------------------------------------------------------- #
# Intraclass correlation
# --------------------------------------------------------------------------- #
# Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater
# reliability. Psychological Bulletin, 86(2), 420-428. Table 2: 6 targets x 4 judges. Table 4
# prints ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71, ICC(1,4) = .44, ICC(2,4) = .62,
# ICC(3,4) = .91.
SHROUT_FLEISS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ]
)


def test_icc_shrout_fleiss_published_two_decimals():
    result = icc(SHROUT_FLEISS)
    published = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
    for name, value in published.items():
        assert round(result.loc[name, "icc"], 2) == value, name
    assert result["shrout_fleiss"].tolist() == ["ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)"]
    assert result.loc["ICC2", "mcgraw_wong"] == "ICC(A,1)"
    assert result.attrs["n_targets"] == 6 and result.attrs["n_raters"] == 4


def test_icc_shrout_fleiss_three_decimals_by_hand():
    # Hand computation from Shrout & Fleiss's formulas. Sums of squares of Table 2 (grand total
    # 127, n = 6, k = 4): targets 1349/24, judges 2339/24, residual 367/24 (total 4055/24).
    n, k = 6, 4
    bms = 1349 / 24 / (n - 1)  # 11.24 in S&F Table 3
    jms = 2339 / 24 / (k - 1)  # 32.49
    ems = 367 / 24 / ((n - 1) * (k - 1))  # 1.02
    wms = (2339 + 367) / 24 / (n * (k - 1))  # 6.26
    expected = {
        "ICC1": (bms - wms) / (bms + (k - 1) * wms),
        "ICC2": (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n),
        "ICC3": (bms - ems) / (bms + (k - 1) * ems),
        "ICC1k": (bms - wms) / bms,
        "ICC2k": (bms - ems) / (bms + (jms - ems) / n),
        "ICC3k": (bms - ems) / bms,
    }
    assert {name: r3(v) for name, v in expected.items()} == {
        "ICC1": 0.166,
        "ICC2": 0.290,
        "ICC3": 0.715,
        "ICC1k": 0.443,
        "ICC2k": 0.620,
        "ICC3k": 0.909,
    }
    result = icc(SHROUT_FLEISS)
    for name, value in expected.items():
        assert r3(result.loc[name, "icc"]) == r3(value), name
    assert result.loc["ICC1", "F"] == pytest.approx(bms / wms)
    assert result.loc["ICC3", "F"] == pytest.approx(bms / ems)
    assert (result.loc["ICC2", "df1"], result.loc["ICC2", "df2"]) == (5, 15)
    assert (result["ci_low"] < result["icc"]).all() and (result["icc"] < result["ci_high"]).all()


def test_icc_matches_pingouin_when_installed():
    pg = pytest.importorskip("pingouin")
    long = pd.DataFrame([(t, j, SHROUT_FLEISS[t, j]) for t in range(6) for j in range(4)], columns=["t", "j", "y"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pingouin warns about pandas deprecations
        theirs = pg.intraclass_corr(long, targets="t", raters="j", ratings="y")
    ours = icc(SHROUT_FLEISS)
    np.testing.assert_allclose(ours["icc"].to_numpy(), theirs["ICC"].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(ours["F"].to_numpy(), theirs["F"].to_numpy(), atol=1e-9)
    ci = np.vstack(theirs["CI95"].to_numpy())  # pingouin rounds its intervals to 2 decimals
    np.testing.assert_allclose(ours[["ci_low", "ci_high"]].to_numpy(), ci, atol=0.005 + 1e-9)


def test_icc_drops_targets_with_missing_ratings():
    with_gap = np.vstack([SHROUT_FLEISS, [[5, nan, 3, 4]]])
    result = icc(with_gap)
    assert result.attrs["n_dropped"] == 1
    assert result.loc["ICC2", "icc"] == pytest.approx(icc(SHROUT_FLEISS).loc["ICC2", "icc"])


# --------------------------------------------------------------------------- #
# Cohen's kappa, weighted kappa, PABAK, percent agreement
# --------------------------------------------------------------------------- #
def test_cohen_kappa_wikipedia_example():
    # Wikipedia, "Cohen's kappa", simple example: 50 proposals; both Yes 20, A Yes / B No 5,
    # A No / B Yes 10, both No 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
    a, b = expand_table([[20, 5], [10, 15]], ["Yes", "No"])
    assert percent_agreement(a, b) == pytest.approx(0.7)
    assert r3(cohen_kappa(a, b)) == 0.400


def test_weighted_kappa_linear_by_hand():
    # cont3x3abstractors (above), linear agreement weights w = 1 - |i - j| / 2:
    # p_o(w) = 0.89 + 0.5 * (7 + 4) / 100 = 0.945; margins rows (.13, .27, .60), columns (.13, .24, .63);
    # p_e(w) = (.13*.13 + .27*.24 + .60*.63) + 0.5 * (.13*.24 + .27*.13 + .27*.63 + .60*.24) = 0.6499;
    # kappa_w = (0.945 - 0.6499) / (1 - 0.6499) = 0.843.
    a, b = expand_table(CONT3X3_ABSTRACTORS, [1, 2, 3])
    assert r3(weighted_kappa(a, b, weights="linear")) == 0.843
    assert r3(cohen_kappa(a, b, weights="linear")) == 0.843


def test_weighted_kappa_keeps_unused_middle_categories():
    a = [1, 2, 5, 5, 1, 2, 2]
    b = [2, 2, 5, 2, 1, 5, 1]
    full = weighted_kappa(a, b, labels=[1, 2, 3, 4, 5])
    assert weighted_kappa(a, b) == pytest.approx(full)  # 3 and 4 filled in by default
    assert weighted_kappa(a, b, labels=[1, 2, 5]) != pytest.approx(full)
    with pytest.raises(ValueError, match="not in labels"):
        weighted_kappa(a, b, labels=[1, 2])


def test_cohen_kappa_drops_missing_pairs_and_nan_when_undefined():
    a = ["R", "N", None, "R", nan]
    b = ["R", "N", "R", None, "N"]
    assert cohen_kappa(a, b) == pytest.approx(1.0)
    assert percent_agreement(a, b) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(["R", "R"], ["R", "R"]))  # one shared class: undefined
    assert math.isnan(cohen_kappa([None], ["R"]))
    assert math.isnan(percent_agreement([None], ["R"]))


def test_pabak_byrt_bishop_carlin():
    # Byrt, Bishop & Carlin (1993), J Clin Epidemiol 46:423-429: PABAK = 2 p_o - 1.
    # 100 items: both yes 40, yes/no 10, no/yes 5, both no 45 -> p_o = 0.85 -> PABAK = 0.70.
    a, b = expand_table([[40, 10], [5, 45]], [1, 0])
    assert r3(pabak(a, b)) == 0.700
    # Generalised to k categories: (k p_o - 1) / (k - 1); k = 3 -> (2.55 - 1) / 2 = 0.775.
    assert r3(pabak(a, b, n_categories=3)) == 0.775


# --------------------------------------------------------------------------- #
# Classification metrics
# --------------------------------------------------------------------------- #
def test_label_report_single_label_by_hand():
    y_true = ["a", "a", "b", "b", "c", "c"]
    y_pred = ["a", "b", "b", "b", "c", "a"]
    rep = label_report(y_true, y_pred)
    # a: tp 1, fp 1, fn 1 -> .5/.5/.5; b: tp 2, fp 1 -> P 2/3, R 1, F .8; c: tp 1, fn 1 -> P 1, R .5, F 2/3.
    assert rep.loc["a"].tolist() == pytest.approx([0.5, 0.5, 0.5, 2])
    assert rep.loc["b"].tolist() == pytest.approx([2 / 3, 1.0, 0.8, 2])
    assert rep.loc["c"].tolist() == pytest.approx([1.0, 0.5, 2 / 3, 2])
    assert rep.loc["micro avg"].tolist() == pytest.approx([4 / 6, 4 / 6, 4 / 6, 6])
    assert rep.loc["macro avg"].tolist() == pytest.approx([13 / 18, 2 / 3, (0.5 + 0.8 + 2 / 3) / 3, 6])


def test_label_report_multilabel_by_hand():
    y_true = pd.DataFrame([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], columns=["rupture", "repair", "other"])
    y_pred = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    rep = label_report(y_true, y_pred)
    assert list(rep.index) == ["rupture", "repair", "other", "micro avg", "macro avg"]
    assert rep.loc["rupture"].tolist() == pytest.approx([0.5, 0.5, 0.5, 2])
    assert rep.loc["repair"].tolist() == pytest.approx([1.0, 1.0, 1.0, 2])
    assert rep.loc["other"].tolist() == pytest.approx([0.0, 0.0, 0.0, 0])  # zero_division=0
    # micro: tp 3, fp 2, fn 1 -> P 3/5, R 3/4, F 2/3.
    assert rep.loc["micro avg"].tolist() == pytest.approx([0.6, 0.75, 2 / 3, 4])
    assert rep.loc["macro avg", "f1"] == pytest.approx(0.5)


def test_confusion_tables():
    cm = confusion_table(["a", "a", "b", "c"], ["a", "b", "b", "a"], labels=["a", "b", "c"])
    assert cm.loc["a"].tolist() == [1, 1, 0]
    assert cm.loc["c"].tolist() == [1, 0, 0]
    assert cm.index.name == "true" and cm.columns.name == "predicted"
    mcm = multilabel_confusion_table([[1, 0], [1, 1], [0, 0]], [[1, 1], [0, 1], [0, 0]], label_names=["x", "y"])
    assert mcm.loc["x"].tolist() == [1, 0, 1, 1]  # tn, fp, fn, tp
    assert mcm.loc["y"].tolist() == [1, 1, 0, 1]
    with pytest.raises(ValueError):
        confusion_table([[1, 0]], [[1, 0]])


def test_score_report_nan_for_single_class_label():
    y_true = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    y_score = np.array([[0.9, 0.2], [0.1, 0.4], [0.8, 0.1], [0.3, 0.3]])
    rep = score_report(y_true, y_score, label_names=["rupture", "never"])
    assert rep.loc["rupture", "roc_auc"] == pytest.approx(1.0)
    assert rep.loc["rupture", "pr_auc"] == pytest.approx(1.0)
    assert math.isnan(rep.loc["never", "roc_auc"]) and math.isnan(rep.loc["never", "pr_auc"])
    assert rep.loc["macro avg", "roc_auc"] == pytest.approx(1.0)  # mean over defined labels
    assert rep.loc["never", "n_pos"] == 0 and rep.loc["never", "n_neg"] == 4


def test_score_report_binary_and_class_vector_inputs():
    # Binary: positives scored 0.8, 0.4; negatives 0.6, 0.2 -> 3 of 4 pairs ordered -> AUC 0.75.
    rep = score_report([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2])
    assert rep.loc["positive", "roc_auc"] == pytest.approx(0.75)
    # AP: ranks 0.8 (pos), 0.6 (neg), 0.4 (pos) -> precision at recall steps 1 and 2/3 -> (1 + 2/3) / 2.
    assert rep.loc["positive", "pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    scores = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    rep = score_report(["a", "b", "a"], scores, classes=["a", "b"])
    assert rep.loc["a", "roc_auc"] == pytest.approx(1.0)
    assert rep.loc["b", "n_pos"] == 1
    single = score_report(["a", "a"], np.array([[0.6, 0.4], [0.7, 0.3]]), classes=["a", "b"])
    assert single.loc[["a", "b", "macro avg"], ["roc_auc", "pr_auc"]].isna().all().all()
    assert single.loc["micro avg", "roc_auc"] == pytest.approx(1.0)  # pooled decisions have both classes


# --------------------------------------------------------------------------- #
# Cluster bootstrap
# --------------------------------------------------------------------------- #
def _clustered(seed: int = 1):
    """20 transcripts x 30 utterances; the model agrees with the human 95% in half the
    transcripts and 40% in the others, so agreement is strongly clustered by transcript."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(20), 30)
    rate = np.where(np.arange(20) % 2 == 0, 0.95, 0.40)[groups]
    agree = rng.random(len(groups)) < rate
    return groups, agree


def test_bootstrap_is_deterministic_for_a_seed():
    groups, agree = _clustered()

    def stat(idx):
        return agree[idx].mean()

    first = bootstrap_ci(stat, groups, n_resamples=200, seed=7)
    again = bootstrap_ci(stat, groups, n_resamples=200, seed=7)
    other = bootstrap_ci(stat, groups, n_resamples=200, seed=8)
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    low, high, estimate = first
    assert isinstance(first, BootstrapCI)
    assert estimate == pytest.approx(agree.mean())
    assert low < estimate < high
    assert first.n_groups == 20 and first.n_skipped == 0 and first.n_used == 200


def test_bootstrap_by_transcript_is_wider_than_by_utterance():
    groups, agree = _clustered()

    def stat(idx):
        return agree[idx].mean()

    by_transcript = bootstrap_ci(stat, groups, n_resamples=500, seed=0)
    by_utterance = bootstrap_ci(stat, np.arange(len(agree)), n_resamples=500, seed=0)
    width_t = by_transcript.high - by_transcript.low
    width_u = by_utterance.high - by_utterance.low
    assert width_t > 2 * width_u


def test_bootstrap_resamples_whole_transcripts():
    groups = np.array(["t1", "t1", "t1", "t2", "t3", "t3"])
    seen = []

    def stat(idx):
        seen.append(np.sort(idx))
        return float(len(idx))

    bootstrap_ci(stat, groups, n_resamples=50, seed=3)
    members = {"t1": {0, 1, 2}, "t2": {3}, "t3": {4, 5}}
    for idx in seen[1:]:  # seen[0] is the full-data estimate
        picked = {g for g, rows in members.items() if rows & set(idx.tolist())}
        counts = np.bincount(idx, minlength=6)
        for g in picked:  # every drawn transcript comes with all its rows, equally often
            assert len({counts[r] for r in members[g]}) == 1
        assert len(idx) == sum(counts[min(members[g])] * len(members[g]) for g in picked)


def test_bootstrap_skips_undefined_resamples():
    # Two transcripts, one all "R" and one all "N": any resample drawing the same transcript
    # twice has one class only, so kappa is undefined there and the resample is skipped.
    human = np.array(["R"] * 5 + ["N"] * 5, dtype=object)
    model = np.array(["R"] * 4 + ["N"] + ["N"] * 5, dtype=object)
    groups = np.array([0] * 5 + [1] * 5)
    result = bootstrap_ci(lambda idx: cohen_kappa(human[idx], model[idx]), groups, n_resamples=100, seed=0)
    assert 0 < result.n_skipped < 100
    assert math.isfinite(result.low) and math.isfinite(result.high)
    assert result.estimate == pytest.approx(cohen_kappa(human, model))


def test_bootstrap_all_undefined_and_errors():
    groups = np.arange(5)
    always_nan = bootstrap_ci(lambda idx: nan, groups, n_resamples=20)
    assert always_nan.n_skipped == 20 and math.isnan(always_nan.low) and math.isnan(always_nan.high)

    calls = {"n": 0}

    def flaky(idx):
        calls["n"] += 1
        if calls["n"] > 1 and calls["n"] % 2 == 0:
            raise ValueError("only one class present")
        return 1.0

    result = bootstrap_ci(flaky, groups, n_resamples=10)
    assert result.n_skipped == 5 and (result.low, result.high) == (1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_ci(lambda idx: 1.0, groups, n_resamples=0)
    with pytest.raises(ValueError):
        bootstrap_ci(lambda idx: 1.0, groups, level=1.5)


# --------------------------------------------------------------------------- #
# The model as one more rater
# --------------------------------------------------------------------------- #
# 8 utterances, 4 human raters (R = rupture, N = none; None = not coded) and the model.
HUMANS = pd.DataFrame(
    {
        "A": ["R", "N", "R", "N", "R", "N", "R", "N"],
        "B": ["R", "N", "R", "N", "N", "N", "R", "N"],
        "C": ["R", "N", "N", "N", None, "R", "R", "N"],
        "D": ["R", "N", None, "R", None, "R", "N", "N"],
    }
)
MODEL = ["R", "N", "R", "R", "N", "N", "R", "N"]


def test_majority_vote_ties_give_none():
    # s5: A R vs B N (tie); s6: A N, B N vs C R, D R (tie).
    assert majority_vote(HUMANS).tolist() == ["R", "N", "R", "N", None, None, "R", "N"]
    # "absolute" needs more than half: s3 has R, R, N -> R (2 of 3); leave-one-out of A at s3: B R, C N -> tie.
    assert majority_vote(HUMANS, rule="absolute").tolist() == ["R", "N", "R", "N", None, None, "R", "N"]
    assert majority_vote(HUMANS, exclude=0).tolist() == ["R", "N", None, "N", "N", "R", "R", "N"]


def test_model_as_rater_hand_example():
    rep = model_as_rater(HUMANS, MODEL)

    # Model vs majority of all four: majority exists for s1-s4, s7, s8 (s5, s6 tie).
    # model R,N,R,R,R,N vs majority R,N,R,N,R,N: table RR 3, RN 1, NR 0, NN 2; p_o 5/6,
    # p_e = 4/6*3/6 + 2/6*3/6 = 1/2 -> kappa = 2/3.
    mv = rep.model_vs_majority
    assert (mv.n, mv.n_no_majority) == (6, 2)
    assert mv.percent_agreement == pytest.approx(5 / 6)
    assert mv.kappa == pytest.approx(2 / 3)

    loo = rep.leave_one_out
    # A vs majority of B, C, D: s3 ties (B R, C N); 7 compared, RR 2, RN 1, NR 1, NN 3:
    # p_o 5/7, p_e 25/49 -> kappa 10/24.
    assert loo.loc["A", ["n", "n_no_majority"]].tolist() == [7, 1]
    assert loo.loc["A", "kappa"] == pytest.approx(10 / 24)
    assert loo.loc["A", "percent_agreement"] == pytest.approx(5 / 7)
    # B: RR 2, RN 0, NR 2, NN 3 -> p_o 5/7, p_e 23/49 -> 12/26.
    assert loo.loc["B", "kappa"] == pytest.approx(12 / 26)
    # C (did not code s5): RR 2, RN 1, NR 1, NN 3 -> 10/24; no ties among the subjects C coded.
    assert loo.loc["C", ["n", "n_no_majority"]].tolist() == [7, 0]
    assert loo.loc["C", "kappa"] == pytest.approx(10 / 24)
    # D: RR 1, RN 2, NR 1, NN 2 -> p_o 1/2, p_e 1/2 -> 0.
    assert loo.loc["D", "n"] == 6
    assert loo.loc["D", "kappa"] == pytest.approx(0.0)
    # The model against the same references on the same subjects:
    # A's: RR 2, RN 1, NR 1, NN 3 -> 10/24; B's: RR 2, RN 1, NR 2, NN 2 -> p_o 4/7, p_e 24/49 -> 4/25;
    # C's: RR 3, RN 1, NR 0, NN 3 -> p_o 6/7, p_e 24/49 -> 18/25; D's: RR 2, RN 1, NR 0, NN 3 -> 2/3.
    assert loo["model_kappa"].tolist() == pytest.approx([10 / 24, 4 / 25, 18 / 25, 2 / 3])
    assert loo["model_n"].tolist() == [7, 7, 7, 6]

    pw = rep.pairwise.set_index(["rater_a", "rater_b"])
    # A-B: 8 shared, disagree on s5 only; margins R 4/8 and 3/8 -> p_e 1/2 -> kappa 3/4.
    assert pw.loc[("A", "B"), "kappa"] == pytest.approx(0.75)
    assert pw.loc[("A", "B"), "n"] == 8
    # A-D: s1, s2, s4, s6, s7, s8 shared; agree on 3 -> p_o 1/2, p_e 1/2 -> 0.
    assert pw.loc[("A", "D"), "kappa"] == pytest.approx(0.0)
    assert pw.loc[("A", "D"), "n"] == 6
    # C-D: agree on s1, s2, s6, s8 of 6; margins 3/6 and 3/6 -> kappa 1/3.
    assert pw.loc[("C", "D"), "kappa"] == pytest.approx(1 / 3)
    assert pw.loc[("A", "C"), "kappa"] == pytest.approx(10 / 24)
    assert pw.loc[("B", "C"), "kappa"] == pytest.approx(10 / 24)
    assert pw.loc[("B", "D"), "kappa"] == pytest.approx(0.0)

    vs = rep.model_vs_raters
    # Model vs A: disagree on s4, s5 of 8; margins 4/8, 4/8 -> kappa 1/2. vs D: 4 of 6 -> 1/3.
    assert vs.loc["A", "kappa"] == pytest.approx(0.5)
    assert vs.loc["A", "percent_agreement"] == pytest.approx(0.75)
    assert vs.loc["D", "kappa"] == pytest.approx(1 / 3)
    assert vs.loc["D", "n"] == 6

    pos = rep.position
    assert pos.model_kappa == pytest.approx(2 / 3)
    assert (pos.human_min, pos.human_median, pos.human_max) == pytest.approx((0.0, 10 / 24, 12 / 26))
    assert pos.n_raters == 4
    assert pos.n_raters_below_model == 4
    assert pos.n_raters_below_model_paired == 2  # C and D; A ties, B is above
    assert pos.human_pairwise_mean == pytest.approx((0.75 + 10 / 24 + 0 + 10 / 24 + 0 + 1 / 3) / 6)


def test_model_as_rater_numpy_input_and_validation():
    rep = model_as_rater(HUMANS.to_numpy(dtype=object), MODEL, rater_names=["A", "B", "C", "D"])
    assert rep.model_vs_majority.kappa == pytest.approx(2 / 3)
    unnamed = model_as_rater(HUMANS.to_numpy(dtype=object), MODEL)
    assert list(unnamed.leave_one_out.index) == ["rater1", "rater2", "rater3", "rater4"]
    with pytest.raises(ValueError, match="labels for"):
        model_as_rater(HUMANS, MODEL[:-1])
    with pytest.raises(ValueError, match="two human raters"):
        model_as_rater(HUMANS[["A"]], MODEL)
    # A model label missing on some subjects just drops those subjects.
    partial = model_as_rater(HUMANS, [None, *MODEL[1:]])
    assert partial.model_vs_majority.n == 5


def test_a_single_label_column_is_still_multi_label():
    from rupturekit.measures.agreement import label_report, multilabel_confusion_table

    truth = np.array([[1], [0], [1], [0]])
    pred = np.array([[1], [1], [0], [0]])
    report = label_report(truth, pred, label_names=["resolution"])
    assert report.loc["resolution", ["precision", "recall", "f1"]].tolist() == [0.5, 0.5, 0.5]
    assert report.loc["resolution", "support"] == 2
    table = multilabel_confusion_table(truth, pred, label_names=["resolution"])
    assert table.loc["resolution"].tolist() == [1, 1, 1, 1]
