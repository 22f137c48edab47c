"""The baseline tagger, its grouped cross-validation and the training entry, on a tiny hand-written
corpus where the labels follow from words."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from rupturekit.codebook import parse_codebook
from rupturekit.errors import InputError
from rupturekit.measures import label_report
from rupturekit.records import TAG_FIELDS, Code, Transcript, Utterance, dumps_jsonl, write_jsonl
from rupturekit.tagger.baseline import MODEL_FILE, WEIGHTS_FILE, BaselineTagger, prepare_inputs
from rupturekit.tagger.config import BaselineConfig, TrainConfig, load_train_config
from rupturekit.tagger.dataset import Task, task_examples, tasks_for
from rupturekit.tagger.decisions import best_threshold
from rupturekit.tagger.evaluate import assign_folds, cross_validate, reference_baselines, score_task

ROOT = Path(__file__).resolve().parents[1]

TOY_CODEBOOK = """
name: toy
title: Toy codebook for the baseline tests
dimensions:
  - name: markers
    role: client
    multi_label: true
    labels:
      - name: rupture.complaint
        definition: Says the therapy is not helping.
      - name: rupture.minimal
        definition: Answers "dunno".
  - name: move
    role: therapist
    multi_label: false
    labels:
      - name: move.question
        definition: Asks what happened.
      - name: move.reflection
        definition: Reflects that something mattered.
"""

PLACES = ["office", "garden", "station", "kitchen", "market", "school", "beach", "clinic"]
DAYS = ["monday", "tuesday", "friday", "sunday"]


def toy_transcripts(n: int, seed: int, prefix: str = "t") -> list[Transcript]:
    """n transcripts of 12 turns: therapist questions ("what happened ...?") or reflections
    ("sounds like ..."); client complaints ("not helping"), "dunno", or neutral talk."""
    rng = random.Random(seed)
    transcripts = []
    for k in range(n):
        tid = f"{prefix}{k:02d}"
        utterances = []
        for i in range(12):
            place, day = rng.choice(PLACES), rng.choice(DAYS)
            if i % 2 == 0:
                if rng.random() < 0.5:
                    text, labels = f"What happened at the {place} on {day}?", ["move.question"]
                else:
                    text, labels = f"Sounds like the {place} mattered to you.", ["move.reflection"]
                speaker, role = "T", "therapist"
            else:
                kind = rng.choice(["complaint", "minimal", "neutral", "neutral"])
                if kind == "complaint":
                    text, labels = f"Honestly this is not helping, the {place} again.", ["rupture.complaint"]
                elif kind == "minimal":
                    text, labels = "Dunno.", ["rupture.minimal"]
                else:
                    text, labels = f"I went to the {place} on {day} with my sister.", []
                speaker, role = "C", "client"
            codes = [Code(rater="team", label=label) for label in labels] or [Code(rater="team", label="none")]
            utterances.append(Utterance(transcript_id=tid, utterance_id=i, speaker=speaker, role=role, text=text,
                                        codes=codes))
        transcripts.append(Transcript(transcript_id=tid, utterances=utterances))
    return transcripts


@pytest.fixture(scope="module")
def codebook():
    return parse_codebook(TOY_CODEBOOK, "toy.yaml")


@pytest.fixture(scope="module")
def corpus():
    return toy_transcripts(8, seed=1)


def fast_config(**changes) -> BaselineConfig:
    values = {"use_features": False, "min_df": 1, "calibration_folds": 2, "evidence_top": 3}
    values.update(changes)
    return BaselineConfig(**values)


def fit(codebook, corpus, config: BaselineConfig) -> BaselineTagger:
    tasks = tasks_for(codebook)
    examples = {task.name: task_examples(corpus, codebook, task) for task in tasks}
    return BaselineTagger(config, codebook, tasks).fit(corpus, examples)


def gold_labels(transcripts: list[Transcript]) -> list[list[str]]:
    return [sorted(c.label for c in u.codes if c.label != "none") for t in transcripts for u in t.utterances]


@pytest.fixture(scope="module")
def tagger(codebook, corpus):
    return fit(codebook, corpus, fast_config())


# ------------------------------------------------------------------ the tagger


def test_learns_word_labels_exactly_on_new_transcripts(tagger):
    unseen = toy_transcripts(3, seed=99, prefix="new")
    tagged = tagger.tag(unseen)
    assert [sorted(u.labels) for t in tagged for u in t.utterances] == gold_labels(unseen)
    first_client = tagged[0].utterances[1]
    assert set(first_client.scores) == {"rupture.complaint", "rupture.minimal"}
    therapist = tagged[0].utterances[0]
    scores = therapist.scores
    assert set(scores) == {"move.question", "move.reflection"}
    assert math.isclose(sum(scores.values()), 1.0, abs_tol=1e-5)  # single-label: normalised probabilities
    assert unseen[0].utterances[0].model_dump(include=set(TAG_FIELDS), exclude_none=True) == {}  # tag() returns copies


def test_evidence_names_the_telling_ngram_with_positive_contribution(tagger):
    tagged = tagger.tag(toy_transcripts(2, seed=5, prefix="ev"))
    complaints = [u for t in tagged for u in t.utterances if "rupture.complaint" in u.labels]
    minimal = [u for t in tagged for u in t.utterances if "rupture.minimal" in u.labels]
    assert complaints and minimal
    for u in complaints:
        evidence = u.evidence["rupture.complaint"]
        assert 1 <= len(evidence) <= 3
        names = [name for name, _ in evidence]
        assert any(name in ("word:helping", "word:not helping", "word:not", "word:is not") for name in names), names
        assert all(value > 0 for _, value in evidence)
        assert [v for _, v in evidence] == sorted((v for _, v in evidence), reverse=True)
    for u in minimal:
        names = [name for name, _ in u.evidence["rupture.minimal"]]
        assert "word:dunno" in names or any(name.startswith("char:") and "dun" in name for name in names), names
    neutral = next(u for t in tagged for u in t.utterances if u.role == "client" and not u.labels)
    assert neutral.evidence == {}


def test_evidence_contribution_is_coefficient_times_value_and_features_take_part(codebook, corpus):
    tagger = fit(codebook, corpus, fast_config(use_features=True))
    model = tagger.models_["markers"]
    assert any(name.startswith("feature:") for name in model.column_names)
    unseen = toy_transcripts(1, seed=7, prefix="f")
    inputs = tagger.prepare(unseen)
    rows = np.array([i for i, role in enumerate(inputs.roles) if role == "client"])
    matrix = model.design(inputs, rows).toarray()
    tagged = [u for u in tagger.tag(unseen, inputs=inputs)[0].utterances if u.role == "client"]
    checked = 0
    names = model.column_names
    for r, u in enumerate(tagged):
        for label, evidence in u.evidence.items():
            coef = model.coef[list(np.flatnonzero(model.fitted)).index(codebook.dimension("markers")
                                                                         .label_names.index(label))]
            for name, value in evidence:
                column = names.index(name)
                assert value == pytest.approx(coef[column] * matrix[r, column], abs=1e-6)
                checked += 1
    assert checked > 0


def test_roles_without_a_task_get_empty_tags(codebook, tagger):
    other = Transcript(transcript_id="o", utterances=[
        Utterance(transcript_id="o", utterance_id=0, speaker="X", role="unknown", text="not helping, dunno")])
    u = tagger.tag([other])[0].utterances[0]
    assert (u.labels, u.scores, u.evidence) == ([], {}, {})


def test_save_load_tags_byte_identically_and_keeps_thresholds(tmp_path, codebook, tagger):
    folder = tagger.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [MODEL_FILE, WEIGHTS_FILE]
    meta = json.loads((folder / MODEL_FILE).read_text())
    assert meta["kind"] == "baseline" and meta["codebook"] == "toy"
    saved = {t["task"]["name"]: t["thresholds"] for t in meta["tasks"]}
    assert saved["markers"] == tagger.models_["markers"].thresholds.tolist()
    assert all(0.0 < v < 1.0 for v in saved["markers"])
    loaded = BaselineTagger.load(folder, codebook="toy")
    unseen = toy_transcripts(3, seed=42, prefix="s")
    assert dumps_jsonl(loaded.tag(unseen)) == dumps_jsonl(tagger.tag(unseen))
    assert loaded.tag(unseen) == loaded.tag(unseen)  # deterministic
    loaded.set_threshold(0.0)
    tagged = loaded.tag(unseen)
    assert all(set(u.labels) >= {"rupture.complaint", "rupture.minimal"}
               for t in tagged for u in t.utterances if u.role == "client")


def test_refitting_is_deterministic(codebook, corpus, tagger):
    again = fit(codebook, corpus, fast_config())
    unseen = toy_transcripts(2, seed=3, prefix="d")
    assert dumps_jsonl(again.tag(unseen)) == dumps_jsonl(tagger.tag(unseen))


def test_bad_model_folders_raise_one_line_input_errors(tmp_path, tagger):
    with pytest.raises(InputError, match="no such model folder"):
        BaselineTagger.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no model.json"):
        BaselineTagger.load(tmp_path / "empty")
    folder = tagger.save(tmp_path / "good")
    with pytest.raises(InputError, match="codebook 'toy', not '3rs'") as error:
        BaselineTagger.load(folder, codebook="3rs")
    assert "\n" not in str(error.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MODEL_FILE).write_text((folder / MODEL_FILE).read_text()[:200])
    (broken / WEIGHTS_FILE).write_text((folder / WEIGHTS_FILE).read_text())
    with pytest.raises(InputError, match="cannot read the model"):
        BaselineTagger.load(broken)
    meta = json.loads((folder / MODEL_FILE).read_text())
    meta["tasks"][0]["thresholds"] = [0.5]  # wrong length
    (broken / MODEL_FILE).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="corrupt baseline model"):
        BaselineTagger.load(broken)


def test_label_with_fewer_than_two_positives_gets_no_classifier(codebook):
    corpus = toy_transcripts(6, seed=2)
    # keep exactly one "dunno" code
    seen = 0
    for t in corpus:
        for u in t.utterances:
            if any(c.label == "rupture.minimal" for c in u.codes):
                seen += 1
                if seen > 1:
                    u.codes = [Code(rater="team", label="none")]
    tagger = fit(codebook, corpus, fast_config())
    assert tagger.skipped_ == {"markers": ["rupture.minimal"]}
    tagged = tagger.tag(toy_transcripts(1, seed=8, prefix="r"))
    clients = [u for u in tagged[0].utterances if u.role == "client"]
    assert all(u.scores["rupture.minimal"] == 0.0 for u in clients)
    assert not any("rupture.minimal" in u.labels for u in clients)


def test_best_threshold_maximises_f1():
    probability = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.1])
    truth = np.array([1, 1, 0, 1, 0, 0])
    # cuts: >=0.8 -> F1 0.8; >=0.4 -> tp 3 fp 1 -> F1 6/7; best is half-way between 0.4 and 0.3
    assert best_threshold(probability, truth) == pytest.approx(0.35)
    assert best_threshold(probability, np.zeros(6)) == 0.5


# ------------------------------------------------------------------ evaluation


def test_grouped_cv_never_puts_a_transcript_in_train_and_test(codebook, corpus):
    config = TrainConfig(codebook="toy", data=[{"path": "toy.jsonl"}], evaluation={"folds": 4, "bootstrap": 20},
                         baseline=fast_config().model_dump())
    tasks = tasks_for(codebook)
    report = cross_validate(config, corpus, codebook, tasks)
    assert report.n_folds == 4
    assert set(report.folds) == {t.transcript_id for t in corpus}  # each transcript: exactly one fold
    assert sorted(set(report.folds.values())) == [0, 1, 2, 3]
    for task in tasks:
        keys, folds = report.predictions[task.name]["keys"], report.predictions[task.name]["folds"]
        for fold in range(4):
            test = {k[0] for k, f in zip(keys, folds, strict=True) if f == fold}
            train = {k[0] for k, f in zip(keys, folds, strict=True) if f != fold}
            assert test and not test & train
    # words decide the labels, so held-out predictions are perfect
    assert report.task("markers").macro_f1 == 1.0
    assert report.task("move").kappa == 1.0
    data = json.loads(json.dumps(report.to_dict()))
    assert data["tasks"][0]["macro_over"] == "2 of 2 labels (those with support > 0)"
    markdown = report.to_markdown()
    assert "| `rupture.complaint` |" in markdown and "macro F1, always negative" in markdown
    assert "macro F1, majority class" in markdown and "stratified random" in markdown


def test_assign_folds_is_seeded_and_groups_transcripts(codebook, corpus):
    tasks = tasks_for(codebook)
    examples = {task.name: task_examples(corpus, codebook, task) for task in tasks}
    first = assign_folds(examples, 3, seed=13)
    assert first == assign_folds(examples, 3, seed=13)
    assert len(first) == 8 and set(first.values()) == {0, 1, 2}
    assert len(assign_folds(examples, 20, seed=13)) == 8  # more folds than transcripts: one per transcript


def test_metrics_of_a_known_prediction_set():
    task = Task("markers", "client", True, ("a", "b", "c"))
    targets = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 1, 0], [0, 0, 0]])
    predicted = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]])
    scores = predicted * 0.8 + 0.1
    groups = np.array(["x", "x", "y", "y", "z", "z"], dtype=object)
    report = score_task(task, targets, predicted, scores, groups, bootstrap=200, seed=1)
    a, b, c = report.labels
    # a: tp 2 (rows 0, 4), fp 1 (row 3), fn 1 (row 1)
    assert (a.support, a.predicted) == (3, 3)
    assert (a.precision, a.recall, a.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # b: tp 1 (row 2), fp 1 (row 3), fn 1 (row 4)
    assert (b.precision, b.recall, b.f1) == pytest.approx((0.5, 0.5, 0.5))
    assert c.support == 0 and c.f1 == 0.0 and math.isnan(c.f1_ci[0])
    assert report.macro_labels == 2
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.5) / 2)  # c has no support: left out
    assert report.micro_f1 == pytest.approx(2 * 3 / (2 * 3 + 2 + 2))  # tp 3, fp 2, fn 2
    low, high = report.macro_f1_ci
    assert 0.0 <= low <= report.macro_f1 <= high <= 1.0
    expected = label_report(targets, predicted, label_names=["a", "b", "c"])  # same definitions
    assert [s.f1 for s in report.labels] == pytest.approx(expected["f1"].iloc[:3].tolist())
    # a one-label task (e.g. the resolution family): the positive class, micro = macro
    one = score_task(Task("family", "client", True, ("a",), "family"), targets[:, :1], predicted[:, :1],
                     scores[:, :1], groups, bootstrap=0)
    assert (one.labels[0].support, one.labels[0].f1) == (3, pytest.approx(2 / 3))
    assert one.micro_f1 == pytest.approx(one.macro_f1) and math.isnan(one.macro_f1_ci[0])
    # reference baselines, folds x | y | z: training prevalence of a is 1/4 (test x), 3/4 (y), 2/4 (z)
    folds = np.array([0, 0, 1, 1, 2, 2])
    reference = reference_baselines(task, targets, folds)
    e_tp = 0.25 * 2 + 0.75 * 0 + 0.5 * 1  # q * positives in the test fold
    e_fp = 0.25 * 0 + 0.75 * 2 + 0.5 * 1  # q * negatives
    e_fn = 0.75 * 2 + 0.25 * 0 + 0.5 * 1  # (1 - q) * positives
    assert (e_tp, e_fp, e_fn) == (1.0, 2.0, 2.0)
    assert reference["per_label_chance_f1"][0] == pytest.approx(1 / 3)
    assert reference["always_negative"] == {"macro_f1": 0.0, "micro_f1": 0.0, "kappa": None}


def test_single_label_metrics_kappa_and_majority_baseline():
    task = Task("move", "therapist", False, ("q", "r"))
    truth = np.array([0, 0, 0, 1, 1, 0])
    guess = np.array([0, 0, 1, 1, 0, 0])
    onehot = lambda v: np.eye(2)[v]  # noqa: E731
    groups = np.array(["x", "x", "y", "y", "z", "z"], dtype=object)
    report = score_task(task, onehot(truth), onehot(guess), onehot(guess), groups, bootstrap=50, seed=1)
    # q: tp 3, fp 1, fn 1 -> F1 0.75; r: tp 1, fp 1, fn 1 -> F1 0.5
    assert [s.f1 for s in report.labels] == pytest.approx([0.75, 0.5])
    assert report.micro_f1 == pytest.approx(4 / 6)  # accuracy
    # kappa: po = 4/6, pe = (4/6)(4/6) + (2/6)(2/6) = 20/36
    assert report.kappa == pytest.approx((4 / 6 - 20 / 36) / (1 - 20 / 36))
    reference = reference_baselines(task, onehot(truth), np.array([0, 0, 1, 1, 2, 2]))
    # majority of the other folds is q in every fold: F1(q) = 2*4/(2*4+2) = 0.8, F1(r) = 0
    assert reference["majority"]["macro_f1"] == pytest.approx(0.4)
    assert reference["majority"]["micro_f1"] == pytest.approx(4 / 6)
    assert reference["majority"]["kappa"] == 0.0


# ------------------------------------------------------------------ training entry and configs


@pytest.mark.filterwarnings("ignore:.*no timestamps")
def test_train_baseline_writes_model_metrics_config_and_card(tmp_path, monkeypatch, codebook):
    from rupturekit.tagger.baseline_train import train_baseline

    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "toy.yaml").write_text(TOY_CODEBOOK)
    write_jsonl(toy_transcripts(4, seed=4), tmp_path / "toy.jsonl")
    write_jsonl(toy_transcripts(3, seed=6, prefix="b"), tmp_path / "more.jsonl")
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({
        "model": "baseline", "codebook": "toy", "codebook_dirs": ["books"],
        "data": [{"path": "toy.jsonl"}, {"path": "more.jsonl", "weight": 2.0}],
        "evaluation": {"folds": 3, "bootstrap": 20}, "baseline": fast_config().model_dump(mode="json")}))
    monkeypatch.chdir(tmp_path)  # relative paths in a config are resolved against the working directory
    lines: list[str] = []
    config = load_train_config("train.yaml")
    out = train_baseline(config, Path("model"), progress=lines.append)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["MODEL_CARD.md", "config.yaml", "cv_metrics.json", "cv_metrics.md", MODEL_FILE, WEIGHTS_FILE]
    metrics = json.loads((out / "cv_metrics.json").read_text())
    assert metrics["folds"] == 3 and metrics["tasks"][0]["macro_f1"] == 1.0
    assert sorted(metrics["by_source"]["markers"]) == ["more.jsonl", "toy.jsonl"]
    card = (out / "MODEL_CARD.md").read_text()
    assert "not a clinical instrument" in card and "| toy.jsonl | majority | all | 4 | 48 |" in card
    assert "### By data source" in card
    assert yaml.safe_load((out / "config.yaml").read_text())["evaluation"]["folds"] == 3
    assert any(line.startswith("fold 1/3") for line in lines)
    tagger = BaselineTagger.load(out, codebook=codebook)
    assert tagger.tag(toy_transcripts(1, seed=11))[0].utterances[1].scores
    clash = load_train_config("train.yaml", ["data.1.path=toy.jsonl"])
    with pytest.raises(InputError, match="transcript 't00' is also in toy.jsonl"):
        train_baseline(clash, Path("model2"))


@pytest.mark.filterwarnings("ignore:.*no timestamps")
def test_train_baseline_refuses_a_task_without_examples(tmp_path, monkeypatch):
    from rupturekit.tagger.baseline_train import train_baseline

    (tmp_path / "toy.yaml").write_text(TOY_CODEBOOK)
    corpus = toy_transcripts(3, seed=4)
    for t in corpus:
        for u in t.utterances:
            if u.role == "therapist":
                u.codes = []
    write_jsonl(corpus, tmp_path / "toy.jsonl")
    monkeypatch.chdir(tmp_path)
    config = TrainConfig(codebook=str(tmp_path / "toy.yaml"), data=[{"path": "toy.jsonl"}],
                         baseline=fast_config().model_dump())
    with pytest.raises(InputError, match="task 'move' has no coded examples"):
        train_baseline(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_shipped_configs_parse_and_take_overrides():
    config = load_train_config(ROOT / "configs" / "baseline-3rs.yaml", ["baseline.C=0.5", "level=family"])
    assert config.model == "baseline" and config.codebook == "3rs"
    assert config.baseline.C == 0.5 and config.level == "family"
    assert [s.gold for s in config.data] == ["3rs-constructed", "annomi-3rs"]
    assert config.data[1].raters == ["adjudicated"] and config.data[0].weight == 0.3
    assert (config.group_by, config.decisions.folds, config.decisions.tune_on) == ("video", 5, ["annomi-3rs"])
    assert config.dimensions == ["client_markers", "resolution"]
    assert (config.evaluation.folds, config.evaluation.seed, config.seed) == (5, 13, 13)
    annomi = load_train_config(ROOT / "configs" / "baseline-annomi.yaml")
    assert annomi.codebook == "annomi" and annomi.dimensions == ["therapist_behaviour", "client_talk_type"]
    assert annomi.data[0].path == "../shared/data/annomi/AnnoMI-simple.csv"
    with pytest.raises(InputError, match="baseline.C"):
        load_train_config(ROOT / "configs" / "baseline-3rs.yaml", ["baseline.C=-1"])


def test_prepare_inputs_previous_turns(corpus):
    inputs = prepare_inputs(corpus[:1], context_turns=2, use_features=False)
    texts = [u.text for u in corpus[0].utterances]
    assert inputs.previous[0] == "" and inputs.previous[1] == texts[0]
    assert inputs.previous[3] == f"{texts[1]} {texts[2]}"
    assert inputs.features.shape == (12, 0)


def test_train_baseline_stores_cross_validated_decisions_tuned_on_one_source(tmp_path, monkeypatch, codebook):
    """decisions.folds >= 2: operating points from the CV scores of `tune_on` only; tags follow them."""
    from rupturekit.tagger.baseline_train import train_baseline

    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "toy.yaml").write_text(TOY_CODEBOOK)
    write_jsonl(toy_transcripts(6, seed=4), tmp_path / "real.jsonl")
    write_jsonl(toy_transcripts(4, seed=6, prefix="c"), tmp_path / "constructed.jsonl")
    monkeypatch.chdir(tmp_path)
    config = TrainConfig.model_validate({
        "model": "baseline", "codebook": "toy", "codebook_dirs": ["books"],
        "data": [{"path": "real.jsonl"}, {"path": "constructed.jsonl", "weight": 0.3}],
        "decisions": {"folds": 3, "tune_on": ["real.jsonl"], "min_positives": 3},
        "evaluation": {"folds": 3, "bootstrap": 0}, "baseline": fast_config().model_dump(mode="json")})
    out = train_baseline(config, Path("model"), progress=lambda _: None)
    saved = json.loads((out / MODEL_FILE).read_text())["decisions"]
    assert list(saved) == ["markers"]  # the single-label task keeps its argmax
    real_positives = [sum(1 for t in toy_transcripts(6, seed=4) for u in t.utterances for c in u.codes
                          if c.label == label) for label in ("rupture.complaint", "rupture.minimal")]
    assert saved["markers"]["positives"] == real_positives  # counted on the tuning source alone
    assert "out-of-fold scores" in saved["markers"]["tuned_on"] and "real.jsonl" in saved["markers"]["tuned_on"]
    assert "## Decisions at real base rates: markers" in (out / "MODEL_CARD.md").read_text()
    tagger = BaselineTagger.load(out, codebook=codebook)
    assert tagger.operating_points == ["balanced", "precision", "recall"]
    tagged = tagger.tag(toy_transcripts(2, seed=11))
    client = [u for t in tagged for u in t.utterances if u.role == "client"]
    truth = [u for t in toy_transcripts(2, seed=11) for u in t.utterances if u.role == "client"]
    for u, gold in zip(client, truth, strict=True):
        want = sorted(c.label for c in gold.codes if c.label != "none")
        assert sorted(u.labels) == want  # the toy labels are perfectly learnable
    tagger.set_threshold(1.0)
    assert not any(u.labels for t in tagger.tag(toy_transcripts(1, seed=11)) for u in t.utterances
                   if u.role == "client")
    with pytest.raises(InputError, match="decisions.tune_on"):
        train_baseline(config.model_copy(update={"decisions": config.decisions.model_copy(
            update={"tune_on": ["nope.jsonl"]})}), Path("model3"), progress=lambda _: None)


def test_assign_folds_keeps_a_source_video_together(codebook, corpus):
    tasks = tasks_for(codebook)
    examples = {task.name: task_examples(corpus, codebook, task) for task in tasks}
    video = {t.transcript_id: f"v{i // 2}" for i, t in enumerate(corpus)}  # two transcripts per video
    folds = assign_folds(examples, 3, seed=13, group_of=video)
    for a in corpus:
        for b in corpus:
            if video[a.transcript_id] == video[b.transcript_id]:
                assert folds[a.transcript_id] == folds[b.transcript_id]


@pytest.mark.filterwarnings("ignore:.*no timestamps")
def test_soft_consensus_trains_the_baseline_on_hard_targets(tmp_path, monkeypatch, codebook):
    """consensus soft: the baseline fits, folds and scores on the argmax (single-label; ties to the
    first label) and share >= 0.5 (multi-label), never on the shares."""
    from rupturekit.tagger.baseline_train import train_baseline
    from rupturekit.tagger.evaluate import examples_for

    other = {"move.question": "move.reflection", "move.reflection": "move.question"}
    transcripts = toy_transcripts(6, seed=5)
    expected = {"move": dict.fromkeys(("move.question", "move.reflection"), 0),
                "markers": dict.fromkeys(("rupture.complaint", "rupture.minimal"), 0)}
    for t in transcripts:
        for u in t.utterances:
            team = [c.label for c in u.codes]
            if u.role == "therapist":  # b disagrees on every 4th turn: 0.5 / 0.5, a tie -> move.question
                b = [other[team[0]]] if u.utterance_id % 4 == 0 else team
                u.codes = u.codes + [Code(rater="b", label=label) for label in b]
                expected["move"]["move.question" if u.utterance_id % 4 == 0 else team[0]] += 1
            else:  # b says none on every 4th turn (team's label: 2/3); c says minimal on others (1/3)
                b = ["none"] if u.utterance_id % 4 == 1 else team
                c = ["rupture.minimal"] if u.utterance_id % 4 == 3 else team
                u.codes = u.codes + [Code(rater="b", label=label) for label in b] + \
                    [Code(rater="c", label=label) for label in c]
                for label in team:
                    if label != "none":
                        expected["markers"][label] += 1
    config = TrainConfig(codebook=str(tmp_path / "toy.yaml"), data=[{"path": "soft.jsonl", "consensus": "soft"}],
                         evaluation={"folds": 2, "bootstrap": 0}, baseline=fast_config().model_dump())
    tasks = tasks_for(codebook)
    soft = {task.name: task_examples(transcripts, codebook, task, "soft") for task in tasks}
    assert soft["move"].soft and soft["markers"].soft
    hard = examples_for(config, codebook, tasks, transcripts)
    for task in tasks:
        assert set(np.unique(hard[task.name].targets).tolist()) == {0.0, 1.0}
    # fitted on the soft examples directly or on examples_for's: the same hard classes
    for examples in (soft, hard):
        tagger = BaselineTagger(fast_config(), codebook, tasks).fit(transcripts, examples)
        for task in tasks:
            counts = dict(zip(task.labels, tagger.models_[task.name].n_positive.tolist(), strict=True))
            assert counts == expected[task.name]
            assert tagger.models_[task.name].fitted.all()
    # the whole training entry: cross-validation (folds, scores) and the card
    (tmp_path / "toy.yaml").write_text(TOY_CODEBOOK)
    write_jsonl(transcripts, tmp_path / "soft.jsonl")
    monkeypatch.chdir(tmp_path)
    out = train_baseline(config, tmp_path / "model")
    metrics = json.loads((out / "cv_metrics.json").read_text())
    for report in metrics["tasks"]:
        assert {label["label"]: label["support"] for label in report["labels"]} == expected[report["task"]]
    assert "| soft.jsonl | soft (trained on its hard labels) | all | 6 | 72 |" in (out / "MODEL_CARD.md").read_text()
