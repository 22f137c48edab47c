"""Write a transcript as an ELAN annotation file (.eaf, EAF 3.0), through pympi.

Layout, read back by `rupturekit.ingest.elan.read_eaf`:

* one independent tier per speaker, tier id and PARTICIPANT = the speaker,
  one annotation per utterance;
* one tier ``codes@<rater>`` per rater with codes: for each coded utterance an
  annotation spanning it, its value the rater's labels joined with "; "
  (ratings are not kept);
* times are whole milliseconds. A transcript without times gets invented
  ones so that ELAN can show it: each utterance lasts its word count at 2.5
  words per second (at least 1 s), one after the other, and the header
  property ``rupturekit:synthetic_times`` is ``true`` so that reading the
  file back gives start/end None again. An utterance with a start but no end
  ends at the next utterance's start (or after its spoken duration).
"""

from __future__ import annotations

import re
from pathlib import Path

import pympi

from rupturekit.errors import InputError
from rupturekit.export.subtitles import filled_ends, spoken_duration
from rupturekit.formats import CODE_TIER_PREFIX, SYNTHETIC_TIMES_PROPERTY
from rupturekit.records import Transcript

_EAF_SCHEMA = "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"
# Characters XML 1.0 cannot hold; ELAN would refuse the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _spans_ms(transcript: Transcript, path: str | Path) -> tuple[list[tuple[int, int]], bool]:
    """(start, end) in ms per utterance, and whether they were invented."""
    utterances = transcript.utterances
    starts = [u.start for u in utterances]
    if utterances and all(start is None for start in starts):
        spans, clock = [], 0
        for utterance in utterances:
            length = round(spoken_duration(utterance) * 1000)
            spans.append((clock, clock + length))
            clock += length
        return spans, True
    if any(start is None for start in starts):
        raise InputError(str(path), f"transcript '{transcript.transcript_id}' has start times on "
                         "some utterances but not on others",
                         "add the missing start times, or write .jsonl or .csv instead")
    spans = []
    for start, end in filled_ends(utterances):
        start_ms = round(start * 1000)
        # ELAN has no empty annotations: give a zero-length one a millisecond.
        spans.append((start_ms, max(round(end * 1000), start_ms + 1)))
    return spans, False


def _number_slots_in_time_order(eaf: pympi.Elan.Eaf) -> None:
    """Rename time slots ts1, ts2, ... in time order, as ELAN writes them (pympi sorts by id)."""
    order = sorted(eaf.timeslots, key=lambda slot: (eaf.timeslots[slot], int(slot[2:])))
    names = {old: f"ts{number}" for number, old in enumerate(order, start=1)}
    eaf.timeslots = {names[old]: eaf.timeslots[old] for old in order}
    for aligned, _refs, _attrib, _ordinal in eaf.tiers.values():
        for annotation, (slot1, slot2, value, svg) in list(aligned.items()):
            aligned[annotation] = (names[slot1], names[slot2], value, svg)


def write_eaf(transcript: Transcript, path: str | Path, review_tier: str | None = None,
              prefill_from: str | None = None) -> None:
    """Write `transcript` as an ELAN .eaf file (see the module docstring for the layout).

    With `review_tier`, also write an editable tier ``codes@<review_tier>`` with one
    annotation per utterance, holding the labels of rater `prefill_from` (pre-annotations
    for a reviewer to correct) or left empty; `rupturekit codes import` reads it back.
    """
    spans, synthetic = _spans_ms(transcript, path)
    eaf = pympi.Elan.Eaf(author="rupturekit")
    eaf.remove_tier("default")
    eaf.adocument.update({"VERSION": "3.0", "FORMAT": "3.0",
                          "xsi:noNamespaceSchemaLocation": _EAF_SCHEMA})
    eaf.header.update({"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    # pympi's own counter property is not ELAN's; ELAN's is set below.
    eaf.properties = [(k, v) for k, v in eaf.properties if k != "lastUsedAnnotation"]
    if synthetic:
        eaf.add_property(SYNTHETIC_TIMES_PROPERTY, "true")
    eaf.add_linguistic_type("codes", timealignable=True)

    for utterance, (start, end) in zip(transcript.utterances, spans, strict=True):
        tier = utterance.speaker.strip() or "UNKNOWN"
        if tier not in eaf.tiers:
            eaf.add_tier(tier, part=tier)
        eaf.add_annotation(tier, start, end, _NOT_XML.sub("", utterance.text))

    for utterance, (start, end) in zip(transcript.utterances, spans, strict=True):
        labels: dict[str, list[str]] = {}
        for code in utterance.codes:
            labels.setdefault(code.rater, []).append(code.label)
        for rater, rater_labels in labels.items():
            tier = f"{CODE_TIER_PREFIX}{rater}"
            if tier not in eaf.tiers:
                eaf.add_tier(tier, ling="codes", ann=rater)
            eaf.add_annotation(tier, start, end, _NOT_XML.sub("", "; ".join(rater_labels)))

    if review_tier is not None:
        tier = f"{CODE_TIER_PREFIX}{review_tier}"
        if tier in eaf.tiers:
            raise InputError(str(path), f"the review tier '{tier}' would overwrite rater '{review_tier}'s codes",
                             "name another review tier")
        eaf.add_tier(tier, ling="codes", ann=review_tier)
        for utterance, (start, end) in zip(transcript.utterances, spans, strict=True):
            labels = [code.label for code in utterance.codes if code.rater == prefill_from]
            eaf.add_annotation(tier, start, end, _NOT_XML.sub("", "; ".join(labels)))

    _number_slots_in_time_order(eaf)
    eaf.add_property("lastUsedAnnotationId", str(eaf.maxaid))
    document = pympi.Elan.to_string(eaf)
    Path(path).write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + document + "\n",
                          encoding="utf-8")
