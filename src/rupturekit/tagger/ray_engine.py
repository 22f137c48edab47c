"""Tag a corpus on a Ray cluster: `rupturekit tag INPUTS --engine ray -o FOLDER`.

The corpus is planned into units of whole transcripts (`rupturekit.ingest.units.plan_units`, the
same units as the single-process engine, so that the same transcripts share the tagger's batches
and the tags are identical by construction). Ray Data does the rest:

- `ray.data.from_items`: one row (and one block) per unit, holding only the unit's file parts;
  each worker reads its own files or byte ranges, so no transcript text passes through the driver.
- `map_batches(TagUnits, batch_size=1)` on an actor pool of `num_workers` actors: each actor
  loads the tagger once, then reads (`read_unit`) and tags (`tag_unit`) one unit per call and
  returns one row per utterance (and one report row per unit: its transcripts, warnings, failures).
- a `Datasink` (`ShardSink`) writes the rows of each write task as one shard, canonical JSONL or
  Parquet, into a staged folder; each write task returns what its shard holds.
- The driver checks the write tasks' returns (each unit reported, each transcript exactly once),
  writes `index.jsonl` (transcript -> unit, shard) and `manifest.json`, and only then swaps the
  staged folder in for OUTPUT (`safe_output.staged_folder`).

Ray retries what fails: a dead actor is restarted and its task rerun (Ray Data's actor pool sets
`max_restarts=-1` and `max_task_retries=-1`), a failed write task is rerun. See `collect` for how a
transcript is kept exactly once whatever was retried.

Arrow: the shards may be Parquet (columnar, compressed, memory-mapped by readers, read a few
columns of a 100M-utterance output without parsing JSON). The input is not converted to Arrow:
a unit is a list of files or byte ranges of canonical JSONL, which a worker reads with one seek,
so a conversion would only add a full pass over the corpus and a second copy of it on disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rupturekit.errors import InputError, Problem
from rupturekit.ingest.units import UNIT_BYTES, Unit, plan_units
from rupturekit.reading import IngestConfig, IngestResult, IngestRun, expand_inputs, read_unit
from rupturekit.safe_output import atomic_write
from rupturekit.tagger.api import RUNTIMES

try:  # the [ray] extra is optional: `require_ray` says how to install it
    import ray
    from ray.data.datasource import Datasink
except ImportError:  # pragma: no cover - exercised where Ray is not installed
    ray = None
    Datasink = object

__all__ = ["INDEX", "MANIFEST", "RAY_HINT", "SHARDS", "SHARD_FORMATS", "RayOptions", "RayProgress", "RayTagResult",
           "ShardSink", "TagUnits", "read_output", "require_ray", "tag_with_ray"]

RAY_HINT = "pip install 'rupturekit[ray]'"
MANIFEST = "manifest.json"
INDEX = "index.jsonl"
SHARDS = "shards"
SHARD_FORMATS = ("jsonl", "parquet")
_POLL_SECONDS = 1.0


# ============================================================================ options and results


@dataclass(frozen=True)
class RayOptions:
    """How to run on Ray. `address`: None starts a local Ray instance for this run (or joins the
    one `ray.init` already started in this process, or `$RAY_ADDRESS`); "auto" joins the cluster
    this node belongs to; "ray://head:10001" connects as a Ray client."""

    address: str | None = None
    num_workers: int | None = None  # default: one per GPU share with gpus_per_worker, else one per CPU
    gpus_per_worker: float = 0.0
    # CPUs reserved per actor = its intra-op threads. Default: 1 on CPU workers (Ray scales out by
    # workers, and N one-thread workers tag faster than one N-thread worker), CPUs / workers on GPU workers.
    cpus_per_worker: int | None = None
    runtime: str = "auto"  # auto: ONNX Runtime int8 on CPU workers, torch on GPU workers
    operating_point: str | None = None
    threshold: float | None = None
    shard_format: str = "jsonl"
    unit_bytes: int = UNIT_BYTES
    object_store_bytes: int | None = None  # a local instance's object store (default: Ray's, 30% of memory)
    progress: Callable[[RayProgress], None] | None = None


@dataclass(frozen=True)
class RayProgress:
    units_done: int
    units: int
    utterances: int
    seconds: float


@dataclass
class RayTagResult:
    output: Path
    written: bool = False  # False: nothing could be tagged, and OUTPUT was left as it was
    units: int = 0
    transcripts: int = 0
    utterances: int = 0
    labels: int = 0
    shards: list[str] = field(default_factory=list)
    workers: int = 0
    cpus_per_worker: float = 0.0
    runtime: str = ""  # what ran the encoder: torch or onnx ("auto" resolved)
    check_seconds: float = 0.0  # loading the model once on the driver (`check_model`)
    startup_seconds: float = 0.0  # ray.init: starting (or joining) the Ray instance
    pipeline_seconds: float = 0.0  # the Ray Data pipeline: actors started, units read, tagged and written
    load_seconds: float = 0.0  # the slowest actor's tagger load (once per actor)
    busy_seconds: float = 0.0  # the workers' time reading and tagging units, summed: utterances / this
    # is one worker's rate, the figure the README's sizing table scales from
    seconds: float = 0.0  # the whole call
    duplicates_dropped: int = 0  # copies of a transcript from a retried task, removed (normally 0)
    failures: list[InputError] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def require_ray() -> None:
    """InputError (one line) when Ray Data cannot be imported."""
    if ray is None:
        raise InputError("--engine ray", "Ray is not installed", RAY_HINT)


def check_options(options: RayOptions) -> None:
    """Refuse settings that cannot work, before Ray starts (one line each)."""
    if options.num_workers is not None and options.num_workers < 1:
        raise InputError("--num-workers", f"{options.num_workers} workers", "give 1 or more")
    if options.gpus_per_worker < 0:
        raise InputError("--gpus-per-worker", f"{options.gpus_per_worker} GPUs", "give 0 or more (fractions share one)")
    if options.cpus_per_worker is not None and options.cpus_per_worker < 1:
        raise InputError("cpus_per_worker", f"{options.cpus_per_worker} CPUs", "give 1 or more")
    if options.runtime not in RUNTIMES:
        raise InputError("--runtime", f"'{options.runtime}' is not one of {', '.join(RUNTIMES)}", "choose one")
    if options.runtime == "onnx" and options.gpus_per_worker > 0:
        raise InputError("--gpus-per-worker", "the ONNX runtime runs on the CPU only",
                         "leave out --runtime onnx to tag on GPUs, or --gpus-per-worker to run ONNX on CPUs")
    if options.shard_format not in SHARD_FORMATS:
        raise InputError("--format", f"--engine ray writes shards as {' or '.join(SHARD_FORMATS)}, "
                                     f"not {options.shard_format}", "give --format jsonl or --format parquet")


# ============================================================================ the actors


def load_configured_tagger(spec: dict[str, Any]):
    """The tagger of `spec` (model, runtime, operating point, threshold), limited to `spec["threads"]`
    intra-op threads (torch and ONNX Runtime), so that N actors on N cores do not oversubscribe."""
    from rupturekit.tagger.api import configure, load_tagger

    threads = max(1, int(spec.get("threads") or 1))
    os.environ["RAYON_NUM_THREADS"] = str(threads)  # the tokenizer's thread pool, created on first use
    import torch

    torch.set_num_threads(threads)
    tagger = load_tagger(spec["model"], runtime=spec.get("runtime", "auto"), threads=threads)
    configure(tagger, spec.get("operating_point"), spec.get("threshold"))
    return tagger


class TagUnits:
    """The map function of the actor pool: the tagger is loaded once per actor, then each call
    reads and tags one unit (batch_size=1) and returns its rows (see `unit_rows`)."""

    def __init__(self, spec: dict[str, Any], progress: Any = None):
        began = time.perf_counter()
        self.tagger = load_configured_tagger(spec)
        self.config = IngestConfig.model_validate(spec["ingest"])
        self.progress = progress
        self.load_seconds = time.perf_counter() - began

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        rows: list[dict[str, Any]] = []
        for text in batch.column("unit").to_pylist():
            rows.extend(unit_rows(self.tagger, Unit.from_json(json.loads(text)), self.config, self.load_seconds))
        if self.progress is not None:
            self.progress.add.remote(len(batch), sum(1 for row in rows if row["transcript_id"] is not None))
        return pa.Table.from_pylist(rows, schema=row_schema())


def row_schema():
    """Rows between the actors and the shards: one per utterance (`record`: its canonical JSON with
    the tags), and one report row per unit (`transcript_id` null, `record`: the unit's report)."""
    import pyarrow as pa

    return pa.schema([("unit", pa.int64()), ("position", pa.int64()), ("transcript_id", pa.string()),
                      ("utterance_id", pa.int64()), ("role", pa.string()), ("labels", pa.list_(pa.string())),
                      ("record", pa.string())])


def unit_rows(tagger: Any, unit: Unit, config: IngestConfig, load_seconds: float = 0.0) -> list[dict[str, Any]]:
    """Read and tag one unit as the single-process engine does (`read_unit`, `tag_unit`): its rows."""
    from rupturekit.tagger.api import tag_unit

    began = time.perf_counter()
    run = IngestRun(config)
    result = read_unit(unit, config, run)
    tagged = tag_unit(tagger, result.transcripts) if result.transcripts else []
    rows: list[dict[str, Any]] = []
    for transcript in tagged:
        for utterance in transcript.utterances:
            rows.append({"unit": unit.index, "position": len(rows), "transcript_id": transcript.transcript_id,
                         "utterance_id": utterance.utterance_id, "role": utterance.role,
                         "labels": list(utterance.labels or []), "record": utterance.to_json()})
    report = {"unit": unit.index, "transcripts": [[t.transcript_id, len(t.utterances)] for t in tagged],
              "files": result.files_read, "speakers": sorted(run.speakers_seen),
              "failures": [[e.file, e.message, e.hint, e.location] for e in result.failures],
              "warnings": [[w.file, w.message, w.location] for w in result.warnings],
              "seconds": round(time.perf_counter() - began, 3), "load_seconds": round(load_seconds, 3)}
    rows.append({"unit": unit.index, "position": -1, "transcript_id": None, "utterance_id": None, "role": None,
                 "labels": None, "record": json.dumps(report, ensure_ascii=False)})
    return rows


class ProgressCounter:
    """A tiny actor the workers tell how far they are (fire and forget); the driver polls it."""

    def __init__(self) -> None:
        self.units = 0
        self.utterances = 0

    def add(self, units: int, utterances: int) -> None:
        self.units += units
        self.utterances += utterances

    def read(self) -> tuple[int, int]:
        return self.units, self.utterances


# ============================================================================ the shards


def shard_name(task_index: int, shard_format: str) -> str:
    return f"part-{task_index:05d}.{shard_format}"


def write_shard(table: Any, folder: Path, shard_format: str, task_index: int) -> dict[str, Any]:
    """Write the utterance rows of one write task as one shard (through a temporary file and a
    rename, so a shard is whole or absent); return what it holds, and the units' reports."""
    import pyarrow.compute as pc

    reports_mask = pc.is_null(table.column("transcript_id"))
    reports = [json.loads(text) for text in table.filter(reports_mask).column("record").to_pylist()]
    rows = table.filter(pc.invert(reports_mask)).sort_by([("unit", "ascending"), ("position", "ascending")])
    summary: dict[str, Any] = {"file": None, "reports": reports, "transcripts": {}, "labels": 0}
    if rows.num_rows == 0:
        return summary
    name = shard_name(task_index, shard_format)

    def write(temporary: Path) -> None:
        if shard_format == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(rows.drop_columns(["position"]), temporary, compression="zstd")
        else:
            with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
                handle.writelines(text + "\n" for text in rows.column("record").to_pylist())

    atomic_write(folder / name, write)
    for tid, unit in zip(rows.column("transcript_id").to_pylist(), rows.column("unit").to_pylist(), strict=True):
        entry = summary["transcripts"].setdefault(tid, [unit, 0])
        entry[1] += 1
    summary.update(file=name, labels=sum(pc.list_value_length(rows.column("labels")).fill_null(0).to_pylist()))
    return summary


class ShardSink(Datasink):
    """Ray Data's write step: each write task writes one shard (`write_shard`) named by its task
    index, so a rerun of a task replaces its own file; the returns reach `on_write_complete`."""

    def __init__(self, folder: Path, shard_format: str):
        self.folder = Path(folder)
        self.shard_format = shard_format
        self.returns: list[dict[str, Any]] = []

    def on_write_start(self, schema: Any = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, blocks: Iterable[Any], ctx: Any) -> dict[str, Any]:
        import pyarrow as pa
        from ray.data.block import BlockAccessor

        tables = [BlockAccessor.for_block(block).to_arrow() for block in blocks]
        table = pa.concat_tables(tables) if tables else row_schema().empty_table()
        return write_shard(table, self.folder, self.shard_format, ctx.task_idx)

    def on_write_complete(self, write_result: Any) -> None:
        # a WriteResult (Ray >= 2.40); older Rays passed the list of returns itself
        self.returns = list(getattr(write_result, "write_returns", write_result))

    def get_name(self) -> str:
        return "Shards"


def _rewrite_shard(path: Path, shard_format: str, suspects: set[str], kept: set[tuple[str, int]]) -> None:
    """Rewrite a shard keeping only the first copy (over all shards, in name order) of each
    utterance of the `suspects` transcripts; `kept` holds the (transcript, utterance) seen so far."""
    def keep(tid: str, uid: int) -> bool:
        if tid not in suspects:
            return True
        if (tid, uid) in kept:
            return False
        kept.add((tid, uid))
        return True

    if shard_format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        mask = [keep(t, u) for t, u in zip(table.column("transcript_id").to_pylist(),
                                           table.column("utterance_id").to_pylist(), strict=True)]
        atomic_write(path, lambda temporary: pq.write_table(table.filter(pa.array(mask)), temporary,
                                                            compression="zstd"))
    else:
        lines = path.read_text(encoding="utf-8").split("\n")
        kept_lines = [line for line in lines if line and keep(*_ids(line))]
        atomic_write(path, lambda temporary: temporary.write_text("".join(line + "\n" for line in kept_lines),
                                                                  encoding="utf-8"))


def _ids(line: str) -> tuple[str, int]:
    record = json.loads(line)
    return str(record["transcript_id"]), int(record["utterance_id"])


def _shard_rows(path: Path, shard_format: str) -> list[tuple[str, int]]:
    """(transcript, number of labels) of each row of a shard (the slow path, after a repair)."""
    if shard_format == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["transcript_id", "labels"])
        return [(tid, len(labels or [])) for tid, labels in zip(table.column("transcript_id").to_pylist(),
                                                                table.column("labels").to_pylist(), strict=True)]
    records = map(json.loads, filter(None, path.read_text(encoding="utf-8").split("\n")))
    return [(str(r["transcript_id"]), len(r.get("labels", []))) for r in records]


@dataclass
class Collected:
    """What the write tasks returned, checked: each unit's report, and each shard's contents."""

    reports: dict[int, dict[str, Any]]
    shards: dict[str, dict[str, Any]]  # file -> {"transcripts": {tid: utterances}, "labels": n, "units": [...]}
    dropped: int = 0


def _unit_owners(reports: dict[int, dict[str, Any]]) -> dict[str, int]:
    """transcript -> its unit. A transcript id in two units is two transcripts of one name (read in
    separate units, so not renamed as a single-process run renames a clash): one line, nothing written."""
    owners: dict[str, int] = {}
    for index in sorted(reports):
        for tid, _ in reports[index]["transcripts"]:
            if tid in owners:
                first = ", ".join(reports[owners[tid]]["files"]) or "another file"
                where = ", ".join(reports[index]["files"]) or "another file"
                raise InputError(where, f"transcript id '{tid}' is also in {first}",
                                 "give each transcript its own id (rename the file, or ingest them together first)")
            owners[tid] = index
    return owners


def collect(returns: list[dict[str, Any]], units: int, folder: Path, shard_format: str) -> Collected:
    """Check the write tasks' returns and make the shards hold each transcript exactly once.

    How duplicates are prevented, and removed if they still occur: a unit's rows leave its actor
    only when the call returns (a killed actor's partial work is discarded and the task rerun), and
    a shard is written through a temporary file renamed to a name fixed by its write task, so a rerun
    write task replaces its own shard. Anything that still slips through (a block delivered twice
    after lineage reconstruction, a shard of an attempt whose return never arrived) is caught here:
    files no return names are deleted, a second report of a unit is ignored, and when a
    transcript's rows outnumber its report, only the first copy of each utterance (shards in name
    order) is kept."""
    reports: dict[int, dict[str, Any]] = {}
    shards: dict[str, dict[str, Any]] = {}
    for summary in sorted(returns, key=lambda s: s["file"] or ""):
        for report in summary["reports"]:
            reports.setdefault(int(report["unit"]), report)
        if summary["file"] is not None:
            shards[summary["file"]] = {"transcripts": {t: n for t, (_, n) in summary["transcripts"].items()},
                                       "units": sorted({u for u, _ in summary["transcripts"].values()}),
                                       "labels": summary["labels"]}
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.name not in shards:
            entry.unlink()  # a temporary file, or the shard of an attempt that did not return
    missing = sorted(set(range(units)) - reports.keys())
    if missing:
        raise RuntimeError(f"Ray returned no result for unit(s) {missing[:5]}: rerun the command")
    # a transcript without utterances has no rows in any shard (the local engine writes nothing for it either)
    expected = {tid: n for report in reports.values() for tid, n in report["transcripts"] if n}
    _unit_owners(reports)
    collected = Collected(reports, shards)
    found = _counts(shards)
    suspects = {tid for tid in found.keys() | expected.keys() if found.get(tid) != expected.get(tid)}
    if suspects:
        collected.dropped = _repair(collected, suspects, folder, shard_format)
    found = _counts(collected.shards)
    wrong = sorted(tid for tid in found.keys() | expected.keys() if found.get(tid) != expected.get(tid))
    if wrong:
        raise RuntimeError(f"the shards do not hold transcript(s) {wrong[:3]} exactly once: rerun the command")
    return collected


def _counts(shards: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Utterance rows per transcript over all shards."""
    found: dict[str, int] = {}
    for shard in shards.values():
        for tid, n in shard["transcripts"].items():
            found[tid] = found.get(tid, 0) + n
    return found


def _repair(collected: Collected, suspects: set[str], folder: Path, shard_format: str) -> int:
    """Drop the extra copies of the `suspects`' utterances; returns how many rows were dropped."""
    kept: set[tuple[str, int]] = set()
    dropped = 0
    for name in sorted(collected.shards):
        shard = collected.shards[name]
        if not suspects & shard["transcripts"].keys():
            continue
        before = sum(shard["transcripts"].values())
        _rewrite_shard(folder / name, shard_format, suspects, kept)
        rows = _shard_rows(folder / name, shard_format)
        if not rows:
            (folder / name).unlink()
            del collected.shards[name]
        else:
            counts: dict[str, int] = {}
            for tid, _ in rows:
                counts[tid] = counts.get(tid, 0) + 1
            shard.update(transcripts=counts, labels=sum(n for _, n in rows))
        dropped += before - len(rows)
    return dropped


# ============================================================================ the driver


def _quiet_ray_data() -> None:
    """Ray Data's own console lines (execution plans, progress bars) off; its log file stays."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    with contextlib.suppress(AttributeError):
        context.print_on_execution_start = False
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler) and "File" not in type(handler).__name__:
            handler.setLevel(logging.ERROR)


def connect(options: RayOptions) -> tuple[bool, float]:
    """Start or join Ray: (whether this call started it, and so must shut it down; seconds taken)."""
    if ray.is_initialized():
        _quiet_ray_data()
        return False, 0.0
    began = time.perf_counter()
    logging.getLogger("ray").setLevel(logging.ERROR)  # e.g. the token-authentication notice
    # The C++ core worker logs one error line per actor restarted with arguments in the object
    # store (Ray Data's constructor arguments); only fatal ones reach the terminal.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    settings: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if options.address is None and not os.environ.get("RAY_ADDRESS"):
        settings["include_dashboard"] = False
        if options.object_store_bytes:
            settings["object_store_memory"] = options.object_store_bytes
    try:
        ray.init(address=options.address, **settings)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError("--address", f"cannot start or reach Ray at {options.address or 'a local instance'} "
                                      f"({detail})", "start the cluster with `ray start --head` and pass "
                                                     "--address auto, or leave out --address") from None
    _quiet_ray_data()
    return True, time.perf_counter() - began


def plan_workers(options: RayOptions, units: int) -> tuple[int, float, int]:
    """(workers, CPUs each actor reserves, intra-op threads per actor) for the cluster Ray sees; no
    more workers than units (a worker without a unit would only load the model)."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 1.0)), float(resources.get("GPU", 0.0))
    per_gpu = options.gpus_per_worker
    if per_gpu > 0 and gpus + 1e-9 < per_gpu:
        raise InputError("--gpus-per-worker", f"the Ray cluster has {gpus:g} GPUs, a worker needs {per_gpu:g}",
                         "start the workers with `ray start --num-gpus N`, or leave out --gpus-per-worker")
    workers = options.num_workers or max(1, int(gpus // per_gpu) if per_gpu > 0 else int(cpus))
    if per_gpu > 0 and workers * per_gpu > gpus + 1e-9:
        raise InputError("--num-workers", f"{workers} workers x {per_gpu:g} GPUs need {workers * per_gpu:g} GPUs, "
                                          f"the Ray cluster has {gpus:g}", "lower --num-workers or --gpus-per-worker")
    workers = min(workers, max(1, units))
    threads = options.cpus_per_worker or (max(1, int(cpus // workers)) if per_gpu > 0 else 1)
    return workers, min(float(threads), cpus / workers), threads


def check_model(model: str, options: RayOptions) -> str:
    """Load the model once on the driver, on the CPU, before Ray starts: a bad model or option is one
    line (an actor that fails to load it is a Ray traceback), and an ONNX export is built once here
    instead of by every actor at the same time. Returns the runtime every actor is to use ("auto"
    resolved: torch on GPU workers, else what the tagger chose on this CPU)."""
    from rupturekit.tagger.api import configure, load_tagger

    runtime = "torch" if options.runtime == "auto" and options.gpus_per_worker > 0 else options.runtime
    tagger = load_tagger(model, runtime=runtime, device="cpu")
    configure(tagger, options.operating_point, options.threshold)
    return tagger.runtime


@contextlib.contextmanager
def _progress(counter: Any, units: int, report: Callable[[RayProgress], None] | None):
    """Poll the progress actor about once a second while the pipeline runs."""
    began, stop = time.perf_counter(), threading.Event()

    def tell() -> None:
        with contextlib.suppress(Exception):  # progress is best effort: never fails the run
            done, utterances = ray.get(counter.read.remote(), timeout=10)
            report(RayProgress(min(done, units), units, utterances, time.perf_counter() - began))

    def poll() -> None:
        while not stop.wait(_POLL_SECONDS):
            tell()

    thread = threading.Thread(target=poll, name="rupturekit-ray-progress", daemon=True)
    if report is not None:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if report is not None:
            thread.join()
            tell()


def execute(plan: list[Unit], spec: dict[str, Any], options: RayOptions, workers: int, reserve: float,
            folder: Path) -> list[dict[str, Any]]:
    """Run the Ray Data pipeline (units -> TagUnits actors -> ShardSink); the write tasks' returns."""
    import ray.data

    counter = ray.remote(num_cpus=0)(ProgressCounter).remote() if options.progress is not None else None
    dataset = ray.data.from_items([{"unit": json.dumps(unit.to_json())} for unit in plan],
                                  override_num_blocks=len(plan))  # one task per unit: a retry redoes one unit
    resources: dict[str, Any] = {"num_cpus": reserve}
    if options.gpus_per_worker > 0:
        resources["num_gpus"] = options.gpus_per_worker
    # One unit in flight per actor: the default (several) queues units on the first actor ready while
    # the others still load the model, and leaves the last units on one actor.
    pool = ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1)
    tagged = dataset.map_batches(TagUnits, batch_size=1, batch_format="pyarrow", compute=pool,
                                 fn_constructor_kwargs={"spec": spec, "progress": counter}, **resources)
    sink = ShardSink(folder, options.shard_format)
    with _progress(counter, len(plan), options.progress):
        # Write tasks take no CPU: with a CPU each they would wait for the actors to finish (the
        # workers hold every CPU), and the whole output would pile up in the object store.
        tagged.write_datasink(sink, ray_remote_args={"num_cpus": 0})
    return sink.returns


# ============================================================================ tag_with_ray

OUTPUT_ENTRIES = (MANIFEST, INDEX, SHARDS)


class _NothingTagged(Exception):
    """No utterance could be tagged: the staged folder is dropped and OUTPUT left as it was."""


def _gather(result: RayTagResult, collected: Collected, config: IngestConfig) -> None:
    """Counts, failures and warnings of the units, in unit order, into `result`."""
    speakers: set[str] = set()
    for index in sorted(collected.reports):
        report = collected.reports[index]
        result.failures.extend(InputError(*failure) for failure in report["failures"])
        result.warnings.extend(Problem(*warning) for warning in report["warnings"])
        speakers.update(report["speakers"])
        result.transcripts += len(report["transcripts"])
        result.utterances += sum(n for _, n in report["transcripts"])
        result.load_seconds = max(result.load_seconds, float(report.get("load_seconds", 0.0)))
        result.busy_seconds += float(report.get("seconds", 0.0))
    run = IngestRun(config)  # the warnings that need every file read (an unused --roles label)
    run.speakers_seen, run.transcripts_read = speakers, result.transcripts
    finished = IngestResult()
    run.finish(finished)
    result.warnings.extend(finished.warnings)
    result.labels = sum(shard["labels"] for shard in collected.shards.values())
    result.shards = [f"{SHARDS}/{name}" for name in sorted(collected.shards)]
    result.duplicates_dropped = collected.dropped


def _write_index(folder: Path, collected: Collected) -> None:
    """index.jsonl: one line per transcript, in input order: its unit, utterances and shard(s)."""
    files: dict[str, list[str]] = {}
    for name in sorted(collected.shards):
        for tid in collected.shards[name]["transcripts"]:
            files.setdefault(tid, []).append(f"{SHARDS}/{name}")
    with open(folder / INDEX, "w", encoding="utf-8", newline="\n") as handle:
        for index in sorted(collected.reports):
            for tid, n in collected.reports[index]["transcripts"]:
                handle.write(json.dumps({"transcript_id": tid, "unit": index, "utterances": n,
                                         "shards": files.get(tid, [])}, ensure_ascii=False) + "\n")


def _manifest(result: RayTagResult, collected: Collected, model: str, options: RayOptions, threads: int,
              began: float) -> dict[str, Any]:
    import rupturekit

    shards = [{"file": f"{SHARDS}/{name}", "units": shard["units"], "transcripts": len(shard["transcripts"]),
               "utterances": sum(shard["transcripts"].values()), "labels": shard["labels"]}
              for name, shard in sorted(collected.shards.items())]
    return {"engine": "ray", "format": options.shard_format, "model": str(model), "runtime": result.runtime,
            "operating_point": options.operating_point, "threshold": options.threshold,
            "units": result.units, "transcripts": result.transcripts, "utterances": result.utterances,
            "labels": result.labels, "shards": shards, "index": INDEX,
            "workers": result.workers, "cpus_per_worker": result.cpus_per_worker, "threads_per_worker": threads,
            "gpus_per_worker": options.gpus_per_worker, "address": options.address,
            "duplicates_dropped": result.duplicates_dropped,
            "failures": [str(failure) for failure in result.failures],
            "seconds": {"check": round(result.check_seconds, 3), "startup": round(result.startup_seconds, 3),
                        "load": round(result.load_seconds, 3), "pipeline": round(result.pipeline_seconds, 3),
                        "busy": round(result.busy_seconds, 3), "total": round(time.perf_counter() - began, 3)},
            "versions": {"rupturekit": rupturekit.__version__, "ray": ray.__version__,
                         "python": sys.version.split()[0]}}


def tag_with_ray(inputs: list[str], model: str, output: Path, options: RayOptions,
                 ingest_config: IngestConfig) -> RayTagResult:
    """Tag `inputs` on Ray into the folder `output` (shards/, index.jsonl, manifest.json), replaced
    whole and only once every transcript is in it exactly once. Raises InputError (one line) for a
    bad option, model or output; unreadable inputs are `result.failures`, and the others are tagged."""
    from rupturekit.safe_output import Output, check_outputs, entries_other_than, staged_folder

    began = time.perf_counter()
    require_ray()
    check_options(options)
    result = RayTagResult(output=Path(output))
    scanned = IngestResult()
    paths = expand_inputs(inputs, scanned)
    model_path = Path(model) if str(model) != "default" and Path(model).exists() else None
    check_outputs([Output(Path(output), folder=True, foreign=entries_other_than(OUTPUT_ENTRIES))],
                  [*paths, *([model_path] if model_path else [])])
    plan = plan_units(paths, options.unit_bytes, ingest_config.format)
    result.failures.extend(scanned.failures)
    result.units = len(plan)
    if not plan:
        result.seconds = time.perf_counter() - began
        return result
    checked = time.perf_counter()
    result.runtime = runtime = check_model(model, options)
    result.check_seconds = time.perf_counter() - checked
    started, result.startup_seconds = connect(options)
    try:
        result.workers, result.cpus_per_worker, threads = plan_workers(options, len(plan))
        spec = {"model": str(model), "runtime": runtime, "operating_point": options.operating_point,
                "threshold": options.threshold, "threads": threads, "ingest": ingest_config.model_dump(mode="json")}
        with staged_folder(Path(output), entries_other_than(OUTPUT_ENTRIES)) as stage:
            piped = time.perf_counter()
            returns = execute(plan, spec, options, result.workers, result.cpus_per_worker, stage / SHARDS)
            result.pipeline_seconds = time.perf_counter() - piped
            collected = collect(returns, len(plan), stage / SHARDS, options.shard_format)
            _gather(result, collected, ingest_config)
            if result.utterances == 0:
                raise _NothingTagged
            _write_index(stage, collected)
            manifest = _manifest(result, collected, model, options, threads, began)
            (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        result.written = True
    except _NothingTagged:
        pass
    finally:
        if started:
            ray.shutdown()
    result.seconds = time.perf_counter() - began
    return result


def read_output(folder: Path) -> list:
    """The tagged transcripts of an output folder, in input order (index.jsonl), as `Transcript`s
    (all of them in memory: for tests and modest outputs; stream the shards themselves otherwise)."""
    from rupturekit.records import loads_jsonl

    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    lines: dict[str, list[str]] = {}
    for shard in manifest["shards"]:
        path = folder / shard["file"]
        if manifest["format"] == "parquet":
            import pyarrow.parquet as pq

            records = pq.read_table(path, columns=["record"]).column("record").to_pylist()
        else:
            records = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
        for text in records:
            lines.setdefault(str(json.loads(text)["transcript_id"]), []).append(text)
    order = [json.loads(line)["transcript_id"] for line in (folder / INDEX).read_text(encoding="utf-8").splitlines()]
    return loads_jsonl("".join(text + "\n" for tid in order for text in lines.get(tid, [])), str(folder))


def print_progress(stream: IO[str] | None = None) -> Callable[[RayProgress], None]:
    """A progress callback that keeps one line up to date on a terminal, and clears it when every
    unit is done (silent when the stream is not a terminal)."""
    stream = stream or sys.stderr

    def show(progress: RayProgress) -> None:
        if not stream.isatty():
            return
        if progress.units_done >= progress.units:
            stream.write("\r\x1b[K")
            stream.flush()
            return
        rate = progress.utterances / progress.seconds if progress.seconds > 0 else 0.0
        stream.write(f"\rtagging on Ray: {progress.units_done}/{progress.units} units, "
                     f"{progress.utterances:,} utterances ({rate:,.0f}/s)\x1b[K")
        stream.flush()

    return show


# ============================================================================ the command line

_FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".html", ".eaf", ".parquet", ".txt")


def cli_options(output: Path | None, engine: dict[str, Any], tagging: dict[str, Any],
                progress: Callable[[RayProgress], None] | None = None) -> RayOptions:
    """`rupturekit tag`'s options for the Ray engine, checked (InputError: one line). `engine`: engine,
    address, num_workers, gpus_per_worker, format; `tagging`: runtime, operating_point, threshold."""
    if engine["engine"] not in ("local", "ray"):
        raise InputError("--engine", f"'{engine['engine']}' is not one of local, ray", "choose one")
    if engine["engine"] == "ray" and engine.get("resume"):
        raise InputError("--resume", "--resume continues a local run's file; a Ray run's folder appears whole",
                         "rerun the command without --resume")
    if engine["engine"] != "ray":
        given = next(f"--{name.replace('_', '-')}" for name in ("address", "num_workers", "gpus_per_worker")
                     if engine[name] is not None)
        raise InputError(given, f"{given} needs --engine ray", "add --engine ray, or leave it out")
    if output is None:
        raise InputError("--engine ray", "--engine ray writes a folder (shards, index.jsonl, manifest.json)",
                         "give it with -o FOLDER")
    if Path(output).suffix.lower() in _FILE_SUFFIXES and not Path(output).is_dir():
        raise InputError(str(output), "--engine ray writes a folder of shards, not one file",
                         f"give a folder name (e.g. {Path(output).with_suffix('')})")
    options = RayOptions(address=engine["address"], num_workers=engine["num_workers"],
                         gpus_per_worker=engine["gpus_per_worker"] or 0.0, runtime=tagging["runtime"],
                         operating_point=tagging["operating_point"], threshold=tagging["threshold"],
                         shard_format=engine["format"] or "jsonl", progress=progress)
    require_ray()
    check_options(options)
    return options


def summary(result: RayTagResult) -> str:
    """The closing line of `rupturekit tag --engine ray`."""
    def count(n: int, noun: str) -> str:
        return f"{n:,} {noun}{'s' * (n != 1)}"

    rate = result.utterances / result.seconds if result.seconds > 0 else 0.0
    return (f"tagged {count(result.utterances, 'utterance')} in {count(result.transcripts, 'transcript')} "
            f"({count(result.labels, 'label')}) on Ray: {count(result.units, 'unit')}, "
            f"{count(result.workers, 'worker')}, {count(len(result.shards), 'shard')}; "
            f"{result.seconds:.1f} s ({rate:,.0f} utterances/s; Ray start-up {result.startup_seconds:.1f} s, "
            f"model load {result.load_seconds:.1f} s); wrote {result.output}")
