"""Reader for ELAN annotation files (.eaf), through pympi.

Layout: one independent, time-aligned tier per speaker, one annotation per
utterance. The speaker is the tier's PARTICIPANT attribute when set, else the
tier id. Annotations of all speaker tiers are ordered by (start, tier order).

Tiers named ``codes@<rater>`` hold observer codes: each annotation value is
one or more labels separated by ";". An aligned code annotation attaches to
the utterance its time span overlaps most (ties: an utterance of the code
tier's parent tier or PARTICIPANT, then the closest span, then the earlier
one); a code in a dependent, symbolic code tier attaches to the annotation it
refers to. Codes on an utterance are ordered by rater, then by time. Other
dependent tiers are not read (with a warning naming them).

A file written by `rupturekit.export.elan.write_eaf` for a transcript without
times has the header property ``rupturekit:synthetic_times`` = ``true``: its
times only keep the order, so utterances are read with start/end None.

``meta["source"]`` is ``{"file": ..., "annotation": "a12", "tier": "Therapist"}``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import pympi

from rupturekit.errors import InputError
from rupturekit.formats import CODE_TIER_PREFIX, SYNTHETIC_TIMES_PROPERTY
from rupturekit.ingest.common import utterance_meta
from rupturekit.ingest.options import ReadOptions
from rupturekit.records import Code, Transcript, Utterance
from rupturekit.source import Source

_TIERS_HINT = "add one tier per speaker in ELAN, with one annotation per utterance"


@dataclass
class _Speech:
    tier: str
    ordinal: int
    annotation: str
    speaker: str
    start: int | None  # milliseconds
    end: int | None
    text: str
    codes: list[tuple[str, int, str]] = field(default_factory=list)  # (rater, time, label)


def _open(source: Source) -> pympi.Elan.Eaf:
    if not source.data.strip():  # also raises InputError for an unreadable file
        raise InputError(source.name, "the file is empty", "check the path, or save it again in ELAN")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            eaf = _parse(source)
        except Exception as exc:  # pympi raises bare Exception, KeyError, IndexError, ...
            cause = exc.__context__ if exc.__context__ is not None else exc
            position = getattr(cause, "position", None)
            if position:  # ElementTree's ParseError: "mismatched tag: line 6, column 6"
                detail = f"not well-formed XML: {str(cause).split(': line')[0]}"
            elif isinstance(cause, KeyError):
                detail = f"missing {cause} in the ELAN XML"
            else:
                detail = f"{type(cause).__name__}: {cause}"
            raise InputError(source.name, f"not a valid ELAN file ({detail})",
                             "open the file in ELAN and save it again, or check that it is an .eaf",
                             location=f"line {position[0]}" if position else None) from None
    for warning in caught:
        source.log.warn(source.name, f"pympi: {warning.message}")
    return eaf


_SCHEMA_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"


def _parse(source: Source) -> pympi.Elan.Eaf:
    """pympi's reader, for files with or without the schema-location attribute.

    pympi deletes ``xsi:noNamespaceSchemaLocation`` from the document's attributes after
    reading them, so a file without it (as some converters write) fails with KeyError although
    its tiers are fine. On that error the file is parsed again into a document that already
    holds the key; the fresh document's default tier, type, constraints and properties are
    cleared first, as pympi's own reading of a file starts from empty ones."""
    try:
        return pympi.Elan.Eaf(str(source.path))
    except KeyError as exc:
        if exc.args != (_SCHEMA_LOCATION,):
            raise
    eaf = pympi.Elan.Eaf()
    eaf.tiers, eaf.linguistic_types, eaf.constraints, eaf.properties = {}, {}, {}, []
    eaf.adocument = {_SCHEMA_LOCATION: ""}
    pympi.Elan.parse_eaf(str(source.path), eaf)
    return eaf


def _ms(eaf: pympi.Elan.Eaf, slot: str) -> int | None:
    return eaf.timeslots.get(slot)


def _labels(value: str | None) -> list[str]:
    return [label.strip() for label in (value or "").split(";") if label.strip()]


def _overlap(start: int, end: int, speech: _Speech) -> tuple[int, int] | None:
    """(overlap, union) in ms of [start, end] with an utterance; None if apart."""
    if speech.start is None or speech.end is None:
        return None
    overlap = min(end, speech.end) - max(start, speech.start)
    if overlap < 0 or (overlap == 0 and start != end):
        return None
    return overlap, max(end, speech.end) - min(start, speech.start)


def _best_match(start: int, end: int, speech: list[_Speech], attrib: dict[str, Any]) -> _Speech | None:
    parent, participant = attrib.get("PARENT_REF"), attrib.get("PARTICIPANT")
    best: tuple[Any, ...] | None = None
    target = None
    for order, utterance in enumerate(speech):
        span = _overlap(start, end, utterance)
        if span is None:
            continue
        preferred = utterance.tier == parent or (participant and utterance.speaker == participant)
        key = (-span[0], not preferred, span[1], order)
        if best is None or key < best:
            best, target = key, utterance
    return target


def _attach_codes(eaf: pympi.Elan.Eaf, tier: str, speech: list[_Speech], source: Source) -> None:
    rater = tier[len(CODE_TIER_PREFIX):].strip()
    aligned, refs, attrib, _ = eaf.tiers[tier]
    if not rater:
        if aligned or refs:
            source.log.warn(source.name, "code tier without a rater name was not read; "
                            f"name it {CODE_TIER_PREFIX}<rater>", location=f"tier '{tier}'")
        return
    by_annotation = {s.annotation: s for s in speech}
    for annotation, (slot1, slot2, value, _svg) in aligned.items():
        labels = _labels(value)
        start, end = _ms(eaf, slot1), _ms(eaf, slot2)
        target = None
        if start is not None and end is not None:
            target = _best_match(start, end, speech, attrib)
        if not labels:
            continue
        if target is None:
            span = f"{start / 1000:g}-{end / 1000:g} s" if None not in (start, end) else "no time"
            source.log.warn(source.name, f"code {value.strip()!r} ({span}) overlaps no utterance; "
                            "it was not attached", location=f"tier '{tier}', annotation {annotation}")
            continue
        target.codes.extend((rater, start, label) for label in labels)
    for annotation, (reference, value, _previous, _svg) in refs.items():
        labels = _labels(value)
        target = None
        seen = set()
        # Follow the chain of references up to a speaker tier's annotation.
        while reference not in seen and reference in eaf.annotations:
            seen.add(reference)
            if reference in by_annotation:
                target = by_annotation[reference]
                break
            parent_aligned, parent_refs, _, _ = eaf.tiers[eaf.annotations[reference]]
            if reference in parent_refs:
                reference = parent_refs[reference][0]
            else:
                slot1, slot2 = parent_aligned[reference][:2]
                start, end = _ms(eaf, slot1), _ms(eaf, slot2)
                if start is not None and end is not None:
                    target = _best_match(start, end, speech, attrib)
                break
        if not labels:
            continue
        if target is None:
            source.log.warn(source.name, f"code {value.strip()!r} refers to no utterance; it was "
                            "not attached", location=f"tier '{tier}', annotation {annotation}")
            continue
        target.codes.extend((rater, target.start or 0, label) for label in labels)


def read_eaf(source: Source, options: ReadOptions) -> list[Transcript]:
    """Read an ELAN .eaf file into one transcript, with codes from ``codes@<rater>`` tiers."""
    eaf = _open(source)
    if not eaf.tiers:
        raise InputError(source.name, "no tiers in this ELAN file", _TIERS_HINT)
    tiers = sorted(eaf.tiers, key=lambda tier_id: eaf.tiers[tier_id][3])
    speech: list[_Speech] = []
    code_tiers = []
    for tier in tiers:
        aligned, refs, attrib, ordinal = eaf.tiers[tier]
        if tier.startswith(CODE_TIER_PREFIX):
            code_tiers.append(tier)
            continue
        if attrib.get("PARENT_REF"):
            values = [a[2] for a in aligned.values()] + [r[1] for r in refs.values()]
            if any(value and value.strip() for value in values):
                count = f"{len(values)} annotation" + ("s" if len(values) != 1 else "")
                source.log.warn(source.name, f"dependent tier '{tier}' was not read ({count}); "
                                "only speaker tiers and code tiers named "
                                f"'{CODE_TIER_PREFIX}<rater>' are read", location=f"tier '{tier}'")
            continue
        speaker = (attrib.get("PARTICIPANT") or "").strip() or tier
        for annotation, (slot1, slot2, value, _svg) in aligned.items():
            if not (value and value.strip()):
                continue
            start, end = _ms(eaf, slot1), _ms(eaf, slot2)
            if start is not None and end is not None and end < start:
                raise InputError(source.name, f"the annotation ends ({end} ms) before it starts "
                                 f"({start} ms)", "fix its time alignment in ELAN",
                                 location=f"tier '{tier}', annotation {annotation}")
            speech.append(_Speech(tier, ordinal, annotation, speaker, start, end, value.strip()))
    if not speech:
        raise InputError(source.name, "no annotated speaker tiers", _TIERS_HINT)

    def order(item: _Speech) -> tuple[float, int]:
        time = item.start if item.start is not None else item.end
        return (time if time is not None else math.inf, item.ordinal)

    speech.sort(key=order)  # stable: file order breaks ties within a tier
    for tier in code_tiers:
        _attach_codes(eaf, tier, speech, source)
    synthetic = any(key == SYNTHETIC_TIMES_PROPERTY and str(value).strip().lower() == "true"
                    for key, value in eaf.properties)
    utterances = []
    for number, item in enumerate(speech):
        codes = sorted(item.codes, key=lambda code: (code[0], code[1] or 0))
        utterances.append(Utterance(
            transcript_id=source.stem,
            utterance_id=number,
            speaker=item.speaker,
            start=None if synthetic or item.start is None else item.start / 1000,
            end=None if synthetic or item.end is None else item.end / 1000,
            text=item.text,
            meta=utterance_meta(source, {"annotation": item.annotation, "tier": item.tier},
                                item.text),
            codes=[Code(rater=rater, label=label) for rater, _, label in codes],
        ))
    return [Transcript(transcript_id=source.stem, utterances=utterances)]
