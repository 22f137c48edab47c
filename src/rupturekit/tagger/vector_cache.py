"""Utterance vectors of a frozen encoder, computed once and cached on disk.

With ``transformer.encoder_mode: frozen`` the encoder never changes during training, so every
utterance's pooled vector can be computed once; the dialogue layer and heads then train on the
cache. The cache lives in ``<cache root>/vectors/<key>.safetensors`` (``$RUPTUREKIT_CACHE`` moves
the root), keyed by the encoder's weights (the base model's file bytes) and by the exact encoder
inputs (the token ids of every window and which utterance owns it), so any change of text,
tokenizer, window size or context gives a new key. safetensors, not pickles: a cache file is
data. A file is written beside its final name and renamed, so an interrupted run leaves none
half-written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["base_digest", "corpus_vectors", "inputs_digest"]

CACHE_VERSION = 1


def base_digest(folder: Path) -> str:
    """sha256 of the base model's config and weight files (names and bytes), streamed."""
    digest = hashlib.sha256(f"rupturekit-vectors-{CACHE_VERSION}".encode())
    files = [folder / "config.json", *sorted(p for p in folder.iterdir() if p.suffix == ".safetensors")]
    for path in files:
        if path.is_file():
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def inputs_digest(sessions: Sequence) -> str:
    """sha256 of every session's windows (token ids, pooled span, weight) and owners."""
    digest = hashlib.sha256()
    for session in sessions:
        digest.update(np.int64(session.n).tobytes())
        digest.update(np.asarray(session.owner, dtype=np.int64).tobytes())
        for window in session.windows:
            digest.update(np.asarray([len(window.ids), window.pool_start], dtype=np.int64).tobytes())
            digest.update(np.asarray(window.ids, dtype=np.int64).tobytes())
            digest.update(np.float64(window.weight).tobytes())
    return digest.hexdigest()


def _cache_dir() -> Path:
    from rupturekit.tagger.onnx_runtime import cache_root

    return cache_root() / "vectors"


def corpus_vectors(encoder, sessions: Sequence, pad_id: int, budget_tokens: int, device, dtype, base_key: str,
                   use_cache: bool = True, say=None):
    """One float32 tensor (n x hidden) per session: its utterances' pooled encoder vectors.

    Read from the cache when `base_key` (see `base_digest`) and the inputs match, else computed
    with the encoder in eval mode and written to the cache."""
    import torch

    from rupturekit.tagger.encoder import encode_windows, utterance_vectors

    # the precision is part of the key: vectors from a bf16 GPU run are not those of an fp32 CPU run
    key = hashlib.sha256(f"{base_key}:{dtype}:{torch.__version__}:{inputs_digest(sessions)}".encode()).hexdigest()[:32]
    path = _cache_dir() / f"{key}.safetensors"
    lengths = [session.n for session in sessions]
    if use_cache and path.is_file():
        from safetensors.torch import load_file

        try:
            stacked = load_file(str(path))["vectors"]
            if stacked.shape[0] == sum(lengths):
                if say:
                    say(f"encoder vectors: read from the cache ({stacked.shape[0]:,} utterances)")
                return list(torch.split(stacked, lengths))
        except Exception:  # noqa: BLE001 - a damaged cache file is recomputed, never trusted
            pass
    if say:
        say(f"encoder vectors: encoding {sum(lengths):,} utterances once (frozen encoder; cached for next time)")
    encoder.eval()
    windows, owners, start = [], [], 0
    for session in sessions:
        windows.extend(session.windows)
        owners.append(np.asarray(session.owner, dtype=np.int64) + start)
        start += session.n
    with torch.inference_mode():
        window_vectors = encode_windows(encoder, windows, pad_id, budget_tokens, device, dtype)
        owner = torch.as_tensor(np.concatenate(owners) if owners else np.zeros(0, np.int64), dtype=torch.long)
        weights = torch.tensor([w.weight for w in windows], dtype=torch.float32)
        stacked = utterance_vectors(window_vectors, owner, weights, start).float().cpu().contiguous()
    if use_cache:
        from safetensors.torch import save_file

        from rupturekit.safe_output import cache_write

        cache_write(path, lambda p: save_file({"vectors": stacked}, str(p)))
    return list(torch.split(stacked.clone(), lengths))
