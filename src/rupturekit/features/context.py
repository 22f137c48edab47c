"""Everything the feature functions read about a batch of utterances, computed once.

`Context` holds, per utterance (row), the normalised text, spaCy token statistics, the
conversational context (previous turn, previous turn of another speaker, the speaker's
median length in the transcript) and cached lexicon matches, sentiment and embeddings.

Bounds on one long utterance (a whole session transcribed as one turn, say): the features
read at most the first `MAX_FEATURE_CHARS` characters of a text (100,000, some 18,000 words,
far beyond any real turn; a warning names the utterance; the record keeps its whole text),
and VADER, whose cost grows with the square of a text's length, scores a text longer than
`VADER_CHUNK_CHARS` sentence by sentence, in pieces of at most that length, combined as
word-weighted means (`_polarity`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from functools import cached_property

import numpy as np

from rupturekit.features import lexicons as lx
from rupturekit.features import resources
from rupturekit.features.text import compile_lexicon, normalize, question_profile
from rupturekit.records import Utterance

_WORDISH = re.compile(r"[a-z0-9]")
_PAST_ED = re.compile(r"^[a-z]+[^e]ed$|^[a-z]+ied$")
_ABSTRACT = re.compile(r"^[a-z]{3,}" + lx.ABSTRACT_SUFFIX + r"$")

MAX_FEATURE_CHARS = 100_000  # characters of one utterance that its features read
VADER_CHUNK_CHARS = 2_000  # longer texts are scored in sentence-aligned pieces of at most this
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACE_RUN = re.compile(r"\s+")


def feature_text(text: str) -> str:
    """The part of an utterance's text that its features read (the first MAX_FEATURE_CHARS)."""
    return text if len(text) <= MAX_FEATURE_CHARS else text[:MAX_FEATURE_CHARS]


def _pieces(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` characters: whole sentences where they fit,
    a longer sentence cut at spaces (or anywhere, when it has none)."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > limit:  # a sentence longer than a piece: cut at the last space
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].lstrip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return [piece for piece in pieces if piece.strip()]


def _polarity(analyzer, text: str) -> tuple[float, float, float]:
    """VADER (compound, pos, neg) of `text`; exact up to VADER_CHUNK_CHARS, else the
    word-weighted mean over sentence-aligned pieces (VADER itself is quadratic in length)."""
    if not text:
        return 0.0, 0.0, 0.0
    if len(text) <= VADER_CHUNK_CHARS:
        s = analyzer.polarity_scores(text)
        return s["compound"], s["pos"], s["neg"]
    total, weights = np.zeros(3), 0.0
    for piece in _pieces(text, VADER_CHUNK_CHARS):
        s = analyzer.polarity_scores(piece)
        weight = float(len(_SPACE_RUN.split(piece.strip())))
        total += weight * np.array([s["compound"], s["pos"], s["neg"]])
        weights += weight
    if not weights:
        return 0.0, 0.0, 0.0
    compound, pos, neg = (total / weights).tolist()
    return compound, pos, neg


def _stem(word: str) -> str:
    """A crude suffix stripper, so "drink", "drinks" and "drinking" meet."""
    for suffix in ("ingly", "ing", "edly", "ed", "ies", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


class _TokenTable:
    """Per distinct lower-cased token string: the properties the features count."""

    __slots__ = ("word", "content", "stem", "first_singular", "second", "first_plural", "past", "abstract")

    def __init__(self, strings: list[str], stop_words: frozenset[str]):
        n = len(strings)
        self.word = np.zeros(n, bool)
        self.content = np.zeros(n, bool)
        self.past = np.zeros(n, bool)
        self.abstract = np.zeros(n, bool)
        stems: dict[str, int] = {}
        self.stem = np.full(n, -1, np.int64)
        for i, s in enumerate(strings):
            is_word = bool(_WORDISH.search(s)) and not s.startswith("'") and s != "n't"
            self.word[i] = is_word
            if not is_word:
                continue
            alpha = s.isalpha()
            if alpha and len(s) >= 3 and s not in stop_words and s not in lx.FILLERS:
                self.content[i] = True
                self.stem[i] = stems.setdefault(_stem(s), len(stems))
            self.past[i] = s in lx.IRREGULAR_PAST or (
                alpha and bool(_PAST_ED.match(s)) and s not in lx.NOT_PAST_ED)
            self.abstract[i] = s in lx.ABSTRACT_WORDS or (
                len(s) >= 7 and bool(_ABSTRACT.match(s)) and s not in lx.ABSTRACT_EXCEPTIONS)
        self.first_singular = np.fromiter((s in lx.FIRST_SINGULAR for s in strings), bool, n)
        self.second = np.fromiter((s in lx.SECOND_PERSON for s in strings), bool, n)
        self.first_plural = np.fromiter((s in lx.FIRST_PLURAL for s in strings), bool, n)


class Context:
    """One batch of utterances (several transcripts), in corpus order."""

    def __init__(self, utterances: Sequence[Utterance], batch_size: int = 256, embeddings: bool = True,
                 focus: np.ndarray | None = None, all_words: bool = True):
        """`focus`: rows whose feature values are wanted (default all). The others are read only as
        far as the focus rows' features look at them (the previous turn and the previous
        other-speaker turn, two steps back); beyond that their texts count as empty, and their
        values are not meaningful. `all_words`: count every row's words even so (the speaker's
        median length, which three features read, needs them)."""
        self.utterances = list(utterances)
        self.n = len(self.utterances)
        self._warn_long()
        self.roles = [u.role for u in self.utterances]
        self.batch_size = batch_size
        self.want_embeddings = embeddings
        self.embeddings_used = False
        self.columns: dict[str, np.ndarray] = {}  # features computed so far, by name
        self._matches: dict[int, np.ndarray] = {}
        self._link_turns()
        self.read = self._closure(focus)
        # texts outside the rows read count as empty: no lexicon, question or sentiment work on them
        full = [normalize(feature_text(u.text)) if keep or all_words else ""
                for u, keep in zip(self.utterances, self.read, strict=True)]
        self.texts = full if focus is None else [text if keep else "" for text, keep in zip(full, self.read,
                                                                                             strict=True)]
        self._tokenize(full)
        self._median_words()

    def _closure(self, focus: np.ndarray | None) -> np.ndarray:
        """The rows to read: `focus`, and the previous turn and previous other-speaker turn of
        those, twice over (a therapist's prev_rupture_cues reads the client's cue flags, and some of
        those read the turn before)."""
        if focus is None:
            return np.ones(self.n, bool)
        read = np.asarray(focus, bool).copy()
        for _ in range(2):
            rows = np.flatnonzero(read)
            for links in (self.prev[rows], self.prev_other[rows]):
                read[links[links >= 0]] = True
        return read

    def _warn_long(self) -> None:
        long = [u for u in self.utterances if len(u.text) > MAX_FEATURE_CHARS]
        if long:
            first = long[0]
            warnings.warn(f"{len(long)} utterance{'s' * (len(long) != 1)} longer than {MAX_FEATURE_CHARS:,} "
                          f"characters (first: {first.transcript_id}#{first.utterance_id}, {len(first.text):,}): "
                          f"cue features read the first {MAX_FEATURE_CHARS:,} characters; the text is kept whole",
                          UserWarning, stacklevel=3)

    # ---------------------------------------------------------------- tokens
    def _tokenize(self, texts: list[str]) -> None:
        from spacy.attrs import IS_PUNCT, IS_SPACE, LOWER

        nlp = resources.blank_nlp()
        arrays = [doc.to_array([LOWER, IS_PUNCT, IS_SPACE])
                  for doc in nlp.pipe(texts, batch_size=self.batch_size)]
        lengths = np.fromiter((len(a) for a in arrays), np.int64, self.n)
        self.token_doc = np.repeat(np.arange(self.n), lengths)
        self.token_start = np.concatenate([[0], np.cumsum(lengths)])
        stacked = np.concatenate(arrays) if arrays and lengths.sum() else np.zeros((0, 3), np.uint64)
        hashes = stacked[:, 0]
        unique, inverse = np.unique(hashes, return_inverse=True)
        strings = [nlp.vocab.strings[int(h)] for h in unique]
        table = _TokenTable(strings, frozenset(nlp.Defaults.stop_words))
        is_word = table.word[inverse] & (stacked[:, 1] == 0) & (stacked[:, 2] == 0)
        self._token_inverse, self._token_table, self._token_is_word = inverse, table, is_word
        self.words = self.per_utterance(is_word)
        stems = table.stem[inverse]
        content = table.content[inverse] & is_word
        self.content_sets: list[frozenset[int]] = [
            frozenset(stems[start:end][content[start:end]].tolist())
            for start, end in zip(self.token_start[:-1], self.token_start[1:], strict=True)
        ]

    def per_utterance(self, token_mask: np.ndarray) -> np.ndarray:
        """Number of tokens per utterance where `token_mask` holds."""
        return np.bincount(self.token_doc[token_mask], minlength=self.n).astype(np.float64)

    def token_count(self, prop: str) -> np.ndarray:
        """Words per utterance with a token-table property (first_singular, past, abstract...)."""
        mask = getattr(self._token_table, prop)[self._token_inverse] & self._token_is_word
        return self.per_utterance(mask)

    def token_rate(self, prop: str) -> np.ndarray:
        return self.rate(self.token_count(prop))

    def rate(self, counts: np.ndarray) -> np.ndarray:
        """counts per word, in [0, 1]."""
        return np.clip(counts / np.maximum(self.words, 1.0), 0.0, 1.0)

    # ---------------------------------------------------------------- turns
    def _link_turns(self) -> None:
        n = self.n
        self.prev = np.full(n, -1, np.int64)  # previous utterance, same transcript
        self.prev_other = np.full(n, -1, np.int64)  # previous utterance by another speaker
        self.position = np.zeros(n)  # 0 first ... 1 last utterance of its transcript
        self._speaker_rows: list[list[int]] = []  # rows of each speaker of each transcript
        groups: dict[str, list[int]] = {}
        for i, u in enumerate(self.utterances):
            groups.setdefault(u.transcript_id, []).append(i)
        for rows in groups.values():
            by_speaker: dict[str, list[int]] = {}
            last_by_speaker: dict[str, int] = {}
            last = -1
            for k, i in enumerate(rows):
                speaker = self._speaker(i)
                self.prev[i] = last
                others = [j for s, j in last_by_speaker.items() if s != speaker]
                self.prev_other[i] = max(others) if others else -1
                last_by_speaker[speaker] = i
                by_speaker.setdefault(speaker, []).append(i)
                last = i
                self.position[i] = k / (len(rows) - 1) if len(rows) > 1 else 0.0
            self._speaker_rows.extend(by_speaker.values())

    def _median_words(self) -> None:
        self.median_words = np.zeros(self.n)  # the speaker's median word count in this transcript
        for members in self._speaker_rows:
            self.median_words[members] = float(np.median(self.words[members]))

    def _speaker(self, i: int) -> str:
        u = self.utterances[i]
        return u.speaker.strip() or u.role

    def at_prev_other(self, values: np.ndarray, missing: float = 0.0) -> np.ndarray:
        """`values` of the previous other-speaker turn, `missing` where there is none."""
        values = np.asarray(values)
        out = values[np.maximum(self.prev_other, 0)].astype(np.float64)
        out[self.prev_other < 0] = missing
        return out

    @property
    def has_prev_other(self) -> np.ndarray:
        return self.prev_other >= 0

    # ---------------------------------------------------------------- lexicons
    def match(self, pattern: tuple[str, ...] | str | re.Pattern[str]) -> np.ndarray:
        """Per utterance: does the lexicon (or a regex) match the normalised text?"""
        regex = self._regex(pattern)
        key = id(regex)
        if key not in self._matches:
            search = regex.search
            self._matches[key] = np.fromiter((search(t) is not None for t in self.texts), bool, self.n)
        return self._matches[key]

    def count(self, pattern: tuple[str, ...] | str | re.Pattern[str]) -> np.ndarray:
        """Per utterance: how many non-overlapping matches of the lexicon."""
        regex = self._regex(pattern)
        hits = self.match(regex)
        out = np.zeros(self.n)
        for i in np.flatnonzero(hits):
            out[i] = len(regex.findall(self.texts[i]))
        return out

    @staticmethod
    def _regex(pattern: tuple[str, ...] | str | re.Pattern[str]) -> re.Pattern[str]:
        if isinstance(pattern, re.Pattern):
            return pattern
        if isinstance(pattern, str):
            return _compile_plain(pattern)
        return compile_lexicon(pattern)

    # ---------------------------------------------------------------- questions
    @cached_property
    def _questions(self) -> np.ndarray:
        return np.array([question_profile(t) for t in self.texts], dtype=np.int64).reshape(self.n, 3)

    @property
    def prompt_type(self) -> np.ndarray:
        """text.OPEN, text.CLOSED or text.NO_PROMPT: the last question or invitation of the turn."""
        return self._questions[:, 0]

    @property
    def question_sentences(self) -> np.ndarray:
        return self._questions[:, 1].astype(np.float64)

    @property
    def sentences(self) -> np.ndarray:
        return self._questions[:, 2].astype(np.float64)

    # ---------------------------------------------------------------- sentiment
    @cached_property
    def sentiment(self) -> np.ndarray:
        """VADER (compound, pos, neg) per utterance; identical texts are scored once."""
        analyzer = resources.vader()
        cache: dict[str, tuple[float, float, float]] = {}
        out = np.zeros((self.n, 3))
        for i, u in enumerate(self.utterances):
            if not self.read[i]:
                continue
            text = feature_text(u.text).strip()
            scores = cache.get(text)
            if scores is None:
                scores = cache[text] = _polarity(analyzer, text)
            out[i] = scores
        return out

    # ---------------------------------------------------------------- overlap and embeddings
    @cached_property
    def overlap_prev_other(self) -> tuple[np.ndarray, np.ndarray]:
        """(Jaccard of content stems with the previous other-speaker turn,
        share of this turn's content stems found in that turn)."""
        jaccard, share = np.zeros(self.n), np.zeros(self.n)
        for i in np.flatnonzero(self.has_prev_other):
            own, other = self.content_sets[i], self.content_sets[self.prev_other[i]]
            if not own or not other:
                continue
            common = len(own & other)
            jaccard[i] = common / len(own | other)
            share[i] = common / len(own)
        return jaccard, share

    @cached_property
    def embed_cos_prev_other(self) -> np.ndarray:
        """Cosine of pooled static embeddings with the previous other-speaker turn (0 when off)."""
        self.embeddings_used = False
        if not self.want_embeddings:
            return np.zeros(self.n)
        model = resources.static_embeddings()
        if model is None:
            return np.zeros(self.n)
        vectors = model.pooled(self.texts)
        partner = vectors[np.maximum(self.prev_other, 0)]
        cos = np.einsum("ij,ij->i", vectors, partner).astype(np.float64)
        cos[~self.has_prev_other] = 0.0
        self.embeddings_used = True
        return np.clip(cos, -1.0, 1.0)


def _compile_plain(pattern: str) -> re.Pattern[str]:
    return _PLAIN_CACHE.setdefault(pattern, re.compile(pattern))


_PLAIN_CACHE: dict[str, re.Pattern[str]] = {}
