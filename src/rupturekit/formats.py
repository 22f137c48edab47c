"""What a writer and its reader must agree on: names, markers and spellings in the files rupturekit
writes for other tools and reads back, and the code-file formats `codes import` reads (named here
so that the command line's help lists them without importing the readers).

Kept below both `rupturekit.ingest` (the readers) and `rupturekit.export` (the writers), so that
neither imports the other.
"""

from __future__ import annotations

import re

# ELAN (.eaf): a tier named codes@<rater> holds that rater's codes; the header property marks times
# invented for a transcript without them (read back as start/end None).
CODE_TIER_PREFIX = "codes@"
SYNTHETIC_TIMES_PROPERTY = "rupturekit:synthetic_times"

# Label Studio: the Paragraphs object tag (the `to_name` of every region, and the data key of the
# task's utterances), and the type of a coded region (also the key of its labels in `value`).
DIALOGUE_NAME = "dialogue"
RESULT_TYPE = "paragraphlabels"

# What `rupturekit codes import` reads: long-format codes (CSV/TSV/JSONL), reviewed ELAN files, a Label
# Studio export, or any file ingest reads that carries codes (`rupturekit.review.read_codes`).
CODE_FORMATS = ("long", "eaf", "labelstudio", "ingest")

_UNSAFE = re.compile(r"[^\w.-]+")


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units: the unit of Label Studio's (the browser's) text offsets."""
    return len(text.encode("utf-16-le")) // 2


def safe_file_stem(transcript_id: str) -> str:
    """A file name for a transcript id ("session 1/a" -> "session_1_a"): the name of its file in a
    folder output, and how a reviewed file is matched back to its transcript."""
    return _UNSAFE.sub("_", transcript_id) or "transcript"


def format_clock(seconds: float, decimals: int = 3) -> str:
    """Seconds as hh:mm:ss.fff."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    text = f"{hours:02d}:{minutes:02d}:{whole:02d}"
    return f"{text}.{fraction:03d}"[: len(text) + 1 + decimals] if decimals else text
