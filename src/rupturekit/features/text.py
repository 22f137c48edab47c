"""Text helpers for the features: normalisation, lexicon compilation, question types."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from rupturekit.features import lexicons as lx

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
                         "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": " - ", "\u2026": "..."})
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case, straight quotes, single spaces: the form every phrase lexicon is matched on."""
    return _SPACE.sub(" ", text.translate(_QUOTES).lower()).strip()


def _fragment(entry: str) -> str:
    # Apostrophes are optional ("im", "dont"); a literal "'?" already written stays as is.
    return re.sub(r"'(?!\?)", "'?", entry)


def alternation(entries: Iterable[str]) -> str:
    """One regex matching any entry as whole words (see the lexicons module docstring)."""
    return r"(?<![\w'])(?:" + "|".join(_fragment(e) for e in entries) + r")(?!\w)"


@cache
def compile_lexicon(entries: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(alternation(entries))


# --------------------------------------------------------------------------------------
# Question types
# --------------------------------------------------------------------------------------

OPEN, CLOSED, NO_PROMPT = 1, 2, 0

_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
_OPENERS = re.compile(r"^\W*" + _fragment(lx.QUESTION_OPENERS))
_OPEN_START = re.compile(_fragment(lx.OPEN_PROMPT_START) + r"(?!\w)")
_CLOSED_WH = re.compile(_fragment(lx.CLOSED_WH_START) + r"(?!\w)")
_YES_NO = re.compile(_fragment(lx.YES_NO_START) + r"(?!\w)")
# Imperative invitations that open a topic even without a question mark.
_OPEN_IMPERATIVE = re.compile(
    r"(?:tell me|describe|say (?:a bit |a little )?more|walk me through|talk (?:to me )?about|help me understand)"
    r"(?!\w)")
_ALTERNATIVE = re.compile(r"(?<!\w)or(?!\w)")


_CLAUSE_BREAK = re.compile(r"\s*[,;:]\s*|\s+-+\s+")
# "Can you tell me...", "Would you describe...": yes/no in form, open in function.
_OPEN_REQUEST = re.compile(
    r"(?:can|could|would|will) you (?:please )?(?:tell|describe|say|talk|walk me|explain|help me understand|share)"
    r"(?!\w)")


def sentence_prompt(sentence: str) -> int:
    """OPEN, CLOSED or NO_PROMPT for one normalised sentence.

    The sentence is judged by its last clause that opens like a question or an invitation,
    so "When you look back, what stands out?" is open and "Which bus is it, the 47 or the 12?"
    is closed; a question with no such clause ("You drink every day?") is closed.
    """
    is_question = "?" in sentence[-3:]
    clauses = [_OPENERS.sub("", part, count=1).lstrip(" ,-\"'") for part in _CLAUSE_BREAK.split(sentence)]
    for body in reversed(clauses):
        if _OPEN_IMPERATIVE.match(body) or _OPEN_REQUEST.match(body):
            return OPEN
        if not is_question:
            continue
        if _CLOSED_WH.match(body) or _YES_NO.match(body):
            return CLOSED
        if _OPEN_START.match(body):
            return CLOSED if _ALTERNATIVE.search(body) and not body.startswith(("why", "how")) else OPEN
    return CLOSED if is_question else NO_PROMPT


def question_profile(text: str) -> tuple[int, int, int]:
    """(prompt type of the last question or invitation, question sentences, sentences)."""
    sentences = [s.strip() for s in _SENTENCE.findall(text)]
    sentences = [s for s in sentences if any(ch.isalnum() for ch in s)]
    questions = sum(1 for s in sentences if "?" in s[-3:])
    if not questions and "tell" not in text and "describe" not in text and "walk" not in text \
            and "say" not in text and "talk" not in text and "help me" not in text:
        return NO_PROMPT, 0, len(sentences)
    for sentence in reversed(sentences):
        kind = sentence_prompt(sentence)
        if kind != NO_PROMPT:
            return kind, questions, len(sentences)
    return NO_PROMPT, questions, len(sentences)


def near(first: Iterable[str], second: Iterable[str], gap: int = 6) -> re.Pattern[str]:
    """A regex: an entry of `first` and one of `second`, either order, at most `gap` words apart
    and within one sentence."""
    a, b = alternation(first), alternation(second)
    between = rf"(?:[^.!?\w]+\w+){{0,{gap}}}?[^.!?\w]+"
    return re.compile(f"{a}{between}{b}|{b}{between}{a}")
