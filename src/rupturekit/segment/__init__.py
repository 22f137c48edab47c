"""Segment: sentences inside utterances, and 3RS-style coding segments."""

from rupturekit.segment.segments import SegmentSpec, assign_segments
from rupturekit.segment.sentences import SentenceSplitter

__all__ = ["SegmentSpec", "SentenceSplitter", "assign_segments"]
