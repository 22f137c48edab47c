"""Load a trained tagger (baseline or transformer) and tag transcripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rupturekit.bounded import loads_json
from rupturekit.errors import InputError
from rupturekit.records import Transcript
from rupturekit.streaming import Written
from rupturekit.tagger.model_files import MANIFEST, manifest_text

if TYPE_CHECKING:
    from rupturekit.ingest.units import Unit
    from rupturekit.reading import IngestConfig
    from rupturekit.streaming import FileTarget, Listener, Stop, Transform

# The encoder runtimes `load_tagger` takes: "auto" is ONNX Runtime int8 on a CPU (about 2x torch's speed
# there, see BENCHMARKS.md), torch on a CUDA GPU.
RUNTIMES = ("auto", "torch", "onnx")

# Utterances per call to a tagger: length-sorted batches then span transcripts (one transcript per
# call was 2-3x slower), and memory stays bounded.
TAG_CHUNK = 2000


@runtime_checkable
class Tagger(Protocol):
    """What `rupturekit tag`, `rupturekit.tag`, the Ray engine and the scripts use of a loaded model;
    `BaselineTagger` and `TransformerTagger` both implement it (tests/test_tagger_contract.py).
    The decision members come from `rupturekit.tagger.decisions.UsesDecisions`."""

    @property
    def runtime(self) -> str:
        """The encoder's runtime in use, "torch" or "onnx" (a baseline, without an encoder: "torch")."""
        ...

    @property
    def operating_points(self) -> list[str]:
        """Names of the stored operating points ([] for a model without hierarchical decisions)."""
        ...

    def set_operating_point(self, name: str) -> None:
        """Decide with a stored operating point; ValueError for one the model does not have."""
        ...

    def set_threshold(self, threshold: float) -> None:
        """One probability threshold for every multi-label decision; ValueError outside 0 to 1."""
        ...

    def tag(self, transcripts: list[Transcript]) -> list[Transcript]:
        """Copies of the transcripts whose utterances carry the tag fields (`records.TAG_FIELDS`)."""
        ...

    def save(self, directory: str | Path) -> Path:
        """Write the model folder into `directory`; returns it."""
        ...


def chunks_of(transcripts: list[Transcript], size: int = TAG_CHUNK) -> list[list[Transcript]]:
    """Consecutive whole transcripts, at most `size` utterances per chunk (a longer transcript alone)."""
    chunks: list[list[Transcript]] = [[]]
    filled = 0
    for transcript in transcripts:
        if chunks[-1] and filled + len(transcript.utterances) > size:
            chunks.append([])
            filled = 0
        chunks[-1].append(transcript)
        filled += len(transcript.utterances)
    return [chunk for chunk in chunks if chunk]


def tag_unit(tagger: Tagger, transcripts: list[Transcript]) -> list[Transcript]:
    """Tag one unit of work (`rupturekit.ingest.units`) as every engine does: in the same chunks,
    so that the same transcripts share the same batches (the int8 encoder's activation scales are
    per batch) and the tags do not depend on the engine."""
    tagged: list[Transcript] = []
    for chunk in chunks_of(transcripts):
        tagged.extend(tagger.tag(chunk))
    return tagged


def default_model_dir() -> Path:
    """models/default of the checkout, or its copy inside an installed wheel."""
    packaged = Path(__file__).resolve().parents[1] / "models" / "default"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "models" / "default"


def model_kind(folder: Path) -> str:
    """'baseline' or 'transformer', from the folder's model.json."""
    manifest = folder / MANIFEST
    if not folder.is_dir():
        raise InputError(str(folder), "no such model folder",
                         "give a folder written by `rupturekit train`, or 'default'")
    try:
        kind = loads_json(manifest_text(manifest)).get("kind")
    except FileNotFoundError:
        raise InputError(str(folder), "not a rupturekit model (no model.json)",
                         "give a folder written by `rupturekit train`") from None
    except IsADirectoryError:
        raise InputError(str(manifest), "is a folder, not a file", "restore the model folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        detail = f" ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(str(manifest), f"model.json is corrupt{detail}", "retrain the model, or restore the folder") \
            from None
    if kind not in ("baseline", "transformer"):
        raise InputError(str(manifest), f"unknown model kind {kind!r}", "retrain the model with `rupturekit train`")
    return kind


def load_tagger(model: str | Path = "default", codebook: str | None = None, runtime: str = "auto",
                progress: Callable[[str], None] | None = None, device: str | None = None,
                threads: int | None = None) -> Tagger:
    """A tagger from a model folder, or the shipped default model; `codebook` checks it matches.

    `runtime` of a transformer's encoder: "auto" (ONNX Runtime int8 on a CPU, torch on a CUDA GPU),
    "onnx" or "torch"; `device` (a transformer's; default: its config's); `threads`, ONNX Runtime's
    intra-op threads (default: every usable core). `progress` hears the one-time ONNX export, when
    there is one."""
    folder = default_model_dir() if str(model) == "default" else Path(model)
    if model_kind(folder) == "baseline":
        if runtime == "onnx":
            raise InputError(str(folder), "a baseline model has no ONNX runtime", "leave out --runtime")
        from rupturekit.tagger.baseline import BaselineTagger

        return BaselineTagger.load(folder, codebook=codebook)
    from rupturekit.tagger.transformer import TransformerTagger

    return TransformerTagger.load(folder, codebook=codebook, device=device, runtime=runtime, progress=progress,
                                  threads=threads)


def configure(tagger: Tagger, operating_point: str | None = None, threshold: float | None = None) -> None:
    """Decide with a stored operating point, or with a threshold of one's own (not both): the check
    `rupturekit tag` makes on either engine, before any work. Bad settings are one line (InputError)."""
    from rupturekit.tagger.decisions import OPERATING_POINTS

    if operating_point is not None and threshold is not None:
        raise InputError("--threshold", "--threshold and --operating-point both set the decision threshold",
                         "give one of them")
    if operating_point is not None:
        if operating_point not in OPERATING_POINTS:
            raise InputError("--operating-point", f"'{operating_point}' is not one of {', '.join(OPERATING_POINTS)}",
                             "choose one")
        try:
            tagger.set_operating_point(operating_point)
        except ValueError as exc:
            raise InputError("--operating-point", str(exc), "choose another operating point, or leave it out") \
                from None
    if threshold is not None:
        try:
            tagger.set_threshold(threshold)
        except ValueError as exc:
            raise InputError("--threshold", str(exc), "give a number from 0 to 1") from None


def tag(transcripts: str | Path | Transcript | list[Transcript], model: str | Path | Tagger = "default",
        **read_config) -> list[Transcript]:
    """Tag a transcript, a list of them, or files/folders in any format ingest reads.

    Returns copies whose utterances carry `labels`, `scores` and `evidence`.
    """
    if isinstance(transcripts, (str, Path)):
        from rupturekit.reading import read_transcripts

        transcripts = read_transcripts(transcripts, **read_config)
    elif isinstance(transcripts, Transcript):
        transcripts = [transcripts]
    tagger = model if hasattr(model, "tag") else load_tagger(model)  # type: ignore[arg-type]
    return tagger.tag(list(transcripts))


# ------------------------------------------------------------------ `rupturekit tag`, a unit at a time
# The streaming runner is `rupturekit.streaming`; these are its tagging side.


def model_identity(model: str) -> str:
    """The model folder and a hash of its manifest (a retrained model is another model): what a
    resumed tag run must share with the interrupted one."""
    import hashlib

    folder = default_model_dir() if model == "default" else Path(model)
    try:
        digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()[:16]
    except OSError:
        digest = "?"
    return f"{folder.resolve()}#{digest}"


@dataclass
class TagCounts(Written):
    """What a tag run wrote (a resumed run: the interrupted run's part included), and the labels
    this run gave."""

    labels: int = 0


def _labels_of(transcripts: list[Transcript]) -> int:
    return sum(len(u.labels or []) for t in transcripts for u in t.utterances)


def _nothing_tagged(units: list[Unit], listener: Listener, transcripts: int) -> Stop:
    """The stop when nothing was tagged: the inputs held no transcript, or only empty ones."""
    from rupturekit.streaming import Stop, nothing_read

    if transcripts:
        names = dict.fromkeys(part.path for unit in units for part in unit.parts)
        return Stop(f"{', '.join(map(str, names))}: no utterances to tag (every transcript is empty); check the "
                    "export")
    return nothing_read(listener, "no transcript could be read")


def tag_to_file(units: list[Unit], config: IngestConfig, listener: Listener, transform: Transform,
                target: FileTarget, kind: str) -> TagCounts:
    """Tag unit by unit into a resumable jsonl or csv file."""
    from rupturekit.export.output import FilePieces
    from rupturekit.streaming import to_file
    from rupturekit.tagger.tag_files import tags_csv_text

    pieces = FilePieces(kind, tags_csv_text)
    labels = 0

    def serialize(tagged: list[Transcript]) -> str:
        nonlocal labels
        labels += _labels_of(tagged)
        return pieces.text(tagged)

    # kept when an utterance was tagged: transcripts without any are a stop the caller explains
    written = to_file(units, config, listener, transform, serialize, target, pieces.header, description="tagging",
                      keep=lambda counts: bool(counts.utterances))
    if not written.utterances:
        raise _nothing_tagged(units, listener, written.transcripts)
    return TagCounts(written.transcripts, written.utterances, labels)


def tag_whole(units: list[Unit], config: IngestConfig, listener: Listener, transform: Transform,
              output: Path | None, kind: str, model: str) -> TagCounts:
    """Tag to standard output (JSONL, unit by unit) when there is no `output`, or collect every tagged
    transcript for html and eaf, which are written whole."""
    import sys

    from rupturekit.records import dumps_jsonl
    from rupturekit.streaming import Stop, stream

    if output is None and kind != "jsonl":
        raise Stop(f"--format {kind} needs --output")
    collected: list[Transcript] = []
    labels = 0

    def write(_index: int, tagged: list[Transcript], _failures: int) -> None:
        nonlocal labels
        labels += _labels_of(tagged)
        if output is None:
            sys.stdout.write(dumps_jsonl(tagged))
            sys.stdout.flush()
        else:
            collected.extend(tagged)

    written = stream(units, config, listener, transform, write, (), "tagging")
    if not written.utterances:
        raise _nothing_tagged(units, listener, written.transcripts)
    if output is not None:
        try:
            _write_whole(collected, output, kind, model)
        except InputError as error:
            raise Stop(str(error)) from None
    return TagCounts(written.transcripts, written.utterances, labels)


def _write_whole(tagged: list[Transcript], output: Path, kind: str, model: str) -> None:
    """The tags page (html), or the tags as ELAN codes (eaf: a file, or a folder of them)."""
    from rupturekit.codes import machine_rater
    from rupturekit.safe_output import atomic_write
    from rupturekit.tagger.tag_files import with_tags_as_codes, write_tags_html

    if kind == "html":
        atomic_write(output, lambda p: write_tags_html(tagged, p, str(model)))
        return
    from rupturekit.export.output import write_transcripts

    # Predictions are codes of a machine rater, model:<name>, never of a human rater.
    name = "default" if str(model) == "default" else Path(model).resolve().name
    write_transcripts(with_tags_as_codes(tagged, machine_rater("model", name)), output, "eaf")
