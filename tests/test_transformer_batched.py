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
from rupturekit.tagger.encoder import host_batches  # noqa: E402
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
    return [(u.labels, u.uncertain) for t in tagged for u in t.utterances]


def _scores(tagged: list[Transcript]) -> np.ndarray:
    return np.asarray([v for t in tagged for u in t.utterances for v in u.scores.values()])


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
                "pipelined, one session at a time": InferenceSettings(
                    pipeline=True, group_utterances=1, dialogue_slots=0, budget_tokens=64)}
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


def test_the_pipeline_tokenises_in_a_background_thread_and_batches_as_the_serial_path(taggers, monkeypatch):
    tagger = taggers["window"]
    transcripts = _transcripts(LENGTHS, seed=6)
    groups = transcript_groups(transcripts, 10)
    assert [len(t.utterances) for g in groups for t in g] == LENGTHS  # whole sessions, corpus order
    assert all(sum(len(t.utterances) for t in g) >= 10 for g in groups[:-1])
    threads: list[str] = []
    tokenize_group = tagger.tokenize_group

    def spy(part):
        threads.append(threading.current_thread().name)
        return tokenize_group(part)

    monkeypatch.setattr(tagger, "tokenize_group", spy)
    seen = []
    monkeypatch.setattr(transformer, "encode_group", _recording(seen, transformer.encode_group))
    tagger.inference = InferenceSettings(pipeline=True, group_utterances=10)
    try:
        tagger.predict(transcripts)
    finally:
        tagger.inference = InferenceSettings()
    assert len(threads) == len(groups) and all(name.startswith("rupturekit-prepare") for name in threads)
    assert len(seen) == len(groups)
    for part, group in zip(groups, seen, strict=True):
        _same_batches(group, _serial_group(tagger, part))
    # previous turns in each window (context "concat"): batched through the windows themselves
    monkeypatch.setattr(tagger, "config", tagger.config.model_copy(update={"context": "concat", "context_turns": 2}))
    _same_batches(tagger.prepare_group(groups[0]), _serial_group(tagger, groups[0]))
    monkeypatch.undo()
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


def _serial_group(tagger: TransformerTagger, transcripts: list[Transcript]) -> transformer.PreparedGroup:
    """What the serial path encodes: `session_input` windows batched by `host_batches`."""
    sessions = tagger._session_inputs(transcripts)
    windows_ = [w for s in sessions for w in s.windows]
    starts = np.cumsum([0, *(s.n for s in sessions)])
    owner = np.concatenate([s.owner + a for s, a in zip(sessions, starts, strict=False)])
    return transformer.PreparedGroup(sessions, host_batches(windows_, tagger.specials.pad, tagger._budget), owner,
                                     np.asarray([w.weight for w in windows_], dtype=np.float32))


def _same_batches(fast: transformer.PreparedGroup, serial: transformer.PreparedGroup) -> None:
    assert np.array_equal(fast.owner, serial.owner) and np.array_equal(fast.weights, serial.weights)
    assert fast.weights.dtype == serial.weights.dtype
    assert [s.n for s in fast.sessions] == [s.n for s in serial.sessions]
    for a, b in zip(fast.sessions, serial.sessions, strict=True):
        assert np.array_equal(a.roles, b.roles) and a.offset == b.offset
    assert len(fast.batches) == len(serial.batches)
    for a, b in zip(fast.batches, serial.batches, strict=True):
        assert np.array_equal(a.index, b.index)
        for x, y in ((a.ids, b.ids), (a.attention, b.attention), (a.pool, b.pool)):
            assert x.dtype == y.dtype and torch.equal(x, y)


@pytest.mark.parametrize(("max_length", "budget", "prefix", "suffix"), [
    (16, 64, (2,), (3,)), (16, 10_000, (2,), (3,)), (8, 8, (2,), (3,)), (12, 40, (), (3,)), (10, 30, (2, 5), ())])
def test_numpy_batches_are_the_windows_batches(workspace, max_length, budget, prefix, suffix):
    from rupturekit.tagger.encoder import Specials, plain_batches, windows

    rng = np.random.default_rng(max_length + budget)
    # empty texts, one-token texts, texts of exactly one window, and texts of several windows
    size = max_length - len(prefix) - len(suffix)
    ids = [list(rng.integers(5, 99, n)) for n in [0, 1, size, size + 1, 3 * size + 2, 0, 7, 2 * size, 4, 1]]
    specials = Specials(prefix, suffix, 0)
    made = [(w, i) for i, x in enumerate(ids) for w in windows(x, specials, max_length, 5)]
    reference = host_batches([w for w, _ in made], 0, budget)
    batches, owner, weight = plain_batches(ids, specials, max_length, 5, budget, 0)
    assert np.array_equal(owner, [i for _, i in made])
    assert np.array_equal(weight, np.asarray([w.weight for w, _ in made], dtype=np.float32))
    assert len(batches) == len(reference)
    for a, b in zip(batches, reference, strict=True):
        assert np.array_equal(a.index, b.index)
        for x, y in ((a.ids, b.ids), (a.attention, b.attention), (a.pool, b.pool)):
            assert torch.equal(x, y)


def test_window_batches_in_numpy_cut_as_the_greedy_loop():
    from rupturekit.tagger.encoder import window_batches

    def greedy(lengths, budget):  # the loop window_batches was before numpy
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        batches, current, longest = [], [], 0
        for index in order:
            if current and max(longest, lengths[index]) * (len(current) + 1) > budget:
                batches.append(current)
                current, longest = [], 0
            current.append(index)
            longest = max(longest, lengths[index])
        return batches + ([current] if current else [])

    rng = np.random.default_rng(0)
    for budget in (1, 7, 64, 500, 10_000):
        for _ in range(20):
            lengths = [int(x) for x in rng.integers(1, 130, int(rng.integers(0, 60)))]
            assert window_batches(lengths, budget) == greedy(lengths, budget)


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
    assert [u.evidence for t in tagged for u in t.utterances] == \
        [u.evidence for t in reference for u in t.utterances]


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


def test_a_4d_padding_mask_only_where_the_encoder_reads_it_as_the_2d_one(workspace):
    from transformers import AutoModel

    from rupturekit.tagger.encoder import mask_for, reads_4d_mask

    encoder = AutoModel.from_pretrained(str(workspace["base"]), attn_implementation="sdpa").eval()
    with torch.inference_mode():
        assert reads_4d_mask(encoder, torch.device("cpu"))
        eager = AutoModel.from_pretrained(str(workspace["base"]), attn_implementation="eager").eval()
        assert not reads_4d_mask(eager, torch.device("cpu"))  # not SDPA: never probed, 2D

        class Ignores4D(torch.nn.Module):  # an encoder that would read a 4D mask otherwise
            config = encoder.config

            def forward(self, input_ids, attention_mask):
                if attention_mask.dim() == 4:
                    attention_mask = torch.ones(input_ids.shape, dtype=torch.long)
                return encoder(input_ids=input_ids, attention_mask=attention_mask)

        assert not reads_4d_mask(Ignores4D(), torch.device("cpu"))
    attention = torch.ones(2, 3, dtype=torch.long)
    assert mask_for(encoder, attention) is attention  # a CPU tensor: the 2D mask
