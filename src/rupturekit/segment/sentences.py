"""Sentence spans inside utterances, with spaCy's rule-based sentencizer.

spaCy has no English model on PyPI, so this uses `blank("en")` and the
sentencizer; spans are character offsets into `Utterance.text`.
"""

from __future__ import annotations

from collections.abc import Iterable

from rupturekit.records import Transcript


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
        docs = self.nlp.pipe((u.text for u in utterances), batch_size=self.batch_size)
        for utterance, doc in zip(utterances, docs, strict=True):
            utterance.sentences = [
                (sentence.start_char, sentence.end_char)
                for sentence in doc.sents
                if sentence.text.strip()
            ]
        return transcripts
