"""The interpretable baseline tagger: cue features + TF-IDF n-grams -> calibrated logistic regression.

Per task (one codebook dimension), each utterance becomes one row of

- the 74 cue features of `rupturekit.features`, standardised with the training mean and SD,
  clipped to +-3 SD and scaled by 1/sqrt(74) so the block weighs about as much as one unit-norm
  TF-IDF block (it also makes the solvers converge several times faster),
- TF-IDF word n-grams and character n-grams (``char_wb``) of its text,
- TF-IDF word n-grams of the previous ``context_turns`` turns (any speaker), kept apart from the
  utterance's own words (evidence names them ``prev:...``).

A multi-label task gets one binary logistic regression per label (one-vs-rest); a single-label task
one multinomial logistic regression. Decision values are calibrated by Platt scaling fitted on
out-of-fold decision values (folds grouped by transcript), and a multi-label task's per-label
decision thresholds maximise F1 on those out-of-fold calibrated probabilities. A single-label task
predicts the class with the largest decision value of its (by default class-balanced) regression,
and reports Platt-calibrated probabilities per class normalised to sum to 1. The two can disagree
for a rare class: the label follows the class-balanced decision, the scores follow the training
base rates. (Measured when this was chosen, 5-fold CV on AnnoMI client talk type: macro F1 0.51 and
kappa 0.28 for the balanced decision, 0.36 and 0.12 for the most probable class.)

Decisions worth knowing:

- The vocabularies, IDF weights and the feature scaler are fitted once on all training rows and
  shared by the calibration folds (they use no labels); only the regressions are refitted per fold.
- A label with fewer than 2 positive training examples gets no classifier: its score is always 0 and
  it is never predicted (`skipped_` lists such labels). A single-label class with fewer than 2
  examples is left out of the multinomial fit (its rows too) in the same way. A label with fewer
  than 5 positives gets a classifier but no tuned threshold (0.5 on the calibrated probability):
  an F1-optimal cut on 2-4 positives is noise, and a low one floods the output.
- Evidence is ``coefficient x value`` per input column: for n-grams this is the pull of an n-gram
  that is present; for cue features it is measured against the training average (standardised
  values), so a feature can count because it is unusually low. Only positive contributions are shown.

A fitted tagger saves to plain JSON (no pickle): ``model.json`` (config, codebook, tasks, scaler,
Platt parameters, thresholds) and ``weights.json`` (vocabularies, IDF, coefficients, intercepts).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from rupturekit.bounded import loads_json
from rupturekit.codebook import Codebook
from rupturekit.errors import InputError
from rupturekit.records import Transcript
from rupturekit.tagger.config import BaselineConfig
from rupturekit.tagger.dataset import Examples
from rupturekit.tagger.decisions import (
    SCORE_DECIMALS,
    HierarchicalDecision,
    UsesDecisions,
    UtteranceTags,
    best_threshold,
    with_tags,
)
from rupturekit.tagger.model_files import FILES_KEY, MANIFEST, check_format_version, model_files, open_manifest
from rupturekit.tagger.task import Task, check_codebook

__all__ = ["MODEL_FILE", "WEIGHTS_FILE", "BaselineTagger", "Inputs", "prepare_inputs"]

FORMAT = "rupturekit-baseline"
FORMAT_VERSION = 1
MODEL_FILE = MANIFEST
WEIGHTS_FILE = "weights.json"
MIN_POSITIVES = 2
MIN_TUNE_POSITIVES = 5  # fewer positives: threshold 0.5 on the calibrated probability, not tuned
FEATURE_CLIP = 3.0  # standardised cue features are clipped to +-3 SD
WORD_TOKENS = r"(?u)\b\w[\w']*\b"  # keeps "don't", "i'm" and one-letter words ("i", "no" is two)
_MAX_ITER = 2000

Key = tuple[str, int]


# --------------------------------------------------------------------------- inputs


@dataclass
class Inputs:
    """Per-utterance raw inputs of the baseline: text, the previous turns' text, cue features.

    Built once over whole transcripts (the features look at context) and then indexed by key, so
    cross-validation computes features once for all folds.
    """

    keys: list[Key]
    texts: list[str]
    previous: list[str]
    roles: list[str]
    features: np.ndarray  # float64 (n, n_features); (n, 0) with use_features off
    feature_names: list[str]
    embeddings_used: bool
    index: dict[Key, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.index:
            self.index = {key: i for i, key in enumerate(self.keys)}

    def rows(self, keys: list[Key]) -> np.ndarray:
        try:
            return np.fromiter((self.index[key] for key in keys), np.int64, len(keys))
        except KeyError as exc:
            key = exc.args[0]
            raise ValueError(f"utterance {key[1]} of transcript '{key[0]}' is not in the transcripts given") from None


def prepare_inputs(transcripts: list[Transcript], context_turns: int = 1, use_features: bool = True) -> Inputs:
    """Texts, previous-turn texts and (if `use_features`) cue features of every utterance."""
    keys, texts, previous, roles = [], [], [], []
    for transcript in transcripts:
        history: list[str] = []
        for utterance in transcript.utterances:
            keys.append((utterance.transcript_id, utterance.utterance_id))
            texts.append(utterance.text)
            previous.append(" ".join(history[-context_turns:]) if context_turns else "")
            roles.append(utterance.role)
            history.append(utterance.text)
    if use_features:
        from rupturekit.features import FeatureExtractor

        extractor = FeatureExtractor()
        table = extractor(transcripts)
        values = table.values.astype(np.float64)
        names = list(table.names)
        embeddings_used = bool(extractor.embeddings_used_)
    else:
        values, names, embeddings_used = np.zeros((len(keys), 0)), [], False
    return Inputs(keys, texts, previous, roles, values, names, embeddings_used)


# --------------------------------------------------------------------------- n-gram blocks


class _Ngrams:
    """TF-IDF n-grams with a vocabulary and IDF that save as plain lists.

    Fitting uses scikit-learn's `TfidfVectorizer` (vocabulary, min_df, max_features, smoothed IDF);
    transforming counts with the stored vocabulary and applies sublinear TF, IDF and L2 norm here,
    so a fitted and a reloaded block compute the same numbers by the same code.
    """

    def __init__(self, kind: str, ngram_range: tuple[int, int], min_df: int, max_features: int | None,
                 terms: list[str] | None = None, idf: np.ndarray | None = None):
        self.kind = kind  # "word", "char" or "prev": also the evidence prefix
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.min_df = min_df
        self.max_features = max_features
        self.terms = terms or []
        self.idf = idf if idf is not None else np.zeros(0)

    def _analyzer(self) -> dict[str, Any]:
        if self.kind == "char":
            return {"analyzer": "char_wb", "ngram_range": self.ngram_range, "lowercase": True}
        return {"analyzer": "word", "ngram_range": self.ngram_range, "lowercase": True,
                "token_pattern": WORD_TOKENS}

    def fit(self, docs: list[str]) -> _Ngrams:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(min_df=self.min_df, max_features=self.max_features, sublinear_tf=True,
                                     dtype=np.float64, **self._analyzer())
        try:
            vectorizer.fit(docs)
        except ValueError:  # empty vocabulary (no docs, or every term below min_df)
            if self.min_df > 1 and self._has_terms(docs):
                # min_df alone emptied the block: the model would train on nothing, silently
                raise InputError("baseline.min_df", f"min_df {self.min_df} leaves no {self.kind} n-gram in the "
                                 f"{len(docs):,} training texts", "lower baseline.min_df (the number of texts a "
                                 "term must appear in)") from None
            self.terms, self.idf = [], np.zeros(0)
            return self
        self.terms = [str(t) for t in vectorizer.get_feature_names_out()]
        self.idf = np.ascontiguousarray(vectorizer.idf_, dtype=np.float64)
        return self

    def _has_terms(self, docs: list[str]) -> bool:
        from sklearn.feature_extraction.text import CountVectorizer

        try:
            CountVectorizer(**self._analyzer()).fit(docs)
        except ValueError:
            return False
        return True

    def transform(self, docs: list[str]) -> sp.csr_matrix:
        if not self.terms:
            return sp.csr_matrix((len(docs), 0), dtype=np.float64)
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        counter = CountVectorizer(vocabulary={t: i for i, t in enumerate(self.terms)}, dtype=np.float64,
                                  **self._analyzer())
        counts = counter.transform(docs).tocsr()
        counts.sort_indices()
        counts.data = 1.0 + np.log(counts.data)
        weighted = counts @ sp.diags(self.idf, format="csr")
        return normalize(weighted, norm="l2", copy=False).tocsr()

    @property
    def names(self) -> list[str]:
        return [f"{self.kind}:{t}" for t in self.terms]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ngram_range": list(self.ngram_range), "min_df": self.min_df,
                "max_features": self.max_features, "terms": self.terms, "idf": self.idf.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Ngrams:
        terms = [str(t) for t in data["terms"]]
        idf = np.asarray(data["idf"], dtype=np.float64)
        if idf.shape != (len(terms),):
            raise ValueError(f"{data['kind']} block: {len(terms)} terms but {idf.shape} IDF values")
        return cls(str(data["kind"]), tuple(data["ngram_range"]), int(data["min_df"]), data["max_features"],
                   terms, idf)


# --------------------------------------------------------------------------- one task


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_platt(decision: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> tuple[float, float]:
    """Platt scaling: (a, b) with P(y=1 | d) = sigmoid(a*d + b), fitted by log loss on Platt's
    smoothed targets ((n+ + 1)/(n+ + 2) and 1/(n- + 2)) with Newton's method and backtracking,
    as in Lin, Lin & Weng (2007), "A note on Platt's probabilistic outputs for support vector machines"."""
    d = np.asarray(decision, dtype=np.float64)
    y = np.asarray(y) > 0
    w = np.ones_like(d) if weight is None else np.asarray(weight, dtype=np.float64)
    n_pos, n_neg = float(w[y].sum()), float(w[~y].sum())
    t = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(a: float, b: float) -> float:
        z = a * d + b
        return float(np.sum(w * (np.logaddexp(0.0, z) - t * z)))

    a, b = 0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))
    value = loss(a, b)
    for _ in range(100):
        p = _sigmoid(a * d + b)
        r = w * (p - t)
        gradient = np.array([float(np.sum(r * d)), float(np.sum(r))])
        if np.abs(gradient).max() < 1e-9:
            break
        h = w * p * (1.0 - p)
        hessian = np.array([[float(np.sum(h * d * d)) + 1e-12, float(np.sum(h * d))],
                            [float(np.sum(h * d)), float(np.sum(h)) + 1e-12]])
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size >= 1e-10:
            new_a, new_b = a - size * step[0], b - size * step[1]
            new_value = loss(new_a, new_b)
            if new_value < value + 1e-4 * size * float(gradient @ -step):
                break
            size /= 2.0
        else:
            break  # no decrease along the Newton direction: converged as far as floats allow
        a, b, value = new_a, new_b, new_value
    return float(a), float(b)


class _TaskModel:
    """The fitted model of one task: input blocks, scaler, regression, Platt scaling, thresholds."""

    def __init__(self, task: Task, blocks: list[_Ngrams], mean: np.ndarray, scale: np.ndarray,
                 feature_names: list[str]):
        self.task = task
        self.blocks = blocks
        self.mean = mean
        self.scale = scale
        self.feature_names = feature_names
        n = len(task.labels)
        self.fitted = np.zeros(n, dtype=bool)  # label has a classifier
        self.coef = np.zeros((0, 0))  # (n fitted labels, n columns), rows in label order
        self.intercept = np.zeros(0)
        self.platt = np.zeros((n, 2))
        self.thresholds = np.full(n, 0.5)
        self.n_positive = np.zeros(n, dtype=np.int64)

    # ------------------------------------------------------------ design matrix
    def design(self, inputs: Inputs, rows: np.ndarray) -> sp.csr_matrix:
        parts: list[sp.spmatrix] = []
        if self.feature_names:
            z = np.clip((inputs.features[rows] - self.mean) / self.scale, -FEATURE_CLIP, FEATURE_CLIP)
            parts.append(sp.csr_matrix(z / math.sqrt(len(self.feature_names))))
        for block in self.blocks:
            docs = [inputs.previous[i] if block.kind == "prev" else inputs.texts[i] for i in rows]
            parts.append(block.transform(docs))
        if not parts:
            return sp.csr_matrix((len(rows), 0))
        matrix = sp.hstack(parts, format="csr", dtype=np.float64)
        matrix.sort_indices()
        return matrix

    @property
    def column_names(self) -> list[str]:
        names = [f"feature:{name}" for name in self.feature_names]
        for block in self.blocks:
            names += block.names
        return names

    # ------------------------------------------------------------ scores
    def decision(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Decision values (n, n fitted labels)."""
        return np.asarray(matrix @ self.coef.T) + self.intercept

    def calibrate(self, decision: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (n, n labels); 0 for labels without a classifier."""
        out = np.zeros((decision.shape[0], len(self.task.labels)))
        fitted = np.flatnonzero(self.fitted)
        a, b = self.platt[fitted, 0], self.platt[fitted, 1]
        out[:, fitted] = _sigmoid(decision * a + b)
        if not self.task.multi_label:
            total = out.sum(axis=1, keepdims=True)
            out = np.divide(out, total, out=np.zeros_like(out), where=total > 0)
        return out

    def predict(self, probability: np.ndarray, decision: np.ndarray) -> np.ndarray:
        """0/1 indicator (n, n labels): calibrated probability >= the label's threshold (multi-label),
        or the class with the largest decision value of the multinomial regression (single-label)."""
        if self.task.multi_label:
            return ((probability >= self.thresholds) & self.fitted).astype(np.int8)
        out = np.zeros(probability.shape, dtype=np.int8)
        if probability.shape[0]:
            classes = np.flatnonzero(self.fitted)[decision.argmax(axis=1)]
            out[np.arange(probability.shape[0]), classes] = 1
        return out

    def evidence(self, matrix: sp.csr_matrix, row: int, label: int, top: int) -> list[list[Any]]:
        if top <= 0 or not self.fitted[label]:
            return []
        coef_row = int(np.flatnonzero(np.flatnonzero(self.fitted) == label)[0])
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        columns = matrix.indices[start:end]
        contributions = matrix.data[start:end] * self.coef[coef_row, columns]
        order = sorted(range(len(columns)), key=lambda k: (-contributions[k], columns[k]))
        names = self.column_names
        return [[names[columns[k]], round(float(contributions[k]), SCORE_DECIMALS)]
                for k in order[:top] if contributions[k] > 0]

    # ------------------------------------------------------------ JSON
    def to_json(self) -> tuple[dict[str, Any], dict[str, Any]]:
        task = self.task
        meta = {
            "task": task.to_json(),
            "fitted": self.fitted.tolist(),
            "n_positive": self.n_positive.tolist(),
            "feature_names": self.feature_names,
            "scaler": {"mean": self.mean.tolist(), "scale": self.scale.tolist()},
            "platt": self.platt.tolist(),
            "thresholds": self.thresholds.tolist(),
        }
        weights = {
            "task": task.name,
            "blocks": [block.to_json() for block in self.blocks],
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }
        return meta, weights

    @classmethod
    def from_json(cls, meta: dict[str, Any], weights: dict[str, Any]) -> _TaskModel:
        task = Task.from_json(meta["task"])
        if weights["task"] != task.name:
            raise ValueError(f"weights of task '{weights['task']}' where '{task.name}' was expected")
        names = [str(x) for x in meta["feature_names"]]
        mean = np.asarray(meta["scaler"]["mean"], dtype=np.float64)
        scale = np.asarray(meta["scaler"]["scale"], dtype=np.float64)
        blocks = [_Ngrams.from_json(b) for b in weights["blocks"]]
        model = cls(task, blocks, mean, scale, names)
        n = len(task.labels)
        model.fitted = np.asarray(meta["fitted"], dtype=bool)
        model.n_positive = np.asarray(meta["n_positive"], dtype=np.int64)
        model.platt = np.asarray(meta["platt"], dtype=np.float64).reshape(-1, 2)
        model.thresholds = np.asarray(meta["thresholds"], dtype=np.float64)
        n_columns = len(names) + sum(len(b.terms) for b in blocks)
        n_fitted = int(model.fitted.sum())
        model.coef = np.ascontiguousarray(np.asarray(weights["coef"], dtype=np.float64).reshape(n_fitted, n_columns))
        model.intercept = np.asarray(weights["intercept"], dtype=np.float64)
        shapes = {"fitted": (model.fitted.shape, (n,)), "n_positive": (model.n_positive.shape, (n,)),
                  "platt": (model.platt.shape, (n, 2)), "thresholds": (model.thresholds.shape, (n,)),
                  "scaler mean": (mean.shape, (len(names),)), "scaler scale": (scale.shape, (len(names),)),
                  "intercept": (model.intercept.shape, (n_fitted,))}
        for what, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"task '{task.name}': {what} has shape {got}, expected {want}")
        return model


# --------------------------------------------------------------------------- the tagger


def _check_arrays(*arrays: np.ndarray) -> None:
    for array in arrays:
        if not np.isfinite(array).all():
            raise ValueError("non-finite numbers")


class BaselineTagger(UsesDecisions):
    """Calibrated logistic regression over cue features and n-grams, one model per task.

        tagger = BaselineTagger(config.baseline, codebook, tasks).fit(transcripts, examples)
        tagged = tagger.tag(transcripts)          # utterances gain labels, scores, evidence
        tagger.save("models/my-baseline"); BaselineTagger.load("models/my-baseline", codebook="3rs")

    Fitted state: `models_` (task name -> fitted task model), `skipped_` (task name -> labels that
    got no classifier for lack of positives), `embeddings_used_` (whether the cue features had the
    sentence embeddings when fitted). `decisions` (task name -> `HierarchicalDecision`) is set by
    the trainer from cross-validated scores; without it, multi-label tasks use per-label thresholds.
    """

    @property
    def runtime(self) -> str:
        """No encoder to run: "torch", the runtime every engine accepts for a baseline (a resumed run
        and the Ray actors compare runtimes)."""
        return "torch"

    def __init__(self, config: BaselineConfig, codebook: Codebook, tasks: list[Task], seed: int = 13):
        self.config = config
        self.codebook = codebook
        self.tasks = tasks
        self.seed = seed
        self.decisions: dict[str, HierarchicalDecision] = {}

    # ------------------------------------------------------------------ fit
    def fit(self, transcripts: list[Transcript], examples: dict[str, Examples], *, inputs: Inputs | None = None,
            weights: dict[str, float] | None = None) -> BaselineTagger:
        """Fit every task on its examples. `inputs` (from `prepare_inputs` over `transcripts` or a
        superset) saves recomputing features; `weights` gives a sample weight per transcript id."""
        config = self.config
        if inputs is None:
            inputs = prepare_inputs(transcripts, config.context_turns, config.use_features)
        self.models_: dict[str, _TaskModel] = {}
        self.skipped_: dict[str, list[str]] = {}
        self.embeddings_used_ = inputs.embeddings_used
        for task in self.tasks:
            task_examples = examples.get(task.name)
            if task_examples is None or not len(task_examples):
                raise InputError(self.codebook.name, f"task '{task.name}' has no coded examples",
                                 "add coded utterances for this dimension, or leave it out of 'dimensions'")
            self.models_[task.name] = self._fit_task(task, task_examples, inputs, weights or {})
            skipped = [label for label, ok in zip(task.labels, self.models_[task.name].fitted, strict=True) if not ok]
            if skipped:
                self.skipped_[task.name] = skipped
        return self

    def _regression(self, binary: bool) -> Any:
        """Binary (one label of a multi-label task): liblinear's dual solver, fast when there are
        fewer rows than n-gram columns; its intercept is penalised, so it is scaled by 10 to make
        the penalty negligible. Multinomial (single-label task): newton-cg. Both deterministic."""
        from sklearn.linear_model import LogisticRegression

        if binary:
            return LogisticRegression(C=self.config.C, class_weight=self.config.class_weight, solver="liblinear",
                                      dual=True, intercept_scaling=10.0, max_iter=_MAX_ITER, tol=1e-4,
                                      random_state=self.seed)
        return LogisticRegression(C=self.config.C, class_weight=self.config.class_weight, solver="newton-cg",
                                  max_iter=_MAX_ITER, tol=1e-4)

    def _fit_lr(self, matrix: sp.csr_matrix, y: np.ndarray, weight: np.ndarray,
                binary: bool) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (k, d) and intercepts (k,), rows in the order of the sorted classes (one row
        for two classes)."""
        from sklearn.exceptions import ConvergenceWarning

        model = self._regression(binary)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(matrix, y, sample_weight=weight)
        return np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)

    def _fit_task(self, task: Task, examples: Examples, inputs: Inputs, weights: dict[str, float]) -> _TaskModel:
        config = self.config
        rows = inputs.rows(examples.keys)
        # 0/1: soft targets (consensus "soft") train as their argmax (single-label) or share >= 0.5
        targets = examples.hard().targets > 0
        groups = np.asarray(examples.groups)
        weight = np.array([float(weights.get(g, 1.0)) for g in groups])
        # input blocks and scaler: fitted on all training rows, shared by the calibration folds
        texts = [inputs.texts[i] for i in rows]
        blocks = [_Ngrams("word", config.word_ngrams, config.min_df, config.max_features).fit(texts),
                  _Ngrams("char", config.char_ngrams, config.min_df, config.max_features).fit(texts)]
        if config.context_turns:
            blocks.append(_Ngrams("prev", config.word_ngrams, config.min_df, config.max_features).fit(
                [inputs.previous[i] for i in rows]))
        if inputs.feature_names:
            values = inputs.features[rows]
            mean = values.mean(axis=0)
            scale = values.std(axis=0)
            scale = np.where(scale > 1e-12, scale, 1.0)
        else:
            mean, scale = np.zeros(0), np.zeros(0)
        model = _TaskModel(task, blocks, np.ascontiguousarray(mean), np.ascontiguousarray(scale),
                           list(inputs.feature_names))
        matrix = model.design(inputs, rows)
        model.n_positive = targets.sum(axis=0).astype(np.int64)
        if task.multi_label:
            n_negative = len(targets) - model.n_positive
            for label, negatives in zip(task.labels, n_negative, strict=True):
                if negatives < MIN_POSITIVES:
                    raise InputError(self.codebook.name, f"label '{label}' of task '{task.name}' applies to all "
                                     f"but {negatives} examples: nothing to learn",
                                     "check the codes of this dimension")
        model.fitted = model.n_positive >= MIN_POSITIVES
        if not task.multi_label and model.fitted.sum() < 2:
            raise InputError(self.codebook.name, f"task '{task.name}' has fewer than 2 classes with "
                             f"{MIN_POSITIVES}+ examples", "add coded utterances of more classes")
        fitted = np.flatnonzero(model.fitted)
        if task.multi_label:
            keep = np.arange(len(rows))
        else:
            keep = np.flatnonzero(targets[:, fitted].any(axis=1))  # rows of classes that get a model
        folds = self._calibration_folds(groups[keep])
        oof = np.zeros((len(keep), len(fitted)))
        for train, test in folds:
            oof[test] = self._fit_decide(task, matrix[keep[train]], targets[keep[train]][:, fitted],
                                         weight[keep[train]], matrix[keep[test]])
        coef, intercept = self._fit_predict_params(task, matrix[keep], targets[keep][:, fitted], weight[keep])
        model.coef, model.intercept = np.ascontiguousarray(coef), np.ascontiguousarray(intercept)
        _check_arrays(model.coef, model.intercept)
        y_fitted = targets[keep][:, fitted]
        for j, label in enumerate(fitted):
            model.platt[label] = fit_platt(oof[:, j], y_fitted[:, j], weight[keep])
        if task.multi_label:
            probability = model.calibrate(oof)
            for label in fitted:
                model.thresholds[label] = best_threshold(probability[:, label], targets[keep][:, label],
                                                         MIN_TUNE_POSITIVES)
        return model

    def _calibration_folds(self, groups: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import GroupKFold

        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise InputError(self.codebook.name, "calibration needs examples from at least 2 transcripts",
                             "add coded transcripts")
        splitter = GroupKFold(n_splits=min(self.config.calibration_folds, n_groups), shuffle=True,
                              random_state=self.seed)
        return list(splitter.split(np.zeros(len(groups)), groups=groups))

    def _fit_predict_params(self, task: Task, matrix: sp.csr_matrix, y: np.ndarray,
                            weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(coef, intercept) with one row per column of `y` (fitted labels / classes)."""
        if task.multi_label:
            coefs, intercepts = [], []
            for j in range(y.shape[1]):
                c, b = self._fit_lr(matrix, y[:, j].astype(np.int64), weight, binary=True)
                coefs.append(c[0])
                intercepts.append(b[0])
            return np.vstack(coefs), np.asarray(intercepts)
        classes = y.argmax(axis=1)
        c, b = self._fit_lr(matrix, classes, weight, binary=False)
        if y.shape[1] == 2:  # binary regression: one row; as two symmetric class rows
            return np.vstack([-c[0] / 2.0, c[0] / 2.0]), np.array([-b[0] / 2.0, b[0] / 2.0])
        return c, b

    def _fit_decide(self, task: Task, matrix: sp.csr_matrix, y: np.ndarray, weight: np.ndarray,
                    test: sp.csr_matrix) -> np.ndarray:
        """Decision values on `test` from a regression fitted on one calibration fold's training part.
        A label (class) missing from that part gets a constant: its smoothed prior log-odds."""
        out = np.zeros((test.shape[0], y.shape[1]))
        counts = y.sum(axis=0)
        present = (counts > 0) & (counts < len(y)) if task.multi_label else counts > 0
        prior = np.log((counts + 0.5) / (len(y) - counts + 0.5))
        out[:, ~present] = prior[~present]
        index = np.flatnonzero(present)
        if task.multi_label:
            if len(index):
                coef, intercept = self._fit_predict_params(task, matrix, y[:, index], weight)
                out[:, index] = np.asarray(test @ coef.T) + intercept
        elif len(index) >= 2:
            coef, intercept = self._fit_predict_params(task, matrix, y[:, index], weight)
            out[:, index] = np.asarray(test @ coef.T) + intercept
        return out

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError("this BaselineTagger is not fitted; call fit() or BaselineTagger.load()")

    def prepare(self, transcripts: list[Transcript]) -> Inputs:
        return prepare_inputs(transcripts, self.config.context_turns, self.config.use_features)

    def predict(self, inputs: Inputs, task_name: str, keys: list[Key]) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated probabilities, 0/1 predictions), each (len(keys), n labels), for one task."""
        self._check_fitted()
        model = self.models_[task_name]
        if not keys:
            n = len(model.task.labels)
            return np.zeros((0, n)), np.zeros((0, n), dtype=np.int8)
        matrix = model.design(inputs, inputs.rows(keys))
        decision = model.decision(matrix)
        probability = model.calibrate(decision)
        return probability, model.predict(probability, decision)

    def tag(self, transcripts: list[Transcript], inputs: Inputs | None = None) -> list[Transcript]:
        """Copies of `transcripts` whose utterances carry `labels`, `scores` and `evidence`.

        `labels`: the predicted label names of every task whose role matches the utterance;
        `scores`: calibrated probability per label of those tasks; `evidence`: per predicted label,
        the top `evidence_top` [name, contribution] pairs. Other utterances get empty values.
        """
        self._check_fitted()
        if inputs is None:
            inputs = self.prepare(transcripts)
        if self.config.use_features and inputs.embeddings_used != self.embeddings_used_:
            warnings.warn("the sentence embeddings were " + ("" if self.embeddings_used_ else "not ")
                          + "used when this model was fitted but are " + ("" if inputs.embeddings_used else "not ")
                          + "available now: the embedding features (embed_cos_prev, topic_shift) differ from "
                          "training", stacklevel=2)
        found: dict[Key, UtteranceTags] = {}
        for task in self.tasks:
            rows = np.array([i for i, role in enumerate(inputs.roles) if task.applies_to(role)], dtype=np.int64)
            if len(rows):
                self._tag_task(task, inputs, rows, found)
        # an utterance a key names twice gets that key's tags, as it always did
        return with_tags(transcripts, (found.get((u.transcript_id, u.utterance_id), UtteranceTags())
                                       for transcript in transcripts for u in transcript.utterances))

    def _tag_task(self, task: Task, inputs: Inputs, rows: np.ndarray, found: dict[Key, UtteranceTags]) -> None:
        """One task's scores, tags and evidence for the utterances `rows` of `inputs`, into `found`."""
        model = self.models_[task.name]
        matrix = model.design(inputs, rows)
        decision = model.decision(matrix)
        probability = model.calibrate(decision)
        # rows are in corpus order: each session's turns in order
        tags, guesses = self.decide_rows(task.name, task.labels, probability,
                                         partial(model.predict, probability, decision),
                                         [str(inputs.keys[row][0]) for row in rows])
        index = {label: j for j, label in enumerate(task.labels)}
        for r, row in enumerate(rows):
            entry = found.setdefault(inputs.keys[row], UtteranceTags())
            if entry.add(task.labels, probability[r], tags[r], guesses[r], said=bool(inputs.texts[row].strip())):
                for tag in tags[r]:  # a family tag's evidence is its guessed subtype's
                    entry.evidence[tag] = model.evidence(matrix, r, index[guesses[r].get(tag, tag)],
                                                         self.config.evidence_top)

    def _set_label_thresholds(self, threshold: float) -> None:
        """`set_threshold` (`UsesDecisions`) for the per-label thresholds of multi-label tasks."""
        self._check_fitted()
        for model in self.models_.values():
            if model.task.multi_label:
                model.thresholds = np.full(len(model.task.labels), threshold)

    # ------------------------------------------------------------------ save / load
    def save(self, directory: str | Path) -> Path:
        """Write ``model.json`` and ``weights.json`` into `directory` (created if needed)."""
        self._check_fitted()
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        metas, weights = [], []
        for task in self.tasks:
            meta, weight = self.models_[task.name].to_json()
            metas.append(meta)
            weights.append(weight)
        model = {
            "kind": "baseline",  # read by rupturekit.tagger.api.model_kind
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "codebook": self.codebook.name,
            "codebook_definition": self.codebook.model_dump(mode="json"),
            "config": self.config.model_dump(mode="json"),
            "seed": self.seed,
            "embeddings_used": self.embeddings_used_,
            "skipped": self.skipped_,
            "tasks": metas,
            "decisions": {name: d.to_json() for name, d in self.decisions.items()},
        }
        weights_data = (json.dumps({"format": FORMAT, "tasks": weights}, ensure_ascii=False, separators=(",", ":"))
                        + "\n").encode("utf-8")
        (folder / WEIGHTS_FILE).write_bytes(weights_data)
        model[FILES_KEY] = {WEIGHTS_FILE: len(weights_data)}  # read back only if it still has this size
        (folder / MODEL_FILE).write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, directory: str | Path, codebook: str | Codebook | None = None) -> BaselineTagger:
        """A tagger saved by `save`. With `codebook` (a name, a codebook file or a Codebook), the model
        must be of that codebook (and, for a Codebook, its labels must all still exist there)."""
        folder = Path(directory)
        where = str(folder)
        meta = open_manifest(folder)
        weights = _read_weights(folder, meta)
        if meta.get("format") != FORMAT or not isinstance(weights, dict) or weights.get("format") != FORMAT:
            raise InputError(where, "not a rupturekit baseline model", "give the folder written by `rupturekit train`")
        check_format_version(where, meta, FORMAT_VERSION)
        try:
            tagger = cls._from_json(meta, weights)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(where, f"corrupt baseline model ({detail})", "retrain the model with `rupturekit train`") \
                from None
        check_codebook(where, tagger.codebook.name, tagger.tasks, codebook)
        return tagger

    @classmethod
    def _from_json(cls, meta: dict[str, Any], weights: dict[str, Any]) -> BaselineTagger:
        """The fitted tagger `save` wrote; KeyError, ValueError and the like on anything malformed."""
        own = Codebook.model_validate(meta["codebook_definition"])
        config = BaselineConfig.model_validate(meta["config"])
        models = [_TaskModel.from_json(m, w) for m, w in zip(meta["tasks"], weights["tasks"], strict=True)]
        for model in models:
            _check_arrays(model.coef, model.intercept, model.platt, model.thresholds, model.mean, model.scale)
            for block in model.blocks:
                _check_arrays(block.idf)
        seed = int(meta["seed"])
        embeddings_used = bool(meta["embeddings_used"])
        skipped = {str(k): [str(x) for x in v] for k, v in meta["skipped"].items()}
        decisions = {str(k): HierarchicalDecision.from_json(v) for k, v in (meta.get("decisions") or {}).items()}
        by_name = {m.task.name: m.task for m in models}
        for name, d in decisions.items():
            if name not in by_name or tuple(by_name[name].labels) != d.labels:
                raise ValueError(f"the decision for '{name}' does not match the model's tasks")
        tagger = cls(config, own, [m.task for m in models], seed)
        tagger.models_ = {m.task.name: m for m in models}
        tagger.skipped_ = skipped
        tagger.embeddings_used_ = embeddings_used
        tagger.decisions = decisions
        return tagger


def _read_weights(folder: Path, meta: dict[str, Any]) -> Any:
    """weights.json, the one file read besides model.json, checked against the size model.json
    records (older folders: unchecked); pickles in the folder are refused."""
    files = model_files(folder, meta, (WEIGHTS_FILE,), top_level_suffixes=())
    path = files.files.get(WEIGHTS_FILE)
    if path is None:
        raise InputError(str(folder), f"not a baseline model folder (no {WEIGHTS_FILE})",
                         "give the folder written by `rupturekit train`")
    try:
        return loads_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise InputError(str(path), f"cannot read the model ({detail})",
                         "retrain the model with `rupturekit train`") from None
