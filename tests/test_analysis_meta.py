"""Meta-analysis of correlations (rupturekit.analysis.meta) and `rupturekit meta`.

Known answer: Safran, Muran & Eubanks-Carter (2011), "Repairing alliance ruptures",
Psychotherapy 48(1), Table 1: Stiles et al. 2004 (r = .19, N = 79, z = 1.64), Stevens et al. 2007
(r = .26, N = 44, z = 1.77), Strauss et al. 2006 (r = .39, N = 25, z = 2.12); pooled r = .24,
z = 3.06, 95% CI [.09, .39], Q(2) = .99, p = .61.

Which variance reproduces the published figures:

* from N, 1/(N - 3) (the textbook variance of Fisher's z): r = .244 (published .24), but z = 2.93,
  CI [.08, .39] and Q = .84; z (at most 3.00) and Q stay outside the published values however the
  table's rounded inputs are read (the CI's lower bound reaches .09 only at the edge);
* from the reported z values, (atanh r / z)^2: z = 3.06, CI [.09, .40], Q = .94, r = .250 at
  the table's values, and every published figure (r, z, both CI bounds, Q) is reached within the
  rounding of the inputs (r and z to two decimals).
* Weighting Fisher's z by N (variance 1/N, as Hunter-Schmidt weights studies) gives r = .246,
  z = 3.06, CI [.09, .39] at the table's values: the paper's figures are consistent with it too.
"""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from rupturekit.analysis.meta import Study, meta_analysis, study_from
from rupturekit.errors import InputError

TABLE_1 = [("Stiles et al. 2004", 0.19, 79, 1.64), ("Stevens et al. 2007", 0.26, 44, 1.77),
           ("Strauss et al. 2006", 0.39, 25, 2.12)]
PUBLISHED = {"r": 0.24, "z": 3.06, "ci_low": 0.09, "ci_high": 0.39, "q": 0.99}


def pooled(variance_from, table=TABLE_1):
    return meta_analysis([study_from(name, r, n=n, z_stat=z, variance_from=variance_from)
                          for name, r, n, z in table])


def figures(result):
    f = result.fixed
    return {"r": f.r, "z": f.z_stat, "ci_low": f.ci_low, "ci_high": f.ci_high, "q": result.q}


def reachable(variance_from):
    """Each figure's range over the inputs' rounding (r and z +-.005: the ends and the middle)."""
    steps = (-0.005, 0.0, 0.005)
    seen = {k: [] for k in PUBLISHED}
    for dr in itertools.product(steps, repeat=3):
        for dz in (itertools.product(steps, repeat=3) if variance_from == "z" else [(0, 0, 0)]):
            table = [(name, r + a, n, z + b) for (name, r, n, z), a, b in zip(TABLE_1, dr, dz, strict=True)]
            for k, v in figures(pooled(variance_from, table)).items():
                seen[k].append(v)
    return {k: (min(v), max(v)) for k, v in seen.items()}


def published_within(ranges, key):
    """The published (rounded) value's interval overlaps the reachable range."""
    low, high = ranges[key]
    return low <= PUBLISHED[key] + 0.005 and high >= PUBLISHED[key] - 0.005


def test_known_answer_variance_from_the_reported_z_values_reproduces_the_paper():
    result = pooled("z")
    got = figures(result)
    assert got["z"] == pytest.approx(3.062, abs=5e-4)
    assert (round(got["ci_low"], 2), round(got["ci_high"], 2)) == (0.09, 0.40)
    assert got["r"] == pytest.approx(0.2502, abs=5e-4)  # .24 published: .0102 above
    assert result.q == pytest.approx(0.943, abs=1e-3) and result.df == 2
    assert result.tau2_dl == 0.0 and result.tau2_reml == 0.0 and result.i2 == 0.0
    ranges = reachable("z")
    assert all(published_within(ranges, key) for key in PUBLISHED), ranges
    assert abs(ranges["r"][0] - PUBLISHED["r"]) <= 0.01  # the pooled r within +-.01


def test_known_answer_variance_from_n_gives_the_pooled_r_but_not_z_or_the_ci():
    result = pooled("n")
    got = figures(result)
    assert got["r"] == pytest.approx(0.2438, abs=5e-4) and abs(got["r"] - PUBLISHED["r"]) <= 0.01
    assert got["z"] == pytest.approx(2.934, abs=1e-3)
    assert (round(got["ci_low"], 2), round(got["ci_high"], 2)) == (0.08, 0.39)
    assert result.q == pytest.approx(0.839, abs=1e-3) and result.p_q == pytest.approx(0.657, abs=1e-3)
    ranges = reachable("n")
    assert published_within(ranges, "r") and published_within(ranges, "ci_high")
    assert published_within(ranges, "ci_low")  # .0877 at the edge of the rounding rounds to .09
    assert not published_within(ranges, "z") and not published_within(ranges, "q")
    assert ranges["z"][1] < 3.0


def test_weights_by_n_match_the_published_z_and_ci_at_face_value():
    studies = [study_from(name, r, n=n, variance_from="n-weight") for name, r, n, _ in TABLE_1]
    result = meta_analysis(studies)
    f = result.fixed
    assert (round(f.r, 3), round(f.z_stat, 2), round(f.ci_low, 2), round(f.ci_high, 2)) == (0.246, 3.06, 0.09, 0.39)
    assert abs(f.r - PUBLISHED["r"]) <= 0.01  # the pooled r within +-.01 at the table's printed values
    assert result.q == pytest.approx(0.93, abs=0.01)


def test_random_effects_match_metafor_on_the_bcg_trials():
    """The BCG vaccine trials (log risk ratios; metafor's dat.bcg): metafor's rma() gives REML
    tau^2 = .3132, estimate -.7145 (SE .1798); DL tau^2 = .3088, estimate -.7141; Q(12) = 152.23."""
    counts = [(4, 119, 11, 128), (6, 300, 29, 274), (3, 228, 11, 209), (62, 13536, 248, 12619),
              (33, 5036, 47, 5761), (180, 1361, 372, 1079), (8, 2537, 10, 619), (505, 87886, 499, 87892),
              (29, 7470, 45, 7232), (17, 1699, 65, 1600), (186, 50448, 141, 27197), (5, 2493, 3, 2338),
              (27, 16886, 29, 17825)]
    studies = []
    for i, (a, b, c, d) in enumerate(counts):
        y = math.log((a / (a + b)) / (c / (c + d)))
        v = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
        studies.append(Study(f"trial {i + 1}", 0.0, None, y, v, "given"))
    result = meta_analysis(studies)
    assert result.q == pytest.approx(152.233, abs=1e-3) and result.df == 12
    assert result.tau2_reml == pytest.approx(0.3132, abs=1e-4)
    assert (result.random_reml.z, result.random_reml.se) == (pytest.approx(-0.7145, abs=1e-4),
                                                             pytest.approx(0.1798, abs=1e-4))
    assert result.tau2_dl == pytest.approx(0.3088, abs=1e-4)
    assert result.random_dl.z == pytest.approx(-0.7141, abs=1e-4)
    assert result.i2 == pytest.approx((152.233 - 12) / 152.233, abs=1e-4)


def test_dl_agrees_with_statsmodels_when_q_exceeds_df():
    from statsmodels.stats.meta_analysis import combine_effects

    table = [("a", 0.1, 50), ("b", 0.6, 60), ("c", -0.2, 40), ("d", 0.4, 100)]
    result = meta_analysis([study_from(name, r, n=n) for name, r, n in table])
    y = np.arctanh([r for _, r, _ in table])
    v = 1 / (np.array([n for *_, n in table]) - 3)
    reference = combine_effects(y, v, method_re="chi2")
    assert result.q > result.df
    assert result.tau2_dl == pytest.approx(reference.tau2)
    assert result.random_dl.z == pytest.approx(reference.mean_effect_re)
    assert result.random_dl.se == pytest.approx(reference.sd_eff_w_re)


def test_variance_from_a_reported_ci():
    # a CI built from 1/(N - 3) gives back the N-based variance
    z, se = math.atanh(0.3), 1 / math.sqrt(97)
    ci = (math.tanh(z - 1.959964 * se), math.tanh(z + 1.959964 * se))
    assert study_from("s", 0.3, ci=ci, variance_from="ci").variance == pytest.approx(1 / 97, rel=1e-5)


@pytest.mark.parametrize(("rows", "message"), [
    ([("a", 0.2, 30)], "a meta-analysis needs at least 2"),
    ([("a", 0.2, 30), ("b", 0.3, 3)], "N = 3 is too small"),
    ([("a", 0.2, 30), ("b", 1.0, 40)], "r = 1 is not a correlation strictly between -1 and 1"),
    ([("a", -1.2, 30), ("b", 0.1, 40)], "r = -1.2 is not a correlation"),
])
def test_bad_meta_analyses_are_clear_errors(rows, message):
    with pytest.raises(InputError, match=message):
        meta_analysis([study_from(name, r, n=n) for name, r, n in rows])


def test_cli_meta_on_the_published_table(cli, tmp_path):
    table = Path(__file__).parent / "fixtures" / "meta" / "safran2011_table1.csv"
    assert table.read_text(encoding="utf-8").splitlines()[1:] == [f"{a},{r},{n},{z}" for a, r, n, z in TABLE_1]
    done = cli("meta", table, "-o", tmp_path / "z", "--variance", "z")
    assert done.exit_code == 0, done.stderr
    assert "fixed effect: r = 0.25, 95% CI [0.09, 0.40], z = 3.06" in done.stdout
    assert "Q(2) = 0.94, p = 0.62, I^2 = 0%" in done.stdout
    assert sorted(p.name for p in (tmp_path / "z").iterdir()) == ["forest.png", "meta.json", "report.html",
                                                                  "studies.csv", "summary.md"]
    done = cli("meta", table, "-o", tmp_path / "n")  # N present: the default variance is 1/(N - 3)
    assert done.exit_code == 0 and "r = 0.24, 95% CI [0.08, 0.39], z = 2.93" in done.stdout
    with_ci = tmp_path / "ci.csv"
    with_ci.write_text("name,correlation,lower,upper\nx,0.3,0.1,0.48\ny,0.2,-0.05,0.43\n", encoding="utf-8")
    done = cli("meta", with_ci, "-o", tmp_path / "ci")
    assert done.exit_code == 0, done.stderr
    assert "variance from ci" in done.stdout


@pytest.mark.parametrize(("text", "args", "message"), [
    ("study,r,n\na,0.2,30\n", [], "1 study: a meta-analysis needs at least 2"),
    ("study,r,n\na,0.2,30\nb,0.3,2\n", [], "line 3: study 'b': N = 2 is too small"),
    ("study,r,n\na,0.2,30\nb,-1,20\n", [], "line 3: study 'b': r = -1 is not a correlation"),
    ("study,r,n\na,0.2,30\nb,x,20\n", [], "line 3: r (r) 'x' is not a number"),
    ("study,r\na,0.2\nb,0.3\n", [], "--variance n needs a n column"),
    ("study,rho,n\na,0.2,30\nb,0.3,40\n", [], "no r column"),
])
def test_cli_meta_bad_input(cli, tmp_path, text, args, message):
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    done = cli("meta", path, "-o", tmp_path / "out", *args)
    assert done.exit_code == 2 and len(done.error_lines) == 1
    assert message in done.stderr.replace("\n", " ")


def test_cli_meta_across_sites_of_a_patient_table(cli, tmp_path):
    rng = np.random.default_rng(3)
    lines = ["patient,site,rr,change"]
    for site in ("s1", "s2", "s3"):
        for i in range(30):
            rr = int(rng.random() < 0.4)
            lines.append(f"{site}-{i},{site},{rr},{-5 * rr + rng.normal(0, 4):.3f}")
    path = tmp_path / "patients.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = cli("meta", path, "--x", "rr", "--y", "change", "--site", "site", "-o", tmp_path / "m",
               "--bootstrap", "300")
    assert done.exit_code == 0, done.stderr
    assert "3 studies, variance from n" in done.stdout
    import json

    data = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert [s["n"] for s in data["studies"]] == [30, 30, 30]
    assert data["fixed"]["r"] < 0 and data["within"]["n"] == 90 and data["within"]["ci_bootstrap"][1] < 0
    done = cli("meta", path, "--x", "rr", "--y", "change", "-o", tmp_path / "m2")
    assert done.exit_code == 2 and "needs --site" in done.stderr
