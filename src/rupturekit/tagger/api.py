"""Load a trained tagger (baseline or transformer) and tag transcripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from rupturekit.bounded import loads_json
from rupturekit.errors import InputError
from rupturekit.records import Transcript
from rupturekit.tagger.model_files import MANIFEST

# Utterances per call to a tagger: length-sorted batches then span transcripts (one transcript per
# call was 2-3x slower), and memory stays bounded.
TAG_CHUNK = 2000


@runtime_checkable
class Tagger(Protocol):
    """What `rupturekit tag`, `rupturekit.tag`, the Ray engine and the scripts use of a loaded model;
    `BaselineTagger` and `TransformerTagger` both implement it (tests/test_tagger_contract.py).
    The decision members come from `rupturekit.tagger.decisions.UsesDecisions`."""

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
        kind = loads_json(manifest.read_text(encoding="utf-8")).get("kind")
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
                progress: Callable[[str], None] | None = None, device: str | None = None) -> Tagger:
    """A tagger from a model folder, or the shipped default model; `codebook` checks it matches.

    `runtime` of a transformer's encoder: "auto" (ONNX Runtime int8 on a CPU, torch on a CUDA GPU),
    "onnx" or "torch"; `device` (a transformer's; default: its config's). `progress` hears the
    one-time ONNX export, when there is one."""
    folder = default_model_dir() if str(model) == "default" else Path(model)
    if model_kind(folder) == "baseline":
        if runtime == "onnx":
            raise InputError(str(folder), "a baseline model has no ONNX runtime", "leave out --runtime")
        from rupturekit.tagger.baseline import BaselineTagger

        return BaselineTagger.load(folder, codebook=codebook)
    from rupturekit.tagger.transformer import TransformerTagger

    return TransformerTagger.load(folder, codebook=codebook, device=device, runtime=runtime, progress=progress)


def tag(transcripts: str | Path | Transcript | list[Transcript], model: str | Path | Tagger = "default",
        **read_config) -> list[Transcript]:
    """Tag a transcript, a list of them, or files/folders in any format ingest reads.

    Returns copies whose utterances carry `labels`, `scores` and `evidence`.
    """
    if isinstance(transcripts, (str, Path)):
        from rupturekit.ingest.batch import read_transcripts

        transcripts = read_transcripts(transcripts, **read_config)
    elif isinstance(transcripts, Transcript):
        transcripts = [transcripts]
    tagger = model if hasattr(model, "tag") else load_tagger(model)  # type: ignore[arg-type]
    return tagger.tag(list(transcripts))
