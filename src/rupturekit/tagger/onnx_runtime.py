"""ONNX Runtime for the transformer tagger's encoder: export, int8 quantisation, and an encoder
that `TransformerTagger` runs in place of the torch one.

Only the encoder (the LoRA-merged pretrained transformer, about 99% of the tagger's work) goes to
ONNX; the dialogue layer and the heads stay in torch, so the tags come out of the same code path.

- `export_encoder(encoder, path)`: the torch encoder as an fp32 ONNX graph with dynamic batch and
  sequence axes; inputs ``input_ids`` and ``attention_mask`` (int64), output ``last_hidden_state``.
  BERT-style encoders are traced with eager attention and a plain additive mask (a graph ONNX
  Runtime fuses and quantises well); every export is checked against torch on a padded probe batch,
  and another exporter is tried when the check fails.
- `quantize_encoder(fp32, int8)`: dynamic int8 quantisation of the weights (MatMul and the
  embedding Gathers, one scale per output channel; activations quantised per tensor on the fly)
  with ``onnxruntime.quantization``. About 23 MB for all-MiniLM-L6-v2 (fp32: 90 MB).
- `OnnxEncoder`: an ONNX Runtime session (CPUExecutionProvider, intra-op threads = usable cores)
  behind the call signature of a transformers encoder, so `encode_windows` runs it unchanged; it
  re-slices each batch into runs of similar length of at most 2,048 padded tokens (faster on CPU).
- `build(encoder)` / `attach(tagger)`: the exported (and quantised) encoder of a tagger is cached in
  ``$RUPTUREKIT_CACHE/onnx/<key>/`` (default ``~/.cache/rupturekit``, or ``$XDG_CACHE_HOME/rupturekit``),
  where ``<key>`` is a hash of the encoder's weights, and rebuilt when missing. Not inside the model
  folder: an installed default model may be read-only, and a model folder is read into memory
  whole when it loads.
- `source_key(parts)` / `cached_encoder(key)` / `remember(key, path)`: an index from the files an
  encoder is loaded from (model folder and base weights) to its cached export, so that a model
  whose export is cached loads without the torch encoder at all (no peft, no LoRA merge: seconds
  of every `rupturekit tag --runtime onnx`).

Use it with ``TransformerTagger.load(folder, runtime="onnx")`` or ``tagger.use_onnx()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rupturekit.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["EXPORT_VERSION", "PRECISIONS", "OnnxEncoder", "attach", "available", "build", "cache_root",
           "cached_encoder", "encoder_key", "export_encoder", "quantize_encoder", "remember", "source_key"]

EXPORT_VERSION = 1  # bump when the exported graph changes: old cache entries are then ignored
PRECISIONS = ("int8", "fp32")
OPSET = 17
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "last_hidden_state"
KEY_PROPERTY = "rupturekit.encoder_key"
BATCH_TOKENS = 2048  # padded tokens per ONNX Runtime call: on 2 cores 1-2k run ~20% faster than 8k
SLICE_FILL = 2 / 3  # a slice's rows are at least this share of its longest row (less padding)
PROBE_TOLERANCE = 1e-3  # max |onnx - torch| on the probe batch for an fp32 export to count as faithful
INSTALL_HINT = "pip install onnxruntime onnx (or run with runtime 'torch')"


def available() -> bool:
    """Whether onnxruntime and onnx are installed (looked up, not imported: importing onnx alone
    takes most of a second, and a cached export never needs it)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def _require() -> None:
    if not available():
        raise InputError("onnx", "the ONNX runtime needs the pip packages onnxruntime and onnx", INSTALL_HINT)


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ============================================================================ cache


def cache_root() -> Path:
    """``$RUPTUREKIT_CACHE``, else ``$XDG_CACHE_HOME/rupturekit``, else ``~/.cache/rupturekit``."""
    explicit = os.environ.get("RUPTUREKIT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "rupturekit"


def encoder_key(encoder) -> str:
    """A hash of the encoder's architecture and weights (and of the export format): one cache
    entry per distinct encoder, whatever folder or adapter it was loaded from."""
    import torch

    digest = hashlib.sha256(f"rupturekit-onnx-{EXPORT_VERSION}-opset{OPSET}".encode())
    config = encoder.config.to_dict() if hasattr(encoder.config, "to_dict") else {}
    for name in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "vocab_size", "max_position_embeddings", "hidden_act", "layer_norm_eps"):
        digest.update(f"{name}={config.get(name)!r};".encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        array = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(array.shape)}:{array.dtype};".encode())
        digest.update(array.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:20]


def source_key(parts: list[tuple[str, bytes | Path]], precision: str = "int8") -> str:
    """A hash of what an encoder is built from ((name, bytes or file) pairs, in order), of the
    export format and of the precision: the same inputs give the same cached export."""
    digest = hashlib.blake2b(f"rupturekit-onnx-{EXPORT_VERSION}-opset{OPSET}-{precision}".encode(), digest_size=16)
    for name, data in parts:
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        digest.update(f"{name}:{size};".encode())
        if isinstance(data, bytes):
            digest.update(data)
            continue
        with data.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def _index_file(source: str) -> Path:
    return cache_root() / "onnx" / "sources" / f"{source}.json"


def cached_encoder(source: str, config=None, threads: int | None = None,
                   precision: str = "int8") -> OnnxEncoder | None:
    """The cached export recorded for these source files, ready to run; None if there is none (or
    it is gone or unreadable: the caller then builds it from the torch encoder). Without
    onnxruntime installed: the one-line `InputError` saying so."""
    _require()
    try:
        recorded = json.loads(_index_file(source).read_text(encoding="utf-8"))
        path = Path(recorded["onnx"])
        if not path.is_file():
            return None
        return OnnxEncoder(path, config=config, threads=threads, precision=precision)
    except Exception:  # noqa: BLE001 - a broken index entry only costs the slow path
        return None


def remember(source: str, path: Path) -> None:
    """Record that these source files export to `path` (best effort: the cache may be read-only)."""
    index = _index_file(source)
    with contextlib.suppress(OSError):
        index.parent.mkdir(parents=True, exist_ok=True)
        scratch = index.with_name(f".{index.name}.{os.getpid()}")
        scratch.write_text(json.dumps({"onnx": str(path)}) + "\n", encoding="utf-8")
        os.replace(scratch, index)


def _file_name(precision: str) -> str:
    return f"encoder-{precision}.onnx"


# ============================================================================ export


def _bert_wrapper(encoder):
    """embeddings -> encoder layers with an additive (batch x 1 x 1 x seq) float mask: traces to a
    graph without transformers' mask helpers (which the TorchScript tracer bakes to constants)."""
    import torch

    class MaskedBert(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            hidden = self.inner.embeddings(input_ids=input_ids)
            mask = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
            return self.inner.encoder(hidden, attention_mask=mask).last_hidden_state

    return MaskedBert(encoder)


def _plain_wrapper(encoder):
    import torch

    class Plain(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return Plain(encoder)


@contextlib.contextmanager
def _export_mode(encoder, attention: str | None) -> Iterator[None]:
    """Eval mode and (optionally) another attention implementation for the duration; restored after."""
    was_training = encoder.training
    config = encoder.config
    before = getattr(config, "_attn_implementation", None)
    try:
        if attention is not None and before is not None and before != attention:
            if hasattr(encoder, "set_attn_implementation"):
                encoder.set_attn_implementation(attention)
            else:  # older transformers
                config._attn_implementation = attention
        encoder.eval()
        yield
    finally:
        if attention is not None and before is not None and getattr(config, "_attn_implementation", None) != before:
            if hasattr(encoder, "set_attn_implementation"):
                encoder.set_attn_implementation(before)
            else:
                config._attn_implementation = before
        encoder.train(was_training)


def _probe(encoder, vocab_size: int):
    """A padded probe batch (3 x 19) of token ids and masks, and torch's hidden states for it."""
    import torch

    generator = torch.Generator().manual_seed(0)
    low = min(5, vocab_size - 1)
    ids = torch.randint(low, vocab_size, (3, 19), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 11:] = 0
    mask[2, 4:] = 0
    with torch.no_grad():
        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    return ids.numpy(), mask.numpy(), hidden.float().numpy()


def _probe_error(path: Path, probe) -> float:
    import onnxruntime as ort

    ids, mask, expected = probe
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0]
    keep = mask.astype(bool)
    return float(np.abs(got[keep] - expected[keep]).max())


def _torchscript_export(module, example, path: Path) -> None:
    import torch

    axes = {"batch": 0, "sequence": 1}
    dynamic = {name: {i: axis for axis, i in axes.items()} for name in (*INPUTS, OUTPUT)}
    kwargs: dict[str, Any] = {"input_names": list(INPUTS), "output_names": [OUTPUT], "dynamic_axes": dynamic,
                              "opset_version": OPSET, "do_constant_folding": True}
    try:
        torch.onnx.export(module, example, str(path), dynamo=False, **kwargs)
    except TypeError:  # torch before the dynamo switch: the TorchScript exporter is the only one
        torch.onnx.export(module, example, str(path), **kwargs)


def _dynamo_export(module, example, path: Path) -> None:
    import torch

    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence")
    shapes = {"input_ids": {0: batch, 1: sequence}, "attention_mask": {0: batch, 1: sequence}}
    torch.onnx.export(module, example, str(path), input_names=list(INPUTS), output_names=[OUTPUT],
                      dynamic_shapes=shapes, opset_version=max(OPSET, 18), dynamo=True, external_data=False)


def export_encoder(encoder, path: str | Path, key: str | None = None) -> Path:
    """Write `encoder` (a transformers encoder, LoRA already merged) as an fp32 ONNX graph.

    Tried in order until one reproduces torch on a padded probe batch (max abs difference
    below 1e-3): BERT-style layers with eager attention and an additive mask (TorchScript
    exporter), the whole encoder (TorchScript exporter), the whole encoder (torch.export-based
    exporter, which needs the pip package onnxscript). `key` is stored in the model's metadata."""
    _require()
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vocab = int(getattr(encoder.config, "vocab_size", 100) or 100)
    example_ids = torch.full((2, 9), min(5, vocab - 1), dtype=torch.long)
    example_mask = torch.ones_like(example_ids)
    example_mask[1, 6:] = 0
    attempts: list[tuple[str, Any, Any, str | None]] = []
    if hasattr(encoder, "embeddings") and hasattr(encoder, "encoder"):
        attempts.append(("masked-layers/torchscript", _bert_wrapper, _torchscript_export, "eager"))
    attempts.append(("encoder/torchscript", _plain_wrapper, _torchscript_export, None))
    attempts.append(("encoder/dynamo", _plain_wrapper, _dynamo_export, None))
    failures = []
    for name, wrap, exporter, attention in attempts:
        with _export_mode(encoder, attention):
            probe = _probe(encoder, vocab)
            module = wrap(encoder).eval()
            try:
                with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(None):
                    warnings.simplefilter("ignore")
                    exporter(module, (example_ids, example_mask), path)
                error = _probe_error(path, probe)
            except Exception as exc:  # noqa: BLE001 - try the next exporter
                failures.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
                continue
        if error <= PROBE_TOLERANCE:
            model = onnx.load(str(path))
            meta = {KEY_PROPERTY: key or "", "rupturekit.exporter": name, "rupturekit.probe_error": f"{error:.3g}"}
            for k, v in meta.items():
                entry = model.metadata_props.add()
                entry.key, entry.value = k, v
            onnx.save(model, str(path))
            log.info("exported the encoder with %s (probe error %.2g)", name, error)
            return path
        failures.append(f"{name}: output differs from torch by {error:.3g}")
    raise InputError(type(encoder).__name__, "cannot export the encoder to ONNX faithfully (" + "; ".join(failures)
                     + ")", "use runtime 'torch'")


def quantize_encoder(fp32_path: str | Path, int8_path: str | Path, per_channel: bool = True) -> Path:
    """Dynamic int8 quantisation: signed int8 weights (one scale per output channel with
    `per_channel`, else one per matrix), activations quantised per tensor at run time.

    Per-channel scales cost a little speed and keep the tags much closer to fp32 (on AnnoMI with
    the default model, see BENCHMARKS.md)."""
    _require()
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = Path(int8_path)
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # "consider pre-processing" advice on the root logger
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=per_channel,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    return int8_path


# ============================================================================ runtime


@dataclass
class _Output:
    last_hidden_state: Any


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or usable_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _metadata(path: Path) -> dict[str, str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {entry.key: entry.value for entry in model.metadata_props}


def _module_base():
    import torch

    return torch.nn.Module


class OnnxEncoder(_module_base()):  # type: ignore[misc]
    """An ONNX Runtime session with the call signature of a transformers encoder:
    ``encoder(input_ids=..., attention_mask=...).last_hidden_state`` (a float32 CPU tensor).

    A torch Module without parameters, so it can stand in `DialogueModel.encoder`; `config` is the
    original encoder's config (hidden size for empty inputs, fingerprints)."""

    def __init__(self, path: str | Path, config=None, threads: int | None = None, precision: str = "int8",
                 max_batch_tokens: int = BATCH_TOKENS):
        super().__init__()
        _require()
        self.path = Path(path)
        self.max_batch_tokens = max_batch_tokens
        self.config = config
        self.precision = precision
        self.threads = threads or usable_cores()
        self.session = _session(self.path, self.threads)
        names = [i.name for i in self.session.get_inputs()]
        if names != list(INPUTS):
            raise InputError(str(self.path), f"not a rupturekit encoder export (inputs {names})",
                             "delete the file, or give the folder it should be built in")

    def forward(self, input_ids=None, attention_mask=None, **_: Any) -> _Output:
        """Hidden states (batch x sequence x hidden). The batch runs in slices of rows of similar
        length (see `slices`), each cut to its own longest row when the batch is right-padded;
        positions past a row's end are zeros."""
        import torch

        ids = input_ids.detach().cpu().numpy().astype(np.int64, copy=False)
        mask = (attention_mask.detach().cpu().numpy().astype(np.int64, copy=False) if attention_mask is not None
                else np.ones_like(ids))
        rows, width = ids.shape
        lengths = mask.sum(1)
        right_padded = bool(((np.arange(width)[None, :] < lengths[:, None]) == mask.astype(bool)).all())
        if not right_padded:  # cannot cut columns: every slice keeps the full width
            lengths = np.full(rows, width)
        slices = self.slices(lengths)
        if len(slices) == 1 and int(lengths.max(initial=0)) == width:
            return _Output(torch.from_numpy(self._run(ids, mask)))
        hidden = None
        for index in slices:
            longest = max(1, int(lengths[index[0]]))
            part = self._run(ids[index, :longest], mask[index, :longest])
            if hidden is None:
                hidden = np.zeros((rows, width, part.shape[-1]), dtype=part.dtype)
            hidden[index, :longest] = part
        return _Output(torch.from_numpy(hidden))

    def slices(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Row indices, longest first, cut into runs of at most `max_batch_tokens` padded tokens in
        which no row is shorter than `SLICE_FILL` of the run's longest (so little is padding)."""
        order = np.argsort(-lengths, kind="stable")
        out: list[np.ndarray] = []
        start = 0
        while start < len(order):
            longest = max(1, int(lengths[order[start]]))
            stop = start + 1
            limit = min(len(order), start + max(1, self.max_batch_tokens // longest))
            while stop < limit and lengths[order[stop]] >= SLICE_FILL * longest:
                stop += 1
            out.append(order[start:stop])
            start = stop
        return out

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {"input_ids": np.ascontiguousarray(ids),
                                           "attention_mask": np.ascontiguousarray(mask)})[0]

    def extra_repr(self) -> str:
        return (f"path={str(self.path)!r}, precision={self.precision!r}, threads={self.threads}, "
                f"max_batch_tokens={self.max_batch_tokens}")

    # the torch encoder API bits callers may touch
    def set_attn_implementation(self, *_: Any) -> None:  # pragma: no cover - nothing to switch
        return None


# ============================================================================ build and attach


def build(encoder, folder: str | Path | None = None, precision: str = "int8", per_channel: bool = True,
          rebuild: bool = False) -> Path:
    """The cached ONNX file of `encoder` at `precision`, exported (and quantised) if missing.

    `folder`: where the file lives (default ``cache_root()/onnx/<key>``). Files are written to a
    temporary name and renamed, so concurrent builds and interrupted ones leave no broken file."""
    _require()
    if precision not in PRECISIONS:
        raise InputError("onnx", f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
    key = encoder_key(encoder)
    target_dir = Path(folder) if folder is not None else cache_root() / "onnx" / key
    name = _file_name(precision) if precision == "fp32" or per_channel else "encoder-int8-per-tensor.onnx"
    target = target_dir / name
    if target.is_file() and not rebuild:
        try:
            if _metadata(target).get(KEY_PROPERTY, key) == key:
                return target
        except Exception:  # noqa: BLE001 - unreadable file: rebuild it
            pass
        log.info("cached ONNX file %s is stale or unreadable: rebuilding", target)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=target_dir, prefix=".build-") as scratch:
            fp32 = export_encoder(encoder, Path(scratch) / _file_name("fp32"), key=key)
            made = fp32
            if precision == "int8":
                made = quantize_encoder(fp32, Path(scratch) / name, per_channel=per_channel)
            os.replace(made, target)
        info = {"key": key, "precision": precision, "per_channel": per_channel, "export_version": EXPORT_VERSION,
                "seconds": round(time.perf_counter() - began, 2), "bytes": target.stat().st_size,
                "versions": _versions()}
        with contextlib.suppress(OSError):
            (target_dir / (target.stem + ".json")).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(str(target_dir), f"cannot write the ONNX encoder ({type(exc).__name__}: {exc})",
                         "set RUPTUREKIT_CACHE to a writable folder") from None
    return target


def _versions() -> dict[str, str]:
    out = {}
    for package in ("torch", "transformers", "onnx", "onnxruntime"):
        with contextlib.suppress(Exception):
            out[package] = __import__(package).__version__
    return out


def attach(tagger, path: str | Path | None = None, precision: str = "int8", threads: int | None = None,
           per_channel: bool = True) -> OnnxEncoder:
    """Run `tagger`'s encoder with ONNX Runtime from now on (the torch encoder is released).

    `path`: an ``.onnx`` file made by `build` for this encoder (checked by its key), or a folder to
    cache the built file in; default: the user cache. Returns the `OnnxEncoder` now in use."""
    _require()
    if tagger.device.type != "cpu":
        raise InputError("runtime", "the ONNX runtime runs on the CPU only", "load the tagger with device 'cpu'")
    current = tagger.model.encoder
    if isinstance(current, OnnxEncoder):
        raise InputError("runtime", "this tagger already runs its encoder with ONNX Runtime",
                         "load the model again to switch precision or file")
    given = Path(path).expanduser() if path is not None else None
    if given is not None and given.suffix == ".onnx":
        if not given.is_file():
            raise InputError(str(given), "no such ONNX file", "give a file made by rupturekit, or a folder to build in")
        recorded = _metadata(given).get(KEY_PROPERTY)
        if recorded is not None and recorded != encoder_key(current):
            raise InputError(str(given), "the ONNX file was exported from another encoder",
                             "give the folder instead, so the file is rebuilt for this model")
        onnx_path = given
    else:
        onnx_path = build(current, given, precision=precision, per_channel=per_channel)
    runtime = OnnxEncoder(onnx_path, config=current.config, threads=threads, precision=precision)
    tagger.model.encoder = runtime
    return runtime
