"""rupturekit: alliance ruptures and resolution moves in psychotherapy transcripts."""

__version__ = "0.1.0"
