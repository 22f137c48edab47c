"""The options the commands share (typer annotations), and the parsing of some of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rupturekit.cli._util import fail


def text_option(name: str, help_text: str) -> Any:
    return Annotated[str | None, typer.Option(name, help=help_text)]


def flag(names: str, help_text: str, tristate: bool = False) -> Any:
    kind = bool | None if tristate else bool
    return Annotated[kind, typer.Option(names, help=help_text, show_default=False)]


FormatOption = Annotated[
    str | None,
    typer.Option("--format", "-f", help="Input format: text, vtt, srt, whisper, eaf, table, annomi or jsonl. "
                                         "Detected from extension and content when left out."),
]
RolesOption = Annotated[
    str | None,
    typer.Option("--roles", help='Speaker roles, e.g. "Dr. Smith=therapist,Anna=client". Overrides the '
                                  "defaults and the inference for generic labels such as SPEAKER_00."),
]
SegmentOption = Annotated[
    str | None,
    typer.Option("--segment", help="3RS coding segments: a time window (5m, 300s) when the transcript has "
                                    "timestamps, else N utterances (40u) or N words (600w). Default 5m, "
                                    "keeping the segments a canonical .jsonl input already has."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Ingest config (YAML, see configs/ingest.yaml); options given "
                                        "on the command line override it."),
]
CodebookDirOption = Annotated[
    list[Path] | None,
    typer.Option("--codebook-dir", help="A folder of your own codebook YAML files (repeatable); also read from "
                                        "$RUPTUREKIT_CODEBOOKS."),
]
CodebookOption = Annotated[str, typer.Option("--codebook", help="Codebook name or YAML file.")]

# the analysis commands (episodes, sessions, alliance)
GapOption = Annotated[str, typer.Option("--gap", help="Markers this close belong to one episode: N turns (4u) or "
                                                      "seconds (30s, 1m).")]
ReturnOption = Annotated[int, typer.Option("--return-turns", min=1, help="An episode closes after this many "
                                                                         "consecutive client turns without a marker.")]
RepairOption = flag("--require-repair/--no-require-repair", "Resolved needs a therapist resolution move before the "
                                                            "client's return (default), or the return alone.")
CodesOption = text_option("--codes", "Take the labels from this rater's codes, or majority / any / unanimous (the "
                                     "human raters' consensus), or 'tags'. Default: the tags, else the only rater.")


def episode_rule(gap: str, return_turns: int, require_repair: bool):
    """The episode rule of --gap, --return-turns and --require-repair."""
    from rupturekit.analysis.episodes import EpisodeRule

    try:
        return EpisodeRule.parse(gap, return_turns, require_repair)
    except ValueError as exc:
        raise fail(f"--gap: {exc}") from None
