"""Label models: turn the votes of labeling functions into a probability per row and label.

Each model is binary, for one label (y = 1: the label applies), and sklearn-style:
``fit(votes) -> self``, fitted state in attributes ending ``_``, ``predict_proba(votes)``
returning an (n, 2) array of [P(y=0), P(y=1)], and ``predict(votes)`` (P(y=1) >= 0.5).
Votes are an (n_rows, n_lfs) integer array in {-1, 0, 1}: against, abstain, for.
`fit_labels` runs one model per label over a multi-label vote matrix; `fit_corpus` does the
whole corpus (LFs applied to a `FeatureTable`, one model per codebook label).

- `WeightedMajority`: the weighted share of non-abstaining votes that are "for"
  (uniform weights: plain majority vote), with `abstain_proba` where nobody votes.
- `DawidSkene`: a generative model fitted by EM without gold labels. The latent class y is
  binary with prior P(y=1) = pi; given y the LFs vote independently, each with its own table
  P(vote | y) over {-1, 0, 1} (so how often an LF abstains may depend on the class). From
  those tables come each LF's accuracy (P(y = vote | it votes)) and propensity (how often it
  votes).

Why our own EM and not snorkel's LabelModel: snorkel is unmaintained, pins old versions and
pulls a heavy stack (torch, tensorboard, networkx, pinned pandas) for what is, for the binary
per-label case, about two hundred lines of numpy. The model is the classic Dawid & Skene
(1979) latent-class model, with the abstain vote as one of the observed values.

Keeping EM sensible (all measured on AnnoMI and the gold corpora; see BENCHMARKS.md):

- Priors: MAP-EM with Dirichlet pseudo-counts on every P(vote | y) table (`prior_strength`
  pseudo-rows per class, at the prior mean) and a Beta prior on pi worth
  `class_prior_strength` x the fitted rows. The prior mean, also EM's starting point, says a
  "for" vote is right with probability `prior_accuracy` (a), an "against" vote divides the odds
  of y = 1 by a / (1 - a), and pi0 = a x the share of rows where most votes are for (a tie
  is not); the tables match each LF's observed vote rates. Without the pi prior, pi collapses.
- Better than random (`monotone`): P(+ | y=1) >= P(+ | y=0) and P(- | y=0) >= P(- | y=1)
  for every LF (Dawid-Skene's usual identifiability constraint), else EM can read an LF
  upside down (it made "a long engaged answer" a marker *of* minimal responses).
- Candidates (`candidates_only`, default): the model is fitted on, and predicts for, the rows
  with at least one vote *for* the label; other rows get `abstain_proba` (0), as with the
  majority vote. Our LFs are sparse alternative cues (a rejection opens with "no" or says
  "that's not it", seldom both), which breaks conditional independence: over all rows, each
  LF's silence becomes evidence against the label, and EM explains sparse LFs that never
  co-fire as noise (pi went to ~0 for rejects_intervention on AnnoMI). Among candidates the
  silences weigh little, and where the votes hold no agreement information the model stays
  near its prior (so it labels like the majority vote), learning where LFs overlap or vote
  against each other. ``candidates_only=False`` is the classic model on every row; on data
  that satisfy its assumptions it recovers the LF accuracies (see tests/test_weak.py).

EM starts from the prior mean (then, for ``n_init > 1``, from seeded random perturbations of it)
and keeps the fit with the highest log posterior: the same votes and `random_state` always give
the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rupturekit.codebook import Codebook
from rupturekit.features import FeatureTable
from rupturekit.weak.functions import LABELING_FUNCTIONS, LabelingFunction, apply_lfs

VOTE_VALUES: tuple[int, int, int] = (-1, 0, 1)  # column order of the P(vote | y) tables
ModelName = Literal["generative", "majority"]
_EPS = 1e-3  # floor for every prior P(vote | y): no vote value is ever impossible
_MAX_CLASS_PRIOR = 0.95


def check_votes(votes: object, n_lfs: int | None = None) -> np.ndarray:
    """`votes` as a 2-D int8 array with values in {-1, 0, 1} (a 1-D array is one LF)."""
    array = np.asarray(votes)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"votes must be a 2-D (rows x labeling functions) array, got shape {array.shape}")
    if array.size and not np.isin(array, VOTE_VALUES).all():
        raise ValueError("votes must be -1 (against), 0 (abstain) or 1 (for)")
    if n_lfs is not None and array.shape[1] != n_lfs:
        raise ValueError(f"votes have {array.shape[1]} labeling functions, the model was fitted on {n_lfs}")
    return array.astype(np.int8)


def _as_proba(p1: np.ndarray) -> np.ndarray:
    p1 = np.clip(p1, 0.0, 1.0)
    return np.column_stack([1.0 - p1, p1])


class WeightedMajority:
    """P(y=1) = sum of weights voting for / sum of weights voting (for or against).

    `weights` default to 1 each (plain majority vote); `from_accuracies` makes log-odds
    weights, the optimal ones for independent LFs of known accuracy. Rows where no LF votes
    get `abstain_proba` (0: no evidence means "label absent", fit for rare labels). A tie
    gives 0.5, which `predict` counts as positive.
    """

    def __init__(self, weights: Sequence[float] | np.ndarray | None = None, abstain_proba: float = 0.0):
        self.weights = weights
        self.abstain_proba = abstain_proba

    @classmethod
    def from_accuracies(cls, accuracies: Sequence[float] | np.ndarray, abstain_proba: float = 0.0) -> WeightedMajority:
        """Weights log(a / (1 - a)); accuracies are clipped to [0.5, 0.99], so an LF no better
        than chance (or with unknown accuracy, NaN) gets weight 0."""
        acc = np.asarray(accuracies, dtype=np.float64)
        acc = np.clip(np.nan_to_num(acc, nan=0.5), 0.5, 0.99)
        return cls(weights=np.log(acc / (1.0 - acc)), abstain_proba=abstain_proba)

    def fit(self, votes: object, y: object = None) -> WeightedMajority:
        array = check_votes(votes)
        m = array.shape[1]
        if self.weights is None:
            weights = np.ones(m)
        else:
            weights = np.asarray(self.weights, dtype=np.float64).reshape(-1)
            if weights.shape != (m,):
                raise ValueError(f"{weights.size} weights for {m} labeling functions")
            if (weights < 0).any():
                raise ValueError("weights must be >= 0 (an LF worse than chance should get 0)")
        self.weights_ = weights
        self.n_lfs_ = m
        return self

    def predict_proba(self, votes: object) -> np.ndarray:
        array = check_votes(votes, self.n_lfs_)
        for_ = (array == 1).astype(np.float64) @ self.weights_
        against = (array == -1).astype(np.float64) @ self.weights_
        total = for_ + against
        p1 = np.full(array.shape[0], float(self.abstain_proba))
        np.divide(for_, total, out=p1, where=total > 0)
        return _as_proba(p1)

    def predict(self, votes: object) -> np.ndarray:
        return (self.predict_proba(votes)[:, 1] >= 0.5).astype(np.int8)


class DawidSkene:
    """Binary latent-class model for conditionally independent LFs, fitted by MAP-EM.

    Parameters: `prior_accuracy` (a: the prior P(y=1 | a vote for), default 0.7),
    `prior_strength` (Dirichlet pseudo-rows per class and LF, default 5), `class_prior` (fix
    the prior mean of pi instead of estimating it), `class_prior_strength` (Beta pseudo-rows for
    pi, as a share of the fitted rows, default 0.1), `candidates_only` (fit on rows with at
    least one vote for; see the module notes), `abstain_proba` (P(y=1) of rows with no vote
    for, when `candidates_only`), `monotone` (keep every LF better than random), `max_iter`,
    `tol`, `n_init` and `random_state` (restarts).

    Fitted state: ``class_prior_`` (pi = P(y=1) on the fitted rows), ``cond_probs_``
    (n_lfs, 2, 3): P(vote | y) with y in (0, 1) and votes in `VOTE_VALUES` order (-1, 0, 1),
    ``accuracy_`` (P(y = vote | the LF votes); NaN for an LF the model expects never to vote),
    ``propensity_`` (P(the LF votes)), ``prior_class_prior_`` (pi0), ``n_fit_rows_``,
    ``log_posterior_``, ``n_iter_``, ``converged_``. Accuracy, propensity and pi are those of
    the fitted rows: the candidates, with `candidates_only`.
    """

    def __init__(self, prior_accuracy: float = 0.7, prior_strength: float = 5.0, class_prior: float | None = None,
                 class_prior_strength: float = 0.1, candidates_only: bool = True, abstain_proba: float = 0.0,
                 monotone: bool = True, max_iter: int = 500, tol: float = 1e-9, n_init: int = 1,
                 random_state: int = 0):
        self.prior_accuracy = prior_accuracy
        self.prior_strength = prior_strength
        self.class_prior = class_prior
        self.class_prior_strength = class_prior_strength
        self.candidates_only = candidates_only
        self.abstain_proba = abstain_proba
        self.monotone = monotone
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state

    # ------------------------------------------------------------------ prior
    def _prior(self, votes: np.ndarray) -> tuple[float, np.ndarray]:
        """(pi0, theta0): the prior mean, which is also where EM starts."""
        n, m = votes.shape
        a = float(self.prior_accuracy)
        if not 0.5 < a < 1.0:
            raise ValueError("prior_accuracy must be in (0.5, 1)")
        if self.class_prior is not None:
            pi0 = float(self.class_prior)
        else:
            positive = WeightedMajority().fit(votes).predict_proba(votes)[:, 1] > 0.5  # a tie is no majority
            pi0 = a * float(positive.mean())
        pi0 = float(np.clip(pi0, 1.0 / (n + 1), _MAX_CLASS_PRIOR))
        odds = a / (1.0 - a)
        pos, neg = (votes == 1).mean(axis=0), (votes == -1).mean(axis=0)
        theta = np.empty((m, 2, 3))
        # "for": P(y=1 | +) = a. "against": posterior odds of y=1 are the prior odds / `odds`.
        r1p, r0p = a * pos / pi0, (1.0 - a) * pos / (1.0 - pi0)
        scale = pi0 + odds * (1.0 - pi0)
        r1n, r0n = neg / scale, odds * neg / scale
        for c, (rp, rn) in enumerate(((r0p, r0n), (r1p, r1n))):
            total = rp + rn
            shrink = np.where(total > 0.98, 0.98 / np.maximum(total, 1e-12), 1.0)  # stay a distribution
            rp, rn = rp * shrink, rn * shrink
            table = np.column_stack([rn, 1.0 - rp - rn, rp])
            table = np.maximum(table, _EPS)
            theta[:, c, :] = table / table.sum(axis=1, keepdims=True)
        return pi0, theta

    # ------------------------------------------------------------------ EM pieces
    @staticmethod
    def _log_joint(index: np.ndarray, pi: float, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log P(votes, y=0) and log P(votes, y=1) per row of `index` (votes + 1)."""
        log_theta = np.log(theta)
        lfs = np.arange(theta.shape[0])[None, :]
        l0 = log_theta[lfs, 0, index].sum(axis=1) + np.log1p(-pi)
        l1 = log_theta[lfs, 1, index].sum(axis=1) + np.log(pi)
        return l0, l1

    @staticmethod
    def _objective(l0: np.ndarray, l1: np.ndarray, counts: np.ndarray, pi: float, theta: np.ndarray,
                   alpha: np.ndarray, beta: tuple[float, float]) -> float:
        """Log posterior (up to a constant): log likelihood + log Dirichlet and Beta priors."""
        likelihood = float(counts @ np.logaddexp(l0, l1))
        prior = float((alpha * np.log(theta)).sum()) + beta[1] * np.log(pi) + beta[0] * np.log1p(-pi)
        return likelihood + prior

    def _run(self, index: np.ndarray, counts: np.ndarray, onehot: np.ndarray, pi: float, theta: np.ndarray,
             alpha: np.ndarray, beta: tuple[float, float]) -> tuple[float, np.ndarray, float, int, bool]:
        n = float(counts.sum())
        previous = -np.inf
        for iteration in range(1, self.max_iter + 1):
            l0, l1 = self._log_joint(index, pi, theta)  # E-step
            q = np.exp(l1 - np.logaddexp(l0, l1))
            w = np.stack([counts * (1.0 - q), counts * q])  # (2, patterns)
            n_cv = np.einsum("cp,pjv->jcv", w, onehot) + alpha  # M-step, MAP with Dirichlet pseudo-counts
            theta = n_cv / n_cv.sum(axis=2, keepdims=True)
            if self.monotone:
                theta = _monotone(theta, n_cv.sum(axis=2))
            pi = float((w[1].sum() + beta[1]) / (n + beta[0] + beta[1]))
            pi = float(np.clip(pi, 1e-9, 1.0 - 1e-9))
            l0, l1 = self._log_joint(index, pi, theta)
            objective = self._objective(l0, l1, counts, pi, theta, alpha, beta)
            if abs(objective - previous) <= self.tol * max(1.0, abs(objective)):
                return pi, theta, objective, iteration, True
            previous = objective
        return pi, theta, previous, self.max_iter, False

    def _candidates(self, votes: np.ndarray) -> np.ndarray:
        return (votes == 1).any(axis=1) if self.candidates_only else np.ones(votes.shape[0], dtype=bool)

    # ------------------------------------------------------------------ API
    def fit(self, votes: object, y: object = None) -> DawidSkene:
        """Fit on votes alone (`y` is ignored: no gold is used)."""
        array = check_votes(votes)
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise ValueError(f"need at least one row and one labeling function, got shape {array.shape}")
        array = array[self._candidates(array)]
        n, m = array.shape
        self.n_lfs_ = m
        self.n_fit_rows_ = n
        if n == 0:  # no row has a vote for the label: nothing to fit, the prior mean stands
            pi0, theta0 = self._prior(np.zeros((1, m), dtype=np.int8))
            self.prior_class_prior_ = pi0
            self._set(pi0, theta0, -np.inf, 0, True)
            return self
        patterns, counts = np.unique(array, axis=0, return_counts=True)  # EM over distinct vote patterns
        index = patterns.astype(np.int64) + 1
        onehot = np.eye(3)[index]  # (patterns, lfs, 3)
        counts = counts.astype(np.float64)
        pi0, theta0 = self._prior(array)
        alpha = self.prior_strength * theta0  # pseudo-rows per class, spread as the prior mean
        strength = self.class_prior_strength * n  # pseudo-rows for pi: a share of the data, so pi cannot collapse
        beta = (strength * (1.0 - pi0), strength * pi0)
        rng = np.random.default_rng(self.random_state)
        best = None
        for start in range(max(1, self.n_init)):
            if start == 0:
                pi, theta = pi0, theta0
            else:
                noise = rng.dirichlet(np.ones(3), size=(m, 2))
                theta = 0.5 * theta0 + 0.5 * noise
                pi = float(np.clip(pi0 * rng.uniform(0.5, 1.5), 1e-6, _MAX_CLASS_PRIOR))
            fit = self._run(index, counts, onehot, pi, theta, alpha, beta)
            if best is None or fit[2] > best[2] + 1e-12:
                best = fit
        self.prior_class_prior_ = pi0
        self._set(*best)
        return self

    def _set(self, pi: float, theta: np.ndarray, objective: float, iterations: int, converged: bool) -> None:
        self.class_prior_ = pi
        self.cond_probs_ = theta
        self.log_posterior_ = objective
        self.n_iter_ = iterations
        self.converged_ = converged
        votes_p = theta[:, :, [0, 2]].sum(axis=2)  # P(votes | y), (m, 2)
        self.propensity_ = (1.0 - pi) * votes_p[:, 0] + pi * votes_p[:, 1]
        right = pi * theta[:, 1, 2] + (1.0 - pi) * theta[:, 0, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.accuracy_ = np.where(self.propensity_ > 1e-9, right / self.propensity_, np.nan)

    def predict_proba(self, votes: object) -> np.ndarray:
        array = check_votes(votes, self.n_lfs_)
        if array.shape[0] == 0:
            return np.zeros((0, 2))
        l0, l1 = self._log_joint(array.astype(np.int64) + 1, self.class_prior_, self.cond_probs_)
        p1 = np.exp(l1 - np.logaddexp(l0, l1))
        p1[~self._candidates(array)] = self.abstain_proba
        return _as_proba(p1)

    def predict(self, votes: object) -> np.ndarray:
        return (self.predict_proba(votes)[:, 1] >= 0.5).astype(np.int8)


def _monotone(theta: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Keep every LF better than random: P(+ | y=1) >= P(+ | y=0) and P(- | y=0) >= P(- | y=1).

    Where a fitted table breaks one, both classes get the pooled rate (the maximum-likelihood
    value under equality, weighting each class by its expected rows `mass`), and the abstain
    cells take up the difference. This is the usual identifiability constraint of Dawid-Skene
    ("diagonal dominance"); without it EM may read an LF upside down.
    """
    theta = theta.copy()
    weights = mass / mass.sum(axis=1, keepdims=True)  # (lfs, 2)
    for v, better in ((2, 1), (0, 0)):  # "+" should be likelier under y=1, "-" under y=0
        worse = 1 - better
        broken = theta[:, better, v] < theta[:, worse, v]
        if not broken.any():
            continue
        pooled = (weights[:, 0] * theta[:, 0, v] + weights[:, 1] * theta[:, 1, v])[broken]
        for c in (0, 1):
            theta[broken, c, 1] += theta[broken, c, v] - pooled
            theta[broken, c, v] = pooled
    return np.maximum(theta, 1e-12)


def make_model(model: ModelName | str, **params: object) -> DawidSkene | WeightedMajority:
    """"generative" -> `DawidSkene(**params)`; "majority" -> `WeightedMajority(**params)` (uniform)."""
    if model == "generative":
        return DawidSkene(**params)
    if model == "majority":
        return WeightedMajority(**params)
    raise ValueError(f"unknown label model {model!r}: use 'generative' or 'majority'")


def fit_labels(votes: np.ndarray, lf_labels: Sequence[str], rows: Mapping[str, np.ndarray],
               model: ModelName | str = "generative", **params: object
               ) -> tuple[dict[str, np.ndarray], dict[str, DawidSkene | WeightedMajority]]:
    """One binary model per label, multi-label overall.

    `votes` is (n_rows, n_lfs); `lf_labels[j]` the label LF j votes on; `rows[label]` a bool
    mask of the rows the label applies to (its dimension's role). Each label's model is fitted
    on its rows and its own LFs' columns only. Returns P(label) per row (NaN outside its rows)
    and the fitted model per label (labels with no rows or no LFs get none, and P = NaN).
    """
    array = check_votes(votes)
    lf_labels = list(lf_labels)
    if len(lf_labels) != array.shape[1]:
        raise ValueError(f"{len(lf_labels)} LF labels for {array.shape[1]} vote columns")
    probabilities: dict[str, np.ndarray] = {}
    models: dict[str, DawidSkene | WeightedMajority] = {}
    for label, mask in rows.items():
        mask = np.asarray(mask, dtype=bool)
        columns = [j for j, lf_label in enumerate(lf_labels) if lf_label == label]
        p = np.full(array.shape[0], np.nan)
        if columns and mask.any():
            sub = array[np.ix_(mask, columns)]
            fitted = make_model(model, **params).fit(sub)
            p[mask] = fitted.predict_proba(sub)[:, 1]
            models[label] = fitted
        probabilities[label] = p
    return probabilities, models


# ------------------------------------------------------------------------------------------
# A whole corpus: LF votes -> per-label probabilities
# ------------------------------------------------------------------------------------------

@dataclass
class WeakLabels:
    """Everything one labelling run produced, row-aligned with `table`."""

    table: FeatureTable
    lfs: list[LabelingFunction]
    votes: np.ndarray  # (rows, lfs) int8
    labels: list[str]  # the codebook labels, in codebook order
    dimension_of: dict[str, str]  # label -> dimension name
    rows: dict[str, np.ndarray]  # label -> bool mask of the rows it applies to
    probabilities: dict[str, np.ndarray]  # label -> P(label) per row, NaN outside its rows
    models: dict[str, DawidSkene | WeightedMajority]
    model: str

    def matrix(self) -> np.ndarray:
        """(rows, labels) probabilities, NaN where a label does not apply."""
        if not self.labels:
            return np.zeros((len(self.table), 0))
        return np.column_stack([self.probabilities[label] for label in self.labels])


def label_rows(table: FeatureTable, codebook: Codebook) -> dict[str, np.ndarray]:
    """label -> rows it applies to: its dimension's role (therapist and client rows only)."""
    roles = np.asarray(table.roles, dtype=object)
    known = np.isin(roles, ("client", "therapist"))
    rows = {}
    for dimension in codebook.dimensions:
        mask = known & np.array([dimension.applies_to(r) for r in roles], dtype=bool)
        for label in dimension.label_names:
            rows[label] = mask
    return rows


def check_coverage(codebook: Codebook, lfs: Sequence[LabelingFunction]) -> None:
    """Every codebook label needs at least one LF, and every LF a codebook label of its role."""
    have = {lf.label for lf in lfs}
    missing = [label for label in codebook.labels if label not in have]
    if missing:
        raise ValueError(f"no labeling function for {len(missing)} labels of codebook {codebook.name!r} "
                         f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); weak labelling "
                         "needs at least one per label (the built-in LFs cover the 3rs codebook)")
    for lf in lfs:
        dimension = codebook.dimension_of(lf.label)
        if dimension is None:
            raise ValueError(f"LF {lf.name} votes on {lf.label!r}, which codebook {codebook.name!r} lacks")
        if not dimension.applies_to(lf.role):
            raise ValueError(f"LF {lf.name} is for {lf.role} rows, but {lf.label} is a {dimension.role} label")


def fit_corpus(table: FeatureTable, codebook: Codebook, model: ModelName | str = "generative",
               lfs: Sequence[LabelingFunction] | None = None, **params: object) -> WeakLabels:
    """Apply the LFs to `table` and fit one label model per codebook label (no gold is read)."""
    lfs = list(LABELING_FUNCTIONS if lfs is None else lfs)
    make_model(model, **params)  # an unknown model or parameter fails here, even on an empty corpus
    check_coverage(codebook, lfs)
    votes = apply_lfs(table, lfs)
    rows = label_rows(table, codebook)
    probabilities, models = fit_labels(votes, [lf.label for lf in lfs], rows, model, **params)
    dimension_of = {label: d.name for d in codebook.dimensions for label in d.label_names}
    return WeakLabels(table, lfs, votes, codebook.labels, dimension_of, rows, probabilities, models, str(model))
