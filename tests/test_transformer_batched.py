"""Inference over many sessions at once: the dialogue layer over masked batches of sessions, the
pipelined path (tokenising the next group of sessions in a background thread) and the encoder's
precision. Each must give the tags of the plain path (one session at a time, serial), on tiny
random models, with and without a windowed dialogue layer, an ensemble, hybrid extra inputs,
and sessions of very different lengths."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft", reason="peft (LoRA) is a dependency of the transformer tagger; pip install peft")

from conftest import tiny_bert  # noqa: E402

from rupturekit.codebook import load_codebook  # noqa: E402
from rupturekit.errors import InputError  # noqa: E402
from rupturekit.records import Code, Transcript, Utterance, write_jsonl  # noqa: E402
from rupturekit.tagger import transformer  # noqa: E402
from rupturekit.tagger.config import TrainConfig, TransformerConfig  # noqa: E402
from rupturekit.tagger.dataset import tasks_for  # noqa: E402
from rupturekit.tagger.transformer import (  # noqa: E402
    CPU_DIALOGUE_SLOTS,
    DialogueModel,
    EnsembleModel,
    InferenceSettings,
    SessionInput,
    TaskSpec,
    TransformerTagger,
    contextualize_grouped,
    decide,
    probabilities,
    session_groups,
    transcript_groups,
)
from rupturekit.tagger.transformer_train import train_transformer  # noqa: E402

LENGTHS = [1, 2, 40, 3, 25, 0, 1, 12, 7]  # very different sessions, an empty one among them
CLIENT = [("withdrawal.minimal_response", "Dunno."), ("withdrawal.minimal_response", "Yeah. I guess."),
          ("confrontation.rejects_intervention", "No, that's not it at all."),
          (None, "I went to work and then I cooked dinner for my kids."), (None, "My sister called me.")]
THERAPIST = [("resolution.invites_exploration", "How are you feeling about our work together?"),
             (None, "Tell me more about your week."), (None, "What happened after that?")]


def _transcripts(lengths: list[int], seed: int = 0) -> list[Transcript]:
    rng = np.random.default_rng(seed)
    out = []
    for t, n in enumerate(lengths):
        utterances = []
        for i in range(n):
            therapist = i % 2 == 0
            items = THERAPIST if therapist else CLIENT
            label, text = items[int(rng.integers(len(items)))]
            utterances.append(Utterance(transcript_id=f"s{t}", utterance_id=i, speaker="T" if therapist else "C",
                                        role="therapist" if therapist else "client", text=text,
                                        codes=[Code(rater="team", label=label or "none")]))
        out.append(Transcript(transcript_id=f"s{t}", utterances=utterances))
    return out


def _config(base: Path, data: Path, **transformer) -> TrainConfig:
    settings = {"base": str(base), "max_length": 16, "window_stride": 12, "dialogue_heads": 2, "epochs": 2,
                "sessions_per_batch": 2, "learning_rate": 5e-3, "validation_fraction": 0.25, "device": "cpu",
                "encoder_mode": "frozen", **transformer}
    return TrainConfig.model_validate({"model": "transformer", "codebook": "3rs", "data": [{"path": str(data)}],
                                       "transformer": settings, "seed": 7})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batched")
    data = root / "corpus.jsonl"
    write_jsonl(_transcripts([10] * 8, seed=1), data)
    texts = [text for _, text in CLIENT + THERAPIST] + ["therapist: client: other: unknown:"]
    return {"root": root, "data": data, "base": tiny_bert(root / "base", texts, vocab_size=120)}


@pytest.fixture(scope="module")
def taggers(workspace) -> dict[str, TransformerTagger]:
    """Tiny frozen-encoder models: a windowed dialogue layer, and an ensemble of two seeds."""
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUPTUREKIT_CACHE", str(workspace["root"] / "cache"))
        for name, settings in {"window": {"dialogue_window": 2}, "ensemble": {"ensemble": 2}}.items():
            folder = train_transformer(_config(workspace["base"], workspace["data"], **settings),
                                       workspace["root"] / name, progress=lambda _: None)
            out[name] = TransformerTagger.load(folder, codebook="3rs")
    return out


# ------------------------------------------------------------------ the dialogue layer alone


def _model(layer: str, window: int | None, members: int, extra: int) -> tuple[torch.nn.Module, list[TaskSpec]]:
    config = TransformerConfig(dialogue_heads=2, dialogue_window=window, dialogue_layer=layer, dropout=0.0)
    tasks = [TaskSpec.of(tasks_for(load_codebook("annomi"), ["client_talk_type"])[0], "annomi"),
             TaskSpec.of(tasks_for(load_codebook("3rs"), ["client_markers"])[0], "3rs")]
    torch.manual_seed(0)
    built = [DialogueModel(torch.nn.Identity(), 8, tasks, config, extra) for _ in range(members)]
    model = built[0] if members == 1 else EnsembleModel(torch.nn.Identity(), built, tasks)
    with torch.no_grad():  # a random position scale large enough that positions matter
        for member in built:
            member.position_scale.fill_(0.7)
    return model.eval(), tasks


def _sessions(lengths: list[int]) -> list[SessionInput]:
    rng = np.random.default_rng(3)
    # a crop's offset (its first turn's position in the whole session) moves the positions
    return [SessionInput(rng.integers(0, 4, n).astype(np.int64), [], np.zeros(0, np.int64), offset=5 * (i % 3))
            for i, n in enumerate(lengths)]


@pytest.mark.parametrize(("layer", "window", "members", "extra"), [
    ("transformer", None, 1, 0), ("transformer", 2, 1, 0), ("transformer", 1, 1, 5), ("bigru", None, 1, 0),
    ("transformer", None, 3, 0), ("transformer", 3, 2, 4)])
def test_masked_session_batches_match_one_session_at_a_time(layer, window, members, extra):
    model, tasks = _model(layer, window, members, extra)
    sessions = _sessions(LENGTHS)
    total = sum(LENGTHS)
    torch.manual_seed(4)
    vectors = torch.randn(total, 8)
    rows = torch.randn(total, extra) if extra else None
    with torch.inference_mode():
        reference = contextualize_grouped(model, vectors, sessions, rows, slots=0)
        # what inference did before: each non-empty session alone, concatenated
        alone, start = [], 0
        for session in sessions:
            if session.n:
                part = None if rows is None else rows[start:start + session.n]
                alone.append(model.contextualize(vectors[start:start + session.n], [session], part))
            start += session.n
        # (not bit for bit: BLAS may take another path for a copied than for a sliced input)
        assert torch.allclose(reference, torch.cat(alone, reference.dim() - 2), atol=1e-6)
        expected = model.logits(reference, rows)
        for slots in (1, 16, 64, 100_000):
            batched = contextualize_grouped(model, vectors, sessions, rows, slots=slots)
            assert batched.shape == reference.shape
            assert torch.allclose(batched, reference, atol=1e-5), slots
            logits = model.logits(batched, rows)
            for task in tasks:
                assert torch.allclose(logits[task.key], expected[task.key], atol=1e-5)
                assert np.array_equal(decide(task, probabilities(task, logits[task.key])),
                                      decide(task, probabilities(task, expected[task.key])))


def test_session_groups_keep_padding_within_the_budget():
    lengths = [5, 0, 40, 3, 3, 120, 7, 1, 40]
    groups = session_groups(lengths, 80)
    assert sorted(i for g in groups for i in g) == [i for i, n in enumerate(lengths) if n]  # each once, no empty
    for group in groups:
        longest = max(lengths[i] for i in group)
        assert len(group) == 1 or len(group) * longest <= 80
    assert [5] in groups  # longer than the budget: alone
    assert session_groups(lengths, 0) == [[0], [2], [3], [4], [5], [6], [7], [8]]  # corpus order, one each


# ------------------------------------------------------------------ trained taggers


def _labels(tagged: list[Transcript]) -> list[tuple]:
    return [(u.model_extra["labels"], u.model_extra.get("uncertain")) for t in tagged for u in t.utterances]


def _scores(tagged: list[Transcript]) -> np.ndarray:
    return np.asarray([v for t in tagged for u in t.utterances for v in u.model_extra["scores"].values()])


@pytest.mark.parametrize("name", ["window", "ensemble"])
def test_batched_and_pipelined_inference_tag_as_one_session_at_a_time(taggers, name):
    tagger = taggers[name]
    transcripts = _transcripts(LENGTHS, seed=5)
    assert tagger.settings == InferenceSettings(pipeline=False, dialogue_slots=CPU_DIALOGUE_SLOTS,  # a CPU's
                                                budget_tokens=tagger.config.inference_batch_tokens)
    tagger.inference = InferenceSettings(pipeline=False, dialogue_slots=0)
    reference = tagger.predict(transcripts)
    reference_tags = tagger.tag(transcripts)
    variants = {"batched": InferenceSettings(pipeline=False, dialogue_slots=64),
                "pipelined": InferenceSettings(pipeline=True, group_utterances=10, dialogue_slots=64),
                "pipelined, one thread, one session at a time": InferenceSettings(
                    pipeline=True, group_utterances=1, workers=1, dialogue_slots=0, budget_tokens=64)}
    try:
        for label, settings in variants.items():
            tagger.inference = settings
            probs = tagger.predict(transcripts)
            for key, value in reference.items():
                assert np.allclose(probs[key], value, atol=1e-5), (label, key)
            tagged = tagger.tag(transcripts)
            assert _labels(tagged) == _labels(reference_tags), label
            assert np.allclose(_scores(tagged), _scores(reference_tags), atol=1e-5)
    finally:
        tagger.inference = InferenceSettings()


def test_the_pipeline_prepares_in_a_background_thread_what_the_serial_path_does(taggers, monkeypatch):
    tagger = taggers["window"]
    transcripts = _transcripts(LENGTHS, seed=6)
    groups = transcript_groups(transcripts, 10)
    assert [len(t.utterances) for g in groups for t in g] == LENGTHS  # whole sessions, corpus order
    assert all(sum(len(t.utterances) for t in g) >= 10 for g in groups[:-1])
    threads: list[str] = []
    prepare = tagger.prepare_group

    def spy(part):
        threads.append(threading.current_thread().name)
        return prepare(part)

    monkeypatch.setattr(tagger, "prepare_group", spy)
    seen = []
    monkeypatch.setattr(transformer, "encode_group", _recording(seen, transformer.encode_group))
    tagger.inference = InferenceSettings(pipeline=True, group_utterances=10)
    try:
        tagger.predict(transcripts)
    finally:
        tagger.inference = InferenceSettings()
    assert len(threads) == len(groups) and all(name.startswith("rupturekit-prepare") for name in threads)
    serial = tagger._session_inputs(transcripts)
    pipelined = [s for group in seen for s in group.sessions]
    assert len(pipelined) == len(serial)
    for a, b in zip(pipelined, serial, strict=True):
        assert a.windows == b.windows and np.array_equal(a.owner, b.owner) and np.array_equal(a.roles, b.roles)
        assert (a.offset, a.tokens) == (b.offset, b.tokens)
    # nothing to tag: the serial path answers, whatever the settings
    tagger.inference = InferenceSettings(pipeline=True)
    try:
        empty = tagger.predict([Transcript(transcript_id="e", utterances=[])])
        assert all(v.shape[0] == 0 for v in empty.values())
    finally:
        tagger.inference = InferenceSettings()


def _recording(seen: list, encode):
    def record(model, group, device, dtype=None):
        seen.append(group)
        return encode(model, group, device, dtype)
    return record


def test_hybrid_extra_inputs_through_the_pipelined_path(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "cache"))
    config = _config(workspace["base"], workspace["data"], hybrid="joint", hybrid_folds=2)
    config = config.model_copy(update={"baseline": config.baseline.model_copy(update={"min_df": 1})})
    tagger = TransformerTagger.load(train_transformer(config, tmp_path / "hybrid", progress=lambda _: None))
    assert tagger.hybrid is not None
    transcripts = _transcripts(LENGTHS, seed=7)
    reference = tagger.tag(transcripts)
    tagger.inference = InferenceSettings(pipeline=True, group_utterances=8, dialogue_slots=32)
    tagged = tagger.tag(transcripts)
    assert _labels(tagged) == _labels(reference)
    assert np.allclose(_scores(tagged), _scores(reference), atol=1e-5)
    assert [u.model_extra["evidence"] for t in tagged for u in t.utterances] == \
        [u.model_extra["evidence"] for t in reference for u in t.utterances]


def test_encoder_precision(taggers):
    tagger = taggers["window"]
    assert tagger.precision == "fp32"  # auto on a CPU
    encoder = tagger.model.encoder
    weights = {k: v.clone() for k, v in encoder.state_dict().items()}
    transcripts = _transcripts([6, 3], seed=8)
    try:
        tagger.set_precision("bf16")
        assert tagger.precision == "bf16" and {p.dtype for p in encoder.parameters()} == {torch.bfloat16}
        probs = tagger.predict(transcripts)
        assert all(np.isfinite(v).all() for v in probs.values())
    finally:
        tagger.set_precision("fp32")
        encoder.load_state_dict(weights)
    assert {p.dtype for p in encoder.parameters()} == {torch.float32}
    with pytest.raises(InputError, match="precision"):
        tagger.set_precision("fp8")


def test_paused_gc_nests_and_restores_the_collector():
    import gc

    from rupturekit.tagger.transformer import paused_gc

    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
