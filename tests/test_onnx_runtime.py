"""The ONNX Runtime encoder of the transformer tagger, on the tiny random BERT that
test_transformer.py trains: export, int8 quantisation, vectors and tags against torch, the cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft", reason="peft (LoRA) is a dependency of the transformer tagger; pip install peft")
pytest.importorskip("onnxruntime", reason="the ONNX runtime is optional: pip install onnxruntime onnx")
pytest.importorskip("onnx", reason="the ONNX runtime is optional: pip install onnxruntime onnx")

from test_transformer import AWKWARD, workspace  # noqa: E402, F401 - the tiny base, corpus and trained model

from rupturekit.errors import InputError  # noqa: E402
from rupturekit.records import TAG_FIELDS, Transcript, Utterance, read_jsonl  # noqa: E402
from rupturekit.tagger import onnx_runtime  # noqa: E402
from rupturekit.tagger.transformer import TransformerTagger, decide  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """Every ONNX file of this module goes to a temporary cache (never the user's)."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUPTUREKIT_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def taggers(workspace, cache) -> dict[str, TransformerTagger]:  # noqa: F811
    torch_tagger = TransformerTagger.load(workspace["model"], codebook="3rs")
    int8 = TransformerTagger.load(workspace["model"], codebook="3rs", runtime="onnx")
    fp32 = TransformerTagger.load(workspace["model"], codebook="3rs")
    fp32.use_onnx(precision="fp32")
    return {"torch": torch_tagger, "int8": int8, "fp32": fp32}


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _texts(workspace) -> list[str]:  # noqa: F811
    return [u.text for t in read_jsonl(workspace["data"]) for u in t.utterances] + AWKWARD


def _decisions(tagger: TransformerTagger, transcripts: list[Transcript]) -> np.ndarray:
    """0/1 per (utterance, label) of every main task, for the utterances of its role."""
    probabilities = tagger.predict(transcripts)
    roles = [u.role for t in transcripts for u in t.utterances]
    out = []
    for task in tagger.main_tasks:
        rows = [i for i, role in enumerate(roles) if task.applies_to(role)]
        out.append(decide(task, probabilities[task.key][rows]).ravel())
    return np.concatenate(out)


def test_runtime_switch_and_cache_layout(taggers, cache):
    assert taggers["torch"].runtime == "torch"
    assert taggers["int8"].runtime == "onnx" and taggers["fp32"].runtime == "onnx"
    assert isinstance(taggers["int8"].model.encoder, onnx_runtime.OnnxEncoder)
    files = sorted(p.name for p in cache.glob("onnx/*/*.onnx"))
    assert files == ["encoder-fp32.onnx", "encoder-int8.onnx"]  # one folder: keyed by the encoder's weights
    int8 = taggers["int8"].model.encoder.path
    assert int8.parent.name == onnx_runtime.encoder_key(taggers["torch"].model.encoder)
    assert int8.stat().st_size < taggers["fp32"].model.encoder.path.stat().st_size
    assert not list(cache.glob("onnx/*/.build-*"))  # no leftovers of the build


def test_fp32_export_reproduces_torch_vectors(workspace, taggers):  # noqa: F811
    texts = _texts(workspace)
    reference = taggers["torch"].encode_utterances(texts)
    fp32 = taggers["fp32"].encode_utterances(texts)
    assert fp32.shape == reference.shape and np.isfinite(fp32).all()
    assert _cosine(fp32, reference).min() > 0.99
    np.testing.assert_allclose(fp32, reference, atol=1e-3)


def test_int8_vectors_are_close_to_torch(workspace, taggers):  # noqa: F811
    texts = _texts(workspace)
    reference = taggers["torch"].encode_utterances(texts)
    int8 = taggers["int8"].encode_utterances(texts)
    assert np.isfinite(int8).all()
    cosine = _cosine(int8, reference)
    assert cosine.mean() > 0.97 and cosine.min() > 0.9


def test_onnx_tags_agree_with_torch(workspace, taggers):  # noqa: F811
    transcripts = read_jsonl(workspace["data"])
    reference = _decisions(taggers["torch"], transcripts)
    assert (_decisions(taggers["fp32"], transcripts) == reference).all()
    assert (_decisions(taggers["int8"], transcripts) == reference).mean() >= 0.95
    # the whole tag() output has the same shape of fields, and awkward inputs go through
    tagged = taggers["int8"].tag(transcripts[:2])
    assert all(set(u.model_dump(include=set(TAG_FIELDS), exclude_none=True)) == {"labels", "scores", "evidence"}
               for t in tagged for u in t.utterances)
    utterances = [Utterance(transcript_id="odd", utterance_id=i, speaker="C", role="client", text=text)
                  for i, text in enumerate(AWKWARD)]
    odd = taggers["int8"].tag([Transcript(transcript_id="odd", utterances=utterances)])
    assert all(np.isfinite(list(u.scores.values())).all() for u in odd[0].utterances)
    assert taggers["int8"].tag([Transcript(transcript_id="empty")])[0].utterances == []


def test_cached_file_is_reused_and_rebuilt_when_missing_or_broken(workspace, taggers):  # noqa: F811
    path = taggers["int8"].model.encoder.path
    stamp = path.stat().st_mtime_ns
    again = TransformerTagger.load(workspace["model"], runtime="onnx")
    assert again.model.encoder.path == path and path.stat().st_mtime_ns == stamp  # reused, not rebuilt
    path.write_bytes(b"not an onnx file")
    rebuilt = TransformerTagger.load(workspace["model"], runtime="onnx")
    assert rebuilt.model.encoder.path == path and path.stat().st_size > 1000
    path.unlink()
    TransformerTagger.load(workspace["model"], runtime="onnx")
    assert path.is_file()


def test_a_cached_export_loads_without_the_torch_encoder(workspace, taggers, monkeypatch):  # noqa: F811
    import rupturekit.tagger.transformer as transformer_module

    transcripts = read_jsonl(workspace["data"])
    reference = _decisions(taggers["int8"], transcripts)

    def refuse(*args, **kwargs):
        raise AssertionError("the torch encoder was loaded although its export is cached")

    monkeypatch.setattr(transformer_module, "load_encoder", refuse)
    fast = TransformerTagger.load(workspace["model"], codebook="3rs", runtime="onnx")
    assert fast.runtime == "onnx" and fast.model.encoder.path == taggers["int8"].model.encoder.path
    assert (_decisions(fast, transcripts) == reference).all()
    assert fast.model.encoder.config.hidden_size == taggers["torch"].model.encoder.config.hidden_size
    assert type(fast.tokenizer).__name__ == "PlainTokenizer"  # read without transformers


def test_source_key_follows_the_bytes(tmp_path, cache):
    weights = tmp_path / "a.safetensors"
    weights.write_bytes(b"weights")
    parts = [("a.safetensors", weights), ("adapter/config.json", b"{}")]
    key = onnx_runtime.source_key(parts)
    assert key == onnx_runtime.source_key(parts) and len(key) == 32
    # a file and the same bytes read into memory hash alike
    assert key == onnx_runtime.source_key([("a.safetensors", b"weights"), ("adapter/config.json", b"{}")])
    assert key != onnx_runtime.source_key(parts, precision="fp32")
    assert key != onnx_runtime.source_key([("a.safetensors", weights), ("adapter/config.json", b"{ }")])
    weights.write_bytes(b"weightz")  # same size, other bytes
    assert key != onnx_runtime.source_key(parts)
    assert onnx_runtime.cached_encoder("0" * 32) is None  # nothing recorded: the caller builds


def test_explicit_files_folders_and_errors(workspace, taggers, tmp_path):  # noqa: F811
    from transformers import BertModel

    # a folder of the caller's choosing holds the build
    tagger = TransformerTagger.load(workspace["model"])
    tagger.use_onnx(tmp_path / "mine")
    assert tagger.model.encoder.path == tmp_path / "mine" / "encoder-int8.onnx"
    # a given file is used as is when it was made from this encoder
    again = TransformerTagger.load(workspace["model"])
    again.use_onnx(tagger.model.encoder.path)
    assert again.runtime == "onnx"
    with pytest.raises(InputError, match="already runs"):
        again.use_onnx()
    # ... and refused when it was exported from another encoder (here: the base without the adapter)
    base = BertModel.from_pretrained(str(workspace["base"])).eval()
    other = onnx_runtime.export_encoder(base, tmp_path / "base.onnx", key=onnx_runtime.encoder_key(base))
    with pytest.raises(InputError, match="another encoder"):
        TransformerTagger.load(workspace["model"]).use_onnx(other)
    with pytest.raises(InputError, match="no such ONNX file"):
        TransformerTagger.load(workspace["model"]).use_onnx(tmp_path / "missing.onnx")
    with pytest.raises(InputError, match="unknown runtime"):
        TransformerTagger.load(workspace["model"], runtime="tensorrt")
    with pytest.raises(InputError, match="unknown precision"):
        onnx_runtime.build(base, tmp_path / "x", precision="int4")


def test_export_leaves_the_torch_encoder_as_it_was(workspace, tmp_path):  # noqa: F811
    tagger = TransformerTagger.load(workspace["model"])
    encoder = tagger.model.encoder
    attention = encoder.config._attn_implementation
    texts = _texts(workspace)[:12]
    before = tagger.encode_utterances(texts)
    onnx_runtime.export_encoder(encoder, tmp_path / "e.onnx")
    assert not encoder.training and encoder.config._attn_implementation == attention
    np.testing.assert_array_equal(tagger.encode_utterances(texts), before)


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "rk"))
    assert onnx_runtime.cache_root() == tmp_path / "rk"
    monkeypatch.delenv("RUPTUREKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_runtime.cache_root() == tmp_path / "xdg" / "rupturekit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert onnx_runtime.cache_root() == Path(os.path.expanduser("~")) / ".cache" / "rupturekit"


def test_big_batches_run_in_slices_with_the_same_result(taggers):
    encoder = taggers["fp32"].model.encoder
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 200, (7, 15), generator=generator)
    lengths = [15, 15, 12, 9, 9, 4, 1]
    right = torch.stack([(torch.arange(15) < n).long() for n in lengths])
    left = right.flip(1)  # left padding: no column may be cut
    for mask in (right, left, right[torch.tensor([3, 0, 6, 1, 5, 2, 4])]):
        encoder.max_batch_tokens = 10**9
        whole = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        encoder.max_batch_tokens = 16
        sliced = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        keep = mask.bool()
        assert sliced.shape == whole.shape
        np.testing.assert_allclose(sliced[keep].numpy(), whole[keep].numpy(), atol=1e-4)
    encoder.max_batch_tokens = onnx_runtime.BATCH_TOKENS
