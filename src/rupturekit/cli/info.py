"""`rupturekit info`: utterances per role, words, duration, 3RS segments and the coded share."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from rupturekit.cli._inputs import read_inputs
from rupturekit.cli._options import ConfigOption, FormatOption, RolesOption, SegmentOption
from rupturekit.cli._util import app, fail_if_unread, out


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


@app.command("info")
def info_command(
    inputs: Annotated[list[str], typer.Argument(help="Transcript files, globs or folders (any format ingest reads).",
                                                show_default=False)],
    config: ConfigOption = None,
    format_name: FormatOption = None,
    roles: RolesOption = None,
    segment: SegmentOption = None,
    by_transcript: Annotated[bool, typer.Option("--by-transcript", help="One row per transcript as well.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Print utterances per role, words, duration, 3RS segments and the share of coded utterances."""
    from rupturekit.report.corpus_stats import describe

    result = read_inputs(inputs, config, {"format": format_name, "roles": roles, "segment": segment,
                                          "sentences": False})
    stats = describe(result.transcripts)
    if as_json:
        data = stats.to_dict()
        if by_transcript:
            data["by_transcript"] = {t.transcript_id: describe([t]).to_dict() for t in result.transcripts}
        out.print_json(json.dumps(data))
    else:
        _print_tables(stats, segment)
        if by_transcript:
            _print_by_transcript(result.transcripts)
    fail_if_unread(len(result.failures))


def _print_tables(stats, segment: str | None) -> None:
    table = Table(title=f"{stats.transcripts:,} transcripts, {stats.utterances:,} utterances")
    for column in ("role", "utterances", "words", "coded"):
        table.add_column(column, justify="left" if column == "role" else "right")
    for role, counts in stats.by_role.items():
        share = counts.coded / counts.utterances
        table.add_row(role, f"{counts.utterances:,}", f"{counts.words:,}", f"{counts.coded:,} ({share:.0%})")
    table.add_row("total", f"{stats.utterances:,}", f"{stats.words:,}",
                  f"{stats.coded:,} ({stats.coded_share:.0%})", style="bold")
    out.print(table)
    timed = f"{stats.timed_transcripts}/{stats.transcripts} transcripts have times"
    out.print(f"duration: {_duration(stats.duration_seconds)} ({timed})")
    out.print(f"3RS segments: {stats.segments:,} ({segment or 'default 5m'})")
    out.print(f"raters: {len(stats.raters)}" + (f" ({', '.join(stats.raters[:12])})" if stats.raters else ""))


def _print_by_transcript(transcripts) -> None:
    from rupturekit.report.corpus_stats import describe

    per = Table(title="by transcript")
    for column in ("transcript", "utterances", "therapist", "client", "other/unknown", "words",
                   "duration", "segments", "coded"):
        per.add_column(column, justify="left" if column == "transcript" else "right")
    for transcript in transcripts:
        one = describe([transcript])
        roles_n = {r: c.utterances for r, c in one.by_role.items()}
        rest = roles_n.get("other", 0) + roles_n.get("unknown", 0)
        duration = transcript.duration
        per.add_row(transcript.transcript_id, f"{one.utterances:,}", f"{roles_n.get('therapist', 0):,}",
                    f"{roles_n.get('client', 0):,}", f"{rest:,}", f"{one.words:,}",
                    _duration(duration) if duration is not None else "–", str(one.segments),
                    f"{one.coded_share:.0%}")
    out.print(per)
