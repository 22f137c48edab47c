"""Reading what the commands are given: the ingest config (YAML file, then command-line overrides),
transcripts, a corpus and a codebook; bad input exits 2 in one line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import track

from rupturekit.cli._util import EXIT_BAD_INPUT, err, fail, one_line, print_problems
from rupturekit.errors import InputError, first_problem


def _load_config(path: Path | None):
    from pydantic import ValidationError

    from rupturekit.reading import IngestConfig

    if path is None:
        return IngestConfig()
    import yaml

    from rupturekit.bounded import load_yaml, read_text_file

    try:
        data = load_yaml(read_text_file(path, "config", "see configs/ingest.yaml")) or {}
        if not isinstance(data, dict):
            raise fail(f"{path}: an ingest config must be a YAML mapping; see configs/ingest.yaml for the fields")
        return IngestConfig.model_validate(data)
    except InputError as error:
        raise fail(str(error)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise fail(f"{path}{where}: not valid YAML{f' ({problem})' if problem else ''}; fix the config") from None
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise fail(f"{path}: '{field}': {message}; see configs/ingest.yaml for the fields") from None


def ingest_config(config_path: Path | None, overrides: dict, columns: dict | None = None,
                  read_overrides: dict | None = None):
    """The ingest config: the YAML file, then command-line overrides (None: not given); bad settings exit 2."""
    from rupturekit.ingest.detect import FORMATS
    from rupturekit.ingest.roles import parse_role_overrides
    from rupturekit.segment import SegmentSpec

    config = _load_config(config_path)
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if isinstance(overrides.get("roles"), str):
        try:
            overrides["roles"] = {**config.roles, **parse_role_overrides(overrides["roles"])}
        except ValueError as exc:
            raise fail(f"--roles: {exc}") from None
    columns = {key: value for key, value in (columns or {}).items() if value is not None}
    read_overrides = {key: value for key, value in (read_overrides or {}).items() if value is not None}
    read = config.read.model_copy(update={
        "columns": config.read.columns.model_copy(update=columns), **read_overrides})
    config = config.model_copy(update={**overrides, "read": read})
    if config.format is not None and config.format not in FORMATS:
        raise fail(f"--format: unknown format '{config.format}'; use one of {', '.join(FORMATS)}")
    for option, spec in (("--segment", config.segment), ("segment_fallback", config.segment_fallback)):
        try:
            if spec is not None:
                SegmentSpec.parse(spec)
        except ValueError as exc:
            raise fail(f"{option}: {exc}") from None
    return config


def read_inputs(inputs: list[str], config_path: Path | None, overrides: dict):
    """Every input read whole (`rupturekit.reading.ingest`) and its problems printed; when no
    transcript could be read, exit 2. Returns the `IngestResult`."""
    from rupturekit.reading import ingest

    config = ingest_config(config_path, overrides)

    def progress(paths):
        return track(paths, description="reading", console=err, transient=True,
                     disable=len(paths) < 2 or not err.is_terminal)

    result = ingest(inputs, config, progress=progress)
    print_problems(result)
    if not result.transcripts:
        raise typer.Exit(EXIT_BAD_INPUT) if result.failures else fail("no transcript could be read")
    return result


def load_book(name: str, dirs: list[Path] | None):
    """A codebook by name or YAML file (`rupturekit.codebook.load_codebook`)."""
    from rupturekit.codebook import load_codebook

    with one_line():
        return load_codebook(name, dirs or [])


def read_corpus(path: Path):
    """A corpus (canonical JSONL) given as a command's input."""
    from rupturekit.records import read_jsonl

    try:
        return read_jsonl(path)
    except FileNotFoundError:
        raise fail(f"{path}: no such file; ingest the transcripts first (rupturekit ingest)") from None
    except InputError as error:
        raise fail(str(error)) from None
