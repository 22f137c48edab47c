"""Sentence spans inside utterances, with spaCy's rule-based sentencizer.

spaCy has no English model on PyPI, so this uses `blank("en")` and the
sentencizer; spans are character offsets into `Utterance.text`.

A text longer than `MAX_PIECE_CHARS` (spaCy refuses texts over a million characters, and
needs about 1 kB of memory per character) is split at whitespace into pieces of at most that
length, each sentencized on its own; a sentence running across a cut is then two spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rupturekit.records import Transcript

MAX_PIECE_CHARS = 100_000


def pieces(text: str, limit: int = MAX_PIECE_CHARS) -> Iterator[tuple[int, str]]:
    """(offset, piece) covering `text`, each piece at most `limit` characters, cut after the
    last whitespace before the limit where there is one."""
    start = 0
    while len(text) - start > limit:
        window = text[start:start + limit]
        cut = max(window.rfind(" "), window.rfind("\n"))
        cut = cut + 1 if cut > 0 else limit
        yield start, text[start:start + cut]
        start += cut
    yield start, text[start:]


class SentenceSplitter:
    """Pipeline stage: set `sentences` on every utterance of the transcripts given."""

    def __init__(self, batch_size: int = 512):
        self.batch_size = batch_size
        self._nlp = None

    @property
    def nlp(self):
        if self._nlp is None:
            import spacy  # imported here: it takes a second, and most commands never need it

            nlp = spacy.blank("en")
            nlp.add_pipe("sentencizer")
            self._nlp = nlp
        return self._nlp

    def __call__(self, transcripts: Iterable[Transcript]) -> list[Transcript]:
        transcripts = list(transcripts)
        utterances = [u for t in transcripts for u in t.utterances]
        owners: list[tuple[int, int]] = []  # (utterance index, offset of the piece in its text)
        texts: list[str] = []
        for index, utterance in enumerate(utterances):
            for offset, piece in pieces(utterance.text):
                owners.append((index, offset))
                texts.append(piece)
        spans: list[list[tuple[int, int]]] = [[] for _ in utterances]
        docs = self.nlp.pipe(texts, batch_size=self.batch_size)
        for (index, offset), doc in zip(owners, docs, strict=True):
            spans[index].extend((offset + sentence.start_char, offset + sentence.end_char)
                                for sentence in doc.sents if sentence.text.strip())
        for utterance, found in zip(utterances, spans, strict=True):
            utterance.sentences = found
        return transcripts
