"""rupturekit: alliance ruptures and resolution moves in psychotherapy transcripts."""

from __future__ import annotations

__version__ = "0.1.0"


def read(*inputs, **config):
    """Read transcripts from files, globs or folders; see `rupturekit.reading.read_transcripts`."""
    from rupturekit.reading import read_transcripts

    return read_transcripts(*inputs, **config)


def tag(transcripts, model="default", **read_config):
    """Tag transcripts (records, or paths in any format ingest reads); see `rupturekit.tagger.api.tag`."""
    from rupturekit.tagger.api import tag as tag_transcripts

    return tag_transcripts(transcripts, model, **read_config)
