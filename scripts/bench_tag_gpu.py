"""Benchmark on a CUDA GPU: transformer tagging throughput against a 100,000 utterances/s target:
the pipelined path (tokenising group k+1 in a background thread while the GPU encodes group k,
the dialogue layer over masked batches of sessions, bf16 weights) beside the old path (tokenise
everything, then encode, then the dialogue layer once per session), fp32, a plain bf16 MiniLM
forward pass and a naive one-utterance-at-a-time `transformers.pipeline` loop; where the time
goes, stage by stage; and, with --train, a full AnnoMI fine-tune through the CLI
(`rupturekit train configs/annomi.yaml`, target under 60 s) and tagging AnnoMI with its model.

Usage: python scripts/bench_tag_gpu.py [--repeats 3] [--copies 10] [--naive 1000] [--train] [--no-rows]
                                       [--data ../shared/data/annomi/AnnoMI-simple.csv] [--json FILE]
       python scripts/bench_tag_gpu.py --render FILE
       python scripts/bench_tag_gpu.py --device cpu --transcripts 4 --limit 300 --repeats 1 --naive 20 \\
           --train --train-epochs 1     # a smoke test of this script on a CPU (a minute or two)
With --json, every number is written to FILE after each step (an existing FILE is read first and
updated, so separate runs, e.g. the rows and --train --no-rows, can share it, and a run cut short
keeps what it measured); --render rewrites the BENCHMARKS.md section from such a file anywhere.
On CUDA the section is written unless --no-write; a CPU smoke run only prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_tag import agreement, decisions, fmt_runs, model_flops, quiet, repeated, windows_of
from benchlib import ROOT, machine, parse_annomi, read_quietly, speed_parser, write_section

TARGET_UTTERANCES_PER_S = 100_000
TARGET_TRAIN_SECONDS = 60.0
TARGET_AGREEMENT = 0.99
REFERENCE = {"plain bf16 forward": 45_000.0, "naive": 490.0}  # utterances/s quoted in the issue
OLD_BUDGET_FACTOR = 4  # the CUDA encoder batches before the pipelined path: inference_batch_tokens x 4
WARM_UP_UTTERANCES = 3000  # each row is warmed up on this many utterances, not on the whole corpus


@dataclass(frozen=True)
class Variant:
    """A way of running `TransformerTagger.predict`: its `InferenceSettings`, weights and autocast."""

    name: str
    note: str
    pipeline: bool
    slots: int | None  # dialogue slots; None: the device's default
    budget_factor: int | None  # x inference_batch_tokens; None: the device's default
    weights: str  # "fp32" or "bf16"
    autocast: str  # config.bf16: "auto" (bf16 autocast on CUDA) or "off"


OLD = "old path: serial, one session at a time, bf16 autocast"
FP32 = "fp32, old path (reference)"
FP32_NEW = "fp32, pipelined + batched dialogue"
SERIAL = "bf16 weights, serial + batched dialogue"
NEW = "new default: pipelined + batched dialogue, bf16 weights"
INPUTS = "inputs only: tokenise, window, batch (CPU)"
PLAIN = "plain bf16 forward, batches of 256"
NAIVE = "naive pipeline loop (fp32)"
VARIANTS = [  # fp32 weights first: the bf16 cast happens once, between them
    Variant(OLD, "the default on CUDA until now: tokenise and window everything, then encode (batches of ≤ "
            "{old_budget:,} padded tokens, each copy to the GPU waiting for it), then the dialogue layer once per "
            "session; bf16 autocast over fp32 weights (its session layout no longer waits for the GPU, so it is "
            "somewhat faster than the code before)", False, 0, OLD_BUDGET_FACTOR, "fp32", "auto"),
    Variant(FP32, "the old path without autocast: the reference of the agreement table", False, 0, OLD_BUDGET_FACTOR,
            "fp32", "off"),
    Variant(FP32_NEW, "the new path in fp32: its tags must be the reference's", True, None, None, "fp32", "off"),
    Variant(SERIAL, "bf16 weights and the batched dialogue layer, tokenising not overlapped", False, None, None,
            "bf16", "auto"),
    Variant(NEW, "the default on CUDA now: groups of {group:,} utterances; a background thread tokenises group "
            "k+2 while the main thread builds group k+1's batches in numpy and the GPU encodes group k (batches of "
            "≤ {budget:,} padded tokens, pinned non-blocking copies); dialogue layer over masked batches of ≤ "
            "{slots:,} utterance slots; bf16 weights", True, None, None, "bf16", "auto"),
]


def arguments() -> argparse.Namespace:
    parser = speed_parser(__doc__.split("\n")[0], repeats=3)
    parser.add_argument("--copies", type=int, default=10, help="tag the corpus repeated this many times")
    parser.add_argument("--limit", type=int, default=None, help="at most this many utterances (smoke tests)")
    parser.add_argument("--train", action="store_true", help="also time `rupturekit train configs/annomi.yaml`")
    parser.add_argument("--train-epochs", type=int, default=None, help="epochs for --train (smoke tests)")
    parser.add_argument("--train-out", type=Path, default=None, help="where --train writes the model")
    parser.add_argument("--no-rows", action="store_true", help="skip the speed rows and stages (with --train)")
    parser.add_argument("--evidence", type=int, default=2000, help="utterances for the cue-evidence timing")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON here")
    parser.add_argument("--device", default="cuda", help="cpu: a smoke test of this script, not a benchmark")
    parser.add_argument("--render", type=Path, default=None, help="write the section from this JSON of a run")
    return parse_annomi(parser)


# ============================================================================ timing


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def cuda_seconds(run, repeats: int, device: str = "cuda") -> tuple[float, list[float]]:
    """Median wall seconds of `run()` with the GPU synchronised before and after each call."""
    times = []
    for _ in range(repeats):
        sync(device)
        began = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


class Stages:
    """Wall seconds of named stages, each run alone (GPU synchronised before and after), and on
    CUDA the GPU's own time between two events around it (kernels plus the gaps between them)."""

    def __init__(self, device: str):
        self.device = device
        self.times: dict[str, dict[str, float | None]] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        import torch

        cuda = self.device.startswith("cuda")
        events = [torch.cuda.Event(enable_timing=True) for _ in range(2)] if cuda else []
        sync(self.device)
        began = time.perf_counter()
        if events:
            events[0].record()
        yield
        if events:
            events[1].record()
        sync(self.device)
        wall = time.perf_counter() - began
        self.times[name] = {"wall": wall, "gpu": events[0].elapsed_time(events[1]) / 1000 if events else None}
        print(f"  stage {name}: {wall:.3f} s", flush=True)


def peak_size(device: str) -> int:
    return 8192 if device.startswith("cuda") else 512


def peak_bf16(device: str, repeats: int = 10) -> float:
    import torch

    size = peak_size(device)
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    median, _ = cuda_seconds(lambda: a @ b, repeats, device)
    return 2 * size**3 / median


class Results(dict):
    """The run's numbers; with a path, written there after every step (a run cut short keeps them)."""

    def __init__(self, path: Path | None):
        previous = json.loads(path.read_text()) if path is not None and path.exists() else {}
        super().__init__(previous)
        self.path = path

    def save(self) -> None:
        if self.path is not None:  # whole or not at all: a step's time limit may kill this process
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(self, indent=1, default=str))
            os.replace(partial, self.path)


# ============================================================================ the rows


def apply(tagger, variant: Variant, fp32_state: dict) -> None:
    """Put `tagger` in `variant`'s configuration (weights restored from `fp32_state` when needed)."""
    from rupturekit.tagger.transformer import InferenceSettings

    if variant.weights == "fp32" and tagger.precision != "fp32":
        tagger.set_precision("fp32")
        tagger.model.encoder.load_state_dict(fp32_state)  # a bf16 round trip would keep bf16's rounding
    elif variant.weights == "bf16":
        tagger.set_precision("bf16")
    tagger.config.bf16 = variant.autocast
    budget = None if variant.budget_factor is None else tagger.config.inference_batch_tokens * variant.budget_factor
    tagger.inference = InferenceSettings(pipeline=variant.pipeline, dialogue_slots=variant.slots,
                                         budget_tokens=budget)


def speed_rows(args, results: Results, tagger, transcripts, counts: dict, flops: float, fp32_state: dict) -> dict:
    """Time every `Variant`'s predict (medians, GPU synchronised) and the CPU side alone; their
    probabilities for the agreement table."""
    from rupturekit.tagger.transformer import transcript_groups

    n = counts["utterances"]
    warm = repeated(transcripts, min(WARM_UP_UTTERANCES, n))
    results["warm_up"] = min(WARM_UP_UTTERANCES, n)
    outputs = {}

    def row(name: str, run, note: str, flop: float = flops, items: int = n, tokens: int = counts["tokens"]):
        last = {}

        def call():
            last["out"] = run()

        median, runs = cuda_seconds(call, args.repeats, args.device)
        results["rows"][name] = {"median": median, "runs": runs, "items": items, "note": note, "flops": flop,
                                 "tokens": tokens}
        results.save()
        print(f"{name}: {median:.3f} s, {items / median:,.0f} utterances/s", flush=True)
        return last["out"]

    for variant in VARIANTS:
        apply(tagger, variant, fp32_state)
        tagger.predict(warm)  # CUDA kernels, autocast caches, the thread pool
        settings = tagger.settings
        note = variant.note.format(old_budget=tagger.config.inference_batch_tokens * OLD_BUDGET_FACTOR,
                                   group=settings.group_utterances, budget=settings.budget_tokens,
                                   slots=settings.dialogue_slots or 0)
        outputs[variant.name] = row(variant.name, lambda: tagger.predict(transcripts), note)
        if variant.name == NEW:
            results["settings"] = {"group_utterances": settings.group_utterances, "precision": tagger.precision,
                                   "budget_tokens": settings.budget_tokens, "dialogue_slots": settings.dialogue_slots}
            inputs_row(row, tagger, transcript_groups(transcripts, settings.group_utterances))
    return outputs


def inputs_row(row, tagger, parts: list) -> None:
    row(INPUTS, lambda: [tagger.prepare_group(part) for part in parts],
        "the CPU side of the new path, one step after another: tokenise every group, then build its windows and "
        "padded batches", flop=0.0)


def plain_forward_row(args, results: Results, tagger, texts: list[str], counts: dict, flops: float) -> None:
    """A plain bf16 MiniLM forward pass: one window per utterance (truncated at 128), batches of 256."""
    import numpy as np
    import torch

    tokenizer, plain = tagger.tokenizer, tagger.model.encoder  # the encoder is in bf16 here
    order = np.argsort([-len(x) for x in tokenizer(texts, truncation=True, max_length=128)["input_ids"]])
    sorted_texts = [texts[i] for i in order]

    def forward():
        with torch.inference_mode():
            for start in range(0, len(texts), 256):
                batch = tokenizer(sorted_texts[start:start + 256], truncation=True, max_length=128, padding=True,
                                  return_tensors="pt").to(args.device)
                plain(**batch).last_hidden_state.mean(1).float().cpu()

    forward()  # warm-up
    median, runs = cuda_seconds(forward, args.repeats, args.device)
    results["rows"][PLAIN] = {"median": median, "runs": runs, "items": len(texts), "flops": flops,
                              "tokens": counts["tokens"],
                              "note": "AutoModel in bf16 over length-sorted texts truncated at 128 tokens (tokeniser "
                                      "included); no windows, no dialogue layer, no heads"}
    results.save()
    print(f"{PLAIN}: {median:.3f} s, {len(texts) / median:,.0f} utterances/s", flush=True)


def naive_row(args, results: Results, tagger, texts: list[str]) -> None:
    """One utterance per `transformers.pipeline` call on the device, over the same encoder weights (fp32)."""
    from transformers import AutoModelForSequenceClassification, pipeline

    tokenizer = tagger.tokenizer
    with tempfile.TemporaryDirectory() as scratch:
        tagger.model.encoder.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        classifier = AutoModelForSequenceClassification.from_pretrained(
            scratch, num_labels=len(tagger.main_tasks[0].labels)).eval()
    pipe = pipeline("text-classification", model=classifier, tokenizer=tokenizer, device=args.device)
    naive_texts = texts[: args.naive]
    lengths = [len(x) for x in tokenizer(naive_texts, truncation=True)["input_ids"]]

    def loop():
        for text in naive_texts:
            pipe(text, truncation=True)

    for text in naive_texts[:20]:
        pipe(text, truncation=True)
    median, runs = cuda_seconds(loop, args.repeats, args.device)
    results["rows"][NAIVE] = {"median": median, "runs": runs, "items": len(naive_texts),
                              "note": "one utterance per call, truncated at 512 tokens",
                              "flops": model_flops(tagger.model.encoder, lengths)["total"],
                              "tokens": sum(lengths) - 2 * len(lengths)}
    results.save()
    print(f"{NAIVE}: {median:.3f} s, {len(naive_texts) / median:,.0f} utterances/s", flush=True)


# ============================================================================ where the time goes


def stage_times(args, results: Results, tagger, transcripts) -> None:
    """The new default path cut into its stages, each run alone and synchronised: what each costs
    when nothing overlaps it (the pipelined row overlaps the first with the next three)."""
    import torch

    from rupturekit.tagger import transformer as T
    from rupturekit.tagger.encoder import HostBatch, to_device

    device = tagger.device
    settings = tagger.settings
    stages = Stages(args.device)
    dtype = T.autocast_dtype(tagger.config.bf16, device)
    with torch.inference_mode():
        parts = T.transcript_groups(transcripts, settings.group_utterances)
        with stages("tokenise (CPU; the pipeline's background thread)"):
            ids = [tagger.tokenize_group(part) for part in parts]
        with stages("windows and padded batches (CPU, numpy, pinned)"):
            groups = [tagger.prepare_group(part, x) for part, x in zip(parts, ids, strict=True)]
        with stages("host to device (pinned, non-blocking)"):
            for group in groups:
                group.batches = [HostBatch(b.index, *(to_device(t, device) for t in (b.ids, b.attention, b.pool)))
                                 for b in group.batches]
        with stages("encoder (+ pooling)"):
            vectors = torch.cat([T.encode_group(tagger.model, group, device, dtype) for group in groups])
        sessions = [s for group in groups for s in group.sessions]
        with stages("dialogue layer + heads"):
            logits = tagger.model.logits(T.contextualize_grouped(tagger.model, vectors, sessions, None,
                                                                 int(settings.dialogue_slots or 0)))
        with stages("probabilities to the host"):
            probs = {task.key: T.probabilities(task, logits[task.key]) for task in tagger.tasks}
    with stages("decisions (labels and scores per utterance)"), evidence_off():
        tagger.entries(transcripts, probs)
    results["stages"] = stages.times
    results["stages_utterances"] = sum(s.n for s in sessions)
    results.save()
    evidence_rate(args, results, tagger, transcripts, probs)


@contextlib.contextmanager
def evidence_off():
    """`TransformerTagger.entries` without the cue evidence (timed on its own, on a sample)."""
    from rupturekit.tagger import transformer as T

    original = T.evidence_lists
    T.evidence_lists = lambda transcripts, predicted, relevant, top=T.EVIDENCE_TOP: {}
    try:
        yield
    finally:
        T.evidence_lists = original


def evidence_rate(args, results: Results, tagger, transcripts, probs: dict) -> None:
    """Decisions plus cue evidence (spaCy, CPU) on the first --evidence utterances; the GPU machine
    may lack spaCy's model, and then this says so."""
    sample, count = [], 0
    for transcript in transcripts:
        if count >= args.evidence:
            break
        sample.append(transcript)
        count += len(transcript.utterances)
    rows = {key: value[:count] for key, value in probs.items()}
    try:
        tagger.entries(sample[:1], {k: v[:len(sample[0].utterances)] for k, v in rows.items()})  # spaCy loads
        began = time.perf_counter()
        tagger.entries(sample, rows)
        results["evidence"] = {"utterances": count, "seconds": time.perf_counter() - began}
    except Exception as exc:  # noqa: BLE001 - a missing spaCy model must not cost the other numbers
        results["evidence"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    results.save()
    print(f"  evidence: {results['evidence']}", flush=True)


def kernel_profile(args, results: Results, tagger, transcripts) -> None:
    """torch.profiler over one predict of the new path: the GPU's kernel time against the wall
    time, and the kernels that take most of it."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    if not args.device.startswith("cuda"):
        return
    try:
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            began = time.perf_counter()
            tagger.predict(transcripts)
            torch.cuda.synchronize()
            wall = time.perf_counter() - began
        averages = prof.key_averages()

        def device_time(event) -> float:  # microseconds; the attribute's name changed in torch 2.4
            return float(getattr(event, "self_device_time_total", getattr(event, "self_cuda_time_total", 0.0)))

        kernels = sorted(averages, key=device_time, reverse=True)
        results["profile"] = {"wall": wall, "kernel_seconds": sum(device_time(e) for e in averages) / 1e6,
                              "top": [[e.key[:80], device_time(e) / 1e6, e.count] for e in kernels[:6]]}
    except Exception as exc:  # noqa: BLE001 - the profiler is an extra
        results["profile"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    results.save()
    print(f"  profile: {results['profile']}", flush=True)


# ============================================================================ fine-tune


def timed_process(command: list[str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-3000:]}")
    return seconds, done.stderr + done.stdout


def one_label_each(tags: Path) -> dict[str, int]:
    """Sessions, therapist and client utterances, and how many of those got exactly one label of
    their role's dimension."""
    from rupturekit.records import read_jsonl

    therapist = client = one_each = sessions = 0
    for transcript in read_jsonl(tags):
        sessions += 1
        for u in transcript.utterances:
            labels = u.labels or []
            if u.role == "therapist":
                therapist += 1
                one_each += sum(label.startswith("therapist_behaviour.") for label in labels) == 1
            elif u.role == "client":
                client += 1
                one_each += sum(label.startswith("client_talk_type.") for label in labels) == 1
    return {"therapist": therapist, "client": client, "one_label_each": one_each, "sessions": sessions}


def train_and_tag(args, results: Results, data: Path) -> None:
    """`rupturekit train configs/annomi.yaml` and `rupturekit tag --model` on `data`, whole processes."""
    out = args.train_out or Path(tempfile.mkdtemp(prefix="annomi-model-"))
    cli = [sys.executable, "-m", "rupturekit.cli"]
    # the encoder fine-tuned whole, one model (configs/annomi.yaml itself is the frozen hybrid)
    settings = [f"data.0.path={data}", "transformer.encoder_mode=full", "transformer.hybrid=none",
                "transformer.ensemble=1", f"transformer.device={args.device}"]
    if args.train_epochs is not None:
        settings.append(f"transformer.epochs={args.train_epochs}")
    seconds, log = timed_process([*cli, "train", "configs/annomi.yaml", "-o", str(out),
                                  *(x for setting in settings for x in ("--set", setting))])
    metrics = json.loads((out / "val_metrics.json").read_text())
    manifest = json.loads((out / "model.json").read_text())
    tags = out.parent / f"{out.name}-tags.jsonl"
    tag_seconds, _ = timed_process([*cli, "tag", str(data), "--model", str(out), "-o", str(tags)])
    results["train"] = {"seconds": seconds, "trained_seconds": manifest["trained"]["seconds"],
                        "epochs_run": metrics["epochs_run"], "best_epoch": metrics["best_epoch"],
                        "validation_macro_f1": metrics["score"], "history": metrics["history"],
                        "tag_seconds": tag_seconds, **one_label_each(tags), "encoder": manifest["encoder"],
                        "folder": str(out), "data": str(data), "log_tail": log[-1500:]}
    results.save()
    print(json.dumps({"train": {k: v for k, v in results["train"].items() if k != "log_tail"}}), flush=True)


# ============================================================================ main


def run_rows(args, results: Results, tagger, transcripts) -> None:
    """Every speed row, the agreement table, the stages and the kernel profile."""
    import torch

    texts = [u.text for t in transcripts for u in t.utterances]
    lengths = windows_of(tagger, texts)
    flops = model_flops(tagger.model.encoder, lengths)["total"]
    counts = tagger.token_counts(texts)
    results.update({"utterances": len(texts), "tokens": counts["tokens"], "encoder_tokens": counts["encoder_tokens"],
                    "windows": len(lengths), "rows": {}})
    fp32_state = {k: v.detach().clone() for k, v in tagger.model.encoder.state_dict().items()}
    outputs = speed_rows(args, results, tagger, transcripts, counts, flops, fp32_state)
    reference = decisions(tagger, outputs[FP32], transcripts)
    results["agreement"] = {name: agreement(reference, decisions(tagger, outputs[name], transcripts), len(texts))
                            for name in (OLD, FP32_NEW, SERIAL, NEW)}
    results.save()
    for name, a in results["agreement"].items():
        print(f"agreement with {FP32}: {name}: {a['share']:.4%} of decisions, {a['exact']:.4%} label sets")
    stage_times(args, results, tagger, transcripts)  # the tagger is in the new default's configuration
    kernel_profile(args, results, tagger, transcripts)
    plain_forward_row(args, results, tagger, texts, counts, flops)
    tagger.set_precision("fp32")
    tagger.model.encoder.load_state_dict(fp32_state)  # the weights as loaded, not bf16's rounding of them
    naive_row(args, results, tagger, texts)
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()


def main() -> int:
    args = arguments()
    if args.render:
        results = json.loads(args.render.read_text())
        for key, value in results.get("args", {}).items():
            setattr(args, key, value)
        write_section("bench_tag_gpu", render(args, results))
        return 0
    quiet()
    import torch
    import transformers

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: no CUDA device; this benchmark is for a GPU machine (--device cpu: a smoke test)",
              file=sys.stderr)
        return 2
    from rupturekit.records import write_jsonl
    from rupturekit.tagger.api import default_model_dir
    from rupturekit.tagger.transformer import TransformerTagger

    results = Results(args.json)
    base = read_quietly(args.data)[: args.transcripts]
    count = args.copies * sum(len(t.utterances) for t in base)
    transcripts = repeated(base, min(count, args.limit) if args.limit else count)
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"no GPU ({args.device}: smoke test)"
    about = {"gpu": gpu, "torch": torch.__version__, "transformers": transformers.__version__, "machine": machine()}
    if args.no_rows:  # a later step of the same run: the rows' description stays
        about = {k: v for k, v in about.items() if k not in results}
    else:
        about |= {"copies": args.copies, "transcripts": len(base),
                  "args": {k: getattr(args, k) for k in ("repeats", "copies", "naive", "limit")}}
    results.update(about)
    if not args.no_rows:
        results["peak_bf16"], results["peak_size"] = peak_bf16(args.device), peak_size(args.device)
        print(f"{gpu}: bf16 matmul peak {results['peak_bf16'] / 1e12:.3g} TFLOP/s", flush=True)
        began = time.perf_counter()
        tagger = TransformerTagger.load(default_model_dir(), device=args.device, precision="fp32")
        results["load_seconds"] = time.perf_counter() - began
        run_rows(args, results, tagger, transcripts)
        del tagger
    if args.train:
        data = args.data
        if args.transcripts is not None:  # a smoke test trains and tags the same cut
            data = Path(tempfile.mkdtemp()) / f"first-{args.transcripts}.jsonl"
            write_jsonl(base, data)
        try:
            train_and_tag(args, results, data)
        except Exception as exc:  # noqa: BLE001 - the speed rows above are kept
            results["train_error"] = str(exc)[-2000:]
            results.save()
            print(f"train: failed: {results['train_error']}", flush=True)
    for key, value in results.get("args", {}).items():  # the section describes the rows' run
        setattr(args, key, value)
    section = render(args, results)
    if args.no_write or not args.device.startswith("cuda"):
        print(section)
    else:
        write_section("bench_tag_gpu", section)
    return 0


# ============================================================================ the section


def rate(row: dict) -> float:
    return row["items"] / row["median"]


def speed_table(results: dict) -> list[str]:
    rows = results.get("rows", {})
    old = rows.get(OLD)
    naive = rows.get(NAIVE)
    lines = ["| path | what is timed | utterances | median | runs (s) | utterances/s | tokens/s | MFU (bf16) | "
             "vs old path | vs naive |", "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        mfu = f"{r['flops'] / r['median'] / results['peak_bf16']:.1%}" if r["flops"] else "–"
        versus_old = f"{rate(r) / rate(old):.2f}x" if old and r["flops"] else "–"
        versus_naive = f"{rate(r) / rate(naive):.1f}x" if naive and r["flops"] else "–"
        lines.append(f"| {name} | {r['note']} | {r['items']:,} | {r['median']:.3f} s | {fmt_runs(r['runs'])} | "
                     f"{rate(r):,.0f} | {r['tokens'] / r['median']:,.0f} | {mfu} | {versus_old} | {versus_naive} |")
    return lines


def stage_lines(results: dict) -> list[str]:
    stages = results.get("stages")
    if not stages:
        return ["(the stages were not measured: the run stopped before them)"]
    total = sum(s["wall"] for s in stages.values())
    n = results.get("stages_utterances", results.get("utterances", 0))
    lines = ["| stage | wall | GPU (events) | share of the stages | utterances/s were it alone |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, s in stages.items():
        gpu = f"{s['gpu']:.3f} s" if s.get("gpu") is not None else "–"
        lines.append(f"| {name} | {s['wall']:.3f} s | {gpu} | {s['wall'] / total:.0%} | "
                     f"{n / s['wall'] if s['wall'] else 0:,.0f} |")
    lines.append(f"| all stages, one after another | {total:.3f} s | | 100% | {n / total:,.0f} |")
    new = results.get("rows", {}).get(NEW)
    if new:
        predict = sum(s["wall"] for name, s in stages.items() if not name.startswith("decisions"))
        lines.append("")
        lines.append(f"The pipelined row (predict: every stage but the decisions, the CPU stage overlapping the "
                     f"GPU's) takes {new['median']:.3f} s for the same utterances, against {predict:.3f} s for those "
                     "stages one after another.")
    profile = results.get("profile", {})
    if "kernel_seconds" in profile:
        top = "; ".join(f"{name} {seconds * 1000:.1f} ms ({count}x)" for name, seconds, count in profile["top"][:4])
        lines.append(f"Under torch.profiler one predict of the new path took {profile['wall']:.3f} s, of which GPU "
                     f"kernels ran {profile['kernel_seconds']:.3f} s ({profile['kernel_seconds'] / profile['wall']:.0%}"
                     f"); the longest: {top}.")
    evidence = results.get("evidence", {})
    if "seconds" in evidence:
        lines.append(f"Cue evidence (`tag()`, spaCy on the CPU; not in the rows): decisions plus evidence for the "
                     f"first {evidence['utterances']:,} utterances took {evidence['seconds']:.2f} s "
                     f"({evidence['utterances'] / evidence['seconds']:,.0f} utterances/s).")
    elif "error" in evidence:
        lines.append(f"Cue evidence could not be timed here: `{evidence['error']}`.")
    return lines


def agreement_lines(results: dict) -> list[str]:
    lines = [f"| compared with {FP32} | decisions that agree | same label set | target |",
             "| --- | ---: | ---: | --- |"]
    for name, a in results.get("agreement", {}).items():
        identical = name == FP32_NEW  # the same weights and arithmetic: only the batching differs
        target = "identical" if identical else f"≥ {TARGET_AGREEMENT:.0%}"
        met = a["share"] == 1.0 if identical else a["share"] >= TARGET_AGREEMENT
        lines.append(f"| {name} | {a['agree']:,} / {a['decisions']:,} = {a['share']:.2%} | "
                     f"{a['exact']:.2%} of {a['utterances']:,} | {target}: {'met' if met else 'not met'} |")
    return lines


def train_text(results: dict) -> str:
    if "train" in results:
        t = results["train"]
        history = ", ".join(f"{h['val_macro_f1']:.3f}" for h in t["history"])
        verdict = "met" if t["seconds"] < TARGET_TRAIN_SECONDS else "not met"
        return f"""
Full AnnoMI fine-tune, whole process: `rupturekit train configs/annomi.yaml -o DIR` ({t['encoder']} encoder,
{t.get('sessions', 'all')} transcripts: training and its 15% validation split) took **{t['seconds']:.0f} s**
(target under {TARGET_TRAIN_SECONDS:.0f} s: **{verdict}**; {t['trained_seconds']:.0f} s inside `train_transformer`;
{t['epochs_run']} epochs, best {t['best_epoch']}; validation macro F1 by epoch {history}). Tagging the same file
with it, `rupturekit tag FILE --model DIR -o tags.jsonl`, whole process: {t['tag_seconds']:.1f} s;
{t['one_label_each']:,} of {t['therapist'] + t['client']:,} therapist and client utterances got exactly one label
of their role's dimension.
"""
    if "train_error" in results:
        return f"\nThe timed fine-tune failed: `{results['train_error'][-300:]}`\n"
    return ""


def render(args, results: dict) -> str:
    rows = results.get("rows", {})
    new, old = rows.get(NEW), rows.get(OLD)
    if new:
        verdict = "met" if rate(new) >= TARGET_UTTERANCES_PER_S else "not met"
        gain = f"; {rate(new) / rate(old):.1f}x the old path's {rate(old):,.0f}/s" if old else ""
        target = (f"Target: at least {TARGET_UTTERANCES_PER_S:,} utterances/s: **{verdict}** with the new default "
                  f"({rate(new):,.0f}/s{gain}). The issue's reference figures: plain bf16 forward ≈ "
                  f"{REFERENCE['plain bf16 forward']:,.0f}/s, naive loop ≈ {REFERENCE['naive']:,.0f}/s.")
    else:
        target = "The speed rows were not measured (the run stopped before them)."
    settings = results.get("settings", {})
    flag = " --train" if "train" in results or "train_error" in results else ""
    corpus = ""
    if "utterances" in results:
        corpus = (f"The shared AnnoMI simple file repeated {results['copies']} times: {results['utterances']:,} "
                  f"utterances, {results['tokens']:,} tokens ({results['encoder_tokens']:,} encoder tokens in "
                  f"{results['windows']:,} windows of at most 128), default model (3RS, all-MiniLM-L6-v2). Medians of "
                  f"{args.repeats} runs after a warm-up on {results.get('warm_up', WARM_UP_UTTERANCES):,} utterances, "
                  f"GPU synchronised; the "
                  f"model load ({results.get('load_seconds', 0):.1f} s) is not timed. MFU counts useful tokens only "
                  f"(as the CPU benchmark) against the bf16 peak. New default settings: {settings}.")
    peak = f"{results['peak_bf16'] / 1e12:.3g} TFLOP/s" if "peak_bf16" in results else "not measured"
    return f"""
## Tagging speed on a GPU: pipelined inference against a 100,000 utterances/s target

Command: `python scripts/bench_tag_gpu.py --repeats {args.repeats} --copies {args.copies} --naive {args.naive}{flag}`
(as `scripts/gpu_benchmarks.sh` runs it). Machine: {results.get('gpu', '?')}; {results.get('machine', machine())};
torch {results.get('torch', '?')}, transformers {results.get('transformers', '?')}.
bf16 matmul peak measured in the same run ({results.get('peak_size', 8192)}³, random data): {peak}.

{corpus}

{chr(10).join(speed_table(results))}

{target}

Where the time goes: the new default path cut into its stages, each run alone with the GPU synchronised
before and after (wall time; GPU time between CUDA events around the stage):

{chr(10).join(stage_lines(results))}

Agreement of the tags with the fp32 old path on the same GPU, every (utterance, label) decision of the main
tasks (the batched dialogue layer in fp32 must give the same tags; bf16 within {TARGET_AGREEMENT:.0%}):

{chr(10).join(agreement_lines(results))}
{train_text(results)}"""


if __name__ == "__main__":
    sys.exit(main())
