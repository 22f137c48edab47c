"""`rupturekit tag`: rupture markers and resolution moves on every utterance, here or on a Ray cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rupturekit.cli._inputs import ingest_config
from rupturekit.cli._options import ConfigOption, RolesOption, flag, text_option
from rupturekit.cli._util import (
    EXIT_BAD_INPUT,
    RESUME_NEEDS_A_FILE,
    Problems,
    app,
    err,
    fail,
    fail_if_unread,
    file_or_none,
    guard,
    input_files,
    one_line,
    print_problems,
    stops,
)


@app.command("tag")
def tag_command(
    inputs: Annotated[list[str], typer.Argument(help="Transcripts in any format ingest reads (files, globs, folders).",
                                                show_default=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (or folder for eaf); "
                                                                       "default: JSONL on standard output.")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="A model folder from `rupturekit train`, or "
                                                             "'default' (the shipped 3RS model).")] = "default",
    out_format: text_option("--format", "Output: jsonl, csv, eaf or html (default: from the extension).") = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="A threshold of your own instead of a stored operating point: with "
                                              "hierarchical decisions it is read against the (context re-scored) "
                                              "marker score; for older models it replaces every multi-label label's "
                                              "threshold. Not together with --operating-point.")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="auto (ONNX Runtime int8 on a CPU, torch on a GPU), "
                                                           "torch, or onnx.")] = "auto",
    operating_point: Annotated[str | None, typer.Option(
        "--operating-point", help="precision, balanced or recall: which stored operating point decides rupture "
                                  "markers (chosen out of fold; see the model card). Default: the model's own, "
                                  "balanced.")] = None,
    config: ConfigOption = None,
    format_name: text_option("--input-format", "Input format (text, vtt, srt, whisper, eaf, table, annomi, jsonl); "
                                               "detected when left out.") = None,
    roles: RolesOption = None,
    resume: flag("--resume", "Continue an interrupted run into the same --output (jsonl or csv): transcripts "
                             "already written are skipped.") = False,
    engine: Annotated[str, typer.Option("--engine", help="local (this process), or ray: a Ray cluster, -o a "
                                        "folder of shards (the [ray] extra; README: \"Tagging on a Ray "
                                        "cluster\").")] = "local",
    address: text_option("--address", "--engine ray: auto (this node's cluster) or ray://HOST:PORT; default: "
                                      "a local Ray instance for this run.") = None,
    num_workers: Annotated[int | None, typer.Option("--num-workers", help="--engine ray: tagging actors, each "
                                                    "loading the model once (default: one per CPU).")] = None,
    gpus_per_worker: Annotated[float | None, typer.Option("--gpus-per-worker", help="--engine ray: GPUs per actor "
                                                          "(0.5: two share one).")] = None,
    all_warnings: flag("--all-warnings", "Print every warning, not only the first 30.") = False,
) -> None:
    """Tag utterances with rupture markers and resolution moves: labels, probabilities and evidence.

    Transcripts are read, tagged and written a unit (about 2,000 utterances) at a time, so memory does
    not grow with the corpus; jsonl and csv outputs appear whole at the end, and an interrupted run
    continues with --resume."""
    if engine != "local" or address is not None or num_workers is not None or gpus_per_worker is not None:
        return _tag_on_ray(inputs, output, model, {"engine": engine, "address": address, "num_workers": num_workers,
                                                   "gpus_per_worker": gpus_per_worker, "format": out_format,
                                                   "resume": resume},
                           {"runtime": runtime, "operating_point": operating_point, "threshold": threshold},
                           config, {"format": format_name, "roles": roles}, all_warnings)
    from rupturekit import streaming
    from rupturekit.export.output import STREAMED_FORMATS
    from rupturekit.tagger.api import model_identity, tag_to_file, tag_unit, tag_whole

    kind = out_format or (output.suffix.lower().lstrip(".") if output is not None and output.suffix else "jsonl")
    tagger = _tag_setup(inputs, output, model, kind, threshold, runtime, operating_point, config, resume)
    settings = ingest_config(config, {"format": format_name, "roles": roles})
    problems = Problems(all_warnings)
    units = streaming.plan(inputs, settings, problems)
    # the runtime actually in use: an "auto" run resumed on another machine must not mix int8 and torch tags
    # (getattr: a stand-in tagger of the tests, and a lab's own duck-typed one, may not say)
    run = {"model": model_identity(model), "runtime": getattr(tagger, "runtime", runtime), "threshold": threshold,
           "operating_point": operating_point, "format": kind, "ingest": settings.model_dump(mode="json")}

    def transform(transcripts):
        return tag_unit(tagger, transcripts)

    with stops():
        if output is not None and kind in STREAMED_FORMATS:
            target = streaming.FileTarget(output, streaming.fingerprint("tag", units, run), resume)
            counts = tag_to_file(units, settings, problems, transform, target, kind)
        else:
            counts = tag_whole(units, settings, problems, transform, output, kind, model)
    err.print(f"tagged {counts.utterances:,} utterances in {counts.transcripts:,} transcripts ({counts.labels:,} "
              "labels)" + (f"; wrote {output}" if output else ""))
    fail_if_unread(problems.failures)


def _tag_setup(inputs, output, model, kind, threshold, runtime, operating_point, config, resume):
    """Check the tag command's options and load its tagger; anything wrong exits 2 before work starts."""
    from rupturekit.export.output import STREAMED_FORMATS, output_format
    from rupturekit.safe_output import Output
    from rupturekit.tagger.api import RUNTIMES, configure, load_tagger
    from rupturekit.tagger.tag_files import TAG_FORMATS

    if kind not in TAG_FORMATS:
        raise fail(f"--format: '{kind}' is not one of {', '.join(TAG_FORMATS)}")
    if output is not None:
        folder = kind == "eaf" and output_format(output, "eaf")[1]
        guard([*input_files(inputs), config, file_or_none(model)], Output(output, folder=folder))
    if resume and (output is None or kind not in STREAMED_FORMATS):
        raise fail(RESUME_NEEDS_A_FILE)
    if operating_point is not None and threshold is not None:
        raise fail("--threshold and --operating-point both set the decision threshold: give one of them")
    if runtime not in RUNTIMES:
        raise fail(f"--runtime: '{runtime}' is not one of {', '.join(RUNTIMES)}")
    with one_line(), err.status("loading the model"):
        tagger = load_tagger(model, runtime=runtime, progress=err.print)
    with one_line():
        configure(tagger, operating_point, threshold)
    return tagger


def _tag_on_ray(inputs: list[str], output: Path | None, model: str, engine: dict, tagging: dict,
                config_path: Path | None, overrides: dict, all_warnings: bool = False) -> None:
    """`tag --engine ray`: the options checked and the run done by `rupturekit.tagger.ray_engine`."""
    from rupturekit.tagger import ray_engine

    with one_line():
        options = ray_engine.cli_options(output, engine, tagging, ray_engine.print_progress(sys.stderr))
        config = ingest_config(config_path, overrides)
        result = ray_engine.tag_with_ray(inputs, model, output, options, config)
    print_problems(result, all_warnings)
    if not result.written:
        raise typer.Exit(EXIT_BAD_INPUT) if result.failures else fail(
            f"{', '.join(map(str, inputs))}: no utterances to tag; check the input")
    err.print(ray_engine.summary(result))
    fail_if_unread(len(result.failures))

