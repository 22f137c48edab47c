"""The transformer tagger: a pretrained encoder read once per utterance, a light dialogue layer
over the session, and one head per codebook dimension.

Model (``TransformerConfig``):

- Every utterance is encoded once by the pretrained encoder (all-MiniLM-L6-v2 by default; LoRA
  on its attention query/value projections, or full fine-tuning) and mean-pooled over its tokens.
  A turn longer than ``max_length`` tokens is split into overlapping windows whose vectors are
  averaged, weighted by tokens, so nothing is truncated (`rupturekit.tagger.encoder`).
- ``context: dialogue`` (default): the session's sequence of utterance vectors, each plus a learned
  role embedding (therapist/client/other/unknown) and a sinusoidal position of the turn, goes
  through a small bidirectional TransformerEncoder (``dialogue_layer: transformer``) or a BiGRU.
  Bidirectional on purpose: observer coders read the whole session, and a marker is often clearest
  from the turn after it (the therapist's reaction to a withdrawal). Cost grows with the session's
  tokens, not with k x tokens. Tags are therefore for finished transcripts, not live streams.
- ``context: concat``: the previous ``context_turns`` turns ("therapist: ..." as text) are
  prepended to each input (at most half of each window; pooling covers the utterance's own
  tokens), no dialogue layer. ``context: none``: each utterance alone.
- Inference (`InferenceSettings`, chosen per device): on a CUDA GPU a background thread tokenises
  the next groups of sessions while the main thread builds padded batches in numpy and the GPU
  encodes (bf16 weights); the dialogue layer runs over length-sorted, masked batches of sessions,
  so each session still sees only itself (`contextualize_grouped`).
- Heads: one linear head per task (per codebook dimension, plus auxiliary tasks from other
  codebooks): multi-label tasks are sigmoids with per-label thresholds tuned on the validation
  split; single-label tasks are a softmax read by argmax. A task scores only utterances of its role.

A model folder holds ``model.json`` (kind "transformer"), ``heads.safetensors`` (dialogue layer and
heads), ``adapter/`` (peft LoRA adapter) or ``encoder/`` (full encoder), ``tokenizer/``, the
codebook YAML(s), ``config.yaml``, ``val_metrics.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn as nn

from rupturekit.bounded import loads_json
from rupturekit.codebook import Codebook
from rupturekit.errors import InputError
from rupturekit.records import ROLES, Transcript
from rupturekit.tagger.config import TransformerConfig
from rupturekit.tagger.decisions import SCORE_DECIMALS, UsesDecisions, UtteranceTags, with_tags
from rupturekit.tagger.encoder import (
    DEFAULT_BASE,
    HostBatch,
    Specials,
    Window,
    encode_host_batches,
    encode_windows,
    host_batches,
    load_encoder,
    load_plain_tokenizer,
    load_tokenizer,
    plain_batches,
    resolve_base,
    specials_of,
    to_device,
    tokenize,
    utterance_vectors,
    window_batches,
    windows,
)
from rupturekit.tagger.model_files import (
    FILES_KEY,
    MANIFEST,
    ModelFiles,
    check_format_version,
    file_sizes,
    inside,
    model_files,
    open_manifest,
)
from rupturekit.tagger.task import TaskSpec, check_codebook

__all__ = ["FORMAT", "MODEL_FILE", "DialogueModel", "InferenceSettings", "SessionInput", "TaskSpec",
           "TransformerTagger", "load_default"]

FORMAT = "rupturekit-transformer"
FORMAT_VERSION = 1
MODEL_FILE = MANIFEST
HEADS_FILE = "heads.safetensors"
CARD_FILE = "MODEL_CARD.md"
ADAPTER_DIR = "adapter"
ENCODER_DIR = "encoder"
TOKENIZER_DIR = "tokenizer"
BASE_DIR = "base"  # a non-default base encoder, copied into the model folder (config.json, safetensors)
EVIDENCE_TOP = 5
ROLE_INDEX = {role: i for i, role in enumerate(ROLES)}


def role_indices(roles: Sequence[str]) -> np.ndarray:
    """Each role's index for the dialogue layer's role embedding (an unknown role as "unknown")."""
    return np.asarray([ROLE_INDEX.get(r, ROLE_INDEX["unknown"]) for r in roles], dtype=np.int64)


def flatten_sessions(sessions: Sequence[SessionInput]) -> tuple[list[Window], np.ndarray, np.ndarray]:
    """The windows of `sessions` in order, each window's utterance (sessions concatenated) and weight."""
    windows_ = [w for session in sessions for w in session.windows]
    starts = np.cumsum([0, *(s.n for s in sessions)])
    owner = (np.concatenate([s.owner + start for s, start in zip(sessions, starts, strict=False)]) if sessions
             else np.zeros(0, dtype=np.int64))
    return windows_, owner, np.asarray([w.weight for w in windows_], dtype=np.float32)


# ============================================================================ model


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encodings (len(positions) x dim) of turn positions in the session."""
    half = (dim + 1) // 2
    frequency = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device, dtype=torch.float32)
                          / max(half, 1))
    angles = positions.float().unsqueeze(1) * frequency.unsqueeze(0)
    return torch.cat([angles.sin(), angles.cos()], dim=1)[:, :dim]


class DialogueModel(nn.Module):
    """Encoder + (optional) dialogue layer + task heads. See the module docstring."""

    def __init__(self, encoder: nn.Module, hidden: int, tasks: Sequence[TaskSpec], config: TransformerConfig,
                 extra_inputs: int = 0):
        super().__init__()
        self.encoder = encoder
        self.hidden = hidden
        self.context = config.context
        self.layer_kind = config.dialogue_layer
        self.window = config.dialogue_window
        self.utterance_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(config.dropout)
        # hybrid (`rupturekit.tagger.hybrid`): the baseline's scores and cue features per utterance,
        # projected into the utterance vector's space and added to it (so the dialogue layer sees
        # the neighbours' scores too), and straight into each head (see `logits`)
        self.extra = nn.Linear(extra_inputs, hidden) if extra_inputs else None
        self.extra_heads = nn.ModuleDict({task.key: nn.Linear(extra_inputs, len(task.labels), bias=False)
                                          for task in tasks}) if extra_inputs else None
        if self.context == "dialogue":
            self.role_embedding = nn.Embedding(len(ROLES), hidden)
            nn.init.normal_(self.role_embedding.weight, std=0.02)
            # learned scale of the sinusoidal turn positions (small at first: content leads)
            self.position_scale = nn.Parameter(torch.tensor(0.1))
            if config.dialogue_layer == "transformer":
                if hidden % config.dialogue_heads:
                    raise InputError("transformer.dialogue_heads", f"{config.dialogue_heads} heads do not divide the "
                                     f"encoder's hidden size {hidden}",
                                     "pick a number of heads that divides it (e.g. 4 or 6 for 384)")
                layer = nn.TransformerEncoderLayer(hidden, config.dialogue_heads, dim_feedforward=2 * hidden,
                                                   dropout=config.dropout, activation="gelu", batch_first=True,
                                                   norm_first=True)
                self.dialogue = nn.TransformerEncoder(layer, config.dialogue_layers, norm=nn.LayerNorm(hidden),
                                                      enable_nested_tensor=False)
            else:
                between = config.dropout if config.dialogue_layers > 1 else 0.0
                self.dialogue = nn.GRU(hidden, hidden, num_layers=config.dialogue_layers, batch_first=True,
                                       bidirectional=True, dropout=between)
                self.gru_out = nn.Linear(2 * hidden, hidden)
                self.gru_norm = nn.LayerNorm(hidden)
        self.heads = nn.ModuleDict({task.key: nn.Linear(hidden, len(task.labels)) for task in tasks})

    def non_encoder_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def contextualize(self, vectors: torch.Tensor, sessions: Sequence[SessionInput],
                      extra: torch.Tensor | None = None, layout: SessionLayout | None = None) -> torch.Tensor:
        """Utterance vectors (sum of session lengths x hidden, sessions concatenated) in context;
        `extra`: the hybrid's inputs, one row per utterance (required when the model has them).
        Several sessions are padded into one batch and masked, so that each gets what it gets alone
        (up to float rounding); `layout` is `session_layout(sessions)`, if already made."""
        x = self.utterance_norm(vectors)
        if self.extra is not None:
            if extra is None or extra.shape != (x.shape[0], self.extra.in_features):
                raise ValueError("this hybrid model needs its extra inputs, one row per utterance")
            x = x + self.extra(extra.to(device=x.device, dtype=x.dtype))
        if self.context != "dialogue":
            return x
        layout = layout if layout is not None else session_layout(sessions, x.device)
        x = x + self.role_embedding(layout.roles)
        if self.layer_kind == "transformer":
            x = x + self.position_scale * sinusoid(layout.positions, self.hidden).to(x.dtype)
        pad_mask = layout.pad_mask
        if pad_mask is None:  # one session: no padding at all
            padded = x.unsqueeze(0)
        else:  # scattered by index, read back by index: no boolean indexing, which syncs a GPU
            padded = x.new_zeros((layout.count * layout.longest, x.shape[1])).index_copy(0, layout.rows, x)
            padded = padded.view(layout.count, layout.longest, x.shape[1])
        padded = self.dropout(padded)
        if self.layer_kind == "transformer":
            if self.window is not None and padded.shape[1] > self.window + 1:
                out = self.dialogue(padded, mask=self._band(padded.shape[0], padded.shape[1], pad_mask, x.device))
            else:
                out = self.dialogue(padded, src_key_padding_mask=pad_mask)
        else:
            if pad_mask is None:
                recurrent, _ = self.dialogue(padded)
            else:
                packed = nn.utils.rnn.pack_padded_sequence(padded, torch.from_numpy(layout.lengths), batch_first=True,
                                                           enforce_sorted=False)
                recurrent, _ = self.dialogue(packed)
                recurrent, _ = nn.utils.rnn.pad_packed_sequence(recurrent, batch_first=True,
                                                               total_length=padded.shape[1])
            out = self.gru_norm(padded + self.dropout(self.gru_out(recurrent)))
        if pad_mask is None:
            return out[0]
        return out.reshape(-1, out.shape[-1]).index_select(0, layout.rows)

    def _band(self, batch: int, length: int, pad_mask: torch.Tensor | None, device: torch.device) -> torch.Tensor:
        """The attention mask of a windowed dialogue layer, (batch x heads, length, length), True =
        not attended: each turn sees the `window` turns on either side of it and no padding. A
        padding row sees itself, so that no row is masked whole (its softmax would be NaN)."""
        steps = torch.arange(length, device=device)
        band = (steps.unsqueeze(0) - steps.unsqueeze(1)).abs() > self.window
        mask = band.unsqueeze(0).expand(batch, length, length)
        if pad_mask is not None:
            mask = mask | pad_mask.unsqueeze(1)
            mask = mask & ~(torch.diag_embed(pad_mask))
        heads = self.dialogue.layers[0].self_attn.num_heads
        return mask.repeat_interleave(heads, dim=0)

    def logits(self, contextual: torch.Tensor, extra: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.dropout(contextual)
        out = {key: head(h).float() for key, head in self.heads.items()}
        if self.extra_heads is not None and extra is not None:
            # a hybrid's heads start from the baseline's own scores and learn what to change
            e = extra.to(device=h.device, dtype=h.dtype)
            out = {key: value + self.extra_heads[key](e).float() for key, value in out.items()}
        return out

    def init_extra_heads(self, columns: dict[str, list[int]], scale: float) -> None:
        """Start each hybrid head at the baseline: label j of task `key` reads its own score column
        (`columns[key][j]`, a scaled logit) with weight `scale`, and the encoder's side of the head
        starts at zero, so that the first logits are the baseline's and training learns what the
        encoder and the context change (a random start adds noise of about the size of the
        baseline's own margins)."""
        if self.extra_heads is None:
            return
        with torch.no_grad():
            for key, head in self.extra_heads.items():
                head.weight.zero_()
                for j, column in enumerate(columns.get(key, [])):
                    head.weight[j, column] = scale
                if columns.get(key):
                    self.heads[key].weight.zero_()
                    self.heads[key].bias.zero_()


class EnsembleModel(nn.Module):
    """Dialogue models trained with different seeds over one shared (frozen) encoder, as one model:
    `contextualize` gives each member's view (members x utterances x hidden) and `logits` averages
    the members' log-probabilities (single-label: log-softmax, so the result is the normalised
    geometric mean of their probabilities; multi-label: the logits)."""

    def __init__(self, encoder: nn.Module, members: Sequence[DialogueModel], tasks: Sequence[TaskSpec]):
        super().__init__()
        self.encoder = encoder
        for member in members:
            member.encoder = nn.Identity()  # shared: registered (and saved) once, here
        self.members = nn.ModuleList(members)
        self.multi_label = {task.key: task.multi_label for task in tasks}

    def non_encoder_state(self) -> dict[str, torch.Tensor]:
        return {f"members.{k}.{name}": value for k, member in enumerate(self.members)
                for name, value in member.non_encoder_state().items()}

    def contextualize(self, vectors: torch.Tensor, sessions: Sequence[SessionInput],
                      extra: torch.Tensor | None = None, layout: SessionLayout | None = None) -> torch.Tensor:
        layout = layout if layout is not None else session_layout(sessions, vectors.device)
        return torch.stack([member.contextualize(vectors, sessions, extra, layout) for member in self.members])

    def logits(self, contextual: torch.Tensor, extra: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if contextual.dim() == 2:  # no utterance at all: nothing was stacked
            contextual = contextual.unsqueeze(0).expand(len(self.members), *contextual.shape)
        outs = [member.logits(view, extra) for member, view in zip(self.members, contextual, strict=True)]
        return {key: torch.stack([out[key] if self.multi_label[key] else torch.log_softmax(out[key], dim=-1)
                                  for out in outs]).mean(0) for key in outs[0]}


# ============================================================================ inputs


@dataclass
class SessionInput:
    """The encoder inputs of one session (or a crop of it): role index per utterance, the windows
    of every utterance and which utterance owns each window; `offset` is the first utterance's
    position in the whole session."""

    roles: np.ndarray
    windows: list[Window]
    owner: np.ndarray
    offset: int = 0
    tokens: int = field(default=0)

    @property
    def n(self) -> int:
        return len(self.roles)

    def crop(self, start: int, stop: int) -> SessionInput:
        keep = np.flatnonzero((self.owner >= start) & (self.owner < stop))
        return SessionInput(self.roles[start:stop], [self.windows[i] for i in keep], self.owner[keep] - start,
                            self.offset + start, int(sum(len(self.windows[i].ids) for i in keep)))


@dataclass(frozen=True)
class SessionLayout:
    """Where the utterances of a group of sessions (concatenated) sit in the padded batch
    (sessions x longest) that the dialogue layer reads, worked out on the host from the sessions'
    lengths: doing it on a GPU (nonzero, boolean indexing, ``.cpu()``) would wait for the kernels
    before it, once per session."""

    roles: torch.Tensor  # role index per utterance, on the device
    positions: torch.Tensor  # the turn's position in its whole session, on the device
    rows: torch.Tensor  # session x longest + turn: the utterance's row in the padded batch, on the device
    pad_mask: torch.Tensor | None  # (sessions, longest), True = padding; None for a single session
    lengths: np.ndarray  # utterances per session, on the host

    @property
    def count(self) -> int:
        return len(self.lengths)

    @property
    def longest(self) -> int:
        return int(self.lengths.max()) if len(self.lengths) else 0


def session_layout(sessions: Sequence[SessionInput], device: torch.device) -> SessionLayout:
    """The `SessionLayout` of `sessions` (concatenated in this order) for `device`."""
    lengths = np.asarray([s.n for s in sessions], dtype=np.int64)
    longest = int(lengths.max()) if len(lengths) else 0
    turn = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths]) if len(lengths) else np.zeros(0, np.int64)
    which = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    offsets = np.asarray([s.offset for s in sessions], dtype=np.int64)
    roles = np.concatenate([np.asarray(s.roles, dtype=np.int64) for s in sessions]) if sessions else turn
    pad_mask = None
    if len(sessions) > 1:
        pad_mask = to_device(np.arange(longest)[None, :] >= lengths[:, None], device)
    return SessionLayout(to_device(roles, device), to_device(turn + offsets[which], device),
                         to_device(which * longest + turn, device), pad_mask, lengths)


def role_prefixes(tokenizer) -> dict[str, list[int]]:
    """Token ids of "therapist:", "client:", ... (the speaker role as text, for context "concat")."""
    return dict(zip(ROLES, tokenize(tokenizer, [f"{role}:" for role in ROLES]), strict=True))


def session_input(token_ids: Sequence[Sequence[int]], roles: Sequence[str], config: TransformerConfig,
                  specials: Specials, prefixes: dict[str, list[int]]) -> SessionInput:
    """Windows of every utterance of one session (with previous turns prepended for "concat")."""
    all_windows: list[Window] = []
    owner: list[int] = []
    for i, ids in enumerate(token_ids):
        context: list[int] = []
        if config.context == "concat" and config.context_turns:
            for j in range(max(0, i - config.context_turns), i):
                context += prefixes.get(roles[j], []) + list(token_ids[j]) + list(specials.suffix)
            context = context[: len(context) - len(specials.suffix)] if context else context
        for window in windows(ids, specials, config.max_length, config.window_stride, context):
            all_windows.append(window)
            owner.append(i)
    return SessionInput(role_indices(roles), all_windows, np.asarray(owner, dtype=np.int64), 0,
                        int(sum(len(w.ids) for w in all_windows)))


def run_sessions(model: DialogueModel, sessions: Sequence[SessionInput], pad_id: int, budget_tokens: int,
                 device: torch.device, autocast_dtype=None, per_session: bool = False,
                 extra: torch.Tensor | None = None, dialogue_slots: int = 0) -> dict[str, torch.Tensor]:
    """Logits per task key, (sum of session lengths x n_labels), sessions concatenated in order.

    Every window of every session goes through the encoder once, in length-sorted batches of at
    most `budget_tokens` padded tokens; then the dialogue layer runs over the sessions: with
    `per_session` (as at inference) each session on its own, one at a time, or with
    `dialogue_slots` several per masked batch (`contextualize_grouped`); else padded together
    as one batch (training). `extra`: a hybrid model's inputs, rows in the same order."""
    all_windows, owners, window_weights = flatten_sessions(sessions)
    window_vectors = encode_windows(model.encoder, all_windows, pad_id, budget_tokens, device, autocast_dtype)
    owner = torch.as_tensor(owners, dtype=torch.long)
    weights = torch.as_tensor(window_weights, dtype=torch.float32)
    vectors = utterance_vectors(window_vectors, owner, weights, sum(s.n for s in sessions))
    if per_session:
        contextual = contextualize_grouped(model, vectors, sessions, extra, dialogue_slots)
    else:
        contextual = model.contextualize(vectors, sessions, extra)
    return model.logits(contextual, extra)


def session_groups(lengths: Sequence[int], slots: int) -> list[list[int]]:
    """Sessions (by index) for the dialogue layer, skipping empty ones: each alone in corpus order
    (`slots` 0), or sorted by length and cut into padded batches of at most `slots` utterance
    slots (count x longest), so that padding stays small; a longer session is a batch of its own."""
    keep = [i for i, n in enumerate(lengths) if n]
    if slots <= 0:
        return [[i] for i in keep]
    return [[keep[j] for j in batch] for batch in window_batches([lengths[i] for i in keep], slots)]


def contextualize_grouped(model: DialogueModel | EnsembleModel, vectors: torch.Tensor,
                          sessions: Sequence[SessionInput], extra: torch.Tensor | None = None,
                          slots: int = 0) -> torch.Tensor:
    """`model.contextualize` of each session on its own (as at inference: no session sees
    another), several sessions per padded, masked batch (`session_groups`); rows in corpus order.
    Batching changes nothing but float rounding, and turns one run of small kernels per session
    into one per batch."""
    lengths = [s.n for s in sessions]
    starts = np.cumsum([0, *lengths])
    out: torch.Tensor | None = None
    for group in session_groups(lengths, slots):
        rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in group])
        on_device = to_device(rows, vectors.device)
        mine = None if extra is None else extra[torch.from_numpy(rows).to(extra.device)]
        piece = model.contextualize(vectors.index_select(0, on_device), [sessions[i] for i in group], mine)
        if out is None:  # utterances are the last but one axis (an ensemble's members come first)
            out = piece.new_zeros((*piece.shape[:-2], vectors.shape[0], piece.shape[-1]))
        out.index_copy_(piece.dim() - 2, on_device, piece)
    return vectors if out is None else out


def probabilities(task: TaskSpec, logits: torch.Tensor) -> np.ndarray:
    if task.multi_label:
        return torch.sigmoid(logits).cpu().numpy().astype(np.float64)
    return torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float64)


def decide(task: TaskSpec, probability: np.ndarray) -> np.ndarray:
    """0/1 indicators: per-label thresholds (multi-label) or argmax (single-label)."""
    if task.multi_label:
        thresholds = np.asarray(task.thresholds if task.thresholds is not None else [0.5] * len(task.labels))
        return (probability >= thresholds).astype(np.int8)
    out = np.zeros(probability.shape, dtype=np.int8)
    if probability.shape[0]:
        out[np.arange(probability.shape[0]), probability.argmax(axis=1)] = 1
    return out


# ============================================================================ evidence


def _relevant_features(labels: Sequence[str]) -> dict[str, list[str]]:
    """Feature names whose 3RS markers include each label (or, for a family, any of its labels)."""
    from rupturekit.features import FEATURES

    out: dict[str, list[str]] = {}
    for label in labels:
        family = label.split(".", 1)[0]
        names = []
        for spec in FEATURES:
            markers = set(spec.markers)
            if label in markers or family in markers or ("." not in label and
                                                          any(m.split(".", 1)[0] == label for m in markers)):
                names.append(spec.name)
        out[label] = names
    return out


def evidence_lists(transcripts: Sequence[Transcript], predicted: dict[int, list[str]],
                   relevant: dict[str, list[str]], top: int = EVIDENCE_TOP) -> dict[int, dict[str, list[list[Any]]]]:
    """Per utterance row (corpus order) and predicted label: the top cue features that fired.

    Tags are rare, so this is a small part of the work: only the transcripts with a tag are read,
    only the features the predicted labels draw on (and those they need) are computed, and only
    for the tagged turns and the turns their features look at. Features are ordered within a turn
    relative to the largest value among its transcript's tagged turns (`FeatureExtractor.evidence`),
    so a turn's evidence depends on its own session only."""
    needed = {name for labels in predicted.values() for label in labels for name in relevant.get(label, ())}
    if not needed:
        return {row: {label: [] for label in labels} for row, labels in predicted.items()}
    from rupturekit.features import FeatureExtractor
    from rupturekit.features.extract import transcript_maxima

    sizes = [len(t.utterances) for t in transcripts]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    owner = np.repeat(np.arange(len(transcripts)), sizes)
    chosen = sorted({int(owner[row]) for row in predicted})
    offsets = np.concatenate([[0], np.cumsum([sizes[k] for k in chosen])]).astype(np.int64)
    place = {k: i for i, k in enumerate(chosen)}
    local = {row: int(offsets[place[int(owner[row])]] + row - starts[owner[row]]) for row in predicted}
    focus = np.zeros(int(offsets[-1]), bool)
    focus[list(local.values())] = True
    extractor = FeatureExtractor(embeddings=False)
    table = extractor([transcripts[k] for k in chosen], only=needed, focus=focus)
    maxima = transcript_maxima(table, only=sorted(local.values()))
    out: dict[int, dict[str, list[list[Any]]]] = {}
    for row, labels in predicted.items():
        r = local[row]
        fired = extractor.evidence(table, r, top=len(table.names), scale=maxima[table.keys[r][0]])
        out[row] = {}
        for label in labels:
            names = set(relevant.get(label, ()))
            out[row][label] = [[name, round(float(value), SCORE_DECIMALS)] for name, value in fired
                               if name in names][:top]
    return out


# ============================================================================ devices


def _auto_runtime(device: torch.device) -> str:
    """"onnx" on a CPU when onnxruntime and onnx are importable, else "torch"."""
    from rupturekit.tagger import onnx_runtime

    return "onnx" if device.type == "cpu" and onnx_runtime.available() else "torch"


def pick_device(setting: str) -> torch.device:
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise InputError("transformer.device", "cuda was asked for but no CUDA device is available",
                             "set transformer.device to auto or cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def autocast_dtype(setting: str, device: torch.device):
    """bf16 autocast on CUDA devices that support it (``bf16: auto``), or when ``on``."""
    if device.type != "cuda" or setting == "off":
        return None
    if setting == "on" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


# ============================================================================ the tagger


@dataclass(frozen=True)
class ModelBase:
    """The base encoder of a LoRA or frozen model: the packaged default (`path`, outside the
    model folder), or a copy inside the model folder (`inside`, e.g. "base")."""

    given: str
    path: Path | None = None
    inside: str | None = None


def _model_base(folder: Path, manifest: dict[str, Any], given: str, files: ModelFiles) -> ModelBase:
    """Where the base encoder of a model folder is: inside the folder, or the packaged default.

    Any other base (a path such as ../../x or /tmp/x, or a Hugging Face id) is refused: a model
    folder is data, and loading from elsewhere would load files nobody checked. Folders written
    by `write_model_folder` carry a non-default base inside them (``base/``, recorded as
    ``base.folder`` in model.json); for an older folder, copy the base there."""
    recorded = (manifest.get("base") or {}).get("folder")
    candidates = [recorded] if recorded is not None else [given, BASE_DIR]
    if recorded is None and given == DEFAULT_BASE:
        return ModelBase(given, path=resolve_base(DEFAULT_BASE).path)
    for relative in candidates:
        where = inside(folder, relative) if isinstance(relative, str) else None
        if where is not None:
            name = where.relative_to(folder).as_posix()
            if files.under(name):
                return ModelBase(given, inside=name)
    shown = recorded if recorded is not None else given
    raise InputError(str(folder / MODEL_FILE), f"the base encoder {shown!r} is not inside the model folder (a model "
                     "folder may only use its own files or the packaged default base)",
                     f"copy the base encoder (config.json and .safetensors weights) into {folder / BASE_DIR}, "
                     "or retrain the model")


def _base_files(base: ModelBase, files: ModelFiles) -> list[tuple[str, Path]]:
    """The base's config and safetensors weights as (file name, path), config first."""
    if base.path is not None:
        weights = sorted(p for p in base.path.iterdir() if p.is_file() and p.suffix == ".safetensors")
        return [(p.name, p) for p in (base.path / "config.json", *weights)]
    members = files.under(base.inside or BASE_DIR)
    prefix = f"{base.inside}/"
    config = [(n.removeprefix(prefix), p) for n, p in members.items() if n == prefix + "config.json"]
    weights = [(n.removeprefix(prefix), p) for n, p in members.items()
               if n.endswith(".safetensors") and "/" not in n.removeprefix(prefix)]
    return config + weights


def _load_base_encoder(base: ModelBase, files: ModelFiles):
    if base.path is not None:
        return load_encoder(base.path)
    with files.staged(base.inside or BASE_DIR) as scratch:
        try:
            return load_encoder(scratch)
        except InputError as error:  # name the model's folder, not the scratch copy
            raise InputError(str(files.folder / (base.inside or BASE_DIR)), error.message, error.hint) from None


def _encoder_sources(files: ModelFiles, encoder_kind: str, base: ModelBase | None) -> list[tuple[str, Path]]:
    """What the encoder of a model folder is built from, in a fixed order: the base's config and
    weights, then the adapter (LoRA), or the saved encoder (full fine-tune)."""
    own = {"lora": ADAPTER_DIR, "full": ENCODER_DIR}.get(encoder_kind)
    parts: list[tuple[str, Path]] = list(files.under(own).items()) if own is not None else []
    if encoder_kind in ("lora", "frozen") and base is not None:
        parts = _base_files(base, files) + parts
    return parts


def _encoder_config(files: ModelFiles, encoder_kind: str, base: ModelBase | None) -> SimpleNamespace | None:
    """The encoder's config.json as attributes (what `OnnxEncoder` and `_check_base` read), without
    importing transformers; None if it cannot be read."""
    try:
        if encoder_kind in ("lora", "frozen"):
            path = dict(_base_files(base, files))["config.json"]
        else:
            path = files.files[f"{ENCODER_DIR}/config.json"]
        return SimpleNamespace(**loads_json(path.read_text(encoding="utf-8")))
    except (OSError, KeyError, ValueError, TypeError, AttributeError):
        return None


def _decisions_of(manifest: dict[str, Any], tasks: list[TaskSpec]) -> dict[str, Any]:
    """The manifest's hierarchical decisions by task key, checked against the model's tasks."""
    from rupturekit.tagger.decisions import HierarchicalDecision

    out = {}
    by_key = {task.key: task for task in tasks if not task.aux}
    for key, data in (manifest.get("decisions") or {}).items():
        try:
            decision = HierarchicalDecision.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(MODEL_FILE, f"corrupt decision for task {key!r} ({exc})".splitlines()[0],
                             "retrain the model with `rupturekit train`") from None
        task = by_key.get(key)
        if task is None or tuple(task.labels) != decision.labels:
            raise InputError(MODEL_FILE, f"the decision for {key!r} does not match the model's tasks",
                             "retrain the model with `rupturekit train`")
        out[key] = decision
    return out


def _joint_of(manifest: dict[str, Any], folder: Path):
    """A hybrid model's `hybrid.JointInputs` (None for a plain transformer)."""
    data = manifest.get("hybrid")
    if data is None:
        return None
    from rupturekit.tagger.hybrid import JointInputs

    try:
        return JointInputs.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(str(folder / MODEL_FILE), f"corrupt hybrid inputs in the manifest ({type(exc).__name__})",
                         "retrain the model with `rupturekit train`") from None


def _hybrid_baseline(files: ModelFiles, folder: Path, codebook: str, joint, tasks: list[TaskSpec]):
    """The baseline saved inside a hybrid model folder (read through the folder's file list),
    checked against the columns the model was trained on."""
    from rupturekit.tagger.baseline import MODEL_FILE as BASELINE_MODEL
    from rupturekit.tagger.baseline import WEIGHTS_FILE, BaselineTagger
    from rupturekit.tagger.hybrid import HYBRID_DIR

    for name in (BASELINE_MODEL, WEIGHTS_FILE):
        if f"{HYBRID_DIR}/{name}" not in files.files:
            raise InputError(str(folder), f"the hybrid model folder lacks {HYBRID_DIR}/{name}",
                             "retrain or restore the model folder")
    # its files are listed (and size-checked) in this folder's model.json, and its own model.json
    # lists them again: BaselineTagger.load reads only those, inside baseline/
    baseline = BaselineTagger.load(folder / HYBRID_DIR, codebook=codebook)
    labels = [(t.name, label) for t in tasks if not t.aux for label in t.labels]
    features = next(iter(baseline.models_.values())).feature_names if baseline.models_ else []
    if joint.labels != labels or joint.feature_names != features:
        raise InputError(str(folder / HYBRID_DIR), "the baseline does not match the columns the model was trained on",
                         "retrain or restore the model folder")
    return baseline


def _check_base(manifest: dict[str, Any], encoder: nn.Module, folder: Path) -> None:
    expected = manifest.get("base", {}).get("fingerprint", {})
    config = encoder.config
    for key, value in expected.items():
        if getattr(config, key, value) != value:
            raise InputError(str(folder), f"the base encoder does not match the one the model was trained on "
                                          f"({key} {getattr(config, key, None)} != {value})",
                             "give the same base encoder (transformer.base) the model was trained with")


# ---------------------------------------------------------------------------- loading, step by step


class Hybrid(NamedTuple):
    """A hybrid model's interpretable side (`rupturekit.tagger.hybrid`): how its extra inputs are
    made, and the baseline that makes them."""

    joint: Any  # hybrid.JointInputs
    baseline: Any  # baseline.BaselineTagger


@dataclass
class _Manifest:
    """The model.json of a transformer model folder, read and checked before any other file."""

    data: dict[str, Any]
    tasks: list[TaskSpec]
    config: TransformerConfig
    codebook: str
    encoder: str  # "lora", "full" or "frozen" (checked after the codebook: `_FolderParts.of`)
    base_given: str
    members: int  # dialogue models of an ensemble

    @property
    def main_tasks(self) -> list[TaskSpec]:
        return [task for task in self.tasks if not task.aux]

    @classmethod
    def read(cls, folder: Path) -> _Manifest:
        data = open_manifest(folder)
        if data.get("kind") != "transformer" or data.get("format") != FORMAT:
            raise InputError(str(folder), f"not a transformer model (kind {data.get('kind')!r})",
                             "give a folder written by `rupturekit train` with model: transformer")
        check_format_version(str(folder), data, FORMAT_VERSION)
        try:
            tasks = [TaskSpec.from_json(t) for t in data["tasks"]]
            config = TransformerConfig.model_validate(data["config"])
            codebook, encoder, base_given = str(data["codebook"]), str(data["encoder"]), str(data["base"]["given"])
            members = data.get("ensemble", 1)
            if not isinstance(members, int) or isinstance(members, bool) or not 1 <= members <= 16:
                raise ValueError(f"an ensemble of {members} members")
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(str(folder / MODEL_FILE), f"corrupt model manifest ({type(exc).__name__}: {exc})"
                             .splitlines()[0], "retrain the model with `rupturekit train`") from None
        return cls(data, tasks, config, codebook, encoder, base_given, members)


@dataclass
class _FolderParts:
    """The files a model folder's manifest lists (checked), a hybrid's inputs, and the base encoder."""

    files: ModelFiles
    joint: Any  # hybrid.JointInputs, None for a plain transformer
    base: ModelBase | None  # LoRA and frozen models

    @classmethod
    def of(cls, folder: Path, manifest: _Manifest) -> _FolderParts:
        if manifest.encoder not in ("lora", "full", "frozen"):
            raise InputError(str(folder / MODEL_FILE), f"unknown encoder kind {manifest.encoder!r}",
                             "retrain the model with `rupturekit train`")
        own = {"lora": (ADAPTER_DIR,), "full": (ENCODER_DIR,), "frozen": ()}[manifest.encoder]
        joint = _joint_of(manifest.data, folder)
        if joint is not None:
            from rupturekit.tagger.hybrid import HYBRID_DIR

            own = (*own, HYBRID_DIR)
        files = model_files(folder, manifest.data, (MODEL_FILE, HEADS_FILE, TOKENIZER_DIR, BASE_DIR, *own))
        for needed in (HEADS_FILE, TOKENIZER_DIR, *own):
            if not files.has(needed):
                raise InputError(str(folder), f"the model folder lacks {needed}", "retrain or restore the model folder")
        if manifest.encoder == "lora" and f"{ADAPTER_DIR}/adapter_model.safetensors" not in files.files:
            raise InputError(str(folder / ADAPTER_DIR), "the LoRA adapter has no adapter_model.safetensors",
                             "retrain or restore the model folder (adapter weights are read as safetensors only)")
        base = _model_base(folder, manifest.data, manifest.base_given, files) \
            if manifest.encoder in ("lora", "frozen") else None
        return cls(files, joint, base)


@dataclass(frozen=True)
class _Placement:
    """What runs the encoder and where: "auto" resolved for the device."""

    runtime: str  # "torch" or "onnx"
    automatic: bool  # chosen by "auto": a failed ONNX export falls back to torch
    device: torch.device

    @classmethod
    def choose(cls, runtime: str, device: str | None, config: TransformerConfig) -> _Placement:
        automatic = runtime == "auto"
        if automatic:
            runtime = _auto_runtime(pick_device(device or config.device))
        chosen = pick_device(device or ("cpu" if runtime == "onnx" else config.device))
        if runtime == "onnx" and chosen.type != "cpu":
            raise InputError("runtime", "the ONNX runtime runs on the CPU only", "load the tagger with device 'cpu'")
        return cls(runtime, automatic, chosen)


def _cached_export(folder: Path, manifest: _Manifest, parts: _FolderParts,
                   threads: int | None) -> tuple[str | None, Any]:
    """(the key of the encoder's source files, their cached ONNX export or None): a cached export of
    these very files needs no torch encoder at all. Anything unreadable gives no export, and the
    torch path that follows says what is wrong."""
    from rupturekit.tagger import onnx_runtime

    try:
        source = onnx_runtime.source_key(_encoder_sources(parts.files, manifest.encoder, parts.base))
    except OSError:
        source = None
    encoder_config = _encoder_config(parts.files, manifest.encoder, parts.base)
    encoder = None
    if source is not None and encoder_config is not None:
        encoder = onnx_runtime.cached_encoder(source, config=encoder_config, threads=threads)
    if encoder is not None:
        _check_base(manifest.data, encoder, folder)
    return source, encoder


def _tokenizer(files: ModelFiles, plain: bool):
    """The model's tokenizer; `plain`: read without transformers where it can be. Libraries read a
    folder by file names: each gets a scratch folder of links to exactly the listed files (see
    rupturekit.tagger.model_files)."""
    with files.staged(TOKENIZER_DIR) as tokenizer_dir:
        return (plain and load_plain_tokenizer(tokenizer_dir)) or load_tokenizer(tokenizer_dir)


def _torch_encoder(folder: Path, manifest: _Manifest, parts: _FolderParts) -> nn.Module:
    """The encoder in torch: the saved one (full fine-tune), or the base with its LoRA adapter merged in."""
    if manifest.encoder == "full":
        with parts.files.staged(ENCODER_DIR) as encoder_dir:
            try:
                return load_encoder(encoder_dir)
            except InputError as error:  # name the model's folder, not the scratch copy
                raise InputError(str(folder / ENCODER_DIR), error.message, error.hint) from None
    encoder = _load_base_encoder(parts.base, parts.files)
    _check_base(manifest.data, encoder, folder)
    if manifest.encoder == "frozen":
        return encoder
    try:
        from peft import PeftModel

        with warnings.catch_warnings(), parts.files.staged(ADAPTER_DIR) as adapter_dir:
            warnings.simplefilter("ignore", FutureWarning)
            return PeftModel.from_pretrained(encoder, str(adapter_dir), is_trainable=False).merge_and_unload()
    except Exception as exc:  # noqa: BLE001
        raise InputError(str(folder / ADAPTER_DIR), f"cannot load the LoRA adapter ({type(exc).__name__})",
                         "retrain or restore the model folder") from None


def _dialogue_model(folder: Path, manifest: _Manifest, parts: _FolderParts,
                    encoder: nn.Module) -> DialogueModel | EnsembleModel:
    """The encoder with the dialogue layer(s) and heads of heads.safetensors."""
    from rupturekit.tagger.encoder import hidden_size

    tasks, config = manifest.tasks, manifest.config
    width = parts.joint.width if parts.joint is not None else 0
    if manifest.members > 1:
        model = EnsembleModel(encoder, [DialogueModel(nn.Identity(), hidden_size(encoder), tasks, config, width)
                                        for _ in range(manifest.members)], tasks)
    else:
        model = DialogueModel(encoder, hidden_size(encoder), tasks, config, width)
    try:
        from safetensors.torch import load_file

        state = load_file(str(parts.files.files[HEADS_FILE]))
        missing, unexpected = model.load_state_dict(state, strict=False)
    except Exception as exc:  # noqa: BLE001 - corrupt file, wrong shapes
        raise InputError(str(folder / HEADS_FILE), f"cannot load the heads ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:160] if str(exc) else ''})",
                         "retrain or restore the model folder") from None
    missing = [k for k in missing if not k.startswith("encoder.")]
    if missing or unexpected:
        raise InputError(str(folder / HEADS_FILE), f"the heads do not fit the model (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})", "retrain or restore the model folder")
    return model


def _export_onnx(tagger: TransformerTagger, source: str | None, automatic: bool,
                 progress: Callable[[str], None] | None, threads: int | None) -> None:
    """Export the tagger's encoder to ONNX Runtime int8 and swap it in (the first run with a model),
    remembering the export for `source`; with "auto", a failure warns and leaves torch in place."""
    from rupturekit.tagger import onnx_runtime

    if progress is not None:
        progress("first run with this model: exporting its encoder to ONNX Runtime int8 (a few seconds, "
                 f"once; cached in {onnx_runtime.cache_root() / 'onnx'})")
    try:
        path = onnx_runtime.attach(tagger, threads=threads).path
    except Exception as exc:  # noqa: BLE001 - with "auto", any failure of the fast path falls back
        if not automatic:
            raise
        warnings.warn(f"the ONNX Runtime encoder could not be prepared ({str(exc).splitlines()[0]}); "
                      "tagging with torch instead, which is slower (--runtime torch chooses it without this "
                      "warning)", UserWarning, stacklevel=3)  # the caller of `TransformerTagger.load`
        return
    if source is not None:
        onnx_runtime.remember(source, path)


def build_lora(encoder: nn.Module, config: TransformerConfig, targets: list[str]) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, bias="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers deprecations peft still touches
        return get_peft_model(encoder, lora)


PRECISIONS = ("auto", "bf16", "fp32")  # the encoder's weights at inference (`TransformerTagger.set_precision`)
CUDA_BUDGET_FACTOR = 8  # a GPU encodes batches of inference_batch_tokens x 8 padded tokens (65,536 by default)
CUDA_DIALOGUE_SLOTS = 16_384  # utterance slots per padded dialogue batch on a GPU
# on a CPU, small batches: the dialogue layer over AnnoMI took 185 ms with 256-1,024 slots against 230-275 ms
# one session at a time, the same tags; from 2,048 slots on, attention's (sessions x heads x longest²)
# scores outgrew the caches and it got slower (2 cores, default model)
CPU_DIALOGUE_SLOTS = 1024


@dataclass
class InferenceSettings:
    """How a `TransformerTagger` runs inference. Not saved with the model: the tags do not depend
    on it (only float rounding does). None: chosen for the device by `resolved`."""

    # tokenise the next groups of sessions in a background thread and batch the next while the
    # device encodes this one (auto: on CUDA, where the CPU side was half the time)
    pipeline: bool | None = None
    group_utterances: int = 4096  # utterances per pipelined group (whole sessions)
    # utterance slots (sessions x longest) per padded, masked batch of the dialogue layer; 0: one
    # session at a time (auto: CUDA_DIALOGUE_SLOTS on CUDA, CPU_DIALOGUE_SLOTS on a CPU)
    dialogue_slots: int | None = None
    # padded tokens per encoder batch (auto: inference_batch_tokens, x CUDA_BUDGET_FACTOR on CUDA)
    budget_tokens: int | None = None

    def resolved(self, device: torch.device, batch_tokens: int) -> InferenceSettings:
        cuda = device.type == "cuda"
        return InferenceSettings(
            pipeline=cuda if self.pipeline is None else self.pipeline,
            group_utterances=max(1, self.group_utterances),
            dialogue_slots=((CUDA_DIALOGUE_SLOTS if cuda else CPU_DIALOGUE_SLOTS) if self.dialogue_slots is None
                            else self.dialogue_slots),
            budget_tokens=(batch_tokens * (CUDA_BUDGET_FACTOR if cuda else 1) if self.budget_tokens is None
                           else self.budget_tokens))


@dataclass
class PreparedGroup:
    """Whole sessions made ready for the encoder on the host: their inputs, the padded encoder
    batches (pinned for a GPU), and each window's utterance (within the group) and weight."""

    sessions: list[SessionInput]
    batches: list[HostBatch]
    owner: np.ndarray
    weights: np.ndarray

    @property
    def utterances(self) -> int:
        return int(sum(s.n for s in self.sessions))


def encode_group(model: DialogueModel | EnsembleModel, group: PreparedGroup, device: torch.device,
                 dtype=None) -> torch.Tensor:
    """Utterance vectors (group's utterances x hidden) of a `PreparedGroup`, without waiting for the GPU."""
    window_vectors = encode_host_batches(model.encoder, group.batches, len(group.owner), device, dtype)
    return utterance_vectors(window_vectors, to_device(group.owner, device), to_device(group.weights, device),
                             group.utterances)


def transcript_groups(transcripts: Sequence[Transcript], utterances: int) -> list[list[Transcript]]:
    """Consecutive transcripts in groups of at least `utterances` utterances (the last may be smaller)."""
    groups: list[list[Transcript]] = [[]]
    size = 0
    for transcript in transcripts:
        if size >= utterances:
            groups.append([])
            size = 0
        groups[-1].append(transcript)
        size += len(transcript.utterances)
    return [group for group in groups if group]


def prefetched(work: Callable[[Any], Any], parts: Sequence[Any], ahead: int = 2) -> Iterator[tuple[Any, Any]]:
    """(part, work(part)) for each part in order, `work` running in one background thread at most
    `ahead` parts ahead (memory stays bounded)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rupturekit-prepare") as pool:
        pending = deque((part, pool.submit(work, part)) for part in parts[:ahead])
        following = len(pending)
        while pending:
            part, future = pending.popleft()
            if following < len(parts):
                pending.append((parts[following], pool.submit(work, parts[following])))
                following += 1
            yield part, future.result()


class TransformerTagger(UsesDecisions):
    """A trained transformer tagger, loaded from its folder.

        tagger = TransformerTagger.load("models/default", codebook="3rs")
        tagged = tagger.tag(transcripts)     # copies; utterances gain labels, scores, evidence
        vectors = tagger.encode_utterances(["I'm fine.", "You're not listening."])
    """

    def __init__(self, model: DialogueModel, tokenizer, manifest: dict[str, Any], tasks: list[TaskSpec],
                 config: TransformerConfig, files: ModelFiles, device: torch.device | None = None,
                 precision: str = "auto"):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.tasks = tasks
        self.config = config
        self.device = device or torch.device("cpu")
        self.specials = specials_of(tokenizer)
        self.prefixes = role_prefixes(tokenizer)
        self._files = files  # the folder's files the model was loaded from, for save()
        labels = [label for task in tasks if not task.aux for label in task.labels]
        self.decisions = _decisions_of(manifest, tasks)
        families = [d_family for d in self.decisions.values() for d_family in d.families]
        self._relevant = _relevant_features(labels + families)
        self.hybrid: Hybrid | None = None
        self.inference = InferenceSettings()
        self.precision = "fp32"
        self.set_precision(precision)

    @property
    def main_tasks(self) -> list[TaskSpec]:
        return [task for task in self.tasks if not task.aux]

    @property
    def labels(self) -> list[str]:
        return [label for task in self.main_tasks for label in task.labels]

    @property
    def thresholds(self) -> dict[str, float]:
        return {label: float(t) for task in self.main_tasks if task.thresholds is not None
                for label, t in zip(task.labels, task.thresholds, strict=True)}

    def _set_label_thresholds(self, threshold: float) -> None:
        """`set_threshold` (`UsesDecisions`) for the per-label thresholds of multi-label tasks."""
        for task in self.tasks:
            if task.multi_label:
                task.thresholds = [threshold] * len(task.labels)

    # ------------------------------------------------------------------ load / save
    @classmethod
    def load(cls, directory: str | Path, codebook: str | Codebook | None = None,
             device: str | None = None, runtime: str = "torch", precision: str = "auto",
             progress: Callable[[str], None] | None = None, threads: int | None = None) -> TransformerTagger:
        """Load a model folder offline. `codebook` (name, path or Codebook) must match the model's.
        `runtime`: "torch", "onnx" (the encoder in ONNX Runtime, int8; see `use_onnx`), or "auto"
        (onnx on a CPU when onnxruntime is installed, else torch). `precision`: the encoder's weights
        (`set_precision`; auto: bf16 on a GPU with bf16). `progress` hears, in one line, when the
        encoder is exported to ONNX (the first run; later runs load the cached file). `threads`: ONNX
        Runtime's intra-op threads (default: every usable core; a Ray actor sharing the cores gives fewer)."""
        from rupturekit.tagger.api import RUNTIMES  # here: api imports this module lazily, and so does this

        if runtime not in RUNTIMES:
            raise InputError("runtime", f"unknown runtime {runtime!r}", f"use one of {', '.join(RUNTIMES)}")
        folder = Path(directory)
        manifest = _Manifest.read(folder)
        check_codebook(str(folder), manifest.codebook, manifest.main_tasks, codebook)
        parts = _FolderParts.of(folder, manifest)
        placement = _Placement.choose(runtime, device, manifest.config)
        source, encoder = (_cached_export(folder, manifest, parts, threads) if placement.runtime == "onnx"
                           else (None, None))
        # with a cached export nothing else needs transformers: the tokenizer is read without it
        tokenizer = _tokenizer(parts.files, plain=encoder is not None)
        if encoder is None:
            encoder = _torch_encoder(folder, manifest, parts)
        model = _dialogue_model(folder, manifest, parts, encoder).to(placement.device)
        tagger = cls(model, tokenizer, manifest.data, manifest.tasks, manifest.config, parts.files, placement.device,
                     precision)
        if parts.joint is not None:
            tagger.hybrid = Hybrid(parts.joint, _hybrid_baseline(parts.files, folder, manifest.codebook, parts.joint,
                                                                 manifest.tasks))
        if placement.runtime == "onnx" and tagger.runtime != "onnx":
            _export_onnx(tagger, source, placement.automatic, progress, threads)
        return tagger

    @property
    def runtime(self) -> str:
        """"torch", or "onnx" once `use_onnx` has swapped the encoder."""
        from rupturekit.tagger.onnx_runtime import OnnxEncoder

        return "onnx" if isinstance(self.model.encoder, OnnxEncoder) else "torch"

    def set_precision(self, precision: str) -> None:
        """The encoder's weights: "bf16" or "fp32"; "auto" is bf16 where the encoder runs under bf16
        autocast (a CUDA device with bf16, ``bf16`` not off) and fp32 elsewhere. On a GPU, bf16
        weights spare autocast its casts and halve the weights read; their tags agreed with fp32 on
        99.98% of decisions (BENCHMARKS.md, "Tagging speed on a GPU"). The dialogue layer and heads
        stay fp32. A cast to bf16 and back keeps bf16's rounding: reload for exact fp32 weights."""
        if precision not in PRECISIONS:
            raise InputError("precision", f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
        if precision == "auto":
            bf16 = autocast_dtype(self.config.bf16, self.device) == torch.bfloat16
            precision = "bf16" if bf16 else "fp32"
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        current = next((p.dtype for p in self.model.encoder.parameters()), None)
        if current is not None and current != dtype:  # an ONNX encoder has no parameters: nothing to cast
            self.model.encoder.to(dtype)
        self.precision = precision

    def use_onnx(self, path: str | Path | None = None, precision: str = "int8", threads: int | None = None) -> None:
        """Run the encoder with ONNX Runtime (CPU) from now on; the dialogue layer and heads stay in torch.

        The encoder is exported (and, for "int8", dynamically quantised) once and cached, by default in
        ``~/.cache/rupturekit/onnx/<hash of the encoder weights>/`` (``$RUPTUREKIT_CACHE`` moves it);
        `path` is an ``.onnx`` file from an earlier build, or another folder to cache it in. Needs the
        pip packages onnxruntime and onnx. See `rupturekit.tagger.onnx_runtime`."""
        from rupturekit.tagger.onnx_runtime import attach

        attach(self, path, precision=precision, threads=threads)

    def save(self, directory: str | Path) -> Path:
        """Write the model folder (the files it was loaded from) into `directory`."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        sources = {MODEL_FILE: self._files.folder / MODEL_FILE, **self._files.files}
        card = self._files.folder / CARD_FILE
        if card.is_file() and not card.is_symlink():
            sources[CARD_FILE] = card  # documentation: copied along, never loaded
        for relative, source in sources.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
        return folder

    # ------------------------------------------------------------------ inference
    def _session_inputs(self, transcripts: Sequence[Transcript],
                        ids: list[list[int]] | None = None) -> list[SessionInput]:
        ids = self.tokenize_group(transcripts) if ids is None else ids
        sessions, start = [], 0
        for transcript in transcripts:
            n = len(transcript.utterances)
            sessions.append(session_input(ids[start:start + n], [u.role for u in transcript.utterances],
                                          self.config, self.specials, self.prefixes))
            start += n
        return sessions

    @property
    def settings(self) -> InferenceSettings:
        """`inference` with every choice made for this tagger's device."""
        return self.inference.resolved(self.device, self.config.inference_batch_tokens)

    @property
    def _budget(self) -> int:
        return int(self.settings.budget_tokens or self.config.inference_batch_tokens)

    def tokenize_group(self, transcripts: Sequence[Transcript]) -> list[list[int]]:
        """Token ids of every utterance of `transcripts`: the pipelined path's background work (the
        Rust tokenizer runs without the GIL, so the main thread keeps feeding the GPU meanwhile)."""
        return tokenize(self.tokenizer, [u.text for t in transcripts for u in t.utterances])

    def prepare_group(self, transcripts: Sequence[Transcript], ids: list[list[int]] | None = None) -> PreparedGroup:
        """`transcripts` (and their token ids, `tokenize_group`) made ready for the encoder: windows,
        padded length-sorted batches (pinned for a GPU), each window's utterance and weight. The
        same batches as `_session_inputs` and `host_batches` give, built in numpy (`plain_batches`);
        with context "concat" (previous turns in every window) through them. Its sessions carry
        what the dialogue layer reads (roles, offsets), not their windows."""
        ids = self.tokenize_group(transcripts) if ids is None else ids
        pin = self.device.type == "cuda"
        if self.config.context == "concat":
            sessions = self._session_inputs(transcripts, ids)
            windows_, owner, weights = flatten_sessions(sessions)
            return PreparedGroup(sessions, host_batches(windows_, self.specials.pad, self._budget, pin), owner, weights)
        batches, owner, weights = plain_batches(ids, self.specials, self.config.max_length, self.config.window_stride,
                                                self._budget, self.specials.pad, pin)
        sessions = [SessionInput(role_indices([u.role for u in t.utterances]), [], np.zeros(0, dtype=np.int64))
                    for t in transcripts]
        return PreparedGroup(sessions, batches, owner, weights)

    def _pipelined_logits(self, transcripts: Sequence[Transcript], extra: torch.Tensor | None,
                          settings: InferenceSettings) -> dict[str, torch.Tensor]:
        """Logits as `run_sessions` gives them, in three overlapping stages: a background thread
        tokenises group k+2 while this thread builds the batches of group k+1 and the GPU encodes
        group k (its kernels queued without waiting); then the dialogue layer over masked batches
        of sessions. Building batches stays in this thread: Python work in another thread would
        hold the GIL that each kernel launch here gives up and takes back (up to 5 ms a time)."""
        dtype = autocast_dtype(self.config.bf16, self.device)
        vectors, sessions = [], []
        parts = transcript_groups(transcripts, settings.group_utterances)
        for part, ids in prefetched(self.tokenize_group, parts):
            group = self.prepare_group(part, ids)
            vectors.append(encode_group(self.model, group, self.device, dtype))
            sessions.extend(group.sessions)
        contextual = contextualize_grouped(self.model, torch.cat(vectors), sessions, extra,
                                           int(settings.dialogue_slots or 0))
        return self.model.logits(contextual, extra)

    def predict(self, transcripts: Sequence[Transcript]) -> dict[str, np.ndarray]:
        """Probabilities per task key, one row per utterance of the transcripts in corpus order
        (rows of roles a task does not apply to are computed too; ignore them)."""
        return self._predict(transcripts)[0]

    def _predict(self, transcripts: Sequence[Transcript]) -> tuple[dict[str, np.ndarray], Any]:
        """Probabilities per task key, and (a hybrid) the baseline's inputs, for the evidence."""
        extra, inputs = None, None
        if self.hybrid is not None:
            from rupturekit.tagger.hybrid import baseline_scores

            joint, baseline = self.hybrid
            inputs = baseline.prepare(list(transcripts))
            scores = baseline_scores(baseline, inputs, np.arange(len(inputs.keys)), joint.labels)
            extra = torch.from_numpy(joint.matrix(scores, inputs.features))
        settings = self.settings
        with torch.inference_mode():
            if settings.pipeline and any(t.utterances for t in transcripts):
                logits = self._pipelined_logits(transcripts, extra, settings)
            else:
                logits = run_sessions(self.model, self._session_inputs(transcripts), self.specials.pad,
                                      self._budget, self.device, autocast_dtype(self.config.bf16, self.device),
                                      per_session=True, extra=extra, dialogue_slots=int(settings.dialogue_slots or 0))
        return {task.key: probabilities(task, logits[task.key]) for task in self.tasks}, inputs

    def tag(self, transcripts: list[Transcript], include_aux: bool = False) -> list[Transcript]:
        """Copies of `transcripts` whose utterances carry `labels`, `scores` and `evidence`.

        `labels`: the predicted labels of every task whose role matches the utterance (with
        hierarchical decisions, a family name where the subtype is uncertain, and then
        `uncertain` = {family: most probable subtype}); `scores`:
        the probability of each label of those tasks; `evidence`: per predicted label, up to 5
        [feature, value] cue features that fired and whose 3RS markers include the label ([] if
        none did) - for a hybrid model, the baseline's top [n-gram or feature, contribution]
        pairs. Utterances of a role no task applies to get empty values. With `include_aux`,
        auxiliary tasks (other codebooks trained alongside) are reported too.
        """
        transcripts = list(transcripts)
        if any(t.utterances for t in transcripts):
            probs, inputs = self._predict(transcripts)
            entries = self.entries(transcripts, probs, inputs, include_aux)
        else:
            entries = []
        return with_tags(transcripts, entries)

    def entries(self, transcripts: list[Transcript], probs: dict[str, np.ndarray], inputs: Any = None,
                include_aux: bool = False) -> list[UtteranceTags]:
        """What `tag` writes into each utterance (labels, scores, evidence, uncertain), corpus
        order, from `_predict`'s probabilities and (a hybrid) baseline inputs: decisions and evidence."""
        utterances = [u for t in transcripts for u in t.utterances]
        entries = [UtteranceTags() for _ in utterances]
        if not utterances:
            return entries
        shown: dict[int, list[tuple[str, str, str]]] = {}  # row -> (task, label read, tag)
        session_of = [str(k) for k, t in enumerate(transcripts) for _ in t.utterances]
        for task in (t for t in self.tasks if include_aux or not t.aux):
            rows = np.asarray([i for i, u in enumerate(utterances) if task.applies_to(u.role)], dtype=np.int64)
            if not len(rows):
                continue
            p = probs[task.key][rows]
            tags, guesses = self.decide_rows(task.key, task.labels, p, partial(decide, task, p),
                                             [session_of[i] for i in rows])
            for r, row in enumerate(rows):
                if entries[row].add(task.labels, p[r], tags[r], guesses[r], said=bool(utterances[row].text.strip())) \
                        and tags[r]:
                    shown.setdefault(int(row), []).extend((task.name, guesses[r].get(tag, tag), tag) for tag in tags[r])
        if self.hybrid is not None:  # the baseline's n-grams and cue features behind each tag
            from rupturekit.tagger.hybrid import evidence_of

            evidence = evidence_of(self.hybrid.baseline, inputs, shown, EVIDENCE_TOP)
        else:
            predicted = {row: [tag for *_, tag in tags] for row, tags in shown.items()}
            evidence = evidence_lists(transcripts, predicted, self._relevant)
        for row, per_label in evidence.items():
            entries[row].evidence = per_label
        return entries

    def encode_utterances(self, texts: Sequence[str]) -> np.ndarray:
        """One pooled encoder vector per text (n x hidden, float32), each text alone (no context,
        no dialogue layer), long texts windowed."""
        ids = tokenize(self.tokenizer, list(texts))
        all_windows, owner = [], []
        for i, token_ids in enumerate(ids):
            for window in windows(token_ids, self.specials, self.config.max_length, self.config.window_stride):
                all_windows.append(window)
                owner.append(i)
        with torch.inference_mode():
            vectors = encode_windows(self.model.encoder, all_windows, self.specials.pad, self._budget, self.device,
                                     autocast_dtype(self.config.bf16, self.device))
            pooled = utterance_vectors(vectors, torch.as_tensor(owner, dtype=torch.long),
                                       torch.tensor([w.weight for w in all_windows]), len(ids))
        return pooled.float().cpu().numpy()

    def token_counts(self, texts: Sequence[str]) -> dict[str, int]:
        """Token counts for throughput figures: the texts' own tokens, and the tokens the encoder
        actually reads (windows with special tokens and overlaps)."""
        ids = tokenize(self.tokenizer, list(texts))
        encoded = sum(len(w.ids) for token_ids in ids
                      for w in windows(token_ids, self.specials, self.config.max_length, self.config.window_stride))
        return {"utterances": len(ids), "tokens": int(sum(len(x) for x in ids)), "encoder_tokens": int(encoded)}


# ============================================================================ default model


def load_default(codebook: str | Codebook | None = None, device: str | None = None) -> TransformerTagger:
    """The shipped default model (3RS, LoRA over all-MiniLM-L6-v2)."""
    from rupturekit.tagger.api import default_model_dir

    return TransformerTagger.load(default_model_dir(), codebook=codebook, device=device)


# ============================================================================ writing a model folder


def write_model_folder(folder: Path, model: DialogueModel, tokenizer, manifest: dict[str, Any],
                       texts: dict[str, str], baseline: Any = None) -> None:
    """Write weights, tokenizer, manifest and the text files (config, metrics, card, codebooks).

    Used by training; files are written into `folder` (kept: `checkpoint/`); a hybrid's `baseline`
    goes into ``baseline/`` (JSON, `BaselineTagger.save`). A LoRA or frozen
    model over a base other than the packaged default gets a copy of that base in ``base/``
    (its config.json and safetensors weights), so that the folder is whole: a loader only reads
    files inside the folder (see `rupturekit.tagger.model_files`). model.json, written last,
    lists every file written with its size (``files``)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    from rupturekit.tagger.hybrid import HYBRID_DIR

    for stale in (ADAPTER_DIR, ENCODER_DIR, TOKENIZER_DIR, BASE_DIR, HYBRID_DIR):
        if (folder / stale).exists():
            shutil.rmtree(folder / stale)
    from rupturekit.tagger.encoder import quiet_transformers

    manifest = {**manifest, "base": dict(manifest.get("base") or {})}
    # the model card is documentation that scripts extend (provenance, benchmark results) and no
    # loader reads, so its size is not pinned in the file list
    written = [HEADS_FILE, TOKENIZER_DIR, *(name for name in texts if name != CARD_FILE)]
    encoder = model.encoder
    if manifest["encoder"] in ("frozen", "lora") and manifest["base"].get("kind") != "package":
        _copy_base(manifest["base"], folder / BASE_DIR)
        manifest["base"].pop("path", None)  # no local paths in a shareable folder
        manifest["base"]["folder"] = BASE_DIR
        written.append(BASE_DIR)
    if manifest["encoder"] == "frozen":
        pass  # the base encoder as published: nothing else of it to save
    elif manifest["encoder"] == "lora":
        config = encoder.peft_config["default"]
        original = config.base_model_name_or_path
        config.base_model_name_or_path = manifest["base"]["given"]  # no local paths in a shareable folder
        try:
            with warnings.catch_warnings(), quiet_transformers():
                warnings.simplefilter("ignore", FutureWarning)
                encoder.save_pretrained(str(folder / ADAPTER_DIR), save_embedding_layers=False,
                                        safe_serialization=True)
        finally:
            config.base_model_name_or_path = original
        readme = folder / ADAPTER_DIR / "README.md"
        if readme.exists():
            readme.unlink()
        written.append(ADAPTER_DIR)
    else:
        with quiet_transformers():
            encoder.save_pretrained(str(folder / ENCODER_DIR))
        written.append(ENCODER_DIR)
    save_file(model.non_encoder_state(), str(folder / HEADS_FILE))
    if baseline is not None:
        baseline.save(folder / HYBRID_DIR)
        written.append(HYBRID_DIR)
    tokenizer.save_pretrained(str(folder / TOKENIZER_DIR))
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    manifest[FILES_KEY] = file_sizes(folder, written)
    (folder / MODEL_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _copy_base(base: dict[str, Any], target: Path) -> None:
    """Copy a local or cached base encoder's config.json and safetensors weights into `target`."""
    source = Path(base["path"]) if base.get("path") else resolve_base(str(base["given"])).path
    names = ["config.json", *sorted(p.name for p in source.iterdir()
                                    if p.is_file() and p.name.endswith((".safetensors", ".safetensors.index.json")))]
    target.mkdir(parents=True)
    for name in names:
        shutil.copyfile(source / name, target / name)
